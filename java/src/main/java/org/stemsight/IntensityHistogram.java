package org.stemsight;

import java.util.Map;

/**
 * Histogram of normalized column intensity (S2 = 1) per site label, clean columns only:
 * the conventional check that Mo, S2 and vacancy sites separate.
 */
public final class IntensityHistogram {
    /** Bin edges; {@code edges.length == bins + 1}. */
    public final double[] edges;
    /** Counts per site label ("Mo", "S2", ...). */
    public final Map<String, double[]> counts;
    /** Counts at vacancy sites ("VS1", "VS2"). */
    public final Map<String, double[]> vacancyCounts;

    IntensityHistogram(JsonFields f) {
        edges = f.numbers("edges");
        counts = f.arrayMap("counts");
        vacancyCounts = f.arrayMap("vacancy_counts");
    }

    /** Bin centres, for plotting. */
    public double[] centres() {
        double[] c = new double[Math.max(0, edges.length - 1)];
        for (int k = 0; k < c.length; k++) {
            c[k] = 0.5 * (edges[k] + edges[k + 1]);
        }
        return c;
    }
}
