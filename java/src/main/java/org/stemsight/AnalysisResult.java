package org.stemsight;

/** The report of one image plus its per-pixel maps (row-major, width × height). */
public final class AnalysisResult {
    public final Report report;
    public final int width;
    public final int height;
    /** Class index per pixel: 0 = vacuum, then {@link Report#polymorphClasses} order. */
    public final byte[] polymorphMap;
    /** Carbon per pixel, 0..1; × {@link Report#carbonScaleAngstrom} = thickness in Å. */
    public final float[] carbonMap;

    AnalysisResult(Report report, int width, int height, byte[] polymorphMap, float[] carbonMap) {
        this.report = report;
        this.width = width;
        this.height = height;
        this.polymorphMap = polymorphMap;
        this.carbonMap = carbonMap;
    }

    /** Polymorph class index (0..6) of pixel (column c, row r). */
    public int polymorphClass(int c, int r) {
        return polymorphMap[r * width + c] & 0xff;
    }
}
