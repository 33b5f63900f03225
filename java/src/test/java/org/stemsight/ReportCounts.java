package org.stemsight;

import java.io.File;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;

/**
 * Prints "n_atoms|n_mo|n_s2_sites|n_vs1|n_vs2" of a report.json, for the ImageJ end-to-end
 * macro (scripts/test_java.sh); uses the binding's own parser, so CI needs no JSON tool.
 */
public final class ReportCounts {
    private ReportCounts() {
    }

    public static void main(String[] args) throws Exception {
        byte[] bytes = Files.readAllBytes(new File(args[0]).toPath());
        Report r = new Report(new String(bytes, StandardCharsets.UTF_8));
        System.out.println(r.atoms.size() + "|" + r.summary.nMo + "|" + r.summary.nS2Sites + "|"
                + r.summary.nVs1 + "|" + r.summary.nVs2);
    }
}
