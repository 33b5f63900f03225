package org.stemsight.fiji;

import ij.IJ;
import ij.Macro;
import ij.io.OpenDialog;
import ij.plugin.PlugIn;
import java.io.File;
import org.stemsight.MicroscopeFile;
import org.stemsight.StemSightException;

/**
 * Plugins > StemSight > Open Microscope File…: DM3/DM4, SER/EMI, Velox EMD, MRC (and TIFF,
 * PNG) through the engine's readers, with calibration and acquisition metadata. Macro:
 * {@code run("Open Microscope File...", "path=[/data/a.dm4] detector=ADF1")}; without
 * {@code path} in a macro nothing is asked, the error goes to the Log.
 */
public class OpenMicroscopeFile implements PlugIn {
    @Override
    public void run(String arg) {
        String options = Macro.getOptions();
        String path;
        String detector = "";
        if (options != null) {
            path = Macro.getValue(options, "path", "");
            detector = Macro.getValue(options, "detector", "");
            if (path.isEmpty()) {
                Errors.report("Open Microscope File: pass path=[file] in the macro options");
                return;
            }
        } else {
            OpenDialog od = new OpenDialog("Open microscope file (DM3/DM4, SER/EMI, EMD, MRC, TIFF)");
            path = od.getPath();
            if (path == null) {
                return;
            }
        }
        try {
            IJ.showStatus("StemSight: reading " + new File(path).getName());
            MicroscopeFile f = MicroscopeFile.read(new File(path), detector);
            for (String w : f.warnings) {
                IJ.log("StemSight: " + f.path.getName() + ": " + w);
            }
            MicroscopeImages.toImagePlus(f).show();
        } catch (StemSightException e) {
            Errors.report(e.getMessage());
        } catch (LinkageError e) {
            Errors.report("the StemSight native library could not be used: " + e);
        }
    }
}
