package org.stemsight;

import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertNotNull;
import static org.junit.Assert.assertTrue;
import static org.junit.Assume.assumeTrue;

import ij.ImagePlus;
import ij.io.Opener;
import java.io.File;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.util.Arrays;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.Test;

/**
 * Experimental images (../shared/data/real, when present; skipped otherwise): the binding
 * gives the CLI's numbers on real data too (-Dstemsight.test.realDir, -Dstemsight.test.realCli
 * = the CLI's output folder for those images, set by scripts/test_java.sh).
 */
public class RealImagesTest {
    @Test
    public void realImagesMatchTheCommandLine() throws Exception {
        String dir = System.getProperty("stemsight.test.realDir");
        String cliDir = System.getProperty("stemsight.test.realCli");
        assumeTrue("no real images (../shared/data/real absent)", dir != null && new File(dir).isDirectory());
        File[] tifs = new File(dir).listFiles((d, name) -> name.toLowerCase().endsWith(".tif"));
        assumeTrue(tifs != null && tifs.length > 0);
        Arrays.sort(tifs);
        Analyzer analyzer = Analyzer.load(ModelLocator.find());
        for (File tif : tifs) {
            String stem = tif.getName().replaceFirst("\\.[^.]*$", "");
            File reportFile = new File(new File(cliDir, stem), "report.json");
            assertTrue("CLI report missing: " + reportFile, reportFile.isFile());
            Report cli = new Report(new String(Files.readAllBytes(reportFile.toPath()), StandardCharsets.UTF_8));
            ImagePlus imp = new Opener().openImage(tif.getPath());
            assertNotNull(tif.getPath(), imp);
            float[] pixels = ((float[]) imp.getProcessor().convertToFloat().getPixels()).clone();
            // The chemistry the CLI was given (the Cr-doped TIFF is calibrated on WSe2's lattice):
            // its lattice constant sets the neighbour shells the site and layer checks read.
            JsonFields chemistry = new JsonFields(Json.parse(cli.json)).obj("chemistry");
            AnalysisOptions options = "given".equals(chemistry.str("source"))
                    ? new AnalysisOptions().chemistry(chemistry.str("name"))
                    : null;
            AtomicInteger calls = new AtomicInteger();
            Report r = analyzer.analyze(pixels, imp.getWidth(), imp.getHeight(), cli.pixelSizeAngstrom, options,
                    (done, total) -> calls.incrementAndGet() > 0).report;
            System.out.printf("%s: JNI atoms %d (CLI %d), vacancies %d (CLI %d), contaminated %.3f (CLI %.3f), %d progress calls%n",
                    tif.getName(), r.atoms.size(), cli.atoms.size(), r.vacancies.size(), cli.vacancies.size(),
                    r.contaminatedFraction, cli.contaminatedFraction, calls.get());
            assertEquals(tif.getName(), cli.atoms.size(), r.atoms.size());
            assertEquals(tif.getName(), cli.vacancies.size(), r.vacancies.size());
            assertEquals(tif.getName(), cli.summary.nMo, r.summary.nMo);
            assertEquals(tif.getName(), cli.summary.nVs1, r.summary.nVs1);
            assertEquals(tif.getName(), cli.contaminatedFraction, r.contaminatedFraction, 1e-12);
            assertTrue(tif.getName() + ": no atoms found on a real image", r.atoms.size() > 0);
        }
    }
}
