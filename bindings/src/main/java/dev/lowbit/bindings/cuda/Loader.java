package dev.lowbit.bindings.cuda;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SymbolLookup;
import java.lang.invoke.MethodHandle;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * Opens one of NVIDIA's shared libraries by soname or from the CUDA toolkit folders, never throwing: a library that
 * cannot be opened is a {@link Loaded} with the reason in one sentence.
 */
final class Loader {
    private Loader() {
    }

    /** The outcome of opening a library: its lookup, or why it could not be opened. */
    record Loaded(SymbolLookup lookup, String path, String reason) {
        MethodHandle handle(String symbol, FunctionDescriptor fd) {
            MemorySegment address = lookup.find(symbol)
                    .orElseThrow(() -> new IllegalStateException(path + " has no symbol " + symbol));
            return Linker.nativeLinker().downcallHandle(address, fd);
        }
    }

    /** Folders searched after the soname itself: the toolkit's library folders. */
    static List<Path> toolkitDirs() {
        List<Path> dirs = new ArrayList<>();
        String home = System.getenv("CUDA_HOME");
        if (home != null && !home.isBlank()) {
            dirs.add(Path.of(home, "lib64"));
        }
        dirs.add(Path.of("/usr/local/cuda/lib64"));
        dirs.add(Path.of("/usr/local/cuda-13.0/lib64"));
        dirs.add(Path.of("/usr/local/cuda/targets/x86_64-linux/lib"));
        dirs.add(Path.of("/usr/lib/x86_64-linux-gnu"));
        return dirs;
    }

    /**
     * Opens {@code soname}: the file named by the system property {@code property} when it is set, else the soname
     * through the dynamic loader's search path, else the first toolkit folder that holds it.
     *
     * @param companions libraries that the loaded one opens by soname at run time (NVRTC's builtins); each is opened
     *                   first from the same folder, so that the loader finds it already resident
     */
    static Loaded open(String soname, String property, boolean searchToolkit, String... companions) {
        String os = System.getProperty("os.name", "");
        if (!os.startsWith("Linux")) {
            return new Loaded(null, soname, "NVIDIA's libraries are bound on Linux only, and this is " + os);
        }
        String forced = System.getProperty(property);
        if (forced != null && !forced.isBlank()) {
            return openFile(Path.of(forced), companions);
        }
        try {
            SymbolLookup lookup = SymbolLookup.libraryLookup(soname, Arena.global());
            return new Loaded(lookup, soname, null);
        } catch (IllegalArgumentException | IllegalCallerException e) {
            // not on the loader's path: try the toolkit folders
        }
        if (searchToolkit) {
            for (Path dir : toolkitDirs()) {
                Path file = dir.resolve(soname);
                if (Files.isRegularFile(file)) {
                    return openFile(file, companions);
                }
            }
        }
        return new Loaded(null, soname, soname + " is not installed (not on the dynamic loader's path"
                + (searchToolkit ? " nor in " + toolkitDirs() : "") + "; -D" + property + "=/path/" + soname
                + " names it)");
    }

    private static Loaded openFile(Path file, String... companions) {
        if (!Files.isRegularFile(file)) {
            return new Loaded(null, file.toString(), "the library file " + file + " is missing");
        }
        for (String companion : companions) {
            try (var files = Files.list(file.getParent())) {
                for (Path c : files.filter(p -> p.getFileName().toString().startsWith(companion)).toList()) {
                    SymbolLookup.libraryLookup(c, Arena.global());
                }
            } catch (Exception e) {
                // a missing companion shows up as the library's own error when it needs it
            }
        }
        try {
            return new Loaded(SymbolLookup.libraryLookup(file, Arena.global()), file.toString(), null);
        } catch (IllegalArgumentException | IllegalCallerException e) {
            return new Loaded(null, file.toString(), "cannot load " + file + ": " + e.getMessage());
        }
    }
}
