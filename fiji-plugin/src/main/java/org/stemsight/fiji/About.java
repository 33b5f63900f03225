package org.stemsight.fiji;

import ij.IJ;
import ij.gui.GUI;
import java.awt.BorderLayout;
import java.awt.Button;
import java.awt.Dialog;
import java.awt.Font;
import java.awt.Frame;
import java.awt.Panel;
import java.awt.TextArea;
import java.awt.event.WindowAdapter;
import java.awt.event.WindowEvent;
import java.io.File;
import java.util.Map;
import org.stemsight.Analyzer;
import org.stemsight.Json;
import org.stemsight.NativeLoader;
import org.stemsight.StemSightException;

/**
 * Plugins > StemSight > About StemSight...: version, model card, the method's citation,
 * licence, and where the native library and the model were loaded from, in a window that
 * does not block (also written to the Log).
 */
final class About {
    static final String CITATION = "K. Lee et al., \"STEM image analysis based on deep learning: identification of "
            + "vacancy defects and polymorphs of MoS2\", Nano Letters 22, 4677 (2022).";
    static final String LICENCE = "MIT OR Apache-2.0";
    static final String TITLE = "About StemSight";

    private About() {
    }

    static void show() {
        String text = text();
        IJ.log(text);
        if (java.awt.GraphicsEnvironment.isHeadless()) {
            return;
        }
        Frame owner = IJ.getInstance();
        final Dialog d = new Dialog(owner, TITLE, false);
        TextArea area = new TextArea(text, text.split("\n").length + 2, 80, TextArea.SCROLLBARS_VERTICAL_ONLY);
        area.setEditable(false);
        area.setFont(new Font("SansSerif", Font.PLAIN, 13));
        d.add(area, BorderLayout.CENTER);
        Panel buttons = new Panel();
        Button ok = new Button("OK");
        ok.addActionListener(e -> d.dispose());
        buttons.add(ok);
        d.add(buttons, BorderLayout.SOUTH);
        d.addWindowListener(new WindowAdapter() {
            @Override
            public void windowClosing(WindowEvent e) {
                d.dispose();
            }
        });
        d.pack();
        GUI.center(d);
        d.setVisible(true);
    }

    /** The About text, one fact a line. */
    static String text() {
        StringBuilder b = new StringBuilder("StemSight: atom columns, sulfur vacancies, stacking polymorphs and carbon\n"
                + "contamination in atomic-resolution HAADF-STEM images of MoS2-family materials.\n\n");
        b.append("Method: a ResUNet after ").append(CITATION).append("\n");
        b.append("Licence: ").append(LICENCE).append("\n");
        b.append("Documentation: ").append(Help.DOCUMENTATION).append("\n\n");
        b.append("Platform: ").append(NativeLoader.platform()).append('\n');
        try {
            b.append("Engine version: ").append(Analyzer.engineVersion()).append('\n');
            b.append("Native library loaded from: ").append(NativeLoader.loadedFrom()).append('\n');
            File dir = Models.resolve(PluginSettings.load());
            b.append("Models folder: ").append(dir).append('\n');
            b.append(card(Analyzer.load(dir).modelInfo()));
        } catch (StemSightException e) {
            b.append("\nProblem: ").append(e.getMessage()).append('\n');
        }
        b.append("\nAnalyses kept for reuse: ").append(AnalysisCache.size())
                .append(" (network runs this session: ").append(AnalysisCache.networkRuns()).append(")\n");
        return b.toString();
    }

    /** The model card's main facts, one a line. */
    private static String card(String infoJson) {
        Object parsed = Json.parse(infoJson);
        if (!(parsed instanceof Map)) {
            return "Model: " + infoJson + "\n";
        }
        Map<?, ?> m = (Map<?, ?>) parsed;
        StringBuilder b = new StringBuilder();
        b.append("Model: ").append(m.get("name")).append('\n');
        b.append("  loaded from: ").append(m.get("dir")).append('\n');
        b.append("  trained at: ").append(m.get("pixel_size_angstrom")).append(" \u00c5/pixel, tiles of ")
                .append(m.get("tile")).append(" pixels\n");
        b.append("  polymorph classes: ").append(Json.write(m.get("classes"))).append('\n');
        Object sha = m.get("sha256");
        if (sha != null) {
            String s = sha.toString();
            b.append("  sha256: ").append(s.length() > 16 ? s.substring(0, 16) + "\u2026" : s).append('\n');
        }
        b.append("  inference on: ").append(m.get("device"));
        Object note = m.get("device_note");
        if (note != null && !note.toString().isEmpty()) {
            b.append(" (").append(note).append(')');
        }
        return b.append('\n').toString();
    }
}
