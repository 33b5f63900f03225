package org.stemsight;

/**
 * The raw JNI entry points (native/src/jni/). Use {@link Analyzer} instead; these
 * exist separately so that the native signatures live in one place.
 */
final class NativeBridge {
    static {
        NativeLoader.load();
    }

    private NativeBridge() {
    }

    /** Loads, or finds in the native cache, the analyzer of a models directory ("" = default). */
    static native long loadAnalyzer(String modelsDir);

    /** One holder of the handle less; the last frees the model (native/src/jni/handles.rs). */
    static native void releaseAnalyzer(long handle);

    /**
     * As {@link #loadAnalyzer}, with inference on "cpu" or "cuda". Where CUDA cannot be
     * used the analyzer runs on the CPU and {@link #modelInfo}'s device_note says why.
     */
    static native long loadAnalyzerOn(String modelsDir, String device);

    /** The model card of a loaded analyzer, as JSON. */
    static native String modelInfo(long handle);

    /** The engine version. */
    static native String version();

    /**
     * Analyzes one image; returns report.json as a string. The optional map arrays (null, or
     * width*height long) receive the polymorph class and carbon map per pixel.
     */
    static native String analyze(long handle, float[] pixels, int width, int height,
            double pixelSizeAngstrom, String optionsJson, ProgressListener listener,
            byte[] polymorphOut, float[] carbonOut);

    /**
     * Reads every frame of a microscope file (TIFF, PNG, Velox EMD, DM3/DM4, SER/EMI, MRC)
     * with the engine's readers: the frames one after the other; {@code infoOut[0]} receives
     * {"width","height","frames","pixel_size_angstrom","acquisition","warnings"} as JSON.
     * {@code detector} (null or empty: the HAADF) picks one image of a multi-detector file.
     */
    static native float[] readImage(String path, String detector, String[] infoOut);

    /**
     * As {@link #analyze}, then writes {@code folder} exactly as {@code stemsight analyze}
     * writes one image's folder (report.json, atoms.csv, vacancies.csv, polymorph.tif,
     * carbon.tif, overlay.png), atomically; {@code readerWarnings} (null or what the file
     * reader said) join the report's warnings. Returns report.json.
     */
    static native String analyzeToFolder(long handle, float[] pixels, int width, int height,
            double pixelSizeAngstrom, String optionsJson, ProgressListener listener,
            String folder, String[] readerWarnings);

    /** Finishes interrupted writes in a results folder; returns the problems, one a line. */
    static native String recoverLeftovers(String folder);

    /** Every analysis setting's default and the numeric ranges, as JSON (analysis::settings). */
    static native String settings();

    /**
     * What the engine accepts and throws, as JSON: {"min_side": n,
     * "pixel_size_range_angstrom": [lo, hi], "error_kinds": [the Rust ErrorKind names],
     * "binding_kinds": [the kinds the native binding adds]}.
     */
    static native String limits();

    /** How many \u00c5 one length unit is, as the engine's readers read units; NaN when not a length. */
    static native double angstromPerUnit(String unit);

    /** The colours overlay.png is drawn in, as JSON (metal, metal_chalcogen, chalcogen, vs1, vs2, excluded, polymorph). */
    static native String palette();

    /**
     * The first candidate folder holding a model, else the repository models/ above the first
     * start folder that has one (the engine's search); "" when none.
     */
    static native String findModels(String[] candidates, String[] starts);
}
