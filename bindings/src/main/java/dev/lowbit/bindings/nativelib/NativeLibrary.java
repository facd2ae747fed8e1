package dev.lowbit.bindings.nativelib;

import java.io.IOException;
import java.io.InputStream;
import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SymbolLookup;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.Locale;
import java.util.Optional;

/**
 * The native kernel library {@code liblowbit.so}, loaded once.
 * <ul>
 *   <li>{@code -Dlowbit.native.path=/path/liblowbit.so} loads that file; otherwise the copy inside the
 *       {@code lowbit-native} jar ({@code dev/lowbit/native/linux-x86_64/liblowbit.so}) is extracted once to a
 *       private temporary file (owner-only, deleted on exit);</li>
 *   <li>{@code -Dlowbit.native=false} disables it;</li>
 *   <li>{@code -Dlowbit.native.tier=generic|avx2|avx512} runs a lower tier than the CPU allows.</li>
 * </ul>
 * A library that cannot load is never an exception here: {@link #available()} is false and
 * {@link #unavailableReason()} says why in one sentence, so that callers fall back to Java kernels.
 */
public final class NativeLibrary {
    /** The library's ABI version this code was written against ({@code LOWBIT_ABI_VERSION} in lowbit.h). */
    static final int ABI_VERSION = 1;

    static final String RESOURCE = "dev/lowbit/native/linux-x86_64/liblowbit.so";

    private NativeLibrary() {
    }

    /** The instruction-set tiers the library is built for, lowest first; each exported kernel has one per tier. */
    public enum Tier {
        GENERIC("generic"),
        AVX2("avx2"),
        AVX512("avx512");

        private final String suffix;

        Tier(String suffix) {
            this.suffix = suffix;
        }

        /** The symbol suffix: {@code lowbit_<name>_<suffix>}. */
        public String suffix() {
            return suffix;
        }

        static Tier parse(String s) {
            for (Tier t : values()) {
                if (t.suffix.equals(s.trim().toLowerCase(Locale.ROOT))) {
                    return t;
                }
            }
            throw new IllegalArgumentException("-Dlowbit.native.tier must be generic, avx2 or avx512, got '" + s + "'");
        }
    }

    /** The outcome of opening one library file: a lookup and the CPU's tier, or the reason it failed. */
    record Loaded(SymbolLookup lookup, Tier hardware, String reason) {
        static Loaded failed(String reason) {
            return new Loaded(null, null, reason);
        }
    }

    private static final class Holder {
        static final Loaded LOADED = load();
    }

    /** Whether the library loaded (and passed its ABI check). Never throws. */
    public static boolean available() {
        return Holder.LOADED.lookup() != null;
    }

    /** Why the library is not available, in one sentence; null when it is. */
    public static String unavailableReason() {
        return Holder.LOADED.reason();
    }

    /** The best tier this CPU and OS run, per {@code lowbit_caps()}. */
    public static Tier hardwareTier() {
        requireAvailable();
        return Holder.LOADED.hardware();
    }

    /**
     * The tier the kernels run at: the hardware tier, or the lower one that {@code -Dlowbit.native.tier} asks for.
     *
     * @throws IllegalArgumentException when the property names an unknown tier or one above the hardware's
     */
    public static Tier tier() {
        Tier hw = hardwareTier();
        String forced = System.getProperty("lowbit.native.tier");
        if (forced == null || forced.isBlank()) {
            return hw;
        }
        Tier t = Tier.parse(forced);
        if (t.compareTo(hw) > 0) {
            throw new IllegalArgumentException("-Dlowbit.native.tier=" + t.suffix() + " is above what this CPU runs ("
                    + hw.suffix() + ")");
        }
        return t;
    }

    /**
     * {@code selected}, the kernels at the tier this class chose, or an {@code IllegalStateException} with the reason
     * the library is not available: the {@code selected()} of each downcall class.
     */
    static <T> T requireSelected(T selected) {
        if (selected == null) {
            throw new IllegalStateException("the native library is not available: " + unavailableReason());
        }
        return selected;
    }

    /**
     * The kernels of the selected tier when {@code tier} is it, else {@code make(tier)} after checking that the CPU
     * runs {@code tier}: the {@code of(Tier)} of each downcall class.
     *
     * @throws IllegalStateException    when the library is not available (with the reason)
     * @throws IllegalArgumentException for a tier this CPU cannot run
     */
    static <T> T atTier(Tier tier, T selected, Tier selectedTier, java.util.function.Function<Tier, T> make) {
        java.util.Objects.requireNonNull(tier, "tier");
        requireSelected(selected);
        if (tier == selectedTier) {
            return selected;
        }
        if (tier.compareTo(hardwareTier()) > 0) {
            throw new IllegalArgumentException("tier " + tier + " is above what this CPU runs, " + hardwareTier());
        }
        return make.apply(tier);
    }

    /**
     * A downcall handle to {@code lowbit_<name>_<tier suffix>}.
     *
     * @param critical link with {@code Linker.Option.critical(true)}: for short calls that neither block nor
     *                 call back, and that may then take heap segments
     * @throws IllegalStateException when the library is unavailable or lacks the symbol
     */
    public static MethodHandle downcall(String name, Tier tier, FunctionDescriptor fd, boolean critical) {
        requireAvailable();
        String symbol = "lowbit_" + name + "_" + tier.suffix();
        MemorySegment address = Holder.LOADED.lookup().find(symbol)
                .orElseThrow(() -> new IllegalStateException("liblowbit has no symbol " + symbol));
        Linker linker = Linker.nativeLinker();
        return critical ? linker.downcallHandle(address, fd, Linker.Option.critical(true))
                : linker.downcallHandle(address, fd);
    }

    private static void requireAvailable() {
        if (!available()) {
            throw new IllegalStateException("the native library is unavailable: " + unavailableReason());
        }
    }

    // ---------------------------------------------------------------- loading

    private static Loaded load() {
        if ("false".equalsIgnoreCase(System.getProperty("lowbit.native", "true").trim())) {
            return Loaded.failed("disabled by -Dlowbit.native=false");
        }
        String os = System.getProperty("os.name", "");
        String arch = System.getProperty("os.arch", "");
        if (!os.startsWith("Linux") || !(arch.equals("amd64") || arch.equals("x86_64"))) {
            return Loaded.failed("liblowbit is built for linux-x86_64 only, and this is " + os + "/" + arch);
        }
        String path = System.getProperty("lowbit.native.path");
        if (path != null && !path.isBlank()) {
            return tryLoad(Path.of(path));
        }
        Path extracted;
        try {
            extracted = extract();
        } catch (IOException | RuntimeException e) {
            return Loaded.failed("cannot extract " + RESOURCE + " to a temporary file: " + e);
        }
        if (extracted == null) {
            return Loaded.failed("the resource " + RESOURCE + " is missing: put lowbit-native on the class path or "
                    + "module path, or set -Dlowbit.native.path");
        }
        return tryLoad(extracted);
    }

    /** Copies the bundled library to an owner-only temporary file; null when the resource is absent. */
    private static Path extract() throws IOException {
        ClassLoader cl = NativeLibrary.class.getClassLoader();
        if (cl == null) {
            cl = ClassLoader.getSystemClassLoader();
        }
        try (InputStream in = cl.getResourceAsStream(RESOURCE)) {
            if (in == null) {
                return null;
            }
            Path tmp = Files.createTempFile("liblowbit-", ".so",
                    PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rwx------")));
            tmp.toFile().deleteOnExit();
            Files.copy(in, tmp, StandardCopyOption.REPLACE_EXISTING);
            return tmp;
        }
    }

    /**
     * Opens {@code file} and checks it: a lowbit library of this ABI version. Never throws; a failure is a
     * {@link Loaded} with the reason (the file is missing, the dynamic loader's own message, a wrong version).
     */
    static Loaded tryLoad(Path file) {
        if (!Files.isRegularFile(file)) {
            return Loaded.failed("the library file " + file + " is missing");
        }
        SymbolLookup lookup;
        try {
            lookup = SymbolLookup.libraryLookup(file, Arena.global());
        } catch (IllegalArgumentException | IllegalCallerException e) {
            String why = dlerror(file);
            return Loaded.failed("cannot load " + file + ": " + (why != null ? why : e.getMessage()));
        }
        try {
            Optional<MemorySegment> abi = lookup.find("lowbit_abi_version");
            Optional<MemorySegment> caps = lookup.find("lowbit_caps");
            if (abi.isEmpty() || caps.isEmpty()) {
                return Loaded.failed(file + " is not a lowbit library (no lowbit_abi_version or lowbit_caps)");
            }
            Linker linker = Linker.nativeLinker();
            FunctionDescriptor intOfVoid = FunctionDescriptor.of(ValueLayout.JAVA_INT);
            int version = (int) linker.downcallHandle(abi.get(), intOfVoid).invokeExact();
            if (version != ABI_VERSION) {
                return Loaded.failed(file + " has ABI version " + version + " but this lowbit needs " + ABI_VERSION);
            }
            int c = (int) linker.downcallHandle(caps.get(), intOfVoid).invokeExact();
            Tier hw = c >= 2 ? Tier.AVX512 : c == 1 ? Tier.AVX2 : Tier.GENERIC;
            return new Loaded(lookup, hw, null);
        } catch (Throwable e) {
            return Loaded.failed("cannot initialize " + file + ": " + e);
        }
    }

    /**
     * The dynamic loader's message for {@code file}: libraryLookup's exception names only the path, so the
     * file is opened once more with dlopen to ask dlerror why. Null when that is not possible.
     */
    private static String dlerror(Path file) {
        try (Arena arena = Arena.ofConfined()) {
            Linker linker = Linker.nativeLinker();
            SymbolLookup libc = linker.defaultLookup();
            Optional<MemorySegment> open = libc.find("dlopen");
            Optional<MemorySegment> error = libc.find("dlerror");
            Optional<MemorySegment> close = libc.find("dlclose");
            if (open.isEmpty() || error.isEmpty() || close.isEmpty()) {
                return null;
            }
            MethodHandle dlopen = linker.downcallHandle(open.get(),
                    FunctionDescriptor.of(ValueLayout.ADDRESS, ValueLayout.ADDRESS, ValueLayout.JAVA_INT));
            MethodHandle dlerror = linker.downcallHandle(error.get(), FunctionDescriptor.of(ValueLayout.ADDRESS));
            MethodHandle dlclose = linker.downcallHandle(close.get(),
                    FunctionDescriptor.of(ValueLayout.JAVA_INT, ValueLayout.ADDRESS));
            MemorySegment handle = (MemorySegment) dlopen.invokeExact(arena.allocateFrom(file.toString()), 2); // RTLD_NOW
            if (!handle.equals(MemorySegment.NULL)) {
                int ignored = (int) dlclose.invokeExact(handle);
                return null;
            }
            MemorySegment msg = (MemorySegment) dlerror.invokeExact();
            return msg.equals(MemorySegment.NULL) ? null : msg.reinterpret(4096).getString(0);
        } catch (Throwable e) {
            return null;
        }
    }
}
