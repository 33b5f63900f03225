package org.stemsight;

import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertNotNull;
import static org.junit.Assert.assertTrue;
import static org.junit.Assert.fail;
import static org.junit.Assume.assumeTrue;

import ij.ImagePlus;
import ij.io.Opener;
import ij.process.ImageProcessor;
import java.io.File;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.junit.BeforeClass;
import org.junit.Test;

/**
 * {@link AnalysisOptions#polymorphs}: the polymorphs the polymorph map may choose. On the
 * simulated image of scripts/test_java.sh (-Dstemsight.test.image=…/image.tif, a 2H-1L
 * simulation with truth.json and the truth polymorph.tif beside it) an analysis restricted
 * to 2H-1L reports that restriction and maps 2H-1L alone, in agreement with the truth; an
 * unknown or repeated name is refused as invalid input, and the library goes on working.
 */
public class PolymorphsOptionTest {
    private static final List<String> ALL = Arrays.asList("2H-1L", "2H-2L", "2H-3L", "3R-2L", "3R-3L", "1T");

    private static Analyzer analyzer;
    private static float[] pixels;
    private static int width;
    private static int height;
    private static double pixelSize;
    private static File image;

    @BeforeClass
    public static void setUp() throws Exception {
        analyzer = Analyzer.load(ModelLocator.find());
        String path = System.getProperty("stemsight.test.image");
        if (path == null) {
            throw new IllegalStateException("set -Dstemsight.test.image (scripts/test_java.sh does)");
        }
        image = new File(path);
        ImagePlus imp = new Opener().openImage(path);
        assertNotNull("cannot open " + path, imp);
        width = imp.getWidth();
        height = imp.getHeight();
        pixels = ((float[]) imp.getProcessor().convertToFloat().getPixels()).clone();
        pixelSize = MicroscopeFile.read(image, null).pixelSizeAngstrom;
        assertTrue("no pixel size in " + path, pixelSize > 0);
    }

    private static AnalysisResult analyze(AnalysisOptions o) {
        return analyzer.analyze(pixels, width, height, pixelSize, o, null);
    }

    /** report.json's settings.polymorphs. */
    private static List<?> allowed(Report r) {
        Map<?, ?> settings = (Map<?, ?>) ((Map<?, ?>) Json.parse(r.json)).get("settings");
        assertNotNull("no settings in the report", settings);
        Object list = settings.get("polymorphs");
        assertTrue("settings.polymorphs is " + list, list instanceof List);
        return (List<?>) list;
    }

    @Test
    public void allowedPolymorphsAreReportedAsTheEngineReadsThem() {
        assertEquals(ALL, allowed(analyze(null).report));
        assertEquals(ALL, allowed(analyze(new AnalysisOptions().polymorphs("")).report));
        assertEquals(ALL, allowed(analyze(new AnalysisOptions().polymorphs(null)).report));
        assertEquals(Arrays.asList("2H-1L", "1T"),
                allowed(analyze(new AnalysisOptions().tasks("polymorph").polymorphs(" 2h-1l , 1T")).report));
        assertEquals("{\"polymorphs\":\"2H-1L,1T\"}", new AnalysisOptions().polymorphs("2H-1L,1T").toJson());
    }

    @Test
    public void restrictedToTheMonolayerMapsItAloneAsTheTruthHasIt() throws Exception {
        AnalysisResult restricted = analyze(new AnalysisOptions().polymorphs("2H-1L"));
        Report r = restricted.report;
        assertEquals(Arrays.asList("2H-1L"), allowed(r));
        // Fractions are of the material (vacuum apart, in vacuum_fraction): 2H-1L alone.
        assertEquals(new HashSet<String>(ALL), r.polymorphFractions.keySet());
        for (Map.Entry<String, Double> e : r.polymorphFractions.entrySet()) {
            if (!"2H-1L".equals(e.getKey())) {
                assertEquals(e.getKey(), 0.0, e.getValue(), 0.0);
                assertEquals(e.getKey() + " (clean)", 0.0, r.polymorphFractionsClean.get(e.getKey()), 0.0);
            }
        }
        assertTrue("vacuum fraction " + r.vacuumFraction, r.vacuumFraction < 1);
        assertEquals(1.0, r.polymorphFractions.get("2H-1L"), 1e-9);
        assertEquals("2H-1L", r.dominantPolymorph());
        int mono = r.polymorphClasses.indexOf("2H-1L");
        assertTrue(mono > 0);
        for (byte b : restricted.polymorphMap) {
            int c = b & 0xff;
            assertTrue("map class " + c, c == 0 || c == mono);
        }

        // The truth beside the image: a 2H-1L simulation (else this part is skipped).
        File dir = image.getAbsoluteFile().getParentFile();
        File truthJson = new File(dir, "truth.json");
        File truthMap = new File(dir, "polymorph.tif");
        assumeTrue("no truth beside " + image, truthJson.isFile() && truthMap.isFile());
        Map<?, ?> truth = (Map<?, ?>) Json.parse(new String(Files.readAllBytes(truthJson.toPath()), StandardCharsets.UTF_8));
        Map<?, ?> params = (Map<?, ?>) truth.get("params");
        assumeTrue("not a 2H-1L simulation", "2H-1L".equals(params.get("polymorph")) && params.get("second_polymorph") == null);
        assertEquals(r.polymorphClasses, truth.get("polymorph_classes"));
        ImagePlus t = new Opener().openImage(truthMap.getPath());
        assertNotNull(t);
        assertEquals(width, t.getWidth());
        assertEquals(height, t.getHeight());
        ImageProcessor tp = t.getProcessor();
        double unrestrictedAgreement = agreement(tp, analyze(null).polymorphMap);
        double restrictedAgreement = agreement(tp, restricted.polymorphMap);
        System.out.printf("PolymorphsOptionTest: truth 2H-1L pixels mapped 2H-1L: %.4f restricted, %.4f all six%n",
                restrictedAgreement, unrestrictedAgreement);
        assertTrue("agreement " + restrictedAgreement, restrictedAgreement >= 0.9);
        assertTrue(restrictedAgreement + " < " + unrestrictedAgreement, restrictedAgreement >= unrestrictedAgreement - 0.01);
        // Site contents come from the allowed polymorph: the monolayer's (Mo, S2) alone.
        Set<Object> truthSites = new HashSet<Object>();
        for (Object c : (List<?>) truth.get("columns")) {
            truthSites.add(((Map<?, ?>) c).get("nominal_site"));
        }
        List<String> found = new ArrayList<String>();
        for (Atom a : r.atoms) {
            found.add(a.site);
        }
        assertTrue("no atoms", !found.isEmpty());
        assertTrue("sites " + new HashSet<String>(found) + " beyond the truth's " + truthSites,
                truthSites.containsAll(found));
    }

    /** The fraction of the truth's 2H-1L pixels that the map calls 2H-1L (class 1). */
    private static double agreement(ImageProcessor truth, byte[] map) {
        int mono = ALL.indexOf("2H-1L") + 1;
        long both = 0;
        long total = 0;
        for (int y = 0; y < height; y++) {
            for (int x = 0; x < width; x++) {
                if ((int) truth.getPixelValue(x, y) == mono) {
                    total++;
                    if ((map[y * width + x] & 0xff) == mono) {
                        both++;
                    }
                }
            }
        }
        assertTrue("the truth map has no 2H-1L pixel", total > 0);
        return both / (double) total;
    }

    @Test
    public void unknownOrRepeatedNamesAreInvalidInputAndNothingBreaks() {
        String[] bad = {"2H-4L", "2H-1L,2h-1l", "2H-1L;1T"};
        String[] named = {"2H-4L", "2H-1L", "2H-1L;1T"};
        for (int k = 0; k < bad.length; k++) {
            long t0 = System.nanoTime();
            try {
                analyze(new AnalysisOptions().polymorphs(bad[k]));
                fail("accepted polymorphs '" + bad[k] + "'");
            } catch (StemSightException e) {
                assertEquals(bad[k], StemSightException.Kind.InvalidParameter, e.kind());
                assertTrue(e.getMessage(), e.getMessage().contains(named[k]));
            }
            double seconds = (System.nanoTime() - t0) / 1e9;
            assertTrue(bad[k] + " took " + seconds + " s", seconds < 1.0);
        }
        // The same analyzer still analyzes.
        assertEquals(Arrays.asList("1T"), allowed(analyze(new AnalysisOptions().tasks("polymorph").polymorphs("1t")).report));
    }
}
