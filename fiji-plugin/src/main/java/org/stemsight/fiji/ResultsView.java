package org.stemsight.fiji;

import ij.IJ;
import ij.ImagePlus;
import ij.measure.ResultsTable;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.stemsight.AnalysisResult;

/**
 * What one command shows of its analyses: overlay, tables (titled per image), warnings in
 * the Log and the Summary, and on request the ROI Manager, a vacancy label image, maps and
 * the intensity histogram. Outputs replace their earlier windows ({@link OutputWindows}).
 */
final class ResultsView {
    private final Command cmd;
    private final ImagePlus imp;
    private final CommandDialog choices;

    ResultsView(Command cmd, ImagePlus imp, CommandDialog choices) {
        this.cmd = cmd;
        this.imp = imp;
        this.choices = choices;
    }

    void show(List<AnalysisResult> results, List<Integer> slices) {
        String title = imp.getTitle();
        boolean stack = imp.getStackSize() > 1;
        ResultsTable atoms = cmd.atoms() ? ResultTables.fresh(ResultTables.atomsTitle(title)) : null;
        ResultsTable vacancies = cmd.vacancies() ? ResultTables.fresh(ResultTables.vacanciesTitle(title)) : null;
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
            ResultTables.addSummary(summary, title, slice, cmd.title, cmd.shows, r.report);
            for (String w : r.report.warnings) {
                IJ.log("StemSight warning: " + title + (stack ? " slice " + slice : "") + ": " + w);
            }
        }
        if (atoms != null) {
            ResultTables.show(atoms, ResultTables.atomsTitle(title));
        }
        if (vacancies != null) {
            ResultTables.show(vacancies, ResultTables.vacanciesTitle(title));
        }
        ResultTables.show(summary, ResultTables.SUMMARY);
        if (cmd.polymorph()) {
            Tints.apply(imp, Tints.POLYMORPH, choices.tint, results, slices);
        }
        if (cmd.carbon()) {
            Tints.apply(imp, Tints.CARBON, choices.tint, results, slices);
        }
        if (choices.addToRoiManager) {
            int added = RoiExport.toManager(imp, results, slices, cmd.vacancies());
            IJ.log("StemSight: " + title + ": " + added + " point ROIs added to the ROI Manager");
        }
        if (choices.vacancyLabels) {
            OutputWindows.show(MapImages.vacancyLabels(imp, results, slices));
        }
        if (choices.showHistogram && histogram.isEmpty()) {
            IJ.log("StemSight: " + title + ": no intensity histogram: no column lies outside the contaminated "
                    + "areas (tick Include_contaminated_areas to see them all)");
        }
        if (choices.showHistogram && !histogram.isEmpty()) {
            String plotTitle = imp.getShortTitle() + " intensity histogram";
            OutputWindows.show(HistogramPlot.make(plotTitle, centres, histogram), plotTitle);
        }
        if (cmd.polymorph() && choices.showMaps) {
            OutputWindows.show(MapImages.polymorph(imp, results, slices));
        }
        if (cmd.carbon() && choices.showMaps) {
            OutputWindows.show(MapImages.carbon(imp, results, slices));
        }
    }
}
