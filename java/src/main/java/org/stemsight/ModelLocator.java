package org.stemsight;

import java.io.File;
import java.net.URISyntaxException;
import java.security.CodeSource;
import java.util.ArrayList;
import java.util.List;

/**
 * Finds the models folder, first match wins:
 * <ol>
 * <li>system property {@code stemsight.models};</li>
 * <li>environment variable {@code STEMSIGHT_MODELS};</li>
 * <li>the caller's extra candidates (the Fiji plugin passes {@code <Fiji>/models/stemsight});</li>
 * <li>a repository {@code models/} folder above the jar or the working directory
 * (development checkouts and CI).</li>
 * </ol>
 * A folder counts when it, or one of its sub-folders, holds a {@code model.json}.
 */
public final class ModelLocator {
    public static final String PROPERTY = "stemsight.models";
    public static final String ENV = "STEMSIGHT_MODELS";

    private ModelLocator() {
    }

    /** The models folder, or a {@link StemSightException} of kind "Model" listing what was tried. */
    public static File find(File... extraCandidates) {
        List<String> tried = new ArrayList<String>();
        String prop = System.getProperty(PROPERTY);
        if (prop != null && !prop.trim().isEmpty()) {
            // An explicit setting is used as given: a wrong one should fail loudly, not fall back.
            return new File(prop.trim());
        }
        String env = System.getenv(ENV);
        if (env != null && !env.trim().isEmpty()) {
            return new File(env.trim());
        }
        tried.add("-D" + PROPERTY + " (unset)");
        tried.add(ENV + " (unset)");
        for (File c : extraCandidates) {
            if (c != null) {
                if (holdsModel(c)) {
                    return c;
                }
                tried.add(c.getAbsolutePath());
            }
        }
        for (File start : new File[] {jarFolder(), new File(System.getProperty("user.dir", "."))}) {
            for (File dir = start; dir != null; dir = dir.getParentFile()) {
                File candidate = new File(dir, "models");
                if (holdsModel(candidate)) {
                    return candidate;
                }
            }
            if (start != null) {
                tried.add("models/ in " + start.getAbsolutePath() + " or above");
            }
        }
        StringBuilder msg = new StringBuilder("no StemSight model found (a folder with model.json). Tried:");
        for (String t : tried) {
            msg.append("\n  - ").append(t);
        }
        throw new StemSightException("Model", msg.toString());
    }

    /** True when {@code dir} or one of its sub-folders holds a model.json. */
    public static boolean holdsModel(File dir) {
        if (dir == null || !dir.isDirectory()) {
            return false;
        }
        if (new File(dir, "model.json").isFile()) {
            return true;
        }
        File[] subs = dir.listFiles();
        if (subs != null) {
            for (File s : subs) {
                if (new File(s, "model.json").isFile()) {
                    return true;
                }
            }
        }
        return false;
    }

    private static File jarFolder() {
        try {
            CodeSource cs = ModelLocator.class.getProtectionDomain().getCodeSource();
            if (cs == null || cs.getLocation() == null) {
                return null;
            }
            return new File(cs.getLocation().toURI()).getAbsoluteFile().getParentFile();
        } catch (URISyntaxException | SecurityException | IllegalArgumentException e) {
            return null;
        }
    }
}
