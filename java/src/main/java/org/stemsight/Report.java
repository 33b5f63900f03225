package org.stemsight;

import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Map;

/** One image's report.json (CONTRACT.md), parsed; {@link #json} keeps the full text. */
public final class Report {
    public final String json;
    public final String toolVersion;
    public final String modelName;
    public final int width;
    public final int height;
    public final double pixelSizeAngstrom;
    public final List<Atom> atoms;
    public final List<Vacancy> vacancies;
    public final Summary summary;
    /** Class names by map index: 0 = vacuum, then 2H-1L, 2H-2L, 2H-3L, 3R-2L, 3R-3L, 1T. */
    public final List<String> polymorphClasses;
    public final Map<String, Double> polymorphFractions;
    public final Map<String, Double> polymorphFractionsClean;
    public final double vacuumFraction;
    public final double contaminatedFraction;
    /** Carbon map value × this = carbon thickness in Å. */
    public final double carbonScaleAngstrom;
    public final IntensityHistogram histogram;
    public final List<String> warnings;
    public final double totalMs;
    /** Lattice constant a measured on the columns (Å); NaN when too few form a lattice. */
    public final double latticeAngstrom;
    /** The pixel size at which a equals the chemistry's (Å/px); NaN when unknown. */
    public final double latticeImpliedPixelSize;
    /** Whether a disagrees with the chemistry's by more than 3 %: the calibration is suspect. */
    public final boolean calibrationSuspect;
    /** Where the pixel size came from: "argument", "file", "calibration" or "lattice". */
    public final String pixelSizeSource;
    /** Accelerating voltage the file recorded (kV); NaN when it says nothing. */
    public final double voltageKv;
    /** Detector of the image the file held ("" when it says nothing). */
    public final String detector;
    /** Which frame of its file this image is (0-based), and how many the file holds. */
    private final int frame;
    private final int frames;

    public Report(String json) {
        this.json = json;
        JsonFields f = new JsonFields(Json.parse(json));
        toolVersion = f.str("tool_version");
        List<JsonFields> models = f.objects("models");
        modelName = models.isEmpty() ? "" : models.get(0).str("name");
        JsonFields image = f.obj("image");
        width = image.integer("width");
        height = image.integer("height");
        pixelSizeAngstrom = image.num("pixel_size_angstrom");
        List<Atom> a = new ArrayList<Atom>();
        for (JsonFields o : f.objects("atoms")) {
            a.add(new Atom(o));
        }
        atoms = Collections.unmodifiableList(a);
        List<Vacancy> v = new ArrayList<Vacancy>();
        for (JsonFields o : f.objects("vacancies")) {
            v.add(new Vacancy(o));
        }
        vacancies = Collections.unmodifiableList(v);
        summary = new Summary(f.obj("summary"));
        JsonFields poly = f.obj("polymorph");
        polymorphClasses = Collections.unmodifiableList(poly.strings("classes"));
        polymorphFractions = Collections.unmodifiableMap(poly.numberMap("fractions"));
        polymorphFractionsClean = Collections.unmodifiableMap(poly.numberMap("fractions_clean"));
        vacuumFraction = poly.num("vacuum_fraction");
        JsonFields carbon = f.obj("carbon");
        contaminatedFraction = carbon.num("contaminated_fraction");
        double scale = carbon.num("scale_angstrom");
        carbonScaleAngstrom = Double.isNaN(scale) ? 10.0 : scale;
        histogram = new IntensityHistogram(f.obj("intensity_histogram"));
        warnings = Collections.unmodifiableList(f.strings("warnings"));
        totalMs = f.obj("timing_ms").num("total");
        JsonFields lattice = f.obj("lattice");
        latticeAngstrom = lattice.num("a_angstrom");
        latticeImpliedPixelSize = lattice.num("implied_pixel_size_angstrom");
        calibrationSuspect = lattice.bool("calibration_suspect");
        pixelSizeSource = image.str("pixel_size_source");
        JsonFields acquisition = image.obj("acquisition");
        voltageKv = acquisition.num("voltage_kv");
        detector = acquisition.str("detector");
        frame = image.integer("frame");
        frames = Math.max(1, image.integer("frames"));
    }

    /** The frame of its file this report is about (0-based). */
    public int frame() {
        return frame;
    }

    /** How many frames the file holds (1 for a single image). */
    public int frames() {
        return frames;
    }

    /** The most frequent polymorph among non-vacuum pixels, or "" when there is none. */
    public String dominantPolymorph() {
        String best = "";
        double bestFraction = 0;
        for (Map.Entry<String, Double> e : polymorphFractions.entrySet()) {
            if (!"vacuum".equals(e.getKey()) && e.getValue() > bestFraction) {
                best = e.getKey();
                bestFraction = e.getValue();
            }
        }
        return best;
    }
}
