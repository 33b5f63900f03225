package org.stemsight;

import java.io.File;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.security.DigestInputStream;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * Loads the native StemSight library once per JVM, trying in order:
 * <ol>
 * <li>the system property {@code stemsight.library.path} (the library file, or a folder
 * holding it) — an explicit override, so nothing else is tried when it is set;</li>
 * <li>{@code System.loadLibrary("stemsight")} ({@code java.library.path}, e.g. Fiji's
 * {@code lib/linux64/});</li>
 * <li>the copy embedded in the jar at {@code /natives/<os>-<arch>/<libname>}, extracted into a
 * fresh owner-only temporary folder after its SHA-256 is checked against the
 * {@code .sha256} resource beside it.</li>
 * </ol>
 * Failure is a {@link StemSightException} of kind "Loading" that names the platform and
 * every attempt.
 */
public final class NativeLoader {
    public static final String PATH_PROPERTY = "stemsight.library.path";
    private static final String NAME = "stemsight";

    private static boolean loaded;
    private static String loadedFrom;
    private static StemSightException failure;

    private NativeLoader() {
    }

    /** Loads the library if not done yet; repeats the first failure's message on later calls. */
    public static synchronized void load() {
        if (loaded) {
            return;
        }
        if (failure != null) {
            throw failure;
        }
        List<String> tried = new ArrayList<String>();
        try {
            loadedFrom = tryAll(tried);
            loaded = true;
        } catch (StemSightException e) {
            failure = e;
            throw e;
        }
    }

    /** Where the library was loaded from (null before {@link #load()}). */
    public static synchronized String loadedFrom() {
        return loadedFrom;
    }

    /** e.g. "linux-x86_64", the folder name under /natives/ in the jar. */
    public static String platform() {
        String os = System.getProperty("os.name", "").toLowerCase(Locale.ROOT);
        String arch = System.getProperty("os.arch", "").toLowerCase(Locale.ROOT);
        String o = os.startsWith("linux") ? "linux"
                : os.startsWith("mac") || os.startsWith("darwin") ? "macos"
                : os.startsWith("windows") ? "windows" : os.replaceAll("[^a-z0-9]", "");
        String a = arch.equals("amd64") || arch.equals("x86_64") ? "x86_64"
                : arch.equals("aarch64") || arch.equals("arm64") ? "aarch64" : arch;
        return o + "-" + a;
    }

    /** Resource path of the embedded library for this platform. */
    public static String resourcePath() {
        return "/natives/" + platform() + "/" + System.mapLibraryName(NAME);
    }

    private static String tryAll(List<String> tried) {
        String override = System.getProperty(PATH_PROPERTY);
        if (override != null && !override.trim().isEmpty()) {
            File f = new File(override.trim());
            if (f.isDirectory()) {
                f = new File(f, System.mapLibraryName(NAME));
            }
            try {
                System.load(f.getAbsolutePath());
                return f.getAbsolutePath();
            } catch (Throwable e) {
                tried.add("-D" + PATH_PROPERTY + "=" + override + ": " + e);
                throw fail(tried);
            }
        }
        try {
            System.loadLibrary(NAME);
            return "java.library.path";
        } catch (Throwable e) {
            // The error message already lists java.library.path.
            tried.add("System.loadLibrary(\"" + NAME + "\"): " + e.getMessage());
        }
        try {
            Path extracted = extract();
            System.load(extracted.toString());
            return extracted.toString();
        } catch (Throwable e) {
            tried.add("jar resource " + resourcePath() + ": " + e.getMessage());
        }
        throw fail(tried);
    }

    private static StemSightException fail(List<String> tried) {
        StringBuilder msg = new StringBuilder("cannot load the StemSight native library for platform ")
                .append(platform()).append(" (")
                .append(System.getProperty("os.name")).append(' ')
                .append(System.getProperty("os.arch")).append("). Tried:");
        for (String t : tried) {
            msg.append("\n  - ").append(t);
        }
        msg.append("\nSet -D").append(PATH_PROPERTY)
                .append("=/path/to/").append(System.mapLibraryName(NAME))
                .append(" or install a build for this platform.");
        return new StemSightException(StemSightException.Kind.Loading, msg.toString());
    }

    /** Copies the embedded library into a new owner-only folder, verifying its checksum. */
    static Path extract() throws IOException {
        String resource = resourcePath();
        InputStream raw = NativeLoader.class.getResourceAsStream(resource);
        if (raw == null) {
            throw new IOException("not in this jar (no build for this platform)");
        }
        String expected;
        try {
            expected = readChecksum(resource + ".sha256");
        } catch (IOException e) {
            raw.close();
            throw e;
        }
        Path dir = createPrivateDir();
        Path target = dir.resolve(System.mapLibraryName(NAME));
        MessageDigest sha = sha256();
        try (InputStream in = new DigestInputStream(raw, sha);
                OutputStream out = Files.newOutputStream(target)) {
            byte[] buf = new byte[1 << 16];
            int n;
            while ((n = in.read(buf)) > 0) {
                out.write(buf, 0, n);
            }
        }
        String actual = hex(sha.digest());
        if (!actual.equalsIgnoreCase(expected)) {
            Files.deleteIfExists(target);
            throw new IOException("checksum mismatch: extracted " + actual + ", expected " + expected);
        }
        // The JVM keeps the mapping; the files only need to survive until exit.
        target.toFile().deleteOnExit();
        dir.toFile().deleteOnExit();
        return target;
    }

    private static Path createPrivateDir() throws IOException {
        try {
            return Files.createTempDirectory("stemsight-native-",
                    PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rwx------")));
        } catch (UnsupportedOperationException notPosix) {
            // Windows: the per-user temp folder is already private to the user.
            return Files.createTempDirectory("stemsight-native-");
        }
    }

    private static String readChecksum(String resource) throws IOException {
        InputStream in = NativeLoader.class.getResourceAsStream(resource);
        if (in == null) {
            throw new IOException("no checksum resource " + resource + " (refusing an unverified library)");
        }
        try {
            String text = new String(readAll(in), StandardCharsets.US_ASCII).trim();
            // Accept both a bare digest and sha256sum's "digest  filename".
            String digest = text.split("\\s+")[0];
            if (!digest.matches("[0-9a-fA-F]{64}")) {
                throw new IOException("malformed checksum in " + resource);
            }
            return digest;
        } finally {
            in.close();
        }
    }

    static byte[] readAll(InputStream in) throws IOException {
        java.io.ByteArrayOutputStream out = new java.io.ByteArrayOutputStream();
        byte[] buf = new byte[8192];
        int n;
        while ((n = in.read(buf)) > 0) {
            out.write(buf, 0, n);
        }
        return out.toByteArray();
    }

    private static MessageDigest sha256() {
        try {
            return MessageDigest.getInstance("SHA-256");
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    private static String hex(byte[] bytes) {
        StringBuilder s = new StringBuilder();
        for (byte b : bytes) {
            s.append(String.format("%02x", b & 0xff));
        }
        return s.toString();
    }
}
