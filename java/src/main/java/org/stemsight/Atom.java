package org.stemsight;

/**
 * One atom column. {@code x, y} are in input pixels, numpy convention (pixel (row r,
 * column c) has its centre at x = c, y = r); {@link #imageJX()} / {@link #imageJY()} give
 * ImageJ's convention, where that centre is (c + 0.5, r + 0.5).
 */
public final class Atom {
    public final double x;
    public final double y;
    public final double xAngstrom;
    public final double yAngstrom;
    /** "Mo", "S2", "S", "Mo+S2", ... as in report.json. */
    public final String site;
    /** The column's atoms for the chemistry ("W", "Se2", "W+Se2"); "" when the report has none. */
    public final String species;
    public final double intensity;
    /** Intensity over the local median of chalcogen columns (S2 = 1); NaN when unknown. */
    public final double normalizedIntensity;
    public final String polymorph;
    public final double score;
    public final boolean inContaminatedArea;

    Atom(JsonFields f) {
        x = f.num("x");
        y = f.num("y");
        xAngstrom = f.num("x_A");
        yAngstrom = f.num("y_A");
        site = f.str("site");
        species = f.str("species");
        intensity = f.num("intensity");
        normalizedIntensity = f.num("normalized_intensity");
        polymorph = f.str("polymorph");
        score = f.num("score");
        inContaminatedArea = f.bool("in_contaminated_area");
    }

    /** What to call the column: {@link #species} when the report gives it, else {@link #site}. */
    public String label() {
        return species.isEmpty() ? site : species;
    }

    public double imageJX() {
        return x + 0.5;
    }

    public double imageJY() {
        return y + 0.5;
    }
}
