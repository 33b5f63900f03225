package org.stemsight.fiji;

import ij.IJ;
import ij.Macro;
import ij.macro.Interpreter;

/**
 * Reports a failure: a dialog when a person is at the screen; in macros (batch runs) a
 * line in the Log, so that one bad image does not stop a folder from being processed.
 */
final class Errors {
    private Errors() {
    }

    static void report(String message) {
        if (Macro.getOptions() != null || Interpreter.getInstance() != null || Interpreter.isBatchMode()) {
            IJ.log("StemSight error: " + message);
        } else {
            IJ.error("StemSight", message);
        }
    }
}
