package org.stemsight.fiji;

import ij.ImagePlus;
import ij.ImageStack;
import ij.gui.ImageRoi;
import ij.gui.Overlay;
import ij.gui.TextRoi;
import ij.measure.Calibration;
import ij.plugin.LutLoader;
import ij.process.ByteProcessor;
import ij.process.FloatProcessor;
import ij.process.ImageProcessor;
import ij.process.LUT;
import ij.process.ShortProcessor;
import java.awt.Color;
import java.awt.Font;
import java.awt.image.IndexColorModel;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.stemsight.AnalysisResult;
import org.stemsight.Vacancy;

/**
 * New images for the per-pixel results; they carry the input's spatial calibration, and
 * pixel (x, y) of a map is pixel (x, y) of the input. The polymorph and carbon maps have a
 * strip on the right, beyond the data (value 255 and NaN, neither a result), holding the
 * legend or calibration bar, so that neither hides data.
 */
final class MapImages {
    /** Value of the legend strip in the polymorph map (not a class). */
    static final int STRIP_CLASS = 255;

    private MapImages() {
    }

    /** Polymorph label image: 8-bit class index, class colours as LUT, class names in Info and a legend. */
    static ImagePlus polymorph(ImagePlus source, List<AnalysisResult> results, List<Integer> slices) {
        int w = source.getWidth();
        int h = source.getHeight();
        int font = OverlayMaker.legendFontSize(w, h);
        int strip = stripWidth(font);
        ImageStack stack = new ImageStack(w + strip, h);
        for (int k = 0; k < results.size(); k++) {
            byte[] map = results.get(k).polymorphMap;
            byte[] out = new byte[(w + strip) * h];
            for (int y = 0; y < h; y++) {
                System.arraycopy(map, y * w, out, y * (w + strip), w);
                for (int x = w; x < w + strip; x++) {
                    out[y * (w + strip) + x] = (byte) STRIP_CLASS;
                }
            }
            stack.addSlice("slice " + slices.get(k), new ByteProcessor(w + strip, h, out));
        }
        ImagePlus map = new ImagePlus(source.getShortTitle() + " polymorphs", stack);
        byte[] red = new byte[256];
        byte[] green = new byte[256];
        byte[] blue = new byte[256];
        for (int i = 0; i < Palette.POLYMORPH.length; i++) {
            red[i] = (byte) Palette.POLYMORPH[i].getRed();
            green[i] = (byte) Palette.POLYMORPH[i].getGreen();
            blue[i] = (byte) Palette.POLYMORPH[i].getBlue();
        }
        red[STRIP_CLASS] = (byte) Palette.LEGEND_STRIP.getRed();
        green[STRIP_CLASS] = (byte) Palette.LEGEND_STRIP.getGreen();
        blue[STRIP_CLASS] = (byte) Palette.LEGEND_STRIP.getBlue();
        map.getProcessor().setLut(new LUT(red, green, blue));
        map.getProcessor().setMinAndMax(0, 255);
        List<String> classes = results.get(0).report.polymorphClasses;
        StringBuilder info = new StringBuilder("StemSight polymorph classes (pixel value = class):\n");
        Map<String, Color> legend = new LinkedHashMap<String, Color>();
        for (int i = 0; i < classes.size(); i++) {
            info.append(i).append(" = ").append(classes.get(i)).append('\n');
            legend.put(i + " " + classes.get(i), Palette.polymorph(i));
        }
        info.append(STRIP_CLASS).append(" = legend strip (x >= ").append(w).append("), not data\n");
        map.setProperty("Info", info.toString());
        Overlay overlay = new Overlay();
        OverlayMaker.addLegend(overlay, legend, w + 4, 4, font, 0);
        map.setOverlay(overlay);
        map.setCalibration(spatial(source));
        return map;
    }

    /** Carbon thickness map in Å (32-bit), "Fire" LUT, with a calibration bar in Å beside the data. */
    static ImagePlus carbon(ImagePlus source, List<AnalysisResult> results, List<Integer> slices) {
        int w = source.getWidth();
        int h = source.getHeight();
        int font = OverlayMaker.legendFontSize(w, h);
        int strip = stripWidth(font);
        double scale = results.get(0).report.carbonScaleAngstrom;
        ImageStack stack = new ImageStack(w + strip, h);
        for (int k = 0; k < results.size(); k++) {
            AnalysisResult r = results.get(k);
            float[] out = new float[(w + strip) * h];
            java.util.Arrays.fill(out, Float.NaN);
            for (int y = 0; y < h; y++) {
                for (int x = 0; x < w; x++) {
                    out[y * (w + strip) + x] = (float) (r.carbonMap[y * w + x] * r.report.carbonScaleAngstrom);
                }
            }
            stack.addSlice("slice " + slices.get(k), new FloatProcessor(w + strip, h, out));
        }
        ImagePlus map = new ImagePlus(source.getShortTitle() + " carbon (\u00c5)", stack);
        IndexColorModel fire = LutLoader.getLut("fire");
        if (fire != null) {
            map.getProcessor().setColorModel(fire);
        }
        map.getProcessor().setMinAndMax(0, scale);
        map.setOverlay(calibrationBar(w + 4, font, h, scale, fire));
        Calibration cal = spatial(source);
        cal.setValueUnit("\u00c5 carbon");
        map.setCalibration(cal);
        map.setProperty("Info", "StemSight carbon contamination: estimated amorphous-carbon thickness above the "
                + "sample's film, \u00c5 (saturates at " + scale + " \u00c5). Columns x >= " + w
                + " hold the calibration bar (NaN, not data).\n");
        return map;
    }

    /**
     * Vacancy label image: 16-bit (32-bit beyond 65535 vacancies), 0 = none, else the
     * vacancy's Label in the Vacancies table, as a disc of radius 1 Å around it.
     */
    static ImagePlus vacancyLabels(ImagePlus source, List<AnalysisResult> results, List<Integer> slices) {
        int w = source.getWidth();
        int h = source.getHeight();
        int total = 0;
        for (AnalysisResult r : results) {
            total += r.report.vacancies.size();
        }
        ImageStack stack = new ImageStack(w, h);
        int label = 0;
        for (int k = 0; k < results.size(); k++) {
            AnalysisResult r = results.get(k);
            ImageProcessor ip = total > 65535 ? new FloatProcessor(w, h) : new ShortProcessor(w, h);
            double radius = Math.max(1.0, 1.0 / r.report.pixelSizeAngstrom);
            for (Vacancy v : r.report.vacancies) {
                label++;
                ip.setValue(label);
                ip.fillOval((int) Math.round(v.imageJX() - radius), (int) Math.round(v.imageJY() - radius),
                        (int) Math.round(2 * radius), (int) Math.round(2 * radius));
            }
            stack.addSlice("slice " + slices.get(k), ip);
        }
        ImagePlus labels = new ImagePlus(source.getShortTitle() + " vacancy labels", stack);
        labels.getProcessor().setMinAndMax(0, Math.max(1, label));
        IndexColorModel glasbey = LutLoader.getLut("glasbey");
        if (glasbey != null) {
            labels.getProcessor().setColorModel(glasbey);
            labels.getProcessor().setMinAndMax(0, 255);
        }
        labels.setCalibration(spatial(source));
        labels.setProperty("Info", "StemSight vacancy labels: pixel value = Label column of the Vacancies "
                + "table (0 = no vacancy); discs of radius 1 \u00c5.\n");
        return labels;
    }

    /** Width of the legend strip for a legend font size. */
    private static int stripWidth(int font) {
        return 8 * font;
    }

    /** A vertical colour bar (0 at the bottom, {@code scale} Å at the top) with tick labels, at x. */
    private static Overlay calibrationBar(int x, int font, int height, double scale, IndexColorModel lut) {
        Overlay o = new Overlay();
        int top = 2 * font + 8;
        int barHeight = Math.max(16, height - top - font - 8);
        int barWidth = Math.max(6, font);
        ByteProcessor bar = new ByteProcessor(barWidth, barHeight);
        for (int y = 0; y < barHeight; y++) {
            int v = (int) Math.round(255.0 * (barHeight - 1 - y) / Math.max(1, barHeight - 1));
            for (int c = 0; c < barWidth; c++) {
                bar.set(c, y, v);
            }
        }
        if (lut != null) {
            bar.setColorModel(lut);
        }
        ImageRoi image = new ImageRoi(x, top, bar);
        image.setName(OverlayMaker.PREFIX + "calibration bar");
        o.add(image);
        Font f = new Font("SansSerif", Font.BOLD, font);
        o.add(label("\u00c5 carbon", x, 4, f));
        int ticks = 2;
        for (int t = 0; t <= ticks; t++) {
            double value = scale * t / ticks;
            int y = top + (int) Math.round((barHeight - 1) * (1.0 - (double) t / ticks)) - font / 2;
            o.add(label(String.format("%.0f", value), x + barWidth + 3, y, f));
        }
        return o;
    }

    private static TextRoi label(String text, int x, int y, Font f) {
        TextRoi t = new TextRoi(x, y, text, f);
        t.setStrokeColor(Palette.LEGEND_TEXT);
        t.setFillColor(Palette.LEGEND_BOX);
        t.setName(OverlayMaker.PREFIX + "legend");
        return t;
    }

    private static Calibration spatial(ImagePlus source) {
        Calibration c = source.getCalibration().copy();
        c.disableDensityCalibration();
        return c;
    }
}
