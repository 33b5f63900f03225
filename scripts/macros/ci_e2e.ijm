// End-to-end test of the StemSight plugin in ImageJ (run by scripts/test_java.sh).
// Argument: "IMAGE|OUTDIR|n_atoms|n_mo|n_s2_sites|n_vs1|n_vs2", the numbers from
// `stemsight analyze` on the same image (default settings: all tasks, carbon filter on).
// Writes OUTDIR/e2e_result.txt ("PASS" or the failures) and the screenshots
// OUTDIR/fiji_overlay.png, fiji_polymorph_map.png, fiji_carbon_map.png, fiji_carbon_tint.png,
// fiji_about.png.

var failures = "";
var outdir = "";

a = split(getArgument(), "|");
image = a[0]; outdir = a[1];
expAtoms = parseInt(a[2]); expMo = parseInt(a[3]); expS2 = parseInt(a[4]);
expVs1 = parseInt(a[5]); expVs2 = parseInt(a[6]);

open(image);
id = getImageID();
title = getTitle();
w0 = getWidth();
getStatistics(area, meanBefore, minBefore, maxBefore, stdBefore);
getPixelSize(unit, pw, ph);
print("e2e: " + title + " " + getWidth() + "x" + getHeight() + " pixel " + pw + " " + unit);

// A user ROI in the ROI Manager must survive every command.
makeRectangle(10, 10, 20, 20);
roiManager("reset");
roiManager("add");
run("Select None");

atomsT = "StemSight Atoms - " + title;
vacT = "StemSight Vacancies - " + title;
short = File.nameWithoutExtension;
cache = "org.stemsight.fiji.AnalysisCache";

// 1. Find Atoms (contaminated areas included, so the histogram has every column): the
//    CLI's atom count; the plot is replaced on a rerun; the source stays the current image.
for (k = 0; k < 2; k++)
    run("Find Atoms", "atom_threshold=0.35 refinement=combined include_contaminated_areas intensity_histogram");
if (!(getTitle() == title)) fail("after Find Atoms the current image is '" + getTitle() + "', not the source");
if (!(countTitle(short + " intensity histogram") == 1)) fail(countTitle(short + " intensity histogram") + " intensity histogram plots, expected 1");
selectImage(id);
if (!(isOpen(atomsT))) fail("no table " + atomsT);
if (!(Table.size(atomsT) == expAtoms)) fail("atoms " + Table.size(atomsT) + " != CLI " + expAtoms);
if (!(Overlay.size > 0)) fail("no overlay after Find Atoms");
rows = Table.size("StemSight Summary");
if (!(rows == 2)) fail("summary rows " + rows + " != 2");
// ImageJ convention: pixel centres at c + 0.5, so every X lies in (0, width].
x0 = Table.get("X_px", 0, atomsT);
if (!(x0 > 0 && x0 <= getWidth())) fail("X_px out of range: " + x0);

// 2. Detect Vacancies (CLI defaults: contaminated areas left out) gives the CLI's counts;
//    Find Atoms with the same settings then reuses its analysis: no network run.
run("Detect Vacancies", "atom_threshold=0.35 refinement=combined vacancy_threshold=0.5 carbon_threshold=0.3");
if (!(Table.size("StemSight Summary") == 3)) exit(abort("Detect Vacancies added no summary row"));
if (!(isOpen(vacT))) fail("no table " + vacT);
if (!(Table.get("n_VS1", 2, "StemSight Summary") == expVs1)) fail("Detect Vacancies n_VS1 " + Table.get("n_VS1", 2, "StemSight Summary") + " != CLI " + expVs1);
if (!(Table.get("n_VS2", 2, "StemSight Summary") == expVs2)) fail("Detect Vacancies n_VS2 != CLI " + expVs2);
if (!(Table.size(vacT) >= expVs1 + expVs2)) fail("vacancy table shorter than counts");
runs = parseInt(call(cache + ".networkRuns"));
run("Find Atoms", "atom_threshold=0.35 refinement=combined");
if (!(parseInt(call(cache + ".networkRuns")) == runs)) fail("Find Atoms after Detect Vacancies ran the network again");
if (!(Table.get("n_Mo", 3, "StemSight Summary") == expMo)) fail("Find Atoms n_Mo != CLI " + expMo);

// 3. Compute once, show many: Detect Vacancies -> Identify Polymorphs -> Map Carbon
//    Contamination, no selection in between (each acts on the source), one network run;
//    a macro call without options opens no dialog.
call(cache + ".clear");
runs = parseInt(call(cache + ".networkRuns"));
n = nImages;
run("Detect Vacancies", "atom_threshold=0.35 refinement=combined vacancy_threshold=0.5 carbon_threshold=0.3");
if (!(getTitle() == title)) fail("after Detect Vacancies the current image is '" + getTitle() + "'");
run("Identify Polymorphs", "");
if (!(getTitle() == title)) fail("after Identify Polymorphs the current image is '" + getTitle() + "'");
run("Map Carbon Contamination", "");
if (!(getTitle() == title)) fail("after Map Carbon Contamination the current image is '" + getTitle() + "'");
ran = parseInt(call(cache + ".networkRuns")) - runs;
if (!(ran == 1)) fail("three commands ran the network " + ran + " times, expected once");
if (!(nImages == n + 2)) fail("expected the polymorph and carbon maps (+" + (nImages - n) + " images)");
if (!(Table.size("StemSight Summary") == 7)) exit(abort("the three commands did not add 3 summary rows"));
if (!(countTitle(short + " polymorphs") == 1)) fail("no polymorph map");
if (countTitle(short + " polymorphs") == 1) {
    selectImage(short + " polymorphs");
    if (!(bitDepth() == 8)) fail("polymorph map is not 8-bit");
    if (!(indexOf(getMetadata("Info"), "2H-1L") >= 0)) fail("polymorph class names missing from Info");
    // The legend lies beside the data: the map is wider than the image.
    if (!(getWidth() > w0)) fail("polymorph map has no legend strip");
    if (!(Overlay.size > 0)) fail("polymorph map has no legend");
}
carbonTitle = findTitle(short + " carbon");
if (carbonTitle == "") fail("no carbon map");
else {
    selectImage(carbonTitle);
    if (!(bitDepth() == 32)) fail("carbon map is not 32-bit");
    if (!(Overlay.size > 0)) fail("carbon map has no calibration bar");
}
selectImage(id);

// Tints: the carbon map over the image as an overlay, toggled by the option.
ov = Overlay.size;
run("Map Carbon Contamination", "tint_image_with_maps");
if (!(Overlay.size == ov + 1)) fail("tint_image_with_maps added " + (Overlay.size - ov) + " overlay elements, expected 1");
run("Flatten");
saveAs("PNG", outdir + "/fiji_carbon_tint.png");
close();
selectImage(id);
run("Map Carbon Contamination", "");
if (!(Overlay.size == ov)) fail("the carbon tint was not removed");

// 4. Analyze All, twice: the CLI's counts; maps and plot replaced, not duplicated.
run("Analyze All", "atom_threshold=0.35 refinement=combined vacancy_threshold=0.5 carbon_threshold=0.3 show_maps");
n = nImages;
run("Analyze All", "atom_threshold=0.35 refinement=combined vacancy_threshold=0.5 carbon_threshold=0.3 show_maps");
if (!(nImages == n)) fail("second Analyze All changed the number of images: " + n + " -> " + nImages);
if (!(getTitle() == title)) fail("after Analyze All the current image is '" + getTitle() + "'");
if (!(countTitle(short + " polymorphs") == 1)) fail(countTitle(short + " polymorphs") + " polymorph maps after two runs");
if (!(countTitle(carbonTitle) == 1)) fail(countTitle(carbonTitle) + " carbon maps after two runs");
selectImage(id);
r = Table.size("StemSight Summary") - 1;
if (!(r == 10)) fail("summary did not accumulate (last row " + r + ")");
if (!(Table.get("n_Mo", r, "StemSight Summary") == expMo)) fail("n_Mo " + Table.get("n_Mo", r, "StemSight Summary") + " != CLI " + expMo);
if (!(Table.get("n_S2_sites", r, "StemSight Summary") == expS2)) fail("n_S2_sites " + Table.get("n_S2_sites", r, "StemSight Summary") + " != CLI " + expS2);
if (!(Table.get("n_VS1", r, "StemSight Summary") == expVs1)) fail("n_VS1 != CLI " + expVs1);
if (!(Table.get("n_VS2", r, "StemSight Summary") == expVs2)) fail("n_VS2 != CLI " + expVs2);
if (!(Overlay.size > 0)) fail("no overlay after Analyze All");

// Input pixels untouched, ROI Manager untouched.
getStatistics(area, meanAfter, minAfter, maxAfter, stdAfter);
if (!(meanAfter == meanBefore && stdAfter == stdBefore && minAfter == minBefore)) fail("input pixels changed");
if (!(roiManager("count") == 1)) fail("ROI Manager changed: " + roiManager("count"));

// Screenshots: the image with its overlay, the maps with their legends (twice the size).
run("Flatten");
run("Size...", "width=" + (2 * getWidth()) + " height=" + (2 * getHeight()) + " interpolation=None");
saveAs("PNG", outdir + "/fiji_overlay.png");
close();
shots = newArray(short + " polymorphs", carbonTitle);
names = newArray("fiji_polymorph_map.png", "fiji_carbon_map.png");
for (i = 0; i < shots.length; i++) {
    if (shots[i] != "" && isOpen(shots[i])) {
        selectImage(shots[i]);
        run("Flatten");
        run("Size...", "width=" + (2 * getWidth()) + " height=" + (2 * getHeight()) + " interpolation=None");
        saveAs("PNG", outdir + "/" + names[i]);
        close();
    }
}
selectImage(id);

// 5. ROI Manager export: one point per table row, the user's ROI kept; vacancy label image.
run("Analyze All", "atom_threshold=0.35 refinement=combined vacancy_threshold=0.5 carbon_threshold=0.3 add_to_roi_manager vacancy_label_image");
expected = 1 + Table.size(atomsT) + Table.size(vacT);
if (!(roiManager("count") == expected)) fail("ROI Manager has " + roiManager("count") + " ROIs, expected 1 + " + (expected - 1) + " table rows");
roiManager("select", 0);
getSelectionBounds(rx, ry, rw, rh);
if (!(rx == 10 && ry == 10 && rw == 20 && rh == 20)) fail("the pre-existing ROI did not survive");
roiManager("deselect");
run("Select None");
if (!(isOpen(short + " vacancy labels"))) fail("no vacancy label image");
else {
    selectImage(short + " vacancy labels");
    getStatistics(area, mean, min, max);
    if (!(max == Table.size(vacT))) fail("vacancy label image max " + max + " != " + Table.size(vacT) + " vacancies");
    close();
}
selectImage(id);

// 6. Calibration in nm gives the same atoms as in Å; no calibration + pixel_size too.
run("Properties...", "unit=nm pixel_width=" + (pw / 10) + " pixel_height=" + (ph / 10));
run("Find Atoms", "atom_threshold=0.35 refinement=combined");
if (!(Table.size(atomsT) == expAtoms)) fail("nm calibration: atoms " + Table.size(atomsT));
run("Properties...", "unit=pixel pixel_width=1 pixel_height=1");
run("Find Atoms", "atom_threshold=0.35 refinement=combined pixel_size=" + pw);
if (!(Table.size(atomsT) == expAtoms)) fail("pixel_size option: atoms " + Table.size(atomsT));
run("Properties...", "unit=" + unit + " pixel_width=" + pw + " pixel_height=" + ph);

// Site names follow the chemistry (the report's species), and the report's warnings are a
// Summary column: WSe2's lattice constant does not fit this simulated MoS2 image.
run("Find Atoms", "atom_threshold=0.35 refinement=combined chemistry=WSe2");
site = Table.getString("Site", 0, atomsT);
if (!(indexOf(site, "W") >= 0 || indexOf(site, "Se") >= 0)) fail("chemistry=WSe2: site named '" + site + "'");
r = Table.size("StemSight Summary") - 1;
if (!(Table.getString("Warnings", r, "StemSight Summary") != "")) fail("no warnings in the Summary for a lattice mismatch");

// 7. Other bit depths and stacks run (16-bit keeps the values of this image's range only
//    approximately, so only success and non-empty tables are checked).
selectImage(id);
run("Duplicate...", "title=copy16");
run("16-bit");
rows = Table.size("StemSight Summary");
run("Find Atoms", "atom_threshold=0.35 refinement=combined");
if (!(Table.size("StemSight Summary") == rows + 1)) fail("16-bit image not analyzed");
close();
selectImage(id);
run("Duplicate...", "title=copy8");
run("8-bit");
rows = Table.size("StemSight Summary");
run("Find Atoms", "atom_threshold=0.35 refinement=combined");
if (!(Table.size("StemSight Summary") == rows + 1)) fail("8-bit image not analyzed");
close();
selectImage(id);
run("Duplicate...", "title=zzslice1");
selectImage(id);
run("Duplicate...", "title=zzslice2");
run("Images to Stack", "name=pair title=zzslice use");
run("Properties...", "unit=" + unit + " pixel_width=" + pw + " pixel_height=" + ph);
rows = Table.size("StemSight Summary");
run("Find Atoms", "atom_threshold=0.35 refinement=combined all_slices");
if (!(Table.size("StemSight Summary") == rows + 2)) fail("stack: expected 2 summary rows");
if (!(Table.size("StemSight Atoms - pair") == 2 * expAtoms)) fail("stack: atoms " + Table.size("StemSight Atoms - pair") + " != 2 x " + expAtoms);
rows = Table.size("StemSight Summary");
run("Find Atoms", "atom_threshold=0.35 refinement=combined");
if (!(Table.size("StemSight Summary") == rows + 1)) fail("stack: current slice only expected");
close();

// 8. Inputs checked before any dialog: an RGB image is refused (the message goes to the
//    Log, which in -batch is stdout: scripts/test_java.sh checks it), no row added.
rows = Table.size("StemSight Summary");
newImage("rgb", "RGB black", 64, 64, 1);
run("Find Atoms", "");
if (!(Table.size("StemSight Summary") == rows)) fail("RGB image analyzed");
close();

// 9. About: a readable window (screenshot of the screen, the window centred on it).
run("About StemSight...");
wait(1500);
run("Capture Screen");
saveAs("PNG", outdir + "/fiji_about.png");
close();
if (failures == "") result = "PASS"; else result = "FAIL" + failures;
File.saveString(result + "\n", outdir + "/e2e_result.txt");
print("e2e: " + result);

// Writes the result file before stopping, so the test script reports why.
function abort(message) {
    fail(message);
    File.saveString("FAIL" + failures + "\n", outdir + "/e2e_result.txt");
    return "e2e: FAIL" + failures;
}

// How many open images have exactly this title.
function countTitle(t) {
    c = 0;
    for (i = 1; i <= nImages; i++) {
        selectImage(i);
        if (getTitle() == t) c++;
    }
    return c;
}

// The title of the open image whose title starts with prefix, or "".
function findTitle(prefix) {
    for (i = 1; i <= nImages; i++) {
        selectImage(i);
        if (startsWith(getTitle(), prefix)) return getTitle();
    }
    return "";
}

function fail(message) {
    failures = failures + "\n  - " + message;
    print("e2e check failed: " + message);
}
