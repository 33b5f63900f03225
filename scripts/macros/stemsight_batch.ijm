// StemSight batch: analyze every image of a folder, write one summary CSV.
//
//   xvfb-run -a imagej -batch scripts/macros/stemsight_batch.ijm "/data/folder"
//   xvfb-run -a java -cp ij.jar ij.ImageJ -batch scripts/macros/stemsight_batch.ijm \
//       "/data/folder out=/tmp/summary.csv pixel_size=0.1 command=all"
//
// Options after the folder (all optional):
//   out=FILE          summary CSV (default: FOLDER/stemsight_summary.csv)
//   pixel_size=A      Å/pixel for images without a calibration (calibrated images use theirs)
//   command=C         all | atoms | vacancies | polymorph | carbon   (default: all)
// Formats: TIFF and PNG open in ImageJ; DM3/DM4, SER/EMI, Velox EMD and MRC open through
// the engine's readers (Plugins > StemSight > Open Microscope File), with the file's
// calibration and acquisition metadata (a .ser beside its .emi is read once, via the .emi).
// Stacks: every slice is analyzed (one summary row each). Images that fail are listed in
// the Log and the macro goes on with the next one.

arg = getArgument();
if (arg == "") exit("usage: -batch stemsight_batch.ijm \"FOLDER [out=FILE] [pixel_size=A] [command=C]\"");
tokens = split(arg, " ");
folder = ""; out = ""; pixelSize = ""; command = "all";
for (i = 0; i < tokens.length; i++) {
    t = tokens[i];
    if (startsWith(t, "out=")) out = substring(t, 4);
    else if (startsWith(t, "pixel_size=")) pixelSize = substring(t, 11);
    else if (startsWith(t, "command=")) command = substring(t, 8);
    else folder = folder + " " + t;
}
folder = String.trim(folder);
if (!endsWith(folder, File.separator)) folder = folder + File.separator;
if (!File.isDirectory(folder)) exit("StemSight batch: not a folder: " + folder);
if (out == "") out = folder + "stemsight_summary.csv";

names = newArray("all", "atoms", "vacancies", "polymorph", "carbon");
menu = newArray("Analyze All", "Find Atoms", "Detect Vacancies", "Identify Polymorphs", "Map Carbon Contamination");
cmd = "";
for (i = 0; i < names.length; i++) if (names[i] == command) cmd = menu[i];
if (cmd == "") exit("StemSight batch: unknown command=" + command);

options = "all_slices";
if (pixelSize != "") options = options + " pixel_size=" + pixelSize;

setBatchMode(true);
files = getFileList(folder);
done = 0; failed = 0;
for (i = 0; i < files.length; i++) {
    name = files[i];
    lower = toLowerCase(name);
    ext = substring(lower, lastIndexOf(lower, ".") + 1);
    // (The macro language compares strings only inside conditions.)
    byImageJ = false; byEngine = false;
    if (ext == "tif" || ext == "tiff" || ext == "png") byImageJ = true;
    if (ext == "dm3" || ext == "dm4" || ext == "emd" || ext == "emi" || ext == "mrc" || ext == "ser") byEngine = true;
    if (!(byImageJ || byEngine)) continue;
    if (ext == "ser" && hasEmi(folder, name)) continue;
    rowsBefore = summaryRows();
    imagesBefore = nImages;
    if (byImageJ) open(folder + name);
    else run("Open Microscope File...", "path=[" + folder + name + "]");
    if (nImages > imagesBefore) run(cmd, options);
    run("Close All");
    if (summaryRows() > rowsBefore) {
        done++;
    } else {
        failed++;
        print("StemSight batch: FAILED " + name + " (see the messages above)");
    }
}
if (done > 0) {
    Table.save(out, "StemSight Summary");
    print("StemSight batch: " + done + " image(s) analyzed, " + failed + " failed; summary: " + out);
} else {
    print("StemSight batch: no image analyzed in " + folder + " (" + failed + " failed)");
}

// Whether a TIA series file `<stem>_N.ser` has its `<stem>.emi` beside it.
function hasEmi(folder, name) {
    cut = lastIndexOf(name, "_");
    if (cut <= 0) return false;
    stem = substring(name, 0, cut);
    if (File.exists(folder + stem + ".emi") || File.exists(folder + stem + ".EMI")) return true;
    return false;
}

function summaryRows() {
    if (!isOpen("StemSight Summary")) return 0;
    return Table.size("StemSight Summary");
}
