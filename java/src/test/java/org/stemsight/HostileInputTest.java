package org.stemsight;

import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertTrue;
import static org.junit.Assert.fail;

import java.io.File;
import java.nio.file.Files;
import java.util.Random;
import org.junit.Test;

/**
 * The JNI entry points under a worst day's input, with a fixed seed: absurd settings are
 * refused at once naming the option, and mutated microscope files through
 * {@code readImage} are a result or a StemSightException, never a JVM crash
 * (scripts/test_java.sh runs from the repository root).
 */
public class HostileInputTest {
    private static final File EMD = new File("native/tests/data/velox_two_detectors.emd");

    @Test
    public void absurdSettingsAreRefusedBeforeAnyWork() {
        Analyzer analyzer = Analyzer.load(ModelLocator.find());
        float[] pixels = new float[128 * 128];
        AnalysisOptions[] absurd = {
            new AnalysisOptions().carbonSmoothing(1e9),
            new AnalysisOptions().atomThreshold(2),
            new AnalysisOptions().carbonThreshold(-1),
            new AnalysisOptions().tasks(","),
            new AnalysisOptions().calibrateFromLattice(true),
            new AnalysisOptions().chemistry("graphene"),
        };
        String[] names = {"carbon-smoothing", "atom-threshold", "carbon-threshold", "no task", "chemistry", "graphene"};
        for (int k = 0; k < absurd.length; k++) {
            long t0 = System.nanoTime();
            try {
                analyzer.analyze(pixels, 128, 128, 0.1, absurd[k], null);
                fail("accepted " + absurd[k]);
            } catch (StemSightException e) {
                assertEquals(absurd[k].toString(), "InvalidParameter", e.getKind());
                assertTrue(e.getMessage(), e.getMessage().contains(names[k]));
            }
            double seconds = (System.nanoTime() - t0) / 1e9;
            assertTrue(absurd[k] + " took " + seconds + " s", seconds < 1.0);
        }
    }

    /** Peak resident memory of this JVM in kB (Linux), or -1 where /proc is absent. */
    private static long peakResidentKb() throws Exception {
        File status = new File("/proc/self/status");
        if (!status.exists()) {
            return -1;
        }
        for (String line : Files.readAllLines(status.toPath())) {
            if (line.startsWith("VmHWM:")) {
                return Long.parseLong(line.replaceAll("[^0-9]", ""));
            }
        }
        return -1;
    }

    /**
     * A little-endian TIFF of one 8-bit strip of side² pixels at byte 200, compressed as
     * {@code compression} says, with {@code strip} after the header.
     */
    private static byte[] tiff(int side, int compression, int stripBytes, byte[] strip) {
        java.nio.ByteBuffer b = java.nio.ByteBuffer.allocate(200 + strip.length).order(java.nio.ByteOrder.LITTLE_ENDIAN);
        b.put(new byte[] {'I', 'I', 42, 0}).putInt(8);
        int[][] entries = {
            {256, 4, side}, {257, 4, side}, {258, 3, 8}, {259, 3, compression}, {262, 3, 1},
            {273, 4, 200}, {277, 3, 1}, {278, 4, side}, {279, 4, stripBytes},
        };
        b.putShort((short) entries.length);
        for (int[] e : entries) {
            b.putShort((short) e[0]).putShort((short) e[1]).putInt(1);
            if (e[1] == 3) {
                b.putShort((short) e[2]).putShort((short) 0);
            } else {
                b.putInt(e[2]);
            }
        }
        b.putInt(0);
        b.position(200);
        b.put(strip);
        return b.array();
    }

    /** An uncompressed header whose strip claims side² pixels (and 4 GiB) it lacks. */
    private static byte[] tiffBomb(int side) {
        return tiff(side, 1, -1, new byte[20]);
    }

    /** A 20000² deflate-compressed 8-bit TIFF of zeros, a few hundred kB on disk. */
    private static byte[] deflateBomb(int side) {
        java.util.zip.Deflater deflater = new java.util.zip.Deflater(9);
        java.io.ByteArrayOutputStream strip = new java.io.ByteArrayOutputStream();
        byte[] row = new byte[side];
        byte[] buf = new byte[1 << 16];
        for (int y = 0; y < side; y++) {
            deflater.setInput(row);
            while (!deflater.needsInput()) {
                strip.write(buf, 0, deflater.deflate(buf));
            }
        }
        deflater.finish();
        while (!deflater.finished()) {
            strip.write(buf, 0, deflater.deflate(buf));
        }
        byte[] data = strip.toByteArray();
        return tiff(side, 8, data.length, data);
    }

    @Test
    public void bombsAreRefusedQuicklyWithoutLargeAllocations() throws Exception {
        long before = peakResidentKb();
        byte[][] bombs = {tiffBomb(65536), deflateBomb(20000)};
        String[] sizes = {"65536", "20000"};
        for (int k = 0; k < bombs.length; k++) {
            File f = File.createTempFile("bomb", ".tif");
            f.deleteOnExit();
            Files.write(f.toPath(), bombs[k]);
            long t0 = System.nanoTime();
            try {
                MicroscopeFile.read(f, null);
                fail("read a bomb of " + sizes[k] + " px a side");
            } catch (StemSightException e) {
                assertTrue(e.getMessage(), e.getMessage().contains(sizes[k]));
            }
            double seconds = (System.nanoTime() - t0) / 1e9;
            assertTrue(sizes[k] + ": " + seconds + " s", seconds < 30.0);
        }
        long after = peakResidentKb();
        if (before > 0) {
            // The JVM's own peak stands at a few hundred MB; a decoded bomb would add GBs.
            assertTrue("peak RSS grew by " + (after - before) + " kB", after - before < 1L << 20);
            System.out.println("HostileInputTest: bombs refused, peak RSS " + before / 1024 + " -> " + after / 1024 + " MB");
        }
    }

    @Test
    public void mutatedFilesAreResultsOrExceptions() throws Exception {
        byte[] seed = Files.readAllBytes(EMD.toPath());
        Random rng = new Random(20261202L);
        File f = File.createTempFile("mutant", ".emd");
        f.deleteOnExit();
        int read = 0;
        int refused = 0;
        for (int run = 0; run < 400; run++) {
            byte[] b = seed.clone();
            int edits = 1 + rng.nextInt(4);
            for (int e = 0; e < edits; e++) {
                int at = rng.nextInt(rng.nextBoolean() ? Math.min(512, b.length) : b.length);
                b[at] = (byte) rng.nextInt(256);
            }
            if (rng.nextInt(8) == 0) {
                b = java.util.Arrays.copyOf(b, 1 + rng.nextInt(b.length));
            }
            Files.write(f.toPath(), b);
            try {
                MicroscopeFile m = MicroscopeFile.read(f, null);
                assertTrue(m.width > 0 && m.height > 0 && m.frames > 0);
                read++;
            } catch (StemSightException e) {
                assertTrue(e.getMessage(), e.getMessage().contains(f.getName()) || !e.getMessage().isEmpty());
                refused++;
            }
        }
        System.out.println("HostileInputTest: 400 mutated EMD files, " + read + " read, " + refused + " refused");
        assertEquals(400, read + refused);
    }
}
