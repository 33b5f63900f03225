package org.stemsight.fiji;

import ij.measure.ResultsTable;
import java.util.Map;
import org.stemsight.Atom;
import org.stemsight.Report;
import org.stemsight.Summary;
import org.stemsight.Vacancy;

/**
 * The three Results tables. Positions are in ImageJ's convention (pixel centre at c + 0.5),
 * in pixels (X, Y) and in Å (X_A, Y_A = X, Y × pixel size), so they line up with the overlay
 * and with ImageJ measurements. Atoms and Vacancies hold the last command's images;
 * Summary gains one row per analyzed image (or slice) and accumulates over a batch.
 */
final class ResultTables {
    static final String ATOMS = "StemSight Atoms";
    static final String VACANCIES = "StemSight Vacancies";
    static final String SUMMARY = "StemSight Summary";

    private ResultTables() {
    }

    /** A fresh table for this command's rows (existing window is reused, its rows dropped). */
    static ResultsTable fresh(String title) {
        ResultsTable rt = ResultsTable.getResultsTable(title);
        if (rt == null) {
            rt = new ResultsTable();
        }
        rt.reset();
        return rt;
    }

    static ResultsTable summaryTable() {
        ResultsTable rt = ResultsTable.getResultsTable(SUMMARY);
        return rt == null ? new ResultsTable() : rt;
    }

    /** A new row with the columns atoms and vacancies share: where, in pixels and in Å. */
    private static void addRow(ResultsTable rt, String image, int slice, double x, double y, double px) {
        rt.incrementCounter();
        rt.addValue("Image", image);
        rt.addValue("Slice", slice);
        rt.addValue("X", x);
        rt.addValue("Y", y);
        rt.addValue("X_A", x * px);
        rt.addValue("Y_A", y * px);
    }

    static void addAtoms(ResultsTable rt, String image, int slice, Report r) {
        double px = r.pixelSizeAngstrom;
        for (Atom a : r.atoms) {
            addRow(rt, image, slice, a.imageJX(), a.imageJY(), px);
            rt.addValue("Site", a.site);
            rt.addValue("Intensity", a.intensity);
            rt.addValue("Norm_intensity", a.normalizedIntensity);
            rt.addValue("Polymorph", a.polymorph);
            rt.addValue("Score", a.score);
            rt.addValue("Contaminated", a.inContaminatedArea ? 1 : 0);
        }
    }

    static void addVacancies(ResultsTable rt, String image, int slice, Report r) {
        double px = r.pixelSizeAngstrom;
        for (Vacancy v : r.vacancies) {
            addRow(rt, image, slice, v.imageJX(), v.imageJY(), px);
            rt.addValue("Type", v.type);
            rt.addValue("Confidence", v.confidence);
            rt.addValue("Norm_intensity", v.normalizedIntensity);
            rt.addValue("Polymorph", v.polymorph);
            rt.addValue("Contaminated", v.inContaminatedArea ? 1 : 0);
        }
    }

    /** One summary row; columns of tasks that were not run stay empty (NaN). */
    static void addSummary(ResultsTable rt, String image, int slice, String command, String tasks, Report r) {
        Summary s = r.summary;
        boolean atoms = tasks.contains("atoms");
        boolean vac = tasks.contains("vacancies");
        rt.incrementCounter();
        rt.addValue("Image", image);
        rt.addValue("Slice", slice);
        rt.addValue("Command", command);
        rt.addValue("Pixel_size_A", r.pixelSizeAngstrom);
        rt.addValue("Pixel_size_source", r.pixelSizeSource);
        // The columns' lattice constant and the pixel size it implies for the chemistry:
        // a calibration check (a warning in the Log when they disagree by more than 3 %).
        rt.addValue("Lattice_a_A", r.latticeAngstrom);
        rt.addValue("Lattice_pixel_size_A", r.latticeImpliedPixelSize);
        rt.addValue("Calibration_suspect", r.calibrationSuspect ? 1 : 0);
        rt.addValue("Voltage_kV", r.voltageKv);
        rt.addValue("Detector", r.detector);
        rt.addValue("n_atoms", atoms ? r.atoms.size() : Double.NaN);
        rt.addValue("n_Mo", atoms ? s.nMo : Double.NaN);
        rt.addValue("n_S2_sites", atoms ? s.nS2Sites : Double.NaN);
        rt.addValue("n_VS1", vac ? s.nVs1 : Double.NaN);
        rt.addValue("n_VS2", vac ? s.nVs2 : Double.NaN);
        rt.addValue("VS_per_S2_site", vac ? s.vsPerS2Site : Double.NaN);
        rt.addValue("missing_S_per_S2_site", vac ? s.missingSPerS2Site : Double.NaN);
        rt.addValue("vacancies_per_nm2", vac ? s.vacanciesPerNm2 : Double.NaN);
        rt.addValue("analyzed_area_nm2", s.analyzedAreaNm2);
        rt.addValue("excluded_area_nm2", s.excludedAreaNm2);
        rt.addValue("contaminated_fraction", tasks.contains("carbon") ? r.contaminatedFraction : Double.NaN);
        boolean poly = tasks.contains("polymorph");
        rt.addValue("Polymorph", poly ? r.dominantPolymorph() : "");
        for (Map.Entry<String, Double> e : r.polymorphFractions.entrySet()) {
            rt.addValue("f_" + e.getKey(), poly ? e.getValue() : Double.NaN);
        }
        rt.addValue("Model", r.modelName);
        rt.addValue("Time_ms", r.totalMs);
    }
}
