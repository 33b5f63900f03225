package org.stemsight.fiji;

import ij.ImagePlus;
import ij.measure.Calibration;
import java.util.Locale;

/** The image's pixel size in Å, from its calibration (CommandDialog asks when it has none). */
final class PixelSize {
    private PixelSize() {
    }

    /** Å per unit for the length units ImageJ images carry; NaN when not a length unit. */
    static double angstromPerUnit(String unit) {
        if (unit == null) {
            return Double.NaN;
        }
        String u = unit.trim().toLowerCase(Locale.ROOT);
        if (u.equals("nm") || u.equals("nanometer") || u.equals("nanometers") || u.equals("nanometre")) {
            return 10.0;
        }
        if (u.equals("\u00b5m") || u.equals("\u03bcm") || u.equals("um") || u.equals("micron")
                || u.equals("microns") || u.equals("micrometer") || u.equals("micrometre")) {
            return 1e4;
        }
        if (u.equals("\u00e5") || u.equals("\u212b") || u.equals("a") || u.equals("angstrom")
                || u.equals("angstroms") || u.equals("\u00e5ngstr\u00f6m")) {
            return 1.0;
        }
        if (u.equals("pm") || u.equals("picometer") || u.equals("picometre")) {
            return 0.01;
        }
        if (u.equals("mm")) {
            return 1e7;
        }
        return Double.NaN;
    }

    /** Pixel width in Å from the calibration, or NaN when uncalibrated or not a length. */
    static double fromCalibration(ImagePlus imp) {
        Calibration cal = imp.getCalibration();
        if (cal == null || !cal.scaled()) {
            return Double.NaN;
        }
        double perUnit = angstromPerUnit(cal.getUnit());
        return perUnit * cal.pixelWidth;
    }
}
