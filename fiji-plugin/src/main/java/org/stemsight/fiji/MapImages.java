package org.stemsight.fiji;

import ij.ImagePlus;
import ij.ImageStack;
import ij.gui.Overlay;
import ij.measure.Calibration;
import ij.plugin.LutLoader;
import ij.process.ByteProcessor;
import ij.process.FloatProcessor;
import ij.process.LUT;
import java.awt.Color;
import java.awt.image.IndexColorModel;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.stemsight.AnalysisResult;

/** New images for the per-pixel maps; they carry the input's spatial calibration. */
final class MapImages {
    private MapImages() {
    }

    /** Polymorph class map: 8-bit, class colors as LUT, class names in Info and a legend. */
    static ImagePlus polymorph(ImagePlus source, List<AnalysisResult> results, List<Integer> slices) {
        ImageStack stack = new ImageStack(source.getWidth(), source.getHeight());
        for (int k = 0; k < results.size(); k++) {
            AnalysisResult r = results.get(k);
            stack.addSlice("slice " + slices.get(k), new ByteProcessor(r.width, r.height, r.polymorphMap.clone()));
        }
        ImagePlus map = new ImagePlus(source.getShortTitle() + " polymorphs", stack);
        byte[] red = new byte[256];
        byte[] green = new byte[256];
        byte[] blue = new byte[256];
        for (int i = 0; i < Palette.POLYMORPH.length; i++) {
            red[i] = (byte) Palette.POLYMORPH[i].getRed();
            green[i] = (byte) Palette.POLYMORPH[i].getGreen();
            blue[i] = (byte) Palette.POLYMORPH[i].getBlue();
        }
        LUT lut = new LUT(red, green, blue);
        map.getProcessor().setLut(lut);
        map.getProcessor().setMinAndMax(0, 255);
        List<String> classes = results.get(0).report.polymorphClasses;
        StringBuilder info = new StringBuilder("StemSight polymorph classes (pixel value = class):\n");
        Map<String, Color> legend = new LinkedHashMap<String, Color>();
        for (int i = 0; i < classes.size(); i++) {
            info.append(i).append(" = ").append(classes.get(i)).append('\n');
            legend.put(i + " " + classes.get(i), i == 0 ? Color.GRAY : Palette.polymorph(i));
        }
        map.setProperty("Info", info.toString());
        Overlay overlay = new Overlay();
        OverlayMaker.addLegend(overlay, legend, source.getWidth(), 0);
        map.setOverlay(overlay);
        map.setCalibration(spatial(source));
        return map;
    }

    /** Carbon thickness map in Å (32-bit), with the "Fire" LUT when available. */
    static ImagePlus carbon(ImagePlus source, List<AnalysisResult> results, List<Integer> slices) {
        ImageStack stack = new ImageStack(source.getWidth(), source.getHeight());
        for (int k = 0; k < results.size(); k++) {
            AnalysisResult r = results.get(k);
            float[] angstrom = new float[r.carbonMap.length];
            float scale = (float) r.report.carbonScaleAngstrom;
            for (int i = 0; i < angstrom.length; i++) {
                angstrom[i] = r.carbonMap[i] * scale;
            }
            stack.addSlice("slice " + slices.get(k), new FloatProcessor(r.width, r.height, angstrom));
        }
        ImagePlus map = new ImagePlus(source.getShortTitle() + " carbon (\u00c5)", stack);
        IndexColorModel fire = LutLoader.getLut("fire");
        if (fire != null) {
            map.getProcessor().setColorModel(fire);
        }
        map.getProcessor().setMinAndMax(0, results.get(0).report.carbonScaleAngstrom);
        Calibration cal = spatial(source);
        cal.setValueUnit("\u00c5 carbon");
        map.setCalibration(cal);
        map.setProperty("Info", "StemSight carbon contamination: estimated amorphous-carbon thickness, \u00c5.\n");
        return map;
    }

    private static Calibration spatial(ImagePlus source) {
        Calibration c = source.getCalibration().copy();
        c.disableDensityCalibration();
        return c;
    }
}
