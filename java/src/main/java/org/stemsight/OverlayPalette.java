package org.stemsight;

import java.util.List;
import java.util.Map;

/**
 * The colours the engine draws overlay.png in (native report::overlay), as 0-255 RGB
 * triples, so that the plugin's overlays, legends and maps use the same ones.
 */
public final class OverlayPalette {
    private static Map<?, ?> colours;

    private OverlayPalette() {
    }

    private static synchronized Map<?, ?> colours() {
        if (colours == null) {
            NativeLoader.load();
            colours = (Map<?, ?>) Json.parse(NativeBridge.palette());
        }
        return colours;
    }

    /**
     * The colour named {@code name}: "metal" (metal-only columns), "metal_chalcogen"
     * (metal and chalcogen stacked), "chalcogen", "vs1", "vs2" or "excluded" (vacancies
     * in contaminated areas).
     */
    public static int[] rgb(String name) {
        Object c = colours().get(name);
        if (!(c instanceof List)) {
            throw new StemSightException(StemSightException.Kind.InvalidParameter, "no overlay colour '" + name + "'");
        }
        return triple((List<?>) c);
    }

    /** Per polymorph class value (0 = vacuum, then 2H-1L ... 1T): its tint. */
    public static int[][] polymorph() {
        List<?> list = (List<?>) colours().get("polymorph");
        int[][] out = new int[list.size()][];
        for (int i = 0; i < out.length; i++) {
            out[i] = triple((List<?>) list.get(i));
        }
        return out;
    }

    private static int[] triple(List<?> c) {
        return new int[] {
            ((Number) c.get(0)).intValue(), ((Number) c.get(1)).intValue(), ((Number) c.get(2)).intValue()
        };
    }
}
