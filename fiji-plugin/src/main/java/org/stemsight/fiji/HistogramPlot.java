package org.stemsight.fiji;

import ij.gui.Plot;
import java.awt.Color;
import java.util.LinkedHashMap;
import java.util.Map;
import org.stemsight.IntensityHistogram;

/**
 * The conventional check of a STEM column analysis: histograms of normalized column
 * intensity (S2 = 1), one curve per site and per vacancy type, each normalized to unit
 * area so that rare sites stay visible. Counts are summed over the analyzed slices.
 */
final class HistogramPlot {
    private HistogramPlot() {
    }

    static Plot make(String title, double[] centres, Map<String, double[]> counts) {
        Plot plot = new Plot(title, "Normalized column intensity (S2 = 1)", "Fraction of columns per bin");
        StringBuilder labels = new StringBuilder();
        double ymax = 0;
        for (Map.Entry<String, double[]> e : counts.entrySet()) {
            double[] y = normalized(e.getValue());
            for (double v : y) {
                ymax = Math.max(ymax, v);
            }
            plot.setColor(color(e.getKey()));
            plot.setLineWidth(2);
            plot.add("line", centres, y);
            labels.append(e.getKey()).append('\n');
        }
        if (centres.length > 0) {
            plot.setLimits(centres[0], centres[centres.length - 1], 0, ymax > 0 ? ymax * 1.1 : 1);
        }
        plot.setColor(Color.BLACK);
        plot.addLegend(labels.toString());
        return plot;
    }

    /** Adds one slice's histogram into running totals (site → counts). */
    static void accumulate(Map<String, double[]> totals, IntensityHistogram h) {
        Map<String, double[]> all = new LinkedHashMap<String, double[]>(h.counts);
        all.putAll(h.vacancyCounts);
        for (Map.Entry<String, double[]> e : all.entrySet()) {
            double[] t = totals.get(e.getKey());
            if (t == null) {
                totals.put(e.getKey(), e.getValue().clone());
            } else {
                for (int k = 0; k < Math.min(t.length, e.getValue().length); k++) {
                    t[k] += e.getValue()[k];
                }
            }
        }
    }

    private static double[] normalized(double[] counts) {
        double sum = 0;
        for (double c : counts) {
            sum += c;
        }
        double[] out = new double[counts.length];
        for (int k = 0; k < out.length; k++) {
            out[k] = sum > 0 ? counts[k] / sum : 0;
        }
        return out;
    }

    private static Color color(String label) {
        return label.startsWith("V") ? Palette.vacancy(label) : Palette.site(label);
    }
}
