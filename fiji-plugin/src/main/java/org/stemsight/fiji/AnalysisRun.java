package org.stemsight.fiji;

import ij.IJ;
import ij.ImagePlus;
import ij.Macro;
import ij.measure.ResultsTable;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.stemsight.AnalysisOptions;
import org.stemsight.AnalysisResult;
import org.stemsight.Analyzer;
import org.stemsight.StemSightException;

/**
 * One analysis command on one image: dialog → pixel size → model → each slice through
 * the engine (on this thread, Esc cancels) → overlay, tables, maps, plot.
 */
final class AnalysisRun {
    private final Command cmd;
    private final ImagePlus imp;

    AnalysisRun(Command cmd, ImagePlus imp) {
        this.cmd = cmd;
        this.imp = imp;
    }

    void run() {
        boolean macro = Macro.getOptions() != null;
        PluginSettings settings = macro ? PluginSettings.forMacro() : PluginSettings.load();
        CommandDialog choices = CommandDialog.ask(cmd, settings, imp.getStackSize());
        if (choices == null) {
            return;
        }
        if (choices.pixelSizeFromLattice && "unknown".equals(settings.chemistry)) {
            Errors.report(imp.getTitle() + ": the pixel size can only be measured on the lattice when the "
                    + "chemistry is known (choose MoS2, WS2, MoSe2 or WSe2).");
            return;
        }
        // Measured on the lattice: the engine ignores the number passed.
        double pixelSize = choices.pixelSizeFromLattice ? 1.0 : PixelSize.resolve(imp);
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
            Analyzer analyzer = Models.analyzer(settings);
            for (int k = 0; k < slices.size(); k++) {
                int n = slices.get(k);
                IJ.showStatus("StemSight: " + cmd.title + " " + imp.getTitle()
                        + (slices.size() > 1 ? " slice " + n : ""));
                float[] pixels = ImageInput.sliceAsFloat(imp, n);
                AnalysisOptions options = options(settings, choices, n);
                results.add(analyzer.analyze(pixels, imp.getWidth(), imp.getHeight(), pixelSize, options,
                        new ImageJProgress(k, slices.size())));
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
        show(results, slices, choices);
        IJ.showStatus("StemSight: " + cmd.title + " done");
    }

    private AnalysisOptions options(PluginSettings s, CommandDialog choices, int slice) {
        AnalysisOptions o = new AnalysisOptions()
                .tasks(cmd.tasks)
                .atomThreshold(s.atomThreshold)
                .vacancyThreshold(s.vacancyThreshold)
                .carbonThreshold(s.carbonThreshold)
                .carbonFilter(cmd.vacancies() ? s.carbonFilter : true)
                .refinement(s.refinement)
                .views(s.allViews ? 8 : 1);
        if (!"unknown".equals(s.chemistry)) {
            o.chemistry(s.chemistry);
        }
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
        return o.source(path, "calibration", slice - 1, imp.getStackSize());
    }

    private void show(List<AnalysisResult> results, List<Integer> slices, CommandDialog choices) {
        String title = imp.getTitle();
        boolean stack = imp.getStackSize() > 1;
        ResultsTable atoms = cmd.atoms() ? ResultTables.fresh(ResultTables.ATOMS) : null;
        ResultsTable vacancies = cmd.vacancies() ? ResultTables.fresh(ResultTables.VACANCIES) : null;
        ResultsTable summary = ResultTables.summaryTable();
        Map<String, double[]> histogram = new LinkedHashMap<String, double[]>();
        double[] centres = new double[0];
        for (int k = 0; k < results.size(); k++) {
            AnalysisResult r = results.get(k);
            int slice = slices.get(k);
            if (cmd.atoms()) {
                ResultTables.addAtoms(atoms, title, slice, r.report);
                OverlayMaker.apply(imp, r.report, stack ? slice : 0, true, cmd.vacancies());
                HistogramPlot.accumulate(histogram, r.report.histogram);
                centres = r.report.histogram.centres();
            }
            if (cmd.vacancies()) {
                ResultTables.addVacancies(vacancies, title, slice, r.report);
            }
            ResultTables.addSummary(summary, title, slice, cmd.title, cmd.tasks, r.report);
            for (String w : r.report.warnings) {
                IJ.log("StemSight: " + title + ": " + w);
            }
        }
        for (ResultsTable t : new ResultsTable[] {atoms, vacancies, summary}) {
            if (t != null) {
                t.setPrecision(5);
            }
        }
        if (atoms != null) {
            atoms.show(ResultTables.ATOMS);
        }
        if (vacancies != null) {
            vacancies.show(ResultTables.VACANCIES);
        }
        summary.show(ResultTables.SUMMARY);
        if (choices.showHistogram && !histogram.isEmpty()) {
            HistogramPlot.make(imp.getShortTitle() + " intensity histogram", centres, histogram).show();
        }
        if (cmd.polymorph() && choices.showMaps) {
            MapImages.polymorph(imp, results, slices).show();
        }
        if (cmd.carbon() && choices.showMaps) {
            MapImages.carbon(imp, results, slices).show();
        }
    }
}
