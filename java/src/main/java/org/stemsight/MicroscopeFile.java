package org.stemsight;

import java.io.File;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Map;

/**
 * A microscope file read by the engine's own readers (TIFF, PNG, Velox EMD, Gatan DM3/DM4,
 * FEI/Thermo SER/EMI, MRC): every frame as floats, the calibration in Å per pixel and what
 * the file says about the acquisition. The file is only read, never modified.
 */
public final class MicroscopeFile {
    public final File path;
    public final int width;
    public final int height;
    public final int frames;
    /** Å per pixel from the file's calibration; NaN when the file has none. */
    public final double pixelSizeAngstrom;
    /** {@code image.acquisition} of the report: voltage, detector, angles, dwell time… (JSON). */
    public final String acquisitionJson;
    /** Detector of the image read ("" when the file does not say). */
    public final String detector;
    /** Things the reader had to say (e.g. which of several detector images it read). */
    public final List<String> warnings;
    private final float[] pixels;

    private MicroscopeFile(File path, float[] pixels, String infoJson) {
        this.path = path;
        this.pixels = pixels;
        JsonFields info = new JsonFields(Json.parse(infoJson));
        width = info.integer("width");
        height = info.integer("height");
        frames = info.integer("frames");
        pixelSizeAngstrom = info.num("pixel_size_angstrom");
        Object acquisition = ((Map<?, ?>) Json.parse(infoJson)).get("acquisition");
        acquisitionJson = acquisition == null ? "{}" : Json.write(acquisition);
        detector = info.obj("acquisition").str("detector");
        warnings = Collections.unmodifiableList(new ArrayList<String>(info.strings("warnings")));
    }

    /**
     * Reads {@code path}; {@code detector} (null or "" for the HAADF, else e.g. "ADF1", "DF4")
     * picks one image of a multi-detector file.
     *
     * @throws StemSightException (Decode, Unsupported, InvalidParameter) with a one-line reason
     */
    public static MicroscopeFile read(File path, String detector) {
        if (path == null) {
            throw new StemSightException(StemSightException.Kind.InvalidParameter, "path is null");
        }
        NativeLoader.load();
        String[] info = new String[1];
        float[] pixels = NativeBridge.readImage(path.getAbsolutePath(), detector, info);
        return new MicroscopeFile(path, pixels, info[0]);
    }

    /** A copy of frame {@code k} (0-based), row-major. */
    public float[] frame(int k) {
        if (k < 0 || k >= frames) {
            throw new StemSightException(StemSightException.Kind.InvalidParameter, "frame " + k + " of " + frames);
        }
        int n = width * height;
        float[] out = new float[n];
        System.arraycopy(pixels, k * n, out, 0, n);
        return out;
    }

    /** The extensions the engine reads (lower case, without the dot). */
    public static final List<String> EXTENSIONS = Collections.unmodifiableList(java.util.Arrays.asList(
            "tif", "tiff", "png", "emd", "dm3", "dm4", "ser", "emi", "mrc"));
}
