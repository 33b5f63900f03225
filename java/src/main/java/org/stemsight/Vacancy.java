package org.stemsight;

/** One sulfur vacancy; coordinates as in {@link Atom}. */
public final class Vacancy {
    public final double x;
    public final double y;
    public final double xAngstrom;
    public final double yAngstrom;
    /** "VS1" (one S missing from a column) or "VS2" (both). */
    public final String type;
    public final double confidence;
    public final boolean inContaminatedArea;
    public final double normalizedIntensity;
    public final String polymorph;

    Vacancy(JsonFields f) {
        x = f.num("x");
        y = f.num("y");
        xAngstrom = f.num("x_A");
        yAngstrom = f.num("y_A");
        type = f.str("type");
        confidence = f.num("confidence");
        inContaminatedArea = f.bool("in_contaminated_area");
        normalizedIntensity = f.num("normalized_intensity");
        polymorph = f.str("polymorph");
    }

    public double imageJX() {
        return x + 0.5;
    }

    public double imageJY() {
        return y + 0.5;
    }
}
