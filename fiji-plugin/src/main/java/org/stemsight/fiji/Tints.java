package org.stemsight.fiji;

import ij.ImagePlus;
import ij.gui.ImageRoi;
import ij.gui.Overlay;
import ij.gui.Roi;
import ij.plugin.LutLoader;
import ij.process.ColorProcessor;
import java.awt.Color;
import java.awt.image.IndexColorModel;
import java.util.List;
import org.stemsight.AnalysisResult;

/**
 * The polymorph and carbon maps as translucent tints in the source image's overlay, so
 * the structure can be read through them. A command run with the option adds (or
 * replaces) its tint; run without it, it removes it: the option is a toggle.
 */
final class Tints {
    static final String POLYMORPH = OverlayMaker.PREFIX + "polymorph tint";
    static final String CARBON = OverlayMaker.PREFIX + "carbon tint";
    /** Opacity of a tint: the atoms stay visible through it. */
    static final double OPACITY = 0.35;

    private Tints() {
    }

    /** Adds, replaces or (show = false) removes the tint {@code name} on every analyzed slice. */
    static void apply(ImagePlus imp, String name, boolean show, List<AnalysisResult> results, List<Integer> slices) {
        Overlay overlay = imp.getOverlay();
        if (overlay == null) {
            if (!show) {
                return;
            }
            overlay = new Overlay();
        }
        for (int k = overlay.size() - 1; k >= 0; k--) {
            if (name.equals(overlay.get(k).getName())) {
                overlay.remove(k);
            }
        }
        boolean stack = imp.getStackSize() > 1;
        for (int k = 0; show && k < results.size(); k++) {
            ColorProcessor cp = POLYMORPH.equals(name) ? polymorph(results.get(k)) : carbon(results.get(k));
            ImageRoi roi = new ImageRoi(0, 0, cp);
            roi.setOpacity(OPACITY);
            roi.setZeroTransparent(true);
            roi.setName(name);
            roi.setPosition(stack ? slices.get(k) : 0);
            // Tints go below the points and legends, which are drawn after them.
            insertFirst(overlay, roi);
        }
        imp.setOverlay(overlay);
    }

    /** Class colours; vacuum (black, 0) is transparent. */
    private static ColorProcessor polymorph(AnalysisResult r) {
        int[] rgb = new int[r.width * r.height];
        for (int i = 0; i < rgb.length; i++) {
            int c = r.polymorphMap[i] & 0xff;
            rgb[i] = c == 0 ? 0 : Palette.polymorph(c).getRGB() & 0xffffff;
        }
        return new ColorProcessor(r.width, r.height, rgb);
    }

    /** The Fire LUT over 0..scale Å; clean areas (0 Å) are transparent. */
    private static ColorProcessor carbon(AnalysisResult r) {
        IndexColorModel fire = LutLoader.getLut("fire");
        int[] rgb = new int[r.width * r.height];
        for (int i = 0; i < rgb.length; i++) {
            int v = Math.round(255 * Math.max(0, Math.min(1, r.carbonMap[i])));
            rgb[i] = v == 0 ? 0 : fire != null ? fire.getRGB(v) & 0xffffff : new Color(v, v, v).getRGB() & 0xffffff;
        }
        return new ColorProcessor(r.width, r.height, rgb);
    }

    private static void insertFirst(Overlay overlay, Roi roi) {
        Roi[] rest = overlay.toArray();
        overlay.clear();
        overlay.add(roi);
        for (Roi r : rest) {
            overlay.add(r);
        }
    }
}
