package org.stemsight.fiji;

import ij.ImagePlus;
import ij.ImageStack;
import ij.measure.Calibration;
import ij.process.FloatProcessor;
import java.util.Map;
import org.stemsight.Json;
import org.stemsight.MicroscopeFile;

/**
 * Microscope files (DM3/DM4, SER/EMI, Velox EMD, MRC, TIFF, PNG) opened through the engine's
 * own readers, so Fiji sees the same pixels, calibration and acquisition as the CLI.
 */
final class MicroscopeImages {
    /** Image property holding the acquisition JSON the file recorded (voltage, detector, …). */
    static final String ACQUISITION = "stemsight.acquisition";
    /** Image property holding the file the pixels came from. */
    static final String PATH = "stemsight.path";

    private MicroscopeImages() {
    }

    /** A 32-bit image (a stack for several frames) calibrated in nm, with the acquisition attached. */
    static ImagePlus toImagePlus(MicroscopeFile f) {
        ImageStack stack = new ImageStack(f.width, f.height);
        for (int k = 0; k < f.frames; k++) {
            stack.addSlice("frame " + (k + 1), new FloatProcessor(f.width, f.height, f.frame(k)));
        }
        String title = f.path.getName() + (f.detector.isEmpty() ? "" : " [" + f.detector + "]");
        ImagePlus imp = new ImagePlus(title, stack);
        if (f.pixelSizeAngstrom > 0 && !Double.isInfinite(f.pixelSizeAngstrom)) {
            Calibration cal = imp.getCalibration();
            cal.setUnit("nm");
            cal.pixelWidth = f.pixelSizeAngstrom / 10.0;
            cal.pixelHeight = f.pixelSizeAngstrom / 10.0;
        }
        imp.setProperty(ACQUISITION, f.acquisitionJson);
        imp.setProperty(PATH, f.path.getAbsolutePath());
        imp.setProperty("Info", info(f));
        imp.resetDisplayRange();
        return imp;
    }

    /** Image > Show Info text: where the image came from and how it was acquired. */
    private static String info(MicroscopeFile f) {
        StringBuilder b = new StringBuilder("StemSight: read by the engine's reader\n");
        b.append("File: ").append(f.path.getAbsolutePath()).append('\n');
        b.append("Pixel size: ").append(Double.isNaN(f.pixelSizeAngstrom) ? "none in the file"
                : f.pixelSizeAngstrom + " \u00c5/pixel").append('\n');
        Object acq = Json.parse(f.acquisitionJson);
        if (acq instanceof Map) {
            for (Map.Entry<?, ?> e : ((Map<?, ?>) acq).entrySet()) {
                if (e.getValue() != null) {
                    b.append(e.getKey()).append(": ").append(Json.write(e.getValue())).append('\n');
                }
            }
        }
        for (String w : f.warnings) {
            b.append("Note: ").append(w).append('\n');
        }
        return b.toString();
    }
}
