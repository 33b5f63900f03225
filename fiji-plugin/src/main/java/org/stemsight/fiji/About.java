package org.stemsight.fiji;

import ij.IJ;
import java.io.File;
import org.stemsight.Analyzer;
import org.stemsight.NativeLoader;
import org.stemsight.StemSightException;

/** Plugins > StemSight > About StemSight...: versions, library and model in use. */
final class About {
    private About() {
    }

    static void show() {
        StringBuilder b = new StringBuilder("StemSight: atoms, sulfur vacancies, polymorphs and carbon\n"
                + "contamination in HAADF-STEM images of MoS2.\n\n");
        b.append("Platform: ").append(NativeLoader.platform()).append('\n');
        try {
            b.append("Engine version: ").append(Analyzer.engineVersion()).append('\n');
            b.append("Native library: ").append(NativeLoader.loadedFrom()).append('\n');
            File dir = Models.resolve(PluginSettings.load());
            b.append("Models folder: ").append(dir).append('\n');
            b.append("Model: ").append(Analyzer.load(dir).modelInfo()).append('\n');
        } catch (StemSightException e) {
            b.append("\nProblem: ").append(e.getMessage()).append('\n');
        }
        IJ.log(b.toString());
        IJ.showMessage("About StemSight", b.toString());
    }
}
