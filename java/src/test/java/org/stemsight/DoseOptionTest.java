package org.stemsight;

import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertNotNull;
import static org.junit.Assert.assertNull;
import static org.junit.Assert.assertTrue;
import static org.junit.Assert.fail;

import java.io.File;
import java.util.Map;
import org.junit.Test;

/**
 * {@link AnalysisOptions#dose}: with the dose, voltage and detector given, the engine reads
 * the 2H layer count from the absolute signal. On a frozen-phonon multislice crop of a
 * 2H-2L MoS₂ bilayer (60 kV, 66–192 mrad, 1e5 e⁻/Å²; native/tests/data/frozen_phonon) the
 * map holds the bilayer the cell is, and the report says what the signal was read against;
 * a dose without the optics is refused naming what is missing.
 */
public class DoseOptionTest {
    private static final File BILAYER = new File("native/tests/data/frozen_phonon/2H-2L_MoS2_60kV_66-192mrad_1e5.tif");

    private static Map<?, ?> polymorph(AnalysisResult r) {
        return (Map<?, ?>) ((Map<?, ?>) Json.parse(r.report.json)).get("polymorph");
    }

    @Test
    public void theDoseGivesTheBilayerItsLayerCount() {
        Analyzer analyzer = Analyzer.load(ModelLocator.find());
        MicroscopeFile f = MicroscopeFile.read(BILAYER, null);
        AnalysisOptions o = new AnalysisOptions().chemistry("MoS2").dose(1e5).kv(60).detectorMrad(66, 192);
        Map<?, ?> p = polymorph(analyzer.analyze(f.frame(0), f.width, f.height, f.pixelSizeAngstrom, o, null));
        double bilayer = ((Number) ((Map<?, ?>) p.get("fractions")).get("2H-2L")).doubleValue();
        assertTrue("2H-2L on " + bilayer + " of the cell", bilayer >= 0.95);
        Map<?, ?> count = (Map<?, ?>) p.get("layer_count");
        assertNotNull("no layer_count in " + p, count);
        assertEquals(60.0, ((Number) count.get("kv")).doubleValue(), 0);
        Map<?, ?> plain = polymorph(analyzer.analyze(f.frame(0), f.width, f.height, f.pixelSizeAngstrom,
                new AnalysisOptions().chemistry("MoS2"), null));
        assertNull(plain.get("layer_count"));
        try {
            analyzer.analyze(f.frame(0), f.width, f.height, f.pixelSizeAngstrom,
                    new AnalysisOptions().dose(1e5).detectorMrad(66, 192), null);
            fail("a dose without the voltage was accepted");
        } catch (StemSightException e) {
            assertEquals("InvalidParameter", e.getKind());
            assertTrue(e.getMessage(), e.getMessage().contains("--kv"));
        }
    }
}
