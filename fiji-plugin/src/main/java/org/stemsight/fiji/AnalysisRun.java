package org.stemsight.fiji;

import ij.IJ;
import ij.ImagePlus;
import java.util.ArrayList;
import java.util.List;
import org.stemsight.AnalysisOptions;
import org.stemsight.AnalysisResult;
import org.stemsight.Analyzer;
import org.stemsight.StemSightException;

/**
 * One analysis command on one image: input check → dialog → pixel size → for each slice a
 * kept analysis ({@link AnalysisCache}) or a new one (on this thread, Esc cancels) →
 * {@link ResultsView}; the image stays the current one afterwards.
 */
final class AnalysisRun {
    private final Command cmd;
    private final ImagePlus imp;

    AnalysisRun(Command cmd, ImagePlus imp) {
        this.cmd = cmd;
        this.imp = imp;
    }

    void run() {
        String problem = InputCheck.problem(imp);
        if (problem != null) {
            Errors.report(problem);
            return;
        }
        PluginSettings settings = Macros.running() ? PluginSettings.forMacro() : PluginSettings.load();
        double calibrated = PixelSize.fromCalibration(imp);
        CommandDialog choices = CommandDialog.ask(cmd, settings, imp, calibrated);
        if (choices == null) {
            return;
        }
        if (choices.pixelSizeFromLattice && "unknown".equals(settings.chemistry)) {
            Errors.report(imp.getTitle() + ": the pixel size can only be measured on the lattice when the "
                    + "chemistry is known (choose MoS2, WS2, MoSe2 or WSe2).");
            return;
        }
        // Measured on the lattice: the engine ignores the number passed.
        double pixelSize = choices.pixelSizeFromLattice ? 1.0 : Double.isNaN(choices.pixelSize) ? calibrated : choices.pixelSize;
        if (!(pixelSize > 0) || Double.isInfinite(pixelSize)) {
            Errors.report(imp.getTitle() + ": no pixel size. Set the calibration (Image > Properties) "
                    + "or pass pixel_size=<\u00c5/pixel> in the macro options.");
            return;
        }
        List<Integer> slices = new ArrayList<Integer>();
        if (choices.allSlices) {
            for (int n = 1; n <= imp.getStackSize(); n++) {
                slices.add(n);
            }
        } else {
            slices.add(imp.getCurrentSlice());
        }
        List<AnalysisResult> results = new ArrayList<AnalysisResult>();
        IJ.resetEscape();
        try {
            Analyzer analyzer = null;
            for (int k = 0; k < slices.size(); k++) {
                int n = slices.get(k);
                String where = imp.getTitle() + (slices.size() > 1 ? " slice " + n : "");
                float[] pixels = ImageInput.sliceAsFloat(imp, n);
                AnalysisCache.Key key = new AnalysisCache.Key(imp, n, pixels, pixelSize,
                        settings.analysisFields(choices.pixelSizeFromLattice));
                AnalysisResult r = AnalysisCache.find(key, cmd);
                if (r == null) {
                    if (analyzer == null) {
                        analyzer = Models.analyzer(settings);
                    }
                    IJ.showStatus("StemSight: analyzing " + where);
                    r = analyzer.analyze(pixels, imp.getWidth(), imp.getHeight(), pixelSize,
                            options(settings, choices, n), new ImageJProgress(k, slices.size()));
                    AnalysisCache.put(key, r);
                    IJ.log("StemSight: " + where + ": analysis computed");
                } else {
                    IJ.log("StemSight: " + where + ": analysis reused (" + cmd.title + ")");
                }
                results.add(r);
            }
        } catch (StemSightException e) {
            IJ.showProgress(1.0);
            if (e.isCancelled()) {
                IJ.showStatus("StemSight: cancelled");
                IJ.log("StemSight: " + cmd.title + " on " + imp.getTitle() + " cancelled (Esc)");
            } else {
                Errors.report(imp.getTitle() + ": " + e.getMessage());
            }
            return;
        }
        IJ.showProgress(1.0);
        new ResultsView(cmd, imp, choices).show(results, slices);
        OutputWindows.refocus(imp);
        IJ.showStatus("StemSight: " + cmd.title + " done");
    }

    /** Engine options: every task (one analysis serves all commands), the command's settings. */
    private AnalysisOptions options(PluginSettings s, CommandDialog choices, int slice) {
        AnalysisOptions o = new AnalysisOptions()
                .tasks(Command.ENGINE_TASKS)
                .atomThreshold(s.atomThreshold)
                .vacancyThreshold(s.vacancyThreshold)
                .carbonThreshold(s.carbonThreshold)
                .carbonFilter(s.carbonFilter)
                .refinement(s.refinement)
                .views(s.allViews ? 8 : 1);
        if (!"unknown".equals(s.chemistry)) {
            o.chemistry(s.chemistry);
        }
        if (!s.polymorphs.isEmpty()) {
            o.polymorphs(s.polymorphs);
        }
        s.exposure(o);
        o.calibrateFromLattice(choices.pixelSizeFromLattice);
        Object acquisition = imp.getProperty(MicroscopeImages.ACQUISITION);
        if (acquisition instanceof String) {
            o.acquisition((String) acquisition);
        }
        Object opened = imp.getProperty(MicroscopeImages.PATH);
        String path = opened instanceof String ? (String) opened
                : imp.getOriginalFileInfo() != null && imp.getOriginalFileInfo().directory != null
                ? imp.getOriginalFileInfo().directory + imp.getOriginalFileInfo().fileName
                : imp.getTitle();
        String source = Double.isNaN(choices.pixelSize) ? "calibration" : "argument";
        return o.source(path, source, slice - 1, imp.getStackSize());
    }
}
