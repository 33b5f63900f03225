// StemSight batch: analyze every image of a folder the way `stemsight analyze` does.
//
//   xvfb-run -a imagej -batch scripts/macros/stemsight_batch.ijm "/data/folder"
//   xvfb-run -a java -cp ij.jar ij.ImageJ -batch scripts/macros/stemsight_batch.ijm \
//       "/data/folder out=/tmp/summary.csv results=/tmp/results pixel_size=0.1 chemistry=WSe2"
//
// Options after the folder (all optional):
//   out=FILE          summary CSV (default: RESULTS/stemsight_summary.csv)
//   results=DIR       per-image result folders (default: FOLDER/stemsight_results)
//   pixel_size=A      Å/pixel for files without a calibration (calibrated files use theirs)
//   chemistry=C       MoS2 | WS2 | MoSe2 | WSe2: the lattice check (and, for files without
//                     a calibration and no pixel_size, the pixel size measured on the lattice)
//   redo              analyze again images whose result folder is complete
// A thin wrapper around Plugins > StemSight > Batch Analyze Folder..., which reads every
// format the engine reads (TIFF, PNG, Velox EMD, DM3/DM4, SER/EMI, MRC), writes per image
// the folder the command line writes (report.json, atoms.csv, vacancies.csv, polymorph.tif,
// carbon.tif, overlay.png; a stack as frame-NNNN/), skips finished images, and logs one
// line per image (analyzed, skipped, or FAILED with the reason).

arg = getArgument();
if (arg == "") exit("usage: -batch stemsight_batch.ijm \"FOLDER [out=FILE] [results=DIR] [pixel_size=A] [chemistry=C] [polymorphs=P] [redo]\"");
tokens = split(arg, " ");
folder = ""; options = "";
for (i = 0; i < tokens.length; i++) {
    t = tokens[i];
    if (startsWith(t, "out=")) options = options + " summary=[" + substring(t, 4) + "]";
    else if (startsWith(t, "results=")) options = options + " output=[" + substring(t, 8) + "]";
    else if (startsWith(t, "pixel_size=") || startsWith(t, "chemistry=") || startsWith(t, "polymorphs=")) options = options + " " + t;
    else if (t == "redo") options = options + " redo_finished_images";
    else if (startsWith(t, "command=")) print("StemSight batch: command= is no longer used; every task is run, as by stemsight analyze");
    else folder = folder + " " + t;
}
folder = String.trim(folder);
if (!File.isDirectory(folder)) exit("StemSight batch: not a folder: " + folder);
setBatchMode(true);
run("Batch Analyze Folder...", "folder=[" + folder + "]" + options);
