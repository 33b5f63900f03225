package org.stemsight.fiji;

/**
 * The Help button of every StemSight dialog: what the command does, its macro keys and
 * where the full documentation is (fiji-plugin/README.md, also packed into StemSight_.jar).
 */
final class Help {
    /** The plugin's documentation: in the repository and inside the jar. */
    static final String DOCUMENTATION = "fiji-plugin/README.md (StemSight repository; also README.md inside StemSight_.jar)";

    private Help() {
    }

    static String forCommand(Command cmd) {
        StringBuilder b = new StringBuilder("<html><h3>StemSight \u2013 ").append(cmd.title).append("</h3>");
        b.append("<p>").append(what(cmd)).append("</p>");
        b.append("<p>One analysis per image and settings is kept: the other StemSight commands on the same "
                + "image show it without running the network again.</p>");
        b.append("<p><b>Macro keys</b>: atom_threshold, refinement, vacancy_threshold, include_contaminated_areas, "
                + "carbon_threshold, intensity_histogram, average_8_views, chemistry, "
                + "polymorphs (the only polymorphs the map may choose, e.g. polymorphs=2H-1L,1T; empty: all six), "
                + "dose (e\u207b/\u00c5\u00b2 of an image in detected electrons: the 2H layer count is then read "
                + "from the absolute signal and carbon patches from its excess; 0: unknown), voltage (kV), detector_inner, detector_outer (mrad; 0: "
                + "the file's; with them the 2H layer count is also checked against the columns' contrast), pixel_size_from_lattice, "
                + "pixel_size (uncalibrated images, \u00c5/pixel), add_to_roi_manager, vacancy_label_image, "
                + "show_maps, tint_image_with_maps (unticked: the tint is removed), all_slices. A key not given takes the engine's default; a macro never opens "
                + "this dialog.</p>");
        b.append("<p>Documentation: ").append(DOCUMENTATION).append("</p></html>");
        return b.toString();
    }

    static String forText(String title, String text) {
        return "<html><h3>" + title + "</h3><p>" + text + "</p><p>Documentation: " + DOCUMENTATION + "</p></html>";
    }

    private static String what(Command cmd) {
        switch (cmd) {
            case ATOMS:
                return "Finds the atom columns: an overlay of points per site, the table "
                        + "<i>StemSight Atoms - image</i> and an intensity histogram.";
            case VACANCIES:
                return "Finds sulfur vacancies (VS1: one S missing, VS2: both): circles on the overlay, "
                        + "the table <i>StemSight Vacancies - image</i>; statistics leave contaminated areas out.";
            case POLYMORPH:
                return "Maps the stacking polymorph (2H-1L \u2026 1T) of every pixel: an 8-bit label image "
                        + "with a LUT and a legend beside the data.";
            case CARBON:
                return "Maps amorphous-carbon contamination: a 32-bit thickness map in \u00c5 with a "
                        + "calibration bar beside the data.";
            default:
                return "All of Find Atoms, Detect Vacancies, Identify Polymorphs and Map Carbon Contamination.";
        }
    }
}
