package org.stemsight.fiji;

import ij.ImagePlus;
import org.stemsight.Analyzer;

/** What makes an image unusable, said before any dialog asks for settings. */
final class InputCheck {
    private InputCheck() {
    }

    /** Why {@code imp} cannot be analyzed, or null when it can. */
    static String problem(ImagePlus imp) {
        if (imp == null) {
            return "no image is open: open a HAADF-STEM image first.";
        }
        String name = "'" + imp.getTitle() + "'";
        if (OutputWindows.isOutput(imp)) {
            return name + " is a StemSight result (map, label image or plot): select the image to analyze.";
        }
        if (imp.getBitDepth() == 24 || imp.isComposite()) {
            return name + " is a colour image: convert it to 8, 16 or 32-bit (Image > Type) first.";
        }
        int min = Analyzer.minSide();
        if (imp.getWidth() < min || imp.getHeight() < min) {
            return name + " is " + imp.getWidth() + "x" + imp.getHeight() + " pixels; at least "
                    + min + "x" + min + " is needed.";
        }
        double px = PixelSize.fromCalibration(imp);
        double[] range = Analyzer.pixelSizeRange();
        if (px > 0 && !Double.isInfinite(px) && (px < range[0] || px > range[1])) {
            return name + ": its calibration gives " + String.format("%.4g", px) + " \u00c5/pixel, outside "
                    + range[0] + "\u2013" + range[1] + " \u00c5 (atomic resolution). Check Image > Properties "
                    + "(is the unit nm, pm or \u00b5m?).";
        }
        return null;
    }
}
