package org.stemsight;

import java.util.LinkedHashMap;
import java.util.Map;

/**
 * Settings for one analysis. Anything left unset takes the engine's default (the settings
 * `stemsight eval` was measured with). Fluent: {@code new AnalysisOptions().tasks("atoms")}.
 */
public final class AnalysisOptions {
    /** JSON field name → JSON value text; only what was set is sent. */
    private final Map<String, String> fields = new LinkedHashMap<String, String>();

    /** Any subset of "atoms,vacancies,polymorph,carbon". */
    public AnalysisOptions tasks(String tasks) {
        return put("tasks", Json.quote(tasks));
    }

    /**
     * Check the carbon map's call against the signal at the lattice's hollow sites and
     * keep flagged areas whose hollows are clean (default true); false: the map alone.
     */
    public AnalysisOptions hollowCheck(boolean on) {
        return put("hollow_check", Boolean.toString(on));
    }

    /** Leave contaminated areas out of the statistics (default true). */
    public AnalysisOptions carbonFilter(boolean on) {
        return put("carbon_filter", Boolean.toString(on));
    }

    /** Threshold on the carbon map (0..1) above which material counts as contaminated. */
    public AnalysisOptions carbonThreshold(double t) {
        return put("carbon_threshold", number(t));
    }

    /** Å (σ) over which the carbon map is averaged before thresholding (0: per pixel). */
    public AnalysisOptions carbonSmoothing(double angstrom) {
        return put("carbon_smoothing_a", number(angstrom));
    }

    /**
     * Views of each tile the network sees, averaged: 1 up to 8 (every rotation and mirror;
     * about 7x slower, slightly more accurate).
     */
    public AnalysisOptions views(int n) {
        return put("views", Integer.toString(n));
    }

    /** Atom heatmap level (0..1) a column peak must reach. */
    public AnalysisOptions atomThreshold(double t) {
        return put("atom_threshold", number(t));
    }

    /** P(VS1) + P(VS2) level (0..1) that outlines a vacancy. */
    public AnalysisOptions vacancyThreshold(double t) {
        return put("vacancy_threshold", number(t));
    }

    /** Å over which polymorph probabilities are averaged before each pixel takes its class (0: per pixel). */
    public AnalysisOptions polymorphSmoothing(double angstrom) {
        return put("polymorph_smoothing_a", number(angstrom));
    }

    /** Context around each tile centre, in model pixels. */
    public AnalysisOptions halo(int modelPixels) {
        return put("halo", Integer.toString(modelPixels));
    }

    /** Estimate and remove scan-line jitter from the columns (default on). */
    public AnalysisOptions lineCorrection(boolean on) {
        return put("line_correction", Boolean.toString(on));
    }

    /**
     * The TMD imaged: "MoS2", "WS2", "MoSe2" or "WSe2". Its lattice constant checks the
     * calibration (MoS2 is assumed, and the report says so, when unset).
     */
    public AnalysisOptions chemistry(String chemistry) {
        return put("chemistry", Json.quote(chemistry));
    }

    /**
     * The stacking polymorphs the specimen can hold, comma-separated, from 2H-1L, 2H-2L,
     * 2H-3L, 3R-2L, 3R-3L and 1T (case-insensitive; e.g. "2H-1L,1T"): the polymorph map
     * then chooses among these alone. Null or "": all six (the default). An unknown or
     * repeated name is refused by the engine (InvalidParameter).
     */
    public AnalysisOptions polymorphs(String polymorphs) {
        return put("polymorphs", Json.quote(polymorphs == null ? "" : polymorphs));
    }

    /**
     * The incident dose in electrons per Å², for an image in detected electrons per pixel:
     * the 2H layer count (2H-1L, 2H-2L or 2H-3L) is then read from the absolute signal
     * against the simulator's multislice-calibrated response, and 2H pixels 1.15 times above
     * their stack's share are flagged as carbon; this needs the voltage and the detector
     * angles (from the file's acquisition, or {@link #kv} and {@link #detectorMrad}). Unset:
     * the layer count is the network's, overruled where the vacancies are as deep as only a
     * monolayer's can be.
     */
    public AnalysisOptions dose(double electronsPerSquareAngstrom) {
        return put("dose_e_per_a2", number(electronsPerSquareAngstrom));
    }

    /**
     * Accelerating voltage in kV (overrides the file's), for {@link #dose}; with the detector
     * angles also for the column contrast, which then relabels a 2H class whose two column
     * kinds clearly fit another layer count at these optics.
     */
    public AnalysisOptions kv(double kilovolts) {
        return put("kv", number(kilovolts));
    }

    /** Probe convergence semi-angle in mrad (overrides the file's; 23 when neither says). */
    public AnalysisOptions convergenceMrad(double mrad) {
        return put("convergence_mrad", number(mrad));
    }

    /** Annular detector inner and outer collection angles in mrad (override the file's). */
    public AnalysisOptions detectorMrad(double inner, double outer) {
        put("detector_inner_mrad", number(inner));
        return put("detector_outer_mrad", number(outer));
    }

    /**
     * Measure the pixel size on the image's own lattice (needs {@link #chemistry}); the
     * pixel size passed to {@code analyze} is then ignored and the report's source is "lattice".
     */
    public AnalysisOptions calibrateFromLattice(boolean on) {
        return put("calibrate_from_lattice", Boolean.toString(on));
    }

    /** Recorded in the report's image section: the acquisition JSON {@link MicroscopeFile} read. */
    public AnalysisOptions acquisition(String acquisitionJson) {
        if (acquisitionJson == null || acquisitionJson.trim().isEmpty()) {
            return this;
        }
        if (!(Json.parse(acquisitionJson) instanceof Map)) {
            throw new StemSightException(StemSightException.Kind.InvalidParameter, "acquisition must be a JSON object");
        }
        return put("acquisition", acquisitionJson);
    }

    /** "combined" (image and heatmap fits), "gaussian" (2D Gaussian fit on the image), "centroid" (on the image) or "heatmap" (on the network output). */
    public AnalysisOptions refinement(String r) {
        return put("refinement", Json.quote(r));
    }

    /** Always run tiles in parallel (off: chosen per image by its number of tiles). */
    public AnalysisOptions parallelTiles(boolean on) {
        return put("parallel_tiles", Boolean.toString(on));
    }

    /**
     * Recorded in the report's image section: where the pixels came from. The pixel size
     * source is "argument" (also for null or ""), "file", "calibration" (ImageJ's) or
     * "lattice"; with {@link #calibrateFromLattice} it is "lattice" whatever is passed.
     */
    public AnalysisOptions source(String imagePath, String pixelSizeSource, int frame, int frames) {
        put("image_path", Json.quote(imagePath == null ? "" : imagePath));
        put("pixel_size_source", Json.quote(pixelSizeSource == null ? "" : pixelSizeSource));
        put("frame", Integer.toString(Math.max(0, frame)));
        return put("frames", Integer.toString(Math.max(1, frames)));
    }

    /** The options object the native side reads. */
    public String toJson() {
        StringBuilder b = new StringBuilder("{");
        for (Map.Entry<String, String> e : fields.entrySet()) {
            if (b.length() > 1) {
                b.append(',');
            }
            b.append(Json.quote(e.getKey())).append(':').append(e.getValue());
        }
        return b.append('}').toString();
    }

    @Override
    public String toString() {
        return toJson();
    }

    private AnalysisOptions put(String key, String json) {
        fields.put(key, json);
        return this;
    }

    private static String number(double v) {
        if (Double.isNaN(v) || Double.isInfinite(v)) {
            throw new StemSightException(StemSightException.Kind.InvalidParameter, "option value " + v + " is not a finite number");
        }
        return Double.toString(v);
    }
}
