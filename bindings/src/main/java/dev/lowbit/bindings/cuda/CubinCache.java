package dev.lowbit.bindings.cuda;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * Compiled cubins, keyed by the SHA-256 of everything that decides the binary (source, headers, options, compiler
 * version) plus the architecture: in memory for the process, and on disk under {@code -Dlowbit.cuda.cache} (default
 * {@code $XDG_CACHE_HOME/lowbit/cubin} or {@code ~/.cache/lowbit/cubin}) so that a second run skips NVRTC. A file is
 * written to a temporary name and renamed, so a reader never sees half a cubin. {@code -Dlowbit.cuda.cache=off}
 * keeps the cache in memory only.
 */
public final class CubinCache {

    /** What turns a source into a cubin: NVRTC in production, a stand-in in tests. */
    @FunctionalInterface
    public interface Compiler {
        byte[] compile(String source, String name, Map<String, String> headers, String arch, List<String> options);
    }

    private final Compiler compiler;
    private final String compilerVersion;
    private final Path dir;
    private final Map<String, byte[]> memory = new ConcurrentHashMap<>();
    private final AtomicInteger compilations = new AtomicInteger();

    /**
     * @param dir where cubins are kept between runs, or null for memory only
     */
    public CubinCache(Compiler compiler, String compilerVersion, Path dir) {
        this.compiler = compiler;
        this.compilerVersion = compilerVersion;
        this.dir = dir;
    }

    /** The cache over NVRTC, in the folder that {@code -Dlowbit.cuda.cache} names or the default one. */
    public static CubinCache nvrtc() {
        return new CubinCache(Nvrtc::compile, "nvrtc-" + Nvrtc.version(), defaultDir());
    }

    static Path defaultDir() {
        String p = System.getProperty("lowbit.cuda.cache");
        if (p != null && !p.isBlank()) {
            return p.equalsIgnoreCase("off") ? null : Path.of(p);
        }
        String xdg = System.getenv("XDG_CACHE_HOME");
        Path base = xdg != null && !xdg.isBlank() ? Path.of(xdg) : Path.of(System.getProperty("user.home"), ".cache");
        return base.resolve("lowbit").resolve("cubin");
    }

    /** How many times this cache ran the compiler. */
    public int compilations() {
        return compilations.get();
    }

    /** The cache key: hex SHA-256 of the inputs, then the architecture. */
    public String key(String source, Map<String, String> headers, String arch, List<String> options) {
        MessageDigest sha;
        try {
            sha = MessageDigest.getInstance("SHA-256");
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("SHA-256 is missing from this JDK", e);
        }
        update(sha, compilerVersion);
        update(sha, source);
        for (Map.Entry<String, String> h : new TreeMap<>(headers).entrySet()) {
            update(sha, h.getKey());
            update(sha, h.getValue());
        }
        for (String o : options) {
            update(sha, o);
        }
        return HexFormat.of().formatHex(sha.digest()) + "-" + arch;
    }

    private static void update(MessageDigest sha, String s) {
        byte[] b = s.getBytes(StandardCharsets.UTF_8);
        sha.update(new byte[] {(byte) (b.length >>> 24), (byte) (b.length >>> 16), (byte) (b.length >>> 8),
            (byte) b.length});
        sha.update(b);
    }

    /** The cubin of {@code source} for {@code arch}: from memory, from disk, or compiled now (and then stored). */
    public byte[] get(String source, String name, Map<String, String> headers, String arch, List<String> options) {
        String key = key(source, headers, arch, options);
        byte[] hit = memory.get(key);
        if (hit != null) {
            return hit;
        }
        byte[] cubin = readDisk(key);
        if (cubin == null) {
            compilations.incrementAndGet();
            cubin = compiler.compile(source, name, headers, arch, options);
            writeDisk(key, cubin);
        }
        memory.put(key, cubin);
        return cubin;
    }

    private byte[] readDisk(String key) {
        if (dir == null) {
            return null;
        }
        Path f = dir.resolve(key + ".cubin");
        try {
            return Files.isRegularFile(f) ? Files.readAllBytes(f) : null;
        } catch (IOException e) {
            return null; // an unreadable entry is compiled again
        }
    }

    private void writeDisk(String key, byte[] cubin) {
        if (dir == null) {
            return;
        }
        try {
            Files.createDirectories(dir);
            Path tmp = Files.createTempFile(dir, key, ".tmp");
            Files.write(tmp, cubin);
            Path target = dir.resolve(key + ".cubin");
            try {
                Files.move(tmp, target, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
            } catch (AtomicMoveNotSupportedException e) {
                Files.move(tmp, target, StandardCopyOption.REPLACE_EXISTING);
            }
        } catch (IOException e) {
            // a cache that cannot be written only costs a compilation next time
        }
    }
}
