package org.stemsight.fiji;

import ij.Macro;
import ij.gui.GenericDialog;

/**
 * The options dialog of one analysis command. Field labels are the macro keys the
 * recorder writes (e.g. {@code atom_threshold=0.35 all_slices}); with a macro options
 * string GenericDialog takes the values without showing, so it must be built on the
 * thread run() was called on.
 */
final class CommandDialog {
    boolean allSlices;
    boolean showHistogram;
    boolean showMaps;
    /** Measure the pixel size on the image's own lattice (needs a chemistry). */
    boolean pixelSizeFromLattice;

    private CommandDialog() {
    }

    /** Shows the dialog (or reads the macro options); null when cancelled. */
    static CommandDialog ask(Command cmd, PluginSettings s, int stackSize) {
        if (cmd == Command.POLYMORPH && stackSize <= 1) {
            // Nothing to ask: no dialog, so run("Identify Polymorphs") also works in macros.
            CommandDialog d = new CommandDialog();
            d.showMaps = true;
            return d;
        }
        GenericDialog gd = new GenericDialog("StemSight - " + cmd.title);
        if (cmd.atoms()) {
            gd.addNumericField("Atom_threshold", s.atomThreshold, 2);
            gd.addChoice("Refinement", PluginSettings.REFINEMENTS, s.refinement);
        }
        if (cmd.vacancies()) {
            gd.addNumericField("Vacancy_threshold", s.vacancyThreshold, 2);
            // Worded so that unticked (what a macro gets when the key is absent) is the
            // engine's default: contaminated areas are left out of the statistics.
            gd.addCheckbox("Include_contaminated_areas", !s.carbonFilter);
        }
        if (cmd.carbon() || cmd.vacancies()) {
            gd.addNumericField("Carbon_threshold", s.carbonThreshold, 2, 6, "(0-1; x10 = \u00c5)");
        }
        if (cmd.atoms()) {
            gd.addCheckbox("Intensity_histogram", s.showHistogram);
        }
        gd.addCheckbox("Average_8_views", s.allViews);
        gd.addChoice("Chemistry", PluginSettings.CHEMISTRIES, s.chemistry);
        gd.addCheckbox("Pixel_size_from_lattice", false);
        if (cmd == Command.ALL) {
            gd.addCheckbox("Show_maps", s.showMaps);
        }
        if (stackSize > 1) {
            gd.addCheckbox("All_slices", false);
        }
        gd.addMessage("Press Esc to cancel a running analysis.");
        gd.showDialog();
        if (gd.wasCanceled()) {
            return null;
        }
        CommandDialog d = new CommandDialog();
        if (cmd.atoms()) {
            s.atomThreshold = gd.getNextNumber();
            s.refinement = gd.getNextChoice();
        }
        if (cmd.vacancies()) {
            s.vacancyThreshold = gd.getNextNumber();
            s.carbonFilter = !gd.getNextBoolean();
        }
        if (cmd.carbon() || cmd.vacancies()) {
            s.carbonThreshold = gd.getNextNumber();
        }
        if (cmd.atoms()) {
            s.showHistogram = gd.getNextBoolean();
        }
        s.allViews = gd.getNextBoolean();
        s.chemistry = gd.getNextChoice();
        d.pixelSizeFromLattice = gd.getNextBoolean();
        d.showHistogram = cmd.atoms() && s.showHistogram;
        d.showMaps = cmd == Command.ALL ? gd.getNextBoolean() : true;
        if (cmd == Command.ALL) {
            s.showMaps = d.showMaps;
        }
        d.allSlices = stackSize > 1 && gd.getNextBoolean();
        // Macro runs must not change the interactive defaults.
        if (Macro.getOptions() == null) {
            s.save();
        }
        return d;
    }
}
