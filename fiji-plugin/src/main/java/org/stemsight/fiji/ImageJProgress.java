package org.stemsight.fiji;

import ij.IJ;
import org.stemsight.ProgressListener;

/**
 * Shows tile progress in ImageJ's progress bar, spread over the slices being analyzed,
 * and cancels when the user presses Esc (polled here, on the plugin's thread).
 */
final class ImageJProgress implements ProgressListener {
    private final int sliceIndex;
    private final int sliceCount;

    ImageJProgress(int sliceIndex, int sliceCount) {
        this.sliceIndex = sliceIndex;
        this.sliceCount = Math.max(1, sliceCount);
    }

    @Override
    public boolean progress(int done, int total) {
        double within = total > 0 ? (double) done / total : 1.0;
        IJ.showProgress((sliceIndex + within) / sliceCount);
        return !IJ.escapePressed();
    }
}
