package org.stemsight.fiji;

import java.awt.Color;

/**
 * Every colour the plugin draws, shared by overlays, legends, LUTs and plots (the plugin
 * README lists them). Metal-only columns yellow, metal + chalcogen overlap columns
 * (Mo+S2, W+Se2, … in stacked layers) green, chalcogen-only columns cyan, VS1 orange,
 * VS2 magenta; polymorphs in the colour-blind-safe Okabe–Ito set; legends are white text
 * on a dark box.
 */
final class Palette {
    private Palette() {
    }

    static final Color METAL = new Color(255, 220, 0);
    static final Color METAL_CHALCOGEN = new Color(120, 230, 90);
    static final Color CHALCOGEN = new Color(0, 220, 255);
    static final Color VS1 = new Color(255, 120, 0);
    static final Color VS2 = new Color(255, 0, 200);
    static final Color LEGEND_TEXT = Color.WHITE;
    static final Color LEGEND_BOX = new Color(0, 0, 0, 190);
    /** The strip beside a map that holds its legend (value 255 of the polymorph LUT). */
    static final Color LEGEND_STRIP = new Color(40, 40, 40);

    /** Polymorph classes by map index: vacuum, 2H-1L, 2H-2L, 2H-3L, 3R-2L, 3R-3L, 1T. */
    static final Color[] POLYMORPH = {
        Color.BLACK,
        new Color(230, 159, 0),
        new Color(86, 180, 233),
        new Color(0, 158, 115),
        new Color(240, 228, 66),
        new Color(0, 114, 178),
        new Color(204, 121, 167),
    };

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
