package org.stemsight.fiji;

import ij.Prefs;
import java.util.Arrays;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import org.stemsight.EngineSettings;

/**
 * Settings shown in the dialogs, kept in ImageJ's preferences between sessions. The
 * analysis settings start at the engine's own defaults ({@link EngineSettings}: the
 * settings `stemsight eval` was measured with), read from the engine, not copied here.
 */
final class PluginSettings {
    static final String[] REFINEMENTS = {"combined", "gaussian", "centroid", "heatmap"};
    /** Inference device; "cuda" needs an engine built with the cuda feature, else runs on the CPU. */
    static final String[] DEVICES = {"cpu", "cuda"};
    /** The TMD imaged; "unknown" lets the engine assume MoS2 (and say so) for the lattice check. */
    static final String[] CHEMISTRIES = {"unknown", "MoS2", "WS2", "MoSe2", "WSe2"};

    private static final String KEY = "stemsight.";

    /**
     * Settings that change what the network sees, or (the allowed polymorphs) the polymorph
     * map and the site contents: every command's results depend on them.
     */
    static final List<String> NETWORK_FIELDS = Collections.unmodifiableList(Arrays.asList(
            "models", "device", "views", "chemistry", "polymorphs", "pixel_size_from_lattice",
            "dose", "voltage", "detector_inner", "detector_outer"));
    static final String[] ATOM_FIELDS = {"atom_threshold", "refinement"};
    static final String[] VACANCY_FIELDS = {"vacancy_threshold", "carbon_filter"};
    static final String[] CARBON_FIELDS = {"carbon_threshold", "carbon_filter"};

    /** Models folder; empty = found automatically (see {@link Models}). */
    String modelsDir = "";
    String device = DEVICES[0];
    double atomThreshold = EngineSettings.get().number("atom_threshold");
    double vacancyThreshold = EngineSettings.get().number("vacancy_threshold");
    double carbonThreshold = EngineSettings.get().number("carbon_threshold");
    boolean carbonFilter = EngineSettings.get().flag("carbon_filter");
    String refinement = EngineSettings.get().text("refinement");
    boolean showHistogram = true;
    boolean showMaps = true;
    /** Average the network over the eight rotations and mirrors of each tile (slower). */
    boolean allViews = false;
    /** The chemistry the lattice check (and a lattice calibration) compares with. */
    String chemistry = CHEMISTRIES[0];
    /**
     * The stacking polymorphs the specimen can hold, comma-separated (e.g. "2H-1L,1T"), the
     * only ones the polymorph map may choose; empty: all six. The engine checks the names.
     */
    String polymorphs = "";
    /**
     * The incident dose (e⁻/Å²) of an image in detected electrons, and the voltage (kV) and
     * detector angles (mrad) it was taken at; 0: unknown, or (optics) the file's. With a dose
     * the engine reads the 2H layer count from the absolute signal.
     */
    double dose = 0;
    double voltage = 0;
    double detectorInner = 0;
    double detectorOuter = 0;
    /** Also add one point ROI per column and vacancy to the ROI Manager (off: it can be slow). */
    boolean addToRoiManager = false;
    /** Also show a label image of the vacancies (value = row in the Vacancies table). */
    boolean vacancyLabels = false;
    /** Tint the image with the polymorph / carbon map (in its overlay). */
    boolean tint = false;

    /**
     * Every setting an analysis depends on, by name (the names {@link Command#reads} uses):
     * the cache key of {@link AnalysisCache}.
     */
    Map<String, Object> analysisFields(boolean pixelSizeFromLattice) {
        Map<String, Object> m = new LinkedHashMap<String, Object>();
        m.put("models", Models.resolveQuietly(this));
        m.put("device", device);
        m.put("views", allViews ? 8 : 1);
        m.put("chemistry", chemistry);
        // As the engine reads it: names are case-insensitive, spaces around them ignored.
        m.put("polymorphs", polymorphs.replaceAll("\\s", "").toUpperCase(Locale.ROOT));
        m.put("pixel_size_from_lattice", pixelSizeFromLattice);
        m.put("dose", dose);
        m.put("voltage", voltage);
        m.put("detector_inner", detectorInner);
        m.put("detector_outer", detectorOuter);
        m.put("atom_threshold", atomThreshold);
        m.put("refinement", refinement);
        m.put("vacancy_threshold", vacancyThreshold);
        m.put("carbon_filter", carbonFilter);
        m.put("carbon_threshold", carbonThreshold);
        return m;
    }

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
        s.polymorphs = Prefs.get(KEY + "polymorphs", s.polymorphs);
        s.dose = Prefs.get(KEY + "dose", s.dose);
        s.voltage = Prefs.get(KEY + "voltage", s.voltage);
        s.detectorInner = Prefs.get(KEY + "detectorInner", s.detectorInner);
        s.detectorOuter = Prefs.get(KEY + "detectorOuter", s.detectorOuter);
        s.addToRoiManager = Prefs.get(KEY + "addToRoiManager", s.addToRoiManager);
        s.vacancyLabels = Prefs.get(KEY + "vacancyLabels", s.vacancyLabels);
        s.tint = Prefs.get(KEY + "tint", s.tint);
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

    /**
     * The dose and the optics given (0: unknown, or the file's) into {@code o}; the engine
     * refuses a dose whose voltage or detector angles neither these nor the file give.
     */
    void exposure(org.stemsight.AnalysisOptions o) {
        if (dose <= 0) {
            return;
        }
        o.dose(dose);
        if (voltage > 0) {
            o.kv(voltage);
        }
        if (detectorInner > 0 && detectorOuter > 0) {
            o.detectorMrad(detectorInner, detectorOuter);
        }
    }

    /** The dialog fields of {@link #exposure}, after the polymorphs. */
    void addExposureFields(ij.gui.GenericDialog gd) {
        gd.addNumericField("Dose", dose, 0, 10, "e⁻/Å² (0: unknown)");
        gd.addNumericField("Voltage", voltage, 0, 6, "kV (0: the file's)");
        gd.addNumericField("Detector_inner", detectorInner, 0, 6, "mrad (0: the file's)");
        gd.addNumericField("Detector_outer", detectorOuter, 0, 6, "mrad (0: the file's)");
    }

    /** Reads what {@link #addExposureFields} added, in its order. */
    void readExposureFields(ij.gui.GenericDialog gd) {
        dose = gd.getNextNumber();
        voltage = gd.getNextNumber();
        detectorInner = gd.getNextNumber();
        detectorOuter = gd.getNextNumber();
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
        Prefs.set(KEY + "polymorphs", polymorphs);
        Prefs.set(KEY + "dose", dose);
        Prefs.set(KEY + "voltage", voltage);
        Prefs.set(KEY + "detectorInner", detectorInner);
        Prefs.set(KEY + "detectorOuter", detectorOuter);
        Prefs.set(KEY + "addToRoiManager", addToRoiManager);
        Prefs.set(KEY + "vacancyLabels", vacancyLabels);
        Prefs.set(KEY + "tint", tint);
    }
}
