package org.stemsight;

import java.io.File;

/**
 * A loaded StemSight model, ready to analyze any number of images from any thread.
 * The native side caches one model per directory, so {@link #load} is cheap after the
 * first call for a directory; {@link #close} gives this object's hold back, and the
 * model is freed when the last holder of that directory closes (an analysis still
 * running finishes first).
 */
public final class Analyzer implements AutoCloseable {
    private final long handle;
    private final File modelsDir;
    private final java.util.concurrent.atomic.AtomicBoolean closed = new java.util.concurrent.atomic.AtomicBoolean();

    private Analyzer(long handle, File modelsDir) {
        this.handle = handle;
        this.modelsDir = modelsDir;
    }

    /**
     * Loads the model in {@code modelsDir} (a models folder, or one model's folder holding
     * model.json); null asks the engine for its default (STEMSIGHT_MODELS, else the
     * repository's models/).
     */
    public static Analyzer load(File modelsDir) {
        return load(modelsDir, "cpu");
    }

    /**
     * As {@link #load(File)}, with inference on {@code device}: "cpu", or "cuda" for an
     * engine built with the cuda feature on a machine with an NVIDIA driver and cuDNN.
     * Without them the analyzer runs on the CPU; {@link #deviceNote()} then says why.
     */
    public static Analyzer load(File modelsDir, String device) {
        NativeLoader.load();
        String dir = modelsDir == null ? "" : modelsDir.getAbsolutePath();
        return new Analyzer(NativeBridge.loadAnalyzerOn(dir, device == null ? "cpu" : device), modelsDir);
    }

    /** Gives this object's hold on the native model back; closing twice is harmless. */
    @Override
    public void close() {
        if (closed.compareAndSet(false, true)) {
            NativeBridge.releaseAnalyzer(handle);
        }
    }

    private long handle() {
        if (closed.get()) {
            throw new StemSightException(StemSightException.Kind.InvalidParameter, "the analyzer is closed");
        }
        return handle;
    }

    /** Where inference runs: "cpu" or "cuda". */
    public String device() {
        Object d = infoField("device");
        return d == null ? "cpu" : d.toString();
    }

    /** Why the analyzer is not on the device it was asked for; empty when it is. */
    public String deviceNote() {
        Object n = infoField("device_note");
        return n == null ? "" : n.toString();
    }

    private Object infoField(String key) {
        Object info = Json.parse(modelInfo());
        return info instanceof java.util.Map ? ((java.util.Map<?, ?>) info).get(key) : null;
    }

    /** The engine's version string. */
    public static String engineVersion() {
        NativeLoader.load();
        return NativeBridge.version();
    }

    public File modelsDir() {
        return modelsDir;
    }

    /** The model card (name, sha256, pixel_size_angstrom, tile, classes, dir, device, device_note) as JSON. */
    public String modelInfo() {
        return NativeBridge.modelInfo(handle());
    }

    /**
     * Analyzes one single-channel image; the array is not modified.
     *
     * @param pixels            row-major, width × height values
     * @param pixelSizeAngstrom Å per pixel
     * @param options           null for the defaults
     * @param listener          null for none; see {@link ProgressListener}
     * @throws StemSightException with the engine's message on any failure
     */
    public AnalysisResult analyze(float[] pixels, int width, int height, double pixelSizeAngstrom,
            AnalysisOptions options, ProgressListener listener) {
        if (pixels == null) {
            throw new StemSightException(StemSightException.Kind.InvalidParameter, "pixels is null");
        }
        long n = (long) Math.max(width, 0) * Math.max(height, 0);
        // Maps are only allocated for a well-formed call; the native side re-checks everything.
        boolean sane = n == pixels.length && n > 0;
        byte[] poly = sane ? new byte[(int) n] : null;
        float[] carbon = sane ? new float[(int) n] : null;
        String json = NativeBridge.analyze(handle(), pixels, width, height, pixelSizeAngstrom,
                options == null ? "" : options.toJson(), listener, poly, carbon);
        return new AnalysisResult(new Report(json), width, height, poly, carbon);
    }

    /**
     * As {@link #analyze}, and writes the folder {@code stemsight analyze} writes for one
     * image into {@code folder} (replaced atomically when it exists). No maps are returned.
     *
     * @param readerWarnings what the file reader said (may be null); added to the report
     */
    public Report analyzeToFolder(float[] pixels, int width, int height, double pixelSizeAngstrom,
            AnalysisOptions options, ProgressListener listener, File folder, java.util.List<String> readerWarnings) {
        if (pixels == null || folder == null) {
            throw new StemSightException(StemSightException.Kind.InvalidParameter, pixels == null ? "pixels is null" : "folder is null");
        }
        String[] warnings = readerWarnings == null ? new String[0] : readerWarnings.toArray(new String[0]);
        String json = NativeBridge.analyzeToFolder(handle(), pixels, width, height, pixelSizeAngstrom,
                options == null ? "" : options.toJson(), listener, folder.getAbsolutePath(), warnings);
        return new Report(json);
    }

    /**
     * Finishes what interrupted writes left in a results folder (as the CLI does at the
     * start of a run); returns what could not be done, one line each, "" when nothing.
     */
    public static String recoverLeftovers(File folder) {
        NativeLoader.load();
        return NativeBridge.recoverLeftovers(folder.getAbsolutePath());
    }

    /** The smallest width and height (pixels) the engine analyzes. */
    public static int minSide() {
        return ((Number) limits().get("min_side")).intValue();
    }

    /** The pixel sizes (Å) the engine accepts, {lo, hi}. */
    public static double[] pixelSizeRange() {
        java.util.List<?> r = (java.util.List<?>) limits().get("pixel_size_range_angstrom");
        return new double[] {((Number) r.get(0)).doubleValue(), ((Number) r.get(1)).doubleValue()};
    }

    private static java.util.Map<?, ?> limits() {
        NativeLoader.load();
        return (java.util.Map<?, ?>) Json.parse(NativeBridge.limits());
    }
}
