package org.stemsight;

/**
 * Length units as the engine's file readers understand them (native io::units), so that
 * a calibration the plugin reads from ImageJ and one the engine reads from the file give
 * the same pixel size.
 */
public final class Units {
    private Units() {
    }

    /**
     * How many \u00c5 one {@code unit} is ("nm" 10, "\u00b5m" and "micron" 1e4, "\u00c5" 1, "pm"
     * 0.01, ...); NaN when it is not a length (e.g. "pixel") or null. Loads the native
     * library on first use.
     */
    public static double angstromPerUnit(String unit) {
        if (unit == null) {
            return Double.NaN;
        }
        NativeLoader.load();
        return NativeBridge.angstromPerUnit(unit);
    }
}
