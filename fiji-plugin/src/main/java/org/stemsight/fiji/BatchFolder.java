package org.stemsight.fiji;

import ij.IJ;
import ij.gui.GenericDialog;
import ij.measure.ResultsTable;
import ij.plugin.PlugIn;
import java.io.File;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashSet;
import java.util.List;
import java.util.Locale;
import java.util.Set;
import org.stemsight.AnalysisOptions;
import org.stemsight.Analyzer;
import org.stemsight.MicroscopeFile;
import org.stemsight.Report;
import org.stemsight.StemSightException;

/**
 * Plugins > StemSight > Batch Analyze Folder...: every image of a folder that the engine
 * reads (TIFF, PNG, Velox EMD, DM3/DM4, SER/EMI, MRC; a .ser beside its .emi once), each
 * into the folder {@code stemsight analyze} writes ({@code OUTPUT/<stem>/}, a stack as
 * {@code frame-NNNN/}: report.json, atoms.csv, vacancies.csv, polymorph.tif, carbon.tif,
 * overlay.png…, written atomically by the engine), plus one summary CSV. Resumes: an image
 * whose folder is complete is not analyzed again (its row comes from its report.json).
 * One Log line per image: done, skipped, or failed with the reason. No image window opens.
 *
 * <p>Macro: {@code run("Batch Analyze Folder...", "folder=[/data/in] output=[/data/out]
 * summary=[/data/out/summary.csv] pixel_size=0.1 chemistry=WSe2 polymorphs=2H-1L")}; keys not given take
 * their defaults (output: FOLDER/stemsight_results; summary: OUTPUT/stemsight_summary.csv).
 */
public class BatchFolder implements PlugIn {
    static final String TITLE = "Batch Analyze Folder";
    static final String DEFAULT_OUTPUT = "stemsight_results";
    static final String SUMMARY_FILE = "stemsight_summary.csv";

    private File input;
    private File output;
    private File summaryFile;
    private double pixelSize = Double.NaN;
    private boolean redo;
    private final PluginSettings settings = Macros.running() ? PluginSettings.forMacro() : PluginSettings.load();

    @Override
    public void run(String arg) {
        try {
            if (ask()) {
                process();
            }
        } catch (StemSightException e) {
            Errors.report(e.getMessage());
        } catch (LinkageError e) {
            Errors.report("the StemSight native library could not be used: " + e);
        }
    }

    private boolean ask() {
        boolean begun = Macros.beginWithoutOptions();
        try {
            GenericDialog gd = new GenericDialog("StemSight - " + TITLE);
            gd.addDirectoryField("Folder", "", 40);
            gd.addDirectoryField("Output", "", 40);
            gd.addStringField("Summary", "", 40);
            gd.addMessage("Empty output: FOLDER/" + DEFAULT_OUTPUT + "; empty summary: OUTPUT/" + SUMMARY_FILE);
            gd.addNumericField("Pixel_size", Double.NaN, 4, 8, "\u00c5/pixel (files without a calibration)");
            gd.addChoice("Chemistry", PluginSettings.CHEMISTRIES, settings.chemistry);
            gd.addStringField("Polymorphs", settings.polymorphs, 16);
            gd.addToSameRow();
            gd.addMessage("e.g. 2H-1L,1T; empty: all six");
            settings.addExposureFields(gd);
            gd.addCheckbox("Average_8_views", settings.allViews);
            gd.addCheckbox("Redo_finished_images", false);
            gd.addHelp(Help.forText("StemSight \u2013 " + TITLE, "Analyzes every image the engine reads in a folder "
                    + "with the default settings of <tt>stemsight analyze</tt> and writes, per image, the same "
                    + "folder the command line writes, plus one summary CSV. Finished images are skipped "
                    + "unless Redo_finished_images is ticked; one Log line per image says what happened. "
                    + "Polymorphs: the only stacking polymorphs the polymorph map may choose, as "
                    + "<tt>--polymorphs</tt> (e.g. 2H-1L,1T; empty: all six). Dose, voltage, detector_inner, "
                    + "detector_outer: as <tt>--dose</tt>, <tt>--kv</tt> and <tt>--detector-mrad</tt> (0: unknown, "
                    + "or the file's), for every image of the folder."));
            gd.showDialog();
            if (gd.wasCanceled()) {
                return false;
            }
            String folder = gd.getNextString().trim();
            String out = gd.getNextString().trim();
            String summary = gd.getNextString().trim();
            pixelSize = gd.getNextNumber();
            settings.chemistry = gd.getNextChoice();
            settings.polymorphs = gd.getNextString().trim();
            settings.readExposureFields(gd);
            settings.allViews = gd.getNextBoolean();
            redo = gd.getNextBoolean();
            if (folder.isEmpty() || !new File(folder).isDirectory()) {
                Errors.report(TITLE + ": not a folder: '" + folder + "'");
                return false;
            }
            input = new File(folder);
            output = out.isEmpty() ? new File(input, DEFAULT_OUTPUT) : new File(out);
            summaryFile = summary.isEmpty() ? new File(output, SUMMARY_FILE) : new File(summary);
            return true;
        } finally {
            Macros.end(begun);
        }
    }

    private void process() {
        if (!output.isDirectory() && !output.mkdirs()) {
            Errors.report(TITLE + ": cannot create " + output);
            return;
        }
        for (String problem : Analyzer.recoverLeftovers(output).split("\n")) {
            if (!problem.isEmpty()) {
                IJ.log("StemSight batch: " + problem);
            }
        }
        List<File> files = images(input);
        List<String> names = outputNames(files);
        Analyzer analyzer = Models.analyzer(settings);
        ResultsTable summary = new ResultsTable();
        int done = 0;
        int skipped = 0;
        int failed = 0;
        IJ.resetEscape();
        for (int k = 0; k < files.size(); k++) {
            File file = files.get(k);
            File dir = new File(output, names.get(k));
            IJ.showStatus("StemSight batch: " + file.getName() + " (" + (k + 1) + "/" + files.size() + ")");
            try {
                List<Report> finished = redo ? null : finished(dir);
                if (finished != null) {
                    for (Report r : finished) {
                        ResultTables.addSummary(summary, file.getName(), r.frame() + 1, TITLE, Command.ENGINE_TASKS, r);
                    }
                    skipped++;
                    IJ.log("StemSight batch: " + file.getName() + ": already analyzed in " + dir + ", skipped");
                    continue;
                }
                int frames = analyze(analyzer, file, dir, summary, k, files.size());
                done++;
                IJ.log("StemSight batch: " + file.getName() + ": " + frames + " frame(s) written to " + dir);
            } catch (StemSightException e) {
                if (e.isCancelled()) {
                    IJ.log("StemSight batch: cancelled (Esc) at " + file.getName());
                    break;
                }
                failed++;
                IJ.log("StemSight batch: FAILED " + file.getName() + ": " + e.getMessage().replace('\n', ' '));
            }
        }
        IJ.showProgress(1.0);
        if (summary.size() > 0) {
            summary.setNaNEmptyCells(true);
            summary.setPrecision(5);
            try {
                summary.saveAs(summaryFile.getAbsolutePath());
            } catch (IOException e) {
                Errors.report(TITLE + ": cannot write " + summaryFile + ": " + e.getMessage());
            }
            ResultTables.show(summary, "StemSight Batch - " + input.getName());
        }
        IJ.log("StemSight batch: " + done + " analyzed, " + skipped + " skipped (already done), " + failed
                + " failed; results in " + output + (summary.size() > 0 ? ", summary " + summaryFile : ""));
    }

    /** Reads one file, analyzes and writes every frame; returns the number of frames. */
    private int analyze(Analyzer analyzer, File file, File dir, ResultsTable summary, int index, int count) {
        MicroscopeFile f = MicroscopeFile.read(file, "");
        double px = f.pixelSizeAngstrom;
        String source = "file";
        if (!(px > 0) || Double.isInfinite(px)) {
            px = pixelSize;
            source = "argument";
        }
        boolean lattice = !"unknown".equals(settings.chemistry) && !(px > 0);
        if (!(px > 0) && !lattice) {
            throw new StemSightException(StemSightException.Kind.InvalidParameter, "no pixel size: the file has no calibration; "
                    + "pass pixel_size=<\u00c5/pixel> or a chemistry (measured on the lattice)");
        }
        for (int k = 0; k < f.frames; k++) {
            File frameDir = f.frames > 1 ? new File(dir, String.format(Locale.ROOT, "frame-%04d", k)) : dir;
            Report r = complete(frameDir) && !redo ? readReport(frameDir) : null;
            if (r == null) {
                AnalysisOptions o = new AnalysisOptions().tasks(Command.ENGINE_TASKS).views(settings.allViews ? 8 : 1)
                        .calibrateFromLattice(lattice).acquisition(f.acquisitionJson)
                        .source(file.getAbsolutePath(), source, k, f.frames);
                if (!"unknown".equals(settings.chemistry)) {
                    o.chemistry(settings.chemistry);
                }
                if (!settings.polymorphs.isEmpty()) {
                    o.polymorphs(settings.polymorphs);
                }
                settings.exposure(o);
                r = analyzer.analyzeToFolder(f.frame(k), f.width, f.height, lattice ? 1.0 : px, o,
                        new ImageJProgress(index, count), frameDir, f.warnings);
            }
            ResultTables.addSummary(summary, file.getName(), k + 1, TITLE, Command.ENGINE_TASKS, r);
            for (String w : r.warnings) {
                IJ.log("StemSight batch warning: " + file.getName() + (f.frames > 1 ? " frame " + k : "") + ": " + w);
            }
        }
        return f.frames;
    }

    /** The reports of a finished image (one, or every frame of a stack), or null when not finished. */
    static List<Report> finished(File dir) {
        if (complete(dir)) {
            Report r = readReport(dir);
            return r == null ? null : Arrays.asList(r);
        }
        Report first = readReport(new File(dir, "frame-0000"));
        if (first == null || first.frames() < 2) {
            return null;
        }
        List<Report> all = new ArrayList<Report>();
        for (int k = 0; k < first.frames(); k++) {
            Report r = readReport(new File(dir, String.format(Locale.ROOT, "frame-%04d", k)));
            if (r == null) {
                return null;
            }
            all.add(r);
        }
        return all;
    }

    /** A result folder is complete when its report.json exists: the engine writes it last. */
    static boolean complete(File dir) {
        return new File(dir, "report.json").isFile();
    }

    private static Report readReport(File dir) {
        if (!complete(dir)) {
            return null;
        }
        try {
            return new Report(new String(Files.readAllBytes(new File(dir, "report.json").toPath()),
                    StandardCharsets.UTF_8));
        } catch (IOException | RuntimeException e) {
            return null;
        }
    }

    /** The folder's images, by name; a TIA .ser whose .emi is beside it is read through the .emi. */
    static List<File> images(File folder) {
        File[] all = folder.listFiles();
        List<File> out = new ArrayList<File>();
        if (all == null) {
            return out;
        }
        Arrays.sort(all);
        for (File f : all) {
            String name = f.getName();
            String ext = name.contains(".") ? name.substring(name.lastIndexOf('.') + 1).toLowerCase(Locale.ROOT) : "";
            if (!f.isFile() || name.startsWith(".") || !MicroscopeFile.EXTENSIONS.contains(ext)) {
                continue;
            }
            if (ext.equals("ser") && hasEmi(f)) {
                continue;
            }
            out.add(f);
        }
        return out;
    }

    private static boolean hasEmi(File ser) {
        String name = ser.getName();
        int cut = name.lastIndexOf('_');
        if (cut <= 0) {
            return false;
        }
        String stem = name.substring(0, cut);
        return new File(ser.getParentFile(), stem + ".emi").isFile() || new File(ser.getParentFile(), stem + ".EMI").isFile();
    }

    /** Output folder names: the file's stem, numbered (stem-2, …) where stems collide, ignoring case. */
    static List<String> outputNames(List<File> files) {
        Set<String> used = new HashSet<String>();
        List<String> names = new ArrayList<String>();
        for (File f : files) {
            String name = f.getName();
            String stem = name.contains(".") ? name.substring(0, name.lastIndexOf('.')) : name;
            if (stem.isEmpty()) {
                stem = "image";
            }
            String candidate = stem;
            for (int k = 2; !used.add(candidate.toLowerCase(Locale.ROOT)); k++) {
                candidate = stem + "-" + k;
            }
            names.add(candidate);
        }
        return names;
    }
}
