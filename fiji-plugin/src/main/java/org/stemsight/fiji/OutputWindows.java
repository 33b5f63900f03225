package org.stemsight.fiji;

import ij.IJ;
import ij.ImagePlus;
import ij.WindowManager;
import ij.gui.ImageWindow;
import ij.gui.Plot;
import ij.macro.Interpreter;

/**
 * Where results appear: an output (map, label image, plot) replaces the earlier one of the
 * same title instead of opening a second window, is marked as a StemSight output (so that
 * no command analyzes it by mistake), and afterwards the source image is the current image
 * again, so the next command acts on it.
 */
final class OutputWindows {
    /** Image property marking a StemSight output. */
    static final String OUTPUT = "stemsight.output";

    private OutputWindows() {
    }

    /** Shows {@code fresh}, or puts its content into the open output of the same title. */
    static ImagePlus show(ImagePlus fresh) {
        fresh.setProperty(OUTPUT, "true");
        ImagePlus old = openOutput(fresh.getTitle());
        if (old == null) {
            fresh.show();
            return fresh;
        }
        old.setStack(fresh.getStack());
        old.setCalibration(fresh.getCalibration());
        old.setOverlay(fresh.getOverlay());
        old.setProperty("Info", fresh.getProperty("Info"));
        old.getProcessor().setColorModel(fresh.getProcessor().getColorModel());
        old.getProcessor().setMinAndMax(fresh.getDisplayRangeMin(), fresh.getDisplayRangeMax());
        old.updateAndDraw();
        return old;
    }

    /** Shows a plot, closing the earlier plot of the same title. */
    static void show(Plot plot, String title) {
        ImagePlus old = openOutput(title);
        if (old != null) {
            old.changes = false;
            old.close();
        }
        plot.getImagePlus().setProperty(OUTPUT, "true");
        plot.show();
    }

    /** Makes {@code source} the current image again (window to the front; in batch mode, the macro's). */
    static void refocus(ImagePlus source) {
        if (Interpreter.isBatchMode()) {
            Interpreter.activateImage(source);
        }
        ImageWindow win = source.getWindow();
        if (win != null) {
            WindowManager.setCurrentWindow(win);
            win.toFront();
        }
        WindowManager.setTempCurrentImage(source);
        IJ.showStatus("");
    }

    static boolean isOutput(ImagePlus imp) {
        return imp.getProperty(OUTPUT) != null || imp.getProperty(Plot.PROPERTY_KEY) != null;
    }

    private static ImagePlus openOutput(String title) {
        for (int id : ids()) {
            ImagePlus imp = WindowManager.getImage(id);
            if (imp != null && title.equals(imp.getTitle()) && isOutput(imp)) {
                return imp;
            }
        }
        return null;
    }

    private static int[] ids() {
        int[] ids = WindowManager.getIDList();
        return ids == null ? new int[0] : ids;
    }
}
