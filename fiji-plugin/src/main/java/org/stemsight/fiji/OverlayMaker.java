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
                List<Atom> l = bySite.get(a.site);
                if (l == null) {
                    l = new ArrayList<Atom>();
                    bySite.put(a.site, l);
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
                Color c = "VS1".equals(type) ? Palette.VS1 : Palette.VS2;
                if (xs.length > 0) {
                    overlay.add(points(xs, ys, type, c, PointRoi.CIRCLE, slice));
                }
                legend.put(type + " (" + xs.length + ")", c);
            }
        }
        addLegend(overlay, legend, imp.getWidth(), slice);
        imp.setOverlay(overlay);
    }

    private static Roi points(float[] xs, float[] ys, String name, Color c, int type, int slice) {
        PointRoi roi = new PointRoi(xs, ys, xs.length);
        roi.setPointType(type);
        roi.setSize(type == PointRoi.CIRCLE ? 3 : 1);
        roi.setStrokeColor(c);
        roi.setName(PREFIX + name);
        roi.setPosition(slice);
        return roi;
    }

    /** One colored text line per entry, top left, sized to the image. */
    static void addLegend(Overlay overlay, Map<String, Color> entries, int imageWidth, int slice) {
        int size = Math.max(10, imageWidth / 40);
        Font font = new Font("SansSerif", Font.BOLD, size);
        int y = 2;
        for (Map.Entry<String, Color> e : entries.entrySet()) {
            TextRoi t = new TextRoi(2, y, e.getKey(), font);
            t.setStrokeColor(e.getValue());
            t.setFillColor(new Color(0, 0, 0, 140));
            t.setName(PREFIX + "legend");
            t.setPosition(slice);
            overlay.add(t);
            y += size + 4;
        }
    }

    private static void removeOld(Overlay overlay, int slice) {
        for (int k = overlay.size() - 1; k >= 0; k--) {
            Roi r = overlay.get(k);
            String name = r.getName();
            if (name != null && name.startsWith(PREFIX) && (slice == 0 || r.getPosition() == slice)) {
                overlay.remove(k);
            }
        }
    }
}
