// End-to-end test of the StemSight plugin in ImageJ (run by scripts/test_java.sh).
// Argument: "IMAGE|OUTDIR|n_atoms|n_mo|n_s2_sites|n_vs1|n_vs2", the numbers from
// `stemsight analyze` on the same image (default settings: all tasks, carbon filter on).
// Writes OUTDIR/e2e_result.txt ("PASS" or the failures) and OUTDIR/fiji_overlay.png.

var failures = "";
var outdir = "";

a = split(getArgument(), "|");
image = a[0]; outdir = a[1];
expAtoms = parseInt(a[2]); expMo = parseInt(a[3]); expS2 = parseInt(a[4]);
expVs1 = parseInt(a[5]); expVs2 = parseInt(a[6]);

open(image);
id = getImageID();
title = getTitle();
getStatistics(area, meanBefore, minBefore, maxBefore, stdBefore);
getPixelSize(unit, pw, ph);
print("e2e: " + title + " " + getWidth() + "x" + getHeight() + " pixel " + pw + " " + unit);

// A user ROI in the ROI Manager must survive every command.
makeRectangle(10, 10, 20, 20);
roiManager("reset");
roiManager("add");
run("Select None");

// 1. Find Atoms: atom count equals the CLI's.
run("Find Atoms", "atom_threshold=0.35 refinement=centroid intensity_histogram");
// The histogram plot is now the active image, as plots are in ImageJ.
if (!(getTitle() != title)) fail("no intensity histogram plot");
selectImage(id);
if (!(isOpen("StemSight Atoms"))) fail("no StemSight Atoms table");
if (!(Table.size("StemSight Atoms") == expAtoms)) fail("atoms " + Table.size("StemSight Atoms") + " != CLI " + expAtoms);
if (!(Overlay.size > 0)) fail("no overlay after Find Atoms");
rows = Table.size("StemSight Summary");
if (!(rows == 1)) fail("summary rows " + rows + " != 1");
// ImageJ convention: pixel centres at c + 0.5, so every X lies in (0, width].
x0 = Table.get("X", 0, "StemSight Atoms");
if (!(x0 > 0 && x0 <= getWidth())) fail("X out of range: " + x0);

// 2. Detect Vacancies.
run("Detect Vacancies", "atom_threshold=0.35 refinement=centroid vacancy_threshold=0.5 carbon_threshold=0.3");
if (!(Table.size("StemSight Summary") == 2)) exit(abort("Detect Vacancies added no summary row"));
if (!(isOpen("StemSight Vacancies"))) fail("no StemSight Vacancies table");
if (!(Table.get("n_VS1", 1, "StemSight Summary") == expVs1)) fail("Detect Vacancies n_VS1 " + Table.get("n_VS1", 1, "StemSight Summary") + " != CLI " + expVs1);
if (!(Table.get("n_VS2", 1, "StemSight Summary") == expVs2)) fail("Detect Vacancies n_VS2 != CLI " + expVs2);
if (!(Table.size("StemSight Vacancies") >= expVs1 + expVs2)) fail("vacancy table shorter than counts");

// 3. Identify Polymorphs: a class map with a LUT.
n = nImages;
run("Identify Polymorphs", "");
if (!(nImages == n + 1)) fail("no polymorph map");
if (nImages == n + 1) {
    if (!(bitDepth() == 8)) fail("polymorph map is not 8-bit");
    getMinAndMax(lo, hi);
    if (!(hi <= 6 || hi == 255)) fail("polymorph map range " + hi);
    info = getMetadata("Info");
    if (!(indexOf(info, "2H-1L") >= 0)) fail("polymorph class names missing from Info");
    close();
}
selectImage(id);

// 4. Map Carbon Contamination: a 32-bit map in Å.
n = nImages;
run("Map Carbon Contamination", "carbon_threshold=0.3");
if (!(nImages == n + 1)) fail("no carbon map");
if (nImages == n + 1) {
    if (!(bitDepth() == 32)) fail("carbon map is not 32-bit");
    close();
}
selectImage(id);

// 5. Analyze All: the CLI's counts, every table, both maps; the summary accumulates.
n = nImages;
run("Analyze All", "atom_threshold=0.35 refinement=centroid vacancy_threshold=0.5 carbon_threshold=0.3 intensity_histogram show_maps");
if (!(Table.size("StemSight Summary") == 5)) exit(abort("Analyze All added no summary row"));
r = Table.size("StemSight Summary") - 1;
if (!(r == 4)) fail("summary did not accumulate (last row " + r + ")");
if (!(Table.get("n_Mo", r, "StemSight Summary") == expMo)) fail("n_Mo " + Table.get("n_Mo", r, "StemSight Summary") + " != CLI " + expMo);
if (!(Table.get("n_S2_sites", r, "StemSight Summary") == expS2)) fail("n_S2_sites != CLI " + expS2);
if (!(Table.get("n_VS1", r, "StemSight Summary") == expVs1)) fail("n_VS1 != CLI " + expVs1);
if (!(Table.get("n_VS2", r, "StemSight Summary") == expVs2)) fail("n_VS2 != CLI " + expVs2);
if (!(nImages >= n + 2)) fail("Analyze All did not show both maps (+" + (nImages - n) + " images)");
selectImage(id);
if (!(Overlay.size > 0)) fail("no overlay after Analyze All");

// Input pixels untouched, ROI Manager untouched.
getStatistics(area, meanAfter, minAfter, maxAfter, stdAfter);
if (!(meanAfter == meanBefore && stdAfter == stdBefore && minAfter == minBefore)) fail("input pixels changed");
if (!(roiManager("count") == 1)) fail("ROI Manager changed: " + roiManager("count"));

// Screenshot of the image with its overlay.
run("Flatten");
// Twice the size, so that the points are visible in the CI artefact.
run("Size...", "width=" + (2 * getWidth()) + " height=" + (2 * getHeight()) + " interpolation=None");
saveAs("PNG", outdir + "/fiji_overlay.png");
close();
selectImage(id);

// 6. Calibration in nm gives the same atoms as in Å; no calibration + pixel_size too.
run("Properties...", "unit=nm pixel_width=" + (pw / 10) + " pixel_height=" + (ph / 10));
run("Find Atoms", "atom_threshold=0.35 refinement=centroid");
if (!(Table.size("StemSight Atoms") == expAtoms)) fail("nm calibration: atoms " + Table.size("StemSight Atoms"));
run("Properties...", "unit=pixel pixel_width=1 pixel_height=1");
run("Find Atoms", "atom_threshold=0.35 refinement=centroid pixel_size=" + pw);
if (!(Table.size("StemSight Atoms") == expAtoms)) fail("pixel_size option: atoms " + Table.size("StemSight Atoms"));
run("Properties...", "unit=" + unit + " pixel_width=" + pw + " pixel_height=" + ph);

// 7. Other bit depths and stacks run (16-bit keeps the values of this image's range only
//    approximately, so only success and non-empty tables are checked).
selectImage(id);
run("Duplicate...", "title=copy16");
run("16-bit");
rows = Table.size("StemSight Summary");
run("Find Atoms", "atom_threshold=0.35 refinement=centroid");
if (!(Table.size("StemSight Summary") == rows + 1)) fail("16-bit image not analyzed");
close();
selectImage(id);
run("Duplicate...", "title=copy8");
run("8-bit");
rows = Table.size("StemSight Summary");
run("Find Atoms", "atom_threshold=0.35 refinement=centroid");
if (!(Table.size("StemSight Summary") == rows + 1)) fail("8-bit image not analyzed");
close();
selectImage(id);
run("Duplicate...", "title=zzslice1");
selectImage(id);
run("Duplicate...", "title=zzslice2");
run("Images to Stack", "name=pair title=zzslice use");
run("Properties...", "unit=" + unit + " pixel_width=" + pw + " pixel_height=" + ph);
rows = Table.size("StemSight Summary");
run("Find Atoms", "atom_threshold=0.35 refinement=centroid all_slices");
if (!(Table.size("StemSight Summary") == rows + 2)) fail("stack: expected 2 summary rows");
if (!(Table.size("StemSight Atoms") == 2 * expAtoms)) fail("stack: atoms " + Table.size("StemSight Atoms") + " != 2 x " + expAtoms);
rows = Table.size("StemSight Summary");
run("Find Atoms", "atom_threshold=0.35 refinement=centroid");
if (!(Table.size("StemSight Summary") == rows + 1)) fail("stack: current slice only expected");
close();

logText = getInfo("log");
if (!(indexOf(logText, "StemSight error") < 0)) fail("errors in the Log");
if (failures == "") result = "PASS"; else result = "FAIL" + failures;
File.saveString(result + "\n", outdir + "/e2e_result.txt");
print("e2e: " + result);

// Writes the result file before stopping, so the test script reports why.
function abort(message) {
    fail(message);
    File.saveString("FAIL" + failures + "\n", outdir + "/e2e_result.txt");
    return "e2e: FAIL" + failures;
}

function fail(message) {
    failures = failures + "\n  - " + message;
    print("e2e check failed: " + message);
}
