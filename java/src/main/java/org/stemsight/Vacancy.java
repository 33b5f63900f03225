package org.stemsight;

/** One sulfur vacancy; coordinates as in {@link Atom}. */
public final class Vacancy {
    public final double x;
    public final double y;
    public final double xAngstrom;
    public final double yAngstrom;
    /** "VS1" (one S missing from a column) or "VS2" (both). */
    public final String type;
    /** The type in the report's chemistry ("VSe1" for WSe2's VS1); "" when the report has none. */
    public final String species;
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
        species = f.str("species");
        confidence = f.num("confidence");
        inContaminatedArea = f.bool("in_contaminated_area");
        normalizedIntensity = f.num("normalized_intensity");
        polymorph = f.str("polymorph");
    }

    /** What to call the vacancy: {@link #species} when the report gives it, else {@link #type}. */
    public String label() {
        return species.isEmpty() ? type : species;
    }

    public double imageJX() {
        return x + 0.5;
    }

    public double imageJY() {
        return y + 0.5;
    }
}
