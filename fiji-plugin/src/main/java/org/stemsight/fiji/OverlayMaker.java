package org.stemsight.fiji;

import ij.ImagePlus;
import ij.gui.Overlay;
import ij.gui.PointRoi;
import ij.gui.Roi;
import ij.gui.TextRoi;
import java.awt.Color;
import java.awt.Font;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.stemsight.Atom;
import org.stemsight.Report;
import org.stemsight.Vacancy;

/**
 * Point ROIs for atoms (per site) and vacancies (VS1, VS2), colored, plus a text legend,
 * added to the image's overlay. Only the overlay changes (never pixels, never the ROI
 * Manager); earlier StemSight ROIs of the same slice are replaced, other ROIs kept.
 */
final class OverlayMaker {
    static final String PREFIX = "StemSight ";

    private OverlayMaker() {
    }

    /**
     * @param slice stack position for the ROIs (0 = all slices, for single images)
     */
    static void apply(ImagePlus imp, Report report, int slice, boolean atoms, boolean vacancies) {
        Overlay overlay = imp.getOverlay();
        if (overlay == null) {
            overlay = new Overlay();
        }
        removeOld(overlay, slice);
        Map<String, Color> legend = new LinkedHashMap<String, Color>();
        if (atoms) {
            Map<String, List<Atom>> bySite = new LinkedHashMap<String, List<Atom>>();
            for (Atom a : report.atoms) {
                List<Atom> l = bySite.get(a.label());
                if (l == null) {
                    l = new ArrayList<Atom>();
                    bySite.put(a.label(), l);
                }
                l.add(a);
            }
            for (Map.Entry<String, List<Atom>> e : bySite.entrySet()) {
                float[] xs = new float[e.getValue().size()];
                float[] ys = new float[xs.length];
                for (int k = 0; k < xs.length; k++) {
                    xs[k] = (float) e.getValue().get(k).imageJX();
                    ys[k] = (float) e.getValue().get(k).imageJY();
                }
                Color c = Palette.site(e.getKey());
                overlay.add(points(xs, ys, e.getKey(), c, PointRoi.DOT, slice));
                legend.put(e.getKey() + " (" + xs.length + ")", c);
            }
        }
        if (vacancies) {
            for (String type : new String[] {"VS1", "VS2"}) {
                List<Vacancy> list = new ArrayList<Vacancy>();
                for (Vacancy v : report.vacancies) {
                    if (type.equals(v.type)) {
                        list.add(v);
                    }
                }
                float[] xs = new float[list.size()];
                float[] ys = new float[xs.length];
                for (int k = 0; k < xs.length; k++) {
                    xs[k] = (float) list.get(k).imageJX();
                    ys[k] = (float) list.get(k).imageJY();
                }
                Color c = Palette.vacancy(type);
                // Named in the report's chemistry (VSe1 …) where it says.
                String name = list.isEmpty() ? type : list.get(0).label();
                if (xs.length > 0) {
                    overlay.add(points(xs, ys, name, c, PointRoi.CIRCLE, slice));
                }
                legend.put(name + " (" + xs.length + ")", c);
            }
        }
        addLegend(overlay, legend, 2, 2, legendFontSize(imp.getWidth(), imp.getHeight()), slice);
        imp.setOverlay(overlay);
    }

    private static Roi points(float[] xs, float[] ys, String name, Color c, int type, int slice) {
        PointRoi roi = new PointRoi(xs, ys, xs.length);
        roi.setPointType(type);
        // Vacancy rings extra large, so that they stand out around the dots of the columns.
        roi.setSize(type == PointRoi.CIRCLE ? 4 : 1);
        roi.setStrokeColor(c);
        roi.setName(PREFIX + name);
        roi.setPosition(slice);
        return roi;
    }

    /**
     * One line per entry at (x, y): a swatch in the entry's colour, then its name in white,
     * on a dark box, sized to the image (font {@code size} pixels).
     */
    static void addLegend(Overlay overlay, Map<String, Color> entries, int x, int y, int size, int slice) {
        Font font = new Font("SansSerif", Font.BOLD, size);
        for (Map.Entry<String, Color> e : entries.entrySet()) {
            Roi swatch = new Roi(x, y + 2, size, size);
            swatch.setFillColor(e.getValue());
            swatch.setName(PREFIX + "legend");
            swatch.setPosition(slice);
            overlay.add(swatch);
            TextRoi t = new TextRoi(x + size + 3, y, e.getKey(), font);
            t.setStrokeColor(Palette.LEGEND_TEXT);
            t.setFillColor(Palette.LEGEND_BOX);
            t.setName(PREFIX + "legend");
            t.setPosition(slice);
            overlay.add(t);
            y += size + 6;
        }
    }

    /** Legend font size for an image: readable at 100 % and when zoomed out on large images. */
    static int legendFontSize(int width, int height) {
        return Math.max(11, Math.min(width, height) / 32);
    }

    private static void removeOld(Overlay overlay, int slice) {
        for (int k = overlay.size() - 1; k >= 0; k--) {
            Roi r = overlay.get(k);
            String name = r.getName();
            boolean tint = Tints.POLYMORPH.equals(name) || Tints.CARBON.equals(name);
            if (name != null && name.startsWith(PREFIX) && !tint && (slice == 0 || r.getPosition() == slice)) {
                overlay.remove(k);
            }
        }
    }
}
