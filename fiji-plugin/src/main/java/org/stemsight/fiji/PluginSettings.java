package org.stemsight.fiji;

import ij.Prefs;

/**
 * Defaults shown in the dialogs, kept in ImageJ's preferences between sessions. The
 * numbers start at the engine's defaults (the settings `stemsight eval` was measured with).
 */
final class PluginSettings {
    static final double DEFAULT_ATOM_THRESHOLD = 0.35;
    static final double DEFAULT_VACANCY_THRESHOLD = 0.5;
    static final double DEFAULT_CARBON_THRESHOLD = 0.3;
    static final String[] REFINEMENTS = {"combined", "gaussian", "centroid", "heatmap"};
    /** Inference device; "cuda" needs an engine built with the cuda feature, else runs on the CPU. */
    static final String[] DEVICES = {"cpu", "cuda"};
    /** The TMD imaged; "unknown" lets the engine assume MoS2 (and say so) for the lattice check. */
    static final String[] CHEMISTRIES = {"unknown", "MoS2", "WS2", "MoSe2", "WSe2"};

    private static final String KEY = "stemsight.";

    /** Models folder; empty = found automatically (see {@link Models}). */
    String modelsDir = "";
    String device = DEVICES[0];
    double atomThreshold = DEFAULT_ATOM_THRESHOLD;
    double vacancyThreshold = DEFAULT_VACANCY_THRESHOLD;
    double carbonThreshold = DEFAULT_CARBON_THRESHOLD;
    boolean carbonFilter = true;
    String refinement = REFINEMENTS[0];
    boolean showHistogram = true;
    boolean showMaps = true;
    /** Average the network over the eight rotations and mirrors of each tile (slower). */
    boolean allViews = false;
    /** The chemistry the lattice check (and a lattice calibration) compares with. */
    String chemistry = CHEMISTRIES[0];

    static PluginSettings load() {
        PluginSettings s = new PluginSettings();
        s.modelsDir = Prefs.get(KEY + "modelsDir", s.modelsDir);
        s.device = Prefs.get(KEY + "device", s.device);
        s.atomThreshold = Prefs.get(KEY + "atomThreshold", s.atomThreshold);
        s.vacancyThreshold = Prefs.get(KEY + "vacancyThreshold", s.vacancyThreshold);
        s.carbonThreshold = Prefs.get(KEY + "carbonThreshold", s.carbonThreshold);
        s.carbonFilter = Prefs.get(KEY + "carbonFilter", s.carbonFilter);
        s.refinement = Prefs.get(KEY + "refinement", s.refinement);
        s.showHistogram = Prefs.get(KEY + "showHistogram", s.showHistogram);
        s.showMaps = Prefs.get(KEY + "showMaps", s.showMaps);
        s.allViews = Prefs.get(KEY + "allViews", s.allViews);
        s.chemistry = Prefs.get(KEY + "chemistry", s.chemistry);
        return s;
    }

    /**
     * For macro runs: engine defaults for every field the macro does not pass (so a macro
     * gives the same result on any machine), but the configured models folder and device
     * (the device changes speed, not results).
     */
    static PluginSettings forMacro() {
        PluginSettings s = new PluginSettings();
        s.modelsDir = Prefs.get(KEY + "modelsDir", s.modelsDir);
        s.device = Prefs.get(KEY + "device", s.device);
        return s;
    }

    void save() {
        Prefs.set(KEY + "modelsDir", modelsDir);
        Prefs.set(KEY + "device", device);
        Prefs.set(KEY + "atomThreshold", atomThreshold);
        Prefs.set(KEY + "vacancyThreshold", vacancyThreshold);
        Prefs.set(KEY + "carbonThreshold", carbonThreshold);
        Prefs.set(KEY + "carbonFilter", carbonFilter);
        Prefs.set(KEY + "refinement", refinement);
        Prefs.set(KEY + "showHistogram", showHistogram);
        Prefs.set(KEY + "showMaps", showMaps);
        Prefs.set(KEY + "allViews", allViews);
        Prefs.set(KEY + "chemistry", chemistry);
    }
}
