package org.stemsight.fiji;

import ij.ImagePlus;
import ij.gui.GenericDialog;

/**
 * The options dialog of one analysis command. Field labels are the macro keys the
 * recorder writes (e.g. {@code atom_threshold=0.35 all_slices}); from a macro GenericDialog
 * takes the values without showing (see {@link Macros}), so it must be built on the
 * thread run() was called on.
 */
final class CommandDialog {
    boolean allSlices;
    boolean showHistogram;
    boolean showMaps;
    boolean addToRoiManager;
    boolean vacancyLabels;
    /** Show the polymorph / carbon map as a tint over the image (unticked: remove it). */
    boolean tint;
    /** Measure the pixel size on the image's own lattice (needs a chemistry). */
    boolean pixelSizeFromLattice;
    /** Å/pixel typed for an uncalibrated image; NaN when the image has its own. */
    double pixelSize = Double.NaN;

    private CommandDialog() {
    }

    /**
     * Shows the dialog (or reads the macro options); null when cancelled.
     *
     * @param calibrated the image's pixel size in Å, NaN when it has no usable calibration
     */
    static CommandDialog ask(Command cmd, PluginSettings s, ImagePlus imp, double calibrated) {
        boolean uncalibrated = !(calibrated > 0) || Double.isInfinite(calibrated);
        boolean begun = Macros.beginWithoutOptions();
        try {
            return show(cmd, s, imp, uncalibrated);
        } finally {
            Macros.end(begun);
        }
    }

    private static CommandDialog show(Command cmd, PluginSettings s, ImagePlus imp, boolean uncalibrated) {
        int stackSize = imp.getStackSize();
        GenericDialog gd = new GenericDialog("StemSight - " + cmd.title);
        if (uncalibrated) {
            gd.addMessage("'" + imp.getTitle() + "' has no usable calibration (unit: '"
                    + imp.getCalibration().getUnit() + "'): enter the pixel size, set it with\n"
                    + "Image > Properties (nm, \u00b5m, \u00c5 or pm), or measure it on the lattice.");
            // NaN default: a macro that passes no pixel_size fails clearly instead of guessing.
            gd.addNumericField("Pixel_size", Double.NaN, 4, 8, "\u00c5/pixel");
        }
        if (cmd.atoms()) {
            gd.addNumericField("Atom_threshold", s.atomThreshold, 2);
            gd.addChoice("Refinement", PluginSettings.REFINEMENTS, s.refinement);
            // Worded so that unticked (what a macro gets when the key is absent) is the
            // engine's default: contaminated areas are left out of counts and histogram.
            gd.addCheckbox("Include_contaminated_areas", !s.carbonFilter);
        }
        if (cmd.vacancies()) {
            gd.addNumericField("Vacancy_threshold", s.vacancyThreshold, 2);
        }
        if (cmd.carbon() || cmd.vacancies()) {
            gd.addNumericField("Carbon_threshold", s.carbonThreshold, 2, 6, "(0-1; x10 = \u00c5)");
        }
        if (cmd.atoms()) {
            gd.addCheckbox("Intensity_histogram", s.showHistogram);
            gd.addCheckbox("Add_to_ROI_Manager", s.addToRoiManager);
        }
        if (cmd.vacancies()) {
            gd.addCheckbox("Vacancy_label_image", s.vacancyLabels);
        }
        gd.addCheckbox("Average_8_views", s.allViews);
        gd.addChoice("Chemistry", PluginSettings.CHEMISTRIES, s.chemistry);
        // Macro key "polymorphs"; absent from a macro: "" (forMacro), every polymorph.
        gd.addStringField("Polymorphs", s.polymorphs, 16);
        gd.addToSameRow();
        gd.addMessage("e.g. 2H-1L,1T; empty: all six");
        // Macro keys dose, voltage, detector_inner, detector_outer; absent: 0 (unknown).
        s.addExposureFields(gd);
        gd.addCheckbox("Pixel_size_from_lattice", false);
        if (cmd == Command.ALL) {
            gd.addCheckbox("Show_maps", s.showMaps);
        }
        if (cmd.polymorph() || cmd.carbon()) {
            gd.addCheckbox("Tint_image_with_maps", s.tint);
        }
        if (stackSize > 1) {
            gd.addCheckbox("All_slices", false);
        }
        gd.addMessage("Press Esc to cancel a running analysis.");
        gd.addHelp(Help.forCommand(cmd));
        gd.showDialog();
        if (gd.wasCanceled()) {
            return null;
        }
        CommandDialog d = new CommandDialog();
        if (uncalibrated) {
            d.pixelSize = gd.getNextNumber();
        }
        if (cmd.atoms()) {
            s.atomThreshold = gd.getNextNumber();
            s.refinement = gd.getNextChoice();
            s.carbonFilter = !gd.getNextBoolean();
        }
        if (cmd.vacancies()) {
            s.vacancyThreshold = gd.getNextNumber();
        }
        if (cmd.carbon() || cmd.vacancies()) {
            s.carbonThreshold = gd.getNextNumber();
        }
        if (cmd.atoms()) {
            s.showHistogram = gd.getNextBoolean();
            s.addToRoiManager = gd.getNextBoolean();
        }
        if (cmd.vacancies()) {
            s.vacancyLabels = gd.getNextBoolean();
        }
        s.allViews = gd.getNextBoolean();
        s.chemistry = gd.getNextChoice();
        s.polymorphs = gd.getNextString().trim();
        s.readExposureFields(gd);
        d.pixelSizeFromLattice = gd.getNextBoolean();
        d.showHistogram = cmd.atoms() && s.showHistogram;
        d.addToRoiManager = cmd.atoms() && s.addToRoiManager;
        d.vacancyLabels = cmd.vacancies() && s.vacancyLabels;
        d.showMaps = cmd == Command.ALL ? gd.getNextBoolean() : true;
        if (cmd == Command.ALL) {
            s.showMaps = d.showMaps;
        }
        if (cmd.polymorph() || cmd.carbon()) {
            s.tint = gd.getNextBoolean();
            d.tint = s.tint;
        }
        d.allSlices = stackSize > 1 && gd.getNextBoolean();
        // Macro runs must not change the interactive defaults.
        if (!Macros.running()) {
            s.save();
        }
        return d;
    }
}
