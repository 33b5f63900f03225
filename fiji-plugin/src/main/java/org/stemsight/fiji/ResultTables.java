package org.stemsight.fiji;

import ij.measure.ResultsTable;
import java.util.Map;
import org.stemsight.Atom;
import org.stemsight.Report;
import org.stemsight.Summary;
import org.stemsight.Vacancy;

/**
 * The Results tables: "StemSight Atoms - <image>" and "StemSight Vacancies - <image>" (one
 * pair per image, replaced on a rerun) and "StemSight Summary" (one row per analyzed image or
 * slice, accumulating over a session or a batch). Every column with a unit names it
 * (_px, _A, _nm2, _kV, _ms, _counts_A2); the others are counts, fractions or names.
 * Positions are in ImageJ's convention (pixel centre at c + 0.5), in pixels (X_px, Y_px) and
 * in Å (X_A, Y_A = X_px, Y_px × pixel size), so they line up with the overlay and with
 * ImageJ measurements. Values a command did not compute are empty cells.
 */
final class ResultTables {
    static final String ATOMS = "StemSight Atoms";
    static final String VACANCIES = "StemSight Vacancies";
    static final String SUMMARY = "StemSight Summary";

    private ResultTables() {
    }

    static String atomsTitle(String image) {
        return ATOMS + " - " + image;
    }

    static String vacanciesTitle(String image) {
        return VACANCIES + " - " + image;
    }

    /** Shows a table with 5 decimals and NaN (not computed) as an empty cell. */
    static void show(ResultsTable rt, String title) {
        rt.setPrecision(5);
        rt.setNaNEmptyCells(true);
        rt.show(title);
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
        rt.addValue("X_px", x);
        rt.addValue("Y_px", y);
        rt.addValue("X_A", x * px);
        rt.addValue("Y_A", y * px);
    }

    static void addAtoms(ResultsTable rt, String image, int slice, Report r) {
        double px = r.pixelSizeAngstrom;
        for (Atom a : r.atoms) {
            addRow(rt, image, slice, a.imageJX(), a.imageJY(), px);
            rt.addValue("Site", a.label());
            rt.addValue("Intensity_counts_A2", a.intensity);
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
            // The value of this vacancy in the vacancy label image.
            rt.addValue("Label", rt.size());
            rt.addValue("Type", v.label());
            rt.addValue("Confidence", v.confidence);
            rt.addValue("Norm_intensity", v.normalizedIntensity);
            rt.addValue("Polymorph", v.polymorph);
            rt.addValue("Contaminated", v.inContaminatedArea ? 1 : 0);
        }
    }

    /** One summary row; columns of tasks the command does not show stay empty (NaN). */
    static void addSummary(ResultsTable rt, String image, int slice, String command, String shows, Report r) {
        Summary s = r.summary;
        boolean atoms = shows.contains("atoms");
        boolean vac = shows.contains("vacancies");
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
        rt.addValue("analyzed_area_nm2", atoms ? s.analyzedAreaNm2 : Double.NaN);
        rt.addValue("excluded_area_nm2", atoms ? s.excludedAreaNm2 : Double.NaN);
        rt.addValue("contaminated_fraction", shows.contains("carbon") ? r.contaminatedFraction : Double.NaN);
        boolean poly = shows.contains("polymorph");
        rt.addValue("Polymorph", poly ? r.dominantPolymorph() : "");
        for (Map.Entry<String, Double> e : r.polymorphFractions.entrySet()) {
            rt.addValue("f_" + e.getKey(), poly ? e.getValue() : Double.NaN);
        }
        rt.addValue("Model", r.modelName);
        rt.addValue("Time_ms", r.totalMs);
        // The report's warnings (most of the area excluded, calibration, chemistry…), also in the Log.
        rt.addValue("Warnings", join(r.warnings));
    }

    static String join(java.util.List<String> warnings) {
        StringBuilder b = new StringBuilder();
        for (String w : warnings) {
            b.append(b.length() > 0 ? " | " : "").append(w.replace(',', ';'));
        }
        return b.toString();
    }
}
