package org.stemsight;

import static org.junit.Assert.assertArrayEquals;
import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertFalse;
import static org.junit.Assert.assertNotNull;
import static org.junit.Assert.assertSame;
import static org.junit.Assert.assertTrue;
import static org.junit.Assert.fail;

import ij.ImagePlus;
import ij.io.Opener;
import java.io.File;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.BeforeClass;
import org.junit.Test;

/**
 * The real native library on a simulated image (scripts/test_java.sh passes
 * -Dstemsight.test.image=…/image.tif and -Dstemsight.test.cliReport=…/report.json from
 * `stemsight analyze` on the same file; models via -Dstemsight.models).
 * ImageJ is used here only to read the TIFF; the library itself does not need it.
 */
public class AnalyzerTest {
    private static Analyzer analyzer;
    private static float[] pixels;
    private static int width;
    private static int height;
    private static Report cli;

    @BeforeClass
    public static void setUp() throws Exception {
        analyzer = Analyzer.load(ModelLocator.find());
        String image = required("stemsight.test.image");
        ImagePlus imp = new Opener().openImage(image);
        assertNotNull("cannot open " + image, imp);
        width = imp.getWidth();
        height = imp.getHeight();
        pixels = (float[]) imp.getProcessor().convertToFloat().getPixels();
        pixels = pixels.clone();
        byte[] json = Files.readAllBytes(new File(required("stemsight.test.cliReport")).toPath());
        cli = new Report(new String(json, StandardCharsets.UTF_8));
    }

    private static String required(String property) {
        String v = System.getProperty(property);
        if (v == null) {
            throw new IllegalStateException("set -D" + property + " (scripts/test_java.sh does)");
        }
        return v;
    }

    private static AnalysisResult analyze(AnalysisOptions o, ProgressListener l) {
        return analyzer.analyze(pixels, width, height, cli.pixelSizeAngstrom, o, l);
    }

    /** analyzeToFolder writes the folder the CLI writes, with the CLI's numbers and the reader's notes. */
    @Test
    public void writesTheCommandLineFolder() throws Exception {
        File dir = Files.createTempDirectory("stemsight-folder-").toFile();
        File out = new File(dir, "image");
        List<String> notes = new ArrayList<String>();
        notes.add("a note from the file reader");
        Report r = analyzer.analyzeToFolder(pixels, width, height, cli.pixelSizeAngstrom, null, null, out, notes);
        for (String name : new String[] {"report.json", "atoms.csv", "vacancies.csv", "polymorph.tif",
                "carbon.tif", "overlay.png"}) {
            assertTrue(name, new File(out, name).length() > 0);
        }
        Report written = new Report(new String(Files.readAllBytes(new File(out, "report.json").toPath()),
                StandardCharsets.UTF_8));
        assertEquals(cli.atoms.size(), written.atoms.size());
        assertEquals(cli.summary.nVs1, written.summary.nVs1);
        assertEquals(r.atoms.size(), written.atoms.size());
        assertTrue(written.warnings.contains("a note from the file reader"));
        assertEquals("", Analyzer.recoverLeftovers(dir));
        assertEquals(16, Analyzer.minSide());
        assertTrue(Analyzer.pixelSizeRange()[0] < 0.1 && Analyzer.pixelSizeRange()[1] > 0.1);
    }

    @Test
    public void matchesTheCommandLine() {
        AnalysisResult r = analyze(null, null);
        Report j = r.report;
        assertEquals(cli.atoms.size(), j.atoms.size());
        assertEquals(cli.vacancies.size(), j.vacancies.size());
        assertEquals(cli.summary.nMo, j.summary.nMo);
        assertEquals(cli.summary.nS2Sites, j.summary.nS2Sites);
        assertEquals(cli.summary.nVs1, j.summary.nVs1);
        assertEquals(cli.summary.nVs2, j.summary.nVs2);
        assertEquals(cli.contaminatedFraction, j.contaminatedFraction, 1e-12);
        for (String k : cli.polymorphFractions.keySet()) {
            assertEquals(k, cli.polymorphFractions.get(k), j.polymorphFractions.get(k), 1e-12);
        }
        for (int k = 0; k < j.atoms.size(); k++) {
            assertEquals(cli.atoms.get(k).x, j.atoms.get(k).x, 1e-9);
            assertEquals(cli.atoms.get(k).y, j.atoms.get(k).y, 1e-9);
            assertEquals(cli.atoms.get(k).site, j.atoms.get(k).site);
        }
        assertEquals(width, j.width);
        assertEquals(height, j.height);
        System.out.printf("JNI vs CLI: atoms %d/%d, vacancies %d/%d, n_mo %d, n_s2 %d, vs1 %d, vs2 %d%n",
                j.atoms.size(), cli.atoms.size(), j.vacancies.size(), cli.vacancies.size(),
                j.summary.nMo, j.summary.nS2Sites, j.summary.nVs1, j.summary.nVs2);
    }

    /**
     * The same JNI result against the simulator's truth beside the image (truth.json of
     * `stemsight simulate`): what the CLI comparison above cannot catch, as both sides
     * could be wrong alike. Seed 7 holds 154 columns and two VS1 in clean 2H-1L.
     */
    @Test
    public void findsWhatTheSimulatedImageHolds() throws Exception {
        File truthFile = new File(new File(required("stemsight.test.image")).getParentFile(), "truth.json");
        assertTrue("no truth.json beside the test image", truthFile.isFile());
        JsonFields truth = new JsonFields(
                Json.parse(new String(Files.readAllBytes(truthFile.toPath()), StandardCharsets.UTF_8)));
        double px = truth.num("pixel_size_angstrom");
        Report j = analyze(null, null).report;
        List<double[]> columns = new ArrayList<>();
        for (JsonFields c : truth.objects("columns")) {
            columns.add(new double[] {c.num("x"), c.num("y")});
        }
        assertFalse("truth.json lists no columns", columns.isEmpty());
        List<double[]> found = new ArrayList<>();
        for (Atom a : j.atoms) {
            found.add(new double[] {a.x, a.y});
        }
        // Every true column found within 0.5 Å; every found column at least 1 Å inside the
        // frame is a true one (the truth lists no column the border cuts).
        for (double[] c : columns) {
            assertTrue("true column at " + c[0] + "," + c[1] + " not found", nearest(c, found) * px < 0.5);
        }
        double margin = 1.0 / px;
        for (double[] f : found) {
            if (f[0] > margin && f[1] > margin && f[0] < width - 1 - margin && f[1] < height - 1 - margin) {
                assertTrue("found column at " + f[0] + "," + f[1] + " is not a true one", nearest(f, columns) * px < 0.5);
            }
        }
        // Every true vacancy reported, with its type, within 1 Å; no other vacancy.
        List<JsonFields> vacancies = truth.objects("vacancies");
        assertEquals(vacancies.size(), j.vacancies.size());
        for (JsonFields v : vacancies) {
            boolean hit = false;
            for (Vacancy r : j.vacancies) {
                hit |= r.type.equals(v.str("type")) && Math.hypot(r.x - v.num("x"), r.y - v.num("y")) * px < 1.0;
            }
            assertTrue("true " + v.str("type") + " at " + v.num("x") + "," + v.num("y") + " not reported", hit);
        }
        // Clean 2H-1L: the map reads it so and the contamination call keeps it.
        assertTrue("2H-1L " + j.polymorphFractions.get("2H-1L"), j.polymorphFractions.get("2H-1L") >= 0.9);
        assertTrue("flagged " + j.contaminatedFraction, j.contaminatedFraction <= 0.05);
        System.out.printf("JNI vs truth: %d true columns all found, %d found, %d/%d vacancies, %.1f %% flagged%n",
                columns.size(), found.size(), j.vacancies.size(), vacancies.size(), 100 * j.contaminatedFraction);
    }

    private static double nearest(double[] p, List<double[]> among) {
        double best = Double.POSITIVE_INFINITY;
        for (double[] q : among) {
            best = Math.min(best, Math.hypot(p[0] - q[0], p[1] - q[1]));
        }
        return best;
    }

    @Test
    public void mapsHaveOneValuePerPixelAndInputIsUntouched() {
        float[] before = pixels.clone();
        AnalysisResult r = analyze(new AnalysisOptions().source("sim.tif", "calibration", 2, 3), null);
        assertArrayEquals(before, pixels, 0f);
        assertEquals(width * height, r.polymorphMap.length);
        assertEquals(width * height, r.carbonMap.length);
        for (byte b : r.polymorphMap) {
            assertTrue((b & 0xff) < r.report.polymorphClasses.size());
        }
        for (float c : r.carbonMap) {
            assertFalse(Float.isNaN(c));
        }
        assertTrue(r.report.json.contains("\"path\":\"sim.tif\""));
        assertEquals("calibration", r.report.pixelSizeSource);
        assertEquals(2, r.report.frame());
        assertEquals(3, r.report.frames());
        expect("InvalidParameter", new Runnable() {
            public void run() {
                analyze(new AnalysisOptions().source("sim.tif", "guessed", 0, 1), null);
            }
        });
    }

    @Test
    public void tasksSelectWhatIsReported() {
        Report r = analyze(new AnalysisOptions().tasks("polymorph"), null).report;
        assertTrue(r.atoms.isEmpty());
        assertTrue(r.vacancies.isEmpty());
        assertFalse(r.polymorphFractions.isEmpty());
    }

    @Test
    public void progressRunsOnTheCallingThread() {
        final Thread caller = Thread.currentThread();
        final AtomicInteger calls = new AtomicInteger();
        final List<String> problems = new ArrayList<String>();
        analyze(null, new ProgressListener() {
            @Override
            public boolean progress(int done, int total) {
                calls.incrementAndGet();
                if (Thread.currentThread() != caller || done < 1 || done > total) {
                    problems.add(done + "/" + total + " on " + Thread.currentThread().getName());
                }
                return true;
            }
        });
        assertTrue(calls.get() >= 1);
        assertTrue(problems.toString(), problems.isEmpty());
    }

    @Test
    public void listenerCancels() {
        try {
            analyze(null, new ProgressListener() {
                @Override
                public boolean progress(int done, int total) {
                    return false;
                }
            });
            fail("not cancelled");
        } catch (StemSightException e) {
            assertTrue(e.getKind(), e.isCancelled());
        }
    }

    /**
     * A cancel after the last tile stops the stages after inference too (smoothing,
     * peaks, fits, line correction each ask the listener again).
     */
    @Test
    public void listenerCancelsAfterTheLastTile() {
        final AtomicInteger asked = new AtomicInteger();
        try {
            analyze(null, new ProgressListener() {
                @Override
                public boolean progress(int done, int total) {
                    // The last tile passes; the first stage after it is refused.
                    return done < total || asked.incrementAndGet() == 1;
                }
            });
            fail("not cancelled");
        } catch (StemSightException e) {
            assertTrue(e.getKind(), e.isCancelled());
            assertEquals(2, asked.get());
        }
    }

    @Test
    public void listenerExceptionPropagates() {
        final IllegalStateException boom = new IllegalStateException("boom");
        try {
            analyze(null, new ProgressListener() {
                @Override
                public boolean progress(int done, int total) {
                    throw boom;
                }
            });
            fail("no exception");
        } catch (IllegalStateException e) {
            assertSame(boom, e);
        }
    }

    @Test
    public void badInputsAreExceptionsNotCrashes() {
        expect("InvalidParameter", new Runnable() {
            public void run() {
                analyzer.analyze(pixels, width + 1, height, 0.1, null, null);
            }
        });
        expect("InvalidParameter", new Runnable() {
            public void run() {
                analyzer.analyze(pixels, -width, -height, 0.1, null, null);
            }
        });
        expect("InvalidParameter", new Runnable() {
            public void run() {
                analyzer.analyze(new float[0], 0, 0, 0.1, null, null);
            }
        });
        expect("InvalidParameter", new Runnable() {
            public void run() {
                analyzer.analyze(pixels, width, height, 5.0, null, null);
            }
        });
        expect("InvalidParameter", new Runnable() {
            public void run() {
                analyzer.analyze(pixels, width, height, Double.NaN, null, null);
            }
        });
        expect("InvalidParameter", new Runnable() {
            public void run() {
                analyzer.analyze(new float[16], 4, 4, 0.1, null, null);
            }
        });
        expect("InvalidParameter", new Runnable() {
            public void run() {
                float[] nan = new float[64 * 64];
                java.util.Arrays.fill(nan, Float.NaN);
                analyzer.analyze(nan, 64, 64, 0.1, null, null);
            }
        });
        expect("InvalidParameter", new Runnable() {
            public void run() {
                analyzer.analyze(pixels, width, height, 0.1, new AnalysisOptions().tasks("atom"), null);
            }
        });
        expect("InvalidParameter", new Runnable() {
            public void run() {
                analyzer.analyze(pixels, width, height, 0.1, new AnalysisOptions().views(9), null);
            }
        });
        expect("InvalidParameter", new Runnable() {
            public void run() {
                NativeBridge.analyze(1, pixels, width, height, 0.1, "{\"tasks\": 3}", null, null, null);
            }
        });
        expect("InvalidParameter", new Runnable() {
            public void run() {
                NativeBridge.analyze(-7, pixels, width, height, 0.1, null, null, null, null);
            }
        });
        expect("InvalidParameter", new Runnable() {
            public void run() {
                NativeBridge.analyze(1, null, width, height, 0.1, null, null, null, null);
            }
        });
        expect("InvalidParameter", new Runnable() {
            public void run() {
                NativeBridge.analyze(1, pixels, width, height, 0.1, null, null, new byte[3], null);
            }
        });
        expect("Model", new Runnable() {
            public void run() {
                Analyzer.load(new File("/nonexistent/stemsight-models"));
            }
        });
        // Constant images are valid input: an answer, not an error.
        float[] flat = new float[128 * 128];
        Report r = analyzer.analyze(flat, 128, 128, 0.1, null, null).report;
        assertEquals(128, r.width);
    }

    @Test
    public void concurrentCallsAgree() throws Exception {
        final Report[] out = new Report[4];
        Thread[] threads = new Thread[out.length];
        for (int t = 0; t < threads.length; t++) {
            final int k = t;
            threads[t] = new Thread(new Runnable() {
                public void run() {
                    out[k] = analyze(null, null).report;
                }
            });
            threads[t].start();
        }
        for (Thread t : threads) {
            t.join();
        }
        for (Report r : out) {
            assertNotNull(r);
            assertEquals(out[0].atoms.size(), r.atoms.size());
            assertEquals(out[0].summary.nVs1, r.summary.nVs1);
        }
    }

    @Test
    public void sameFolderLoadsOnce() {
        long t0 = System.nanoTime();
        Analyzer again = Analyzer.load(analyzer.modelsDir());
        assertTrue("second load should hit the cache", (System.nanoTime() - t0) < 200_000_000L);
        assertTrue(again.modelInfo().contains("pixel_size_angstrom"));
    }

    @Test
    public void cudaFallsBackToTheCpuWithANote() {
        Analyzer cpu = Analyzer.load(analyzer.modelsDir(), "cpu");
        assertEquals("cpu", cpu.device());
        assertEquals("", cpu.deviceNote());
        Analyzer cuda = Analyzer.load(analyzer.modelsDir(), "cuda");
        if ("cuda".equals(cuda.device())) {
            System.out.println("cuda: a GPU is present; the fallback is not exercised here");
        } else {
            assertTrue(cuda.deviceNote(), cuda.deviceNote().startsWith("CUDA unavailable ("));
        }
        // Same answers on whatever device it ended up on.
        Report a = analyze(null, null).report;
        Report b = cuda.analyze(pixels, width, height, cli.pixelSizeAngstrom, null, null).report;
        assertEquals(a.atoms.size(), b.atoms.size());
        assertEquals(a.summary.nVs1, b.summary.nVs1);
        expect("InvalidParameter", new Runnable() {
            public void run() {
                Analyzer.load(analyzer.modelsDir(), "tpu");
            }
        });
    }

    private static void expect(String kind, Runnable r) {
        try {
            r.run();
            fail("expected a StemSightException of kind " + kind);
        } catch (StemSightException e) {
            assertEquals(e.getMessage(), kind, e.getKind());
            assertFalse(e.getMessage().isEmpty());
        }
    }
}
