package org.stemsight.fiji;

import ij.IJ;
import ij.Macro;

/**
 * Macro calls never show a dialog: a command called from a macro (even as
 * {@code run("Map Carbon Contamination", "")}, where ImageJ passes no options at all)
 * takes the documented defaults for every key it is not given.
 */
final class Macros {
    private Macros() {
    }

    static boolean running() {
        return Macro.getOptions() != null || IJ.isMacro();
    }

    /**
     * Makes GenericDialog read options instead of showing itself, for a macro call that
     * passed none; returns whether it did (then call {@link #end}).
     */
    static boolean beginWithoutOptions() {
        if (IJ.isMacro() && Macro.getOptions() == null) {
            Macro.setOptions(" ");
            return true;
        }
        return false;
    }

    static void end(boolean begun) {
        if (begun) {
            Macro.setOptions(null);
        }
    }
}
