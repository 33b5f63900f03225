package org.stemsight.fiji;

import ij.gui.GenericDialog;

/** Plugins > StemSight > StemSight Settings...: models folder and dialog defaults. */
final class SettingsDialog {
    private SettingsDialog() {
    }

    static void show() {
        PluginSettings s = PluginSettings.load();
        GenericDialog gd = new GenericDialog("StemSight Settings");
        gd.addDirectoryField("Models_folder", s.modelsDir, 30);
        gd.addMessage("Empty: -Dstemsight.models, STEMSIGHT_MODELS, <Fiji>/models/stemsight,\n"
                + "or a repository models/ folder above the plugin jar.");
        gd.addChoice("Device", PluginSettings.DEVICES, s.device);
        gd.addNumericField("Atom_threshold", s.atomThreshold, 2);
        gd.addNumericField("Vacancy_threshold", s.vacancyThreshold, 2);
        gd.addNumericField("Carbon_threshold", s.carbonThreshold, 2);
        gd.addCheckbox("Include_contaminated_areas", !s.carbonFilter);
        gd.addChoice("Refinement", PluginSettings.REFINEMENTS, s.refinement);
        gd.addCheckbox("Reset_to_engine_defaults", false);
        gd.addHelp(Help.forText("StemSight Settings", "The models folder, the inference device and the "
                + "defaults the analysis dialogs start with (macros always start from the engine's defaults)."));
        gd.showDialog();
        if (gd.wasCanceled()) {
            return;
        }
        s.modelsDir = gd.getNextString().trim();
        s.device = gd.getNextChoice();
        s.atomThreshold = gd.getNextNumber();
        s.vacancyThreshold = gd.getNextNumber();
        s.carbonThreshold = gd.getNextNumber();
        s.carbonFilter = !gd.getNextBoolean();
        s.refinement = gd.getNextChoice();
        if (gd.getNextBoolean()) {
            PluginSettings d = new PluginSettings();
            d.modelsDir = s.modelsDir;
            d.device = s.device;
            s = d;
        }
        s.save();
    }
}
