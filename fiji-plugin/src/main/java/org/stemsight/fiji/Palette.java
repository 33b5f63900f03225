package org.stemsight.fiji;

import java.awt.Color;
import org.stemsight.OverlayPalette;

/**
 * Every colour the plugin draws, shared by overlays, legends, LUTs and plots (the plugin
 * README lists them). Columns, vacancies and polymorphs take the engine's overlay.png
 * colours ({@link OverlayPalette}): metal-only columns yellow, metal + chalcogen overlap
 * columns (Mo+S2, W+Se2, … in stacked layers) green, chalcogen-only columns cyan, VS1
 * orange, VS2 magenta; polymorphs in the colour-blind-safe Okabe–Ito set. Legends are
 * white text on a dark box.
 */
final class Palette {
    private Palette() {
    }

    static final Color METAL = engine("metal");
    static final Color METAL_CHALCOGEN = engine("metal_chalcogen");
    static final Color CHALCOGEN = engine("chalcogen");
    static final Color VS1 = engine("vs1");
    static final Color VS2 = engine("vs2");
    static final Color LEGEND_TEXT = Color.WHITE;
    static final Color LEGEND_BOX = new Color(0, 0, 0, 190);
    /** The strip beside a map that holds its legend (value 255 of the polymorph LUT). */
    static final Color LEGEND_STRIP = new Color(40, 40, 40);

    /** Polymorph classes by map index: vacuum, 2H-1L, 2H-2L, 2H-3L, 3R-2L, 3R-3L, 1T. */
    static final Color[] POLYMORPH = polymorphs();

    private static Color engine(String name) {
        int[] c = OverlayPalette.rgb(name);
        return new Color(c[0], c[1], c[2]);
    }

    private static Color[] polymorphs() {
        int[][] tints = OverlayPalette.polymorph();
        Color[] out = new Color[tints.length];
        for (int i = 0; i < tints.length; i++) {
            out[i] = new Color(tints[i][0], tints[i][1], tints[i][2]);
        }
        return out;
    }

    /** By the column's label (site or species): "Mo", "2Mo", "W" metal; "Mo+S2", "W+Se2" overlap; else chalcogen. */
    static Color site(String label) {
        if (label == null) {
            return CHALCOGEN;
        }
        boolean metal = label.contains("Mo") || label.contains("W");
        if (metal && label.contains("+")) {
            return METAL_CHALCOGEN;
        }
        return metal ? METAL : CHALCOGEN;
    }

    /** By type or species: "VS1", "VSe1" (one chalcogen missing) or "VS2", "VSe2" (both). */
    static Color vacancy(String type) {
        return type != null && type.endsWith("1") ? VS1 : VS2;
    }

    static Color polymorph(int index) {
        return index >= 0 && index < POLYMORPH.length ? POLYMORPH[index] : Color.WHITE;
    }
}
