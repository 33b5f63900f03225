package org.stemsight;

import static org.junit.Assert.assertArrayEquals;
import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertTrue;
import static org.junit.Assert.assertFalse;
import static org.junit.Assert.fail;
import static org.junit.Assume.assumeTrue;

import ij.ImagePlus;
import ij.io.FileSaver;
import ij.io.Opener;
import ij.measure.Calibration;
import ij.process.ByteProcessor;
import java.io.File;
import java.nio.file.Files;
import org.junit.Test;

/**
 * Definitions the binding and the plugin take from the engine instead of keeping copies:
 * length units ({@link Units}), the overlay colours ({@link OverlayPalette}) and the
 * models folder search ({@link ModelLocator}).
 */
public class SharedDefinitionsTest {
    /**
     * A TIFF that ImageJ writes with a calibration in {@code unit}: the plugin's reading
     * (ImageJ's calibration through {@link Units}) and the engine's reader give the same
     * pixel size, for every spelling of a length ImageJ may carry.
     */
    @Test
    public void imageJCalibrationsReadAsTheEngineReadsTheFile() throws Exception {
        Object[][] cases = {
            {"nm", 0.01}, {"\u00b5m", 1e-5}, {"um", 1e-5}, {"micron", 1e-5}, {"micrometre", 1e-5},
            {"\u00c5", 0.1}, {"\u212b", 0.1}, {"angstrom", 0.1}, {"pm", 10.0}, {"picometre", 10.0},
        };
        for (Object[] c : cases) {
            String unit = (String) c[0];
            double width = (Double) c[1];
            ImagePlus imp = new ImagePlus("units", new ByteProcessor(16, 16));
            Calibration cal = imp.getCalibration();
            cal.setUnit(unit);
            cal.pixelWidth = width;
            cal.pixelHeight = width;
            File f = File.createTempFile("stemsight-unit", ".tif");
            f.deleteOnExit();
            assertTrue(unit, new FileSaver(imp).saveAsTiff(f.getPath()));
            Calibration opened = new Opener().openImage(f.getPath()).getCalibration();
            double plugin = Units.angstromPerUnit(opened.getUnit()) * opened.pixelWidth;
            double engine = MicroscopeFile.read(f, null).pixelSizeAngstrom;
            assertEquals(unit + " (ImageJ wrote '" + opened.getUnit() + "')", engine, plugin, 1e-6 * engine);
            assertEquals(unit, Units.angstromPerUnit("nm") * 0.01, engine, 1e-6);
        }
        assertEquals(10.0, Units.angstromPerUnit(" NM "), 0);
        assertTrue(Double.isNaN(Units.angstromPerUnit("pixel")));
        assertTrue(Double.isNaN(Units.angstromPerUnit(null)));
    }

    /** The overlay colours: the five column and vacancy colours and one tint per polymorph class. */
    @Test
    public void overlayColoursComeFromTheEngine() {
        for (String name : new String[] {"metal", "metal_chalcogen", "chalcogen", "vs1", "vs2", "excluded"}) {
            int[] c = OverlayPalette.rgb(name);
            assertEquals(name, 3, c.length);
            for (int v : c) {
                assertTrue(name, v >= 0 && v <= 255);
            }
        }
        assertArrayEquals(new int[] {255, 220, 0}, OverlayPalette.rgb("metal"));
        int[][] tints = OverlayPalette.polymorph();
        assertEquals(7, tints.length);
        assertArrayEquals(new int[] {0, 0, 0}, tints[0]);
        try {
            OverlayPalette.rgb("mauve");
            fail("an unknown colour name was answered");
        } catch (StemSightException e) {
            assertEquals(StemSightException.Kind.InvalidParameter, e.kind());
        }
    }

    /**
     * The models search with no explicit setting: an extra candidate holding a model wins,
     * else the engine finds the repository models/ above the working directory (the
     * repository root when scripts/test_java.sh runs this).
     */
    @Test
    public void modelsAreFoundAsTheEngineFindsThem() throws Exception {
        assumeTrue(System.getenv(ModelLocator.ENV) == null);
        File root = Files.createTempDirectory("stemsight-models").toFile();
        File fiji = new File(root, "models/stemsight");
        File nested = new File(root, "nested/m1");
        File empty = new File(root, "empty");
        assertTrue(fiji.mkdirs() && nested.mkdirs() && empty.mkdirs());
        Files.write(new File(fiji, "model.json").toPath(), "{}".getBytes("UTF-8"));
        Files.write(new File(nested, "model.json").toPath(), "{}".getBytes("UTF-8"));
        assertTrue(ModelLocator.holdsModel(fiji));
        assertTrue(ModelLocator.holdsModel(nested.getParentFile()));
        assertFalse(ModelLocator.holdsModel(empty));
        assertFalse(ModelLocator.holdsModel(null));
        String property = System.getProperty(ModelLocator.PROPERTY);
        System.clearProperty(ModelLocator.PROPERTY);
        try {
            assertEquals(fiji.getAbsoluteFile(), ModelLocator.find(empty, fiji).getAbsoluteFile());
            File repository = new File("models").getCanonicalFile();
            assumeTrue(new File(repository, "README.md").isFile());
            assertEquals(repository, ModelLocator.find(empty).getCanonicalFile());
        } finally {
            if (property != null) {
                System.setProperty(ModelLocator.PROPERTY, property);
            }
        }
    }
}
