package org.stemsight.fiji;

import ij.IJ;
import ij.ImagePlus;
import ij.WindowManager;
import ij.plugin.PlugIn;
import org.stemsight.StemSightException;

/** Entry point of every Plugins > StemSight command; the argument comes from plugins.config. */
public class StemSightCommand implements PlugIn {
    @Override
    public void run(String arg) {
        try {
            if ("settings".equals(arg)) {
                SettingsDialog.show();
                return;
            }
            if ("about".equals(arg)) {
                About.show();
                return;
            }
            Command cmd = Command.of(arg);
            if (cmd == null) {
                IJ.error("StemSight", "unknown command '" + arg + "'");
                return;
            }
            // The image current when the command starts is its input, whatever opens meanwhile.
            ImagePlus imp = WindowManager.getCurrentImage();
            if (imp == null) {
                Errors.report(InputCheck.problem(null));
                return;
            }
            new AnalysisRun(cmd, imp).run();
        } catch (StemSightException e) {
            // e.g. the native library or the model could not be loaded.
            Errors.report(e.getMessage());
        } catch (LinkageError e) {
            Errors.report("the StemSight native library could not be used: " + e);
        }
    }
}
