package org.stemsight.fiji;

import ij.ImagePlus;
import ij.measure.Calibration;
import org.stemsight.Units;

/**
 * The image's pixel size in Å, from its calibration, with units read as the engine's file
 * readers read them (CommandDialog asks when it has none).
 */
final class PixelSize {
    private PixelSize() {
    }

    /** Pixel width in Å from the calibration, or NaN when uncalibrated or not a length. */
    static double fromCalibration(ImagePlus imp) {
        Calibration cal = imp.getCalibration();
        if (cal == null || !cal.scaled()) {
            return Double.NaN;
        }
        double perUnit = Units.angstromPerUnit(cal.getUnit());
        return perUnit * cal.pixelWidth;
    }
}
