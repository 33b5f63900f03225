package org.stemsight.fiji;

import ij.ImagePlus;
import ij.gui.PointRoi;
import ij.gui.Roi;
import ij.plugin.frame.RoiManager;
import java.util.List;
import org.stemsight.AnalysisResult;
import org.stemsight.Atom;
import org.stemsight.Report;
import org.stemsight.Vacancy;

/**
 * Columns and vacancies as ROI Manager entries, for ImageJ's own measurements: one point
 * ROI per table row, named "<site or type> <row>" (the report's species where it gives
 * them; row = 1-based row of the image's Atoms or Vacancies table), coloured as on the
 * overlay. Only adds: ROIs already there stay.
 */
final class RoiExport {
    private RoiExport() {
    }

    /** Adds the ROIs; returns how many. */
    static int toManager(ImagePlus imp, List<AnalysisResult> results, List<Integer> slices, boolean vacancies) {
        RoiManager rm = RoiManager.getInstance();
        if (rm == null) {
            rm = RoiManager.getRoiManager();
        }
        boolean stack = imp.getStackSize() > 1;
        int atomRow = 0;
        int vacancyRow = 0;
        int added = 0;
        for (int k = 0; k < results.size(); k++) {
            Report r = results.get(k).report;
            int slice = stack ? slices.get(k) : 0;
            for (Atom a : r.atoms) {
                atomRow++;
                add(rm, imp, point(a.imageJX(), a.imageJY(), a.label() + " " + atomRow,
                        Palette.site(a.label()), PointRoi.DOT, slice), slice);
                added++;
            }
            if (vacancies) {
                for (Vacancy v : r.vacancies) {
                    vacancyRow++;
                    add(rm, imp, point(v.imageJX(), v.imageJY(), v.label() + " " + vacancyRow,
                            Palette.vacancy(v.type), PointRoi.CIRCLE, slice), slice);
                    added++;
                }
            }
        }
        return added;
    }

    private static Roi point(double x, double y, String name, java.awt.Color c, int type, int slice) {
        PointRoi roi = new PointRoi(x, y);
        roi.setPointType(type);
        roi.setStrokeColor(c);
        roi.setName(name);
        roi.setPosition(slice);
        return roi;
    }

    private static void add(RoiManager rm, ImagePlus imp, Roi roi, int slice) {
        rm.add(imp, roi, slice > 0 ? slice : -1);
        // add() names the ROI after its position; ours names the row instead.
        rm.rename(rm.getCount() - 1, roi.getName());
    }
}
