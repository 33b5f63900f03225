package org.stemsight;

/**
 * Progress of one analysis, called on the thread that called
 * {@link Analyzer#analyze}, once per finished tile.
 */
public interface ProgressListener {
    /**
     * @param done  tiles finished so far
     * @param total tiles in this image
     * @return false to cancel; the analysis then ends with a {@link StemSightException}
     *         whose kind is "Cancelled". An exception thrown here also cancels, and is
     *         rethrown to the caller of analyze once the engine has stopped.
     */
    boolean progress(int done, int total);
}
