package org.stemsight;

import static org.junit.Assert.assertArrayEquals;
import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertTrue;
import static org.junit.Assert.fail;
import static org.junit.Assume.assumeTrue;

import java.io.File;
import java.nio.file.Files;
import java.util.Map;
import org.junit.Test;

/**
 * Microscope files through the engine's readers (scripts/test_java.sh runs from the
 * repository root): the Velox fixture always, the real JEOL DM4 when ../shared is present.
 */
public class MicroscopeFileTest {
    private static final File EMD = new File("native/tests/data/velox_two_detectors.emd");

    @Test
    public void readsTheHaadfImageOfATwoDetectorEmd() {
        MicroscopeFile f = MicroscopeFile.read(EMD, null);
        // scripts/make_emd_fixture.py: the HAADF image holds 1000 k + 10 r + c, 0.125 Å/px.
        assertEquals(20, f.width);
        assertEquals(24, f.height);
        assertEquals(2, f.frames);
        assertEquals(0.125, f.pixelSizeAngstrom, 1e-9);
        assertEquals("HAADF", f.detector);
        float[] second = f.frame(1);
        assertEquals(1000 + 10 * 3 + 17, second[3 * 20 + 17], 0);
        Map<?, ?> acq = (Map<?, ?>) Json.parse(f.acquisitionJson);
        assertEquals("HAADF", acq.get("detector"));
        assertTrue(acq.containsKey("voltage_kv"));
        // The other detector by name: one frame of 7s at 0.2 Å/px.
        MicroscopeFile df4 = MicroscopeFile.read(EMD, "DF4");
        assertEquals(1, df4.frames);
        assertEquals(0.2, df4.pixelSizeAngstrom, 1e-9);
        assertArrayEquals(new float[] {7f, 7f}, new float[] {df4.frame(0)[0], df4.frame(0)[479]}, 0f);
    }

    @Test
    public void badFilesAreExceptionsWithTheReason() throws Exception {
        try {
            MicroscopeFile.read(EMD, "BF");
            fail("no BF detector in the fixture");
        } catch (StemSightException e) {
            assertEquals("InvalidParameter", e.getKind());
            assertTrue(e.getMessage(), e.getMessage().contains("DF4, HAADF"));
        }
        File junk = File.createTempFile("stemsight", ".dm4");
        junk.deleteOnExit();
        Files.write(junk.toPath(), new byte[] {0, 0, 0, 4, 1, 2, 3});
        try {
            MicroscopeFile.read(junk, null);
            fail("a 7-byte DM4 is not an image");
        } catch (StemSightException e) {
            assertTrue(e.getMessage(), e.getMessage().contains(junk.getName()));
        }
    }

    @Test
    public void readsTheRealJeolDm4WithItsCalibration() {
        File dm4 = new File("../shared/data/real/wse2_ti_doped_adf1_2.dm4");
        assumeTrue("../shared/data/real absent", dm4.isFile());
        MicroscopeFile f = MicroscopeFile.read(dm4, null);
        assertEquals(512, f.width);
        assertEquals(512, f.height);
        assertEquals(1, f.frames);
        assertEquals(0.3988, f.pixelSizeAngstrom, 5e-4);
    }
}
