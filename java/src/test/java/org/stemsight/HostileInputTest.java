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
