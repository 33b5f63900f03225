package org.stemsight.fiji;

import java.awt.Color;

/**
 * The plugin's colors, shared by overlays, legends, LUT and plots. The same as the CLI's
 * overlay.png (native/src/overlay.rs): metal-containing columns yellow, chalcogen-only
 * columns cyan, VS1 orange, VS2 magenta; polymorphs in the colour-blind-safe Okabe–Ito set.
 */
final class Palette {
    private Palette() {
    }

    static final Color MO = new Color(255, 220, 0);
    static final Color S2 = new Color(0, 220, 255);
    static final Color VS1 = new Color(255, 120, 0);
    static final Color VS2 = new Color(255, 0, 200);

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

    /** Any column holding a metal atom ("Mo", "Mo+S2", "2Mo+S2", ...) is drawn as metal. */
    static Color site(String site) {
        return site != null && site.contains("Mo") ? MO : S2;
    }

    static Color polymorph(int index) {
        return index >= 0 && index < POLYMORPH.length ? POLYMORPH[index] : Color.WHITE;
    }
}
