// Window behaviour with real image windows (run by scripts/test_java.sh with -macro, not
// -batch): each command leaves its source image the current one; a rerun replaces maps and
// plots instead of opening more windows. Argument: "IMAGE|OUTDIR"; writes OUTDIR/windows_result.txt.

var failures = "";
a = split(getArgument(), "|");
open(a[0]);
title = getTitle();
short = File.nameWithoutExtension;
for (k = 0; k < 2; k++) {
    run("Find Atoms", "include_contaminated_areas intensity_histogram");
    if (getTitle() != title) fail("after Find Atoms the current image is '" + getTitle() + "'");
    run("Analyze All", "show_maps");
    if (getTitle() != title) fail("after Analyze All the current image is '" + getTitle() + "'");
    run("Identify Polymorphs", "");
    if (getTitle() != title) fail("after Identify Polymorphs the current image is '" + getTitle() + "'");
}
// The user can still select another window afterwards (the command leaves no lock on its source).
selectWindow(short + " polymorphs");
if (getTitle() != short + " polymorphs") fail("selectWindow after a command gives '" + getTitle() + "'");
selectWindow(title);
titles = getList("image.titles");
list = "";
for (i = 0; i < titles.length; i++) list = list + " [" + titles[i] + "]";
if (titles.length != 4) fail(titles.length + " image windows, expected the image, the plot and 2 maps:" + list);
result = "PASS";
if (failures != "") result = "FAIL" + failures;
File.saveString(result + "\n", a[1] + "/windows_result.txt");
print("windows: " + result);
run("Quit");

function fail(message) {
    failures = failures + "\n  - " + message;
    print("windows check failed: " + message);
}
