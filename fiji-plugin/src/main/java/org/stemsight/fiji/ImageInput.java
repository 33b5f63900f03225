package org.stemsight.fiji;

import ij.ImagePlus;
import ij.process.ImageProcessor;

/** Pixels for the engine: a fresh float copy of one slice, so the input is never touched. */
final class ImageInput {
    private ImageInput() {
    }

    /** A copy of stack slice {@code n} (1-based) as floats; 8/16/32-bit only. */
    static float[] sliceAsFloat(ImagePlus imp, int n) {
        if (imp.getBitDepth() == 24) {
            throw new org.stemsight.StemSightException(org.stemsight.StemSightException.Kind.Unsupported,
                    "RGB images are not supported: convert to 8, 16 or 32-bit (Image > Type) first");
        }
        ImageProcessor ip = imp.getStackSize() > 1 ? imp.getStack().getProcessor(n) : imp.getProcessor();
        int size = ip.getWidth() * ip.getHeight();
        float[] out = new float[size];
        // getf() reads 8/16-bit values unsigned and ignores display calibration: raw counts.
        for (int i = 0; i < size; i++) {
            out[i] = ip.getf(i);
        }
        return out;
    }
}
