package org.stemsight.fiji;

import ij.IJ;
import java.io.File;
import org.stemsight.Analyzer;
import org.stemsight.ModelLocator;

/**
 * Which models folder the plugin uses: Settings' folder if set, else (ModelLocator)
 * -Dstemsight.models, STEMSIGHT_MODELS, {@code <Fiji>/models/stemsight}, or a repository
 * models/ above the jar. The native side caches the loaded model per folder.
 */
final class Models {
    private Models() {
    }

    static File fijiModelsDir() {
        String root = IJ.getDirectory("imagej");
        return root == null ? null : new File(root, "models" + File.separator + "stemsight");
    }

    static File resolve(PluginSettings settings) {
        if (settings.modelsDir != null && !settings.modelsDir.trim().isEmpty()) {
            return new File(settings.modelsDir.trim());
        }
        return ModelLocator.find(fijiModelsDir());
    }

    /** The models folder's path, or "" where none is found (a cache key, never an error). */
    static String resolveQuietly(PluginSettings settings) {
        try {
            File dir = resolve(settings);
            return dir == null ? "" : dir.getAbsolutePath();
        } catch (RuntimeException e) {
            return "";
        }
    }

    static Analyzer analyzer(PluginSettings settings) {
        File dir = resolve(settings);
        IJ.showStatus("StemSight: loading model from " + dir);
        Analyzer analyzer = Analyzer.load(dir, settings.device);
        String note = analyzer.deviceNote();
        if (!note.isEmpty()) {
            IJ.log("StemSight: " + note);
        }
        return analyzer;
    }
}
