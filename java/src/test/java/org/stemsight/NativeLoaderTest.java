package org.stemsight;

import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertNotNull;
import static org.junit.Assert.assertTrue;

import java.io.File;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import org.junit.Test;

public class NativeLoaderTest {
    @Test
    public void platformNamesTheJarFolder() {
        String p = NativeLoader.platform();
        assertTrue(p, p.matches("[a-z0-9]+-[a-z0-9_]+"));
        assertTrue(NativeLoader.resourcePath().startsWith("/natives/" + p + "/"));
    }

    @Test
    public void loadsAndReportsWhereFrom() {
        NativeLoader.load();
        assertNotNull(NativeLoader.loadedFrom());
        assertTrue(Analyzer.engineVersion().matches("\\d+\\.\\d+\\.\\d+.*"));
    }

    /** A wrong override fails with a message naming the platform and the attempt (fresh JVM). */
    @Test
    public void badOverrideFailsClearly() throws Exception {
        String out = probe(System.getProperty("java.class.path"),
                "-D" + NativeLoader.PATH_PROPERTY + "=/nonexistent/libstemsight.so");
        assertTrue(out, out.contains("Loading"));
        assertTrue(out, out.contains(NativeLoader.platform()));
        assertTrue(out, out.contains("/nonexistent/libstemsight.so"));
    }

    /** An embedded library whose checksum does not match is refused (a tampered jar). */
    @Test
    public void tamperedLibraryIsRefused() throws Exception {
        File root = Files.createTempDirectory("stemsight-tampered").toFile();
        File dir = new File(root, NativeLoader.resourcePath().substring(1)).getParentFile();
        assertTrue(dir.mkdirs());
        String lib = System.mapLibraryName("stemsight");
        Files.write(new File(dir, lib).toPath(), "not a library".getBytes(StandardCharsets.US_ASCII));
        Files.write(new File(dir, lib + ".sha256").toPath(),
                "0000000000000000000000000000000000000000000000000000000000000000\n".getBytes(StandardCharsets.US_ASCII));
        // The tampered copy comes first on the class path; no java.library.path copy exists.
        String out = probe(root.getPath() + File.pathSeparator + System.getProperty("java.class.path"),
                "-Djava.library.path=" + root.getPath());
        assertTrue(out, out.contains("checksum mismatch"));
    }

    /** Runs LoaderProbe in a child JVM, expecting it to fail to load; returns its output. */
    private static String probe(String classPath, String property) throws Exception {
        String java = System.getProperty("java.home") + File.separator + "bin" + File.separator + "java";
        ProcessBuilder pb = new ProcessBuilder(java, "-cp", classPath, property, LoaderProbe.class.getName());
        pb.redirectErrorStream(true);
        Process proc = pb.start();
        String out = new String(NativeLoader.readAll(proc.getInputStream()), StandardCharsets.UTF_8);
        assertEquals(out, 3, proc.waitFor());
        return out;
    }
}
