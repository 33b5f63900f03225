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
 * <li>a repository {@code models/} folder (with its README.md) above the jar or the working
 * directory (development checkouts and CI).</li>
 * </ol>
 * A folder counts when it, or one of its sub-folders, holds a {@code model.json}. The
 * last two steps are the engine's own search (native analysis::models_dir_above, which
 * the command line uses above its executable).
 */
public final class ModelLocator {
    public static final String PROPERTY = "stemsight.models";
    public static final String ENV = "STEMSIGHT_MODELS";

    private ModelLocator() {
    }

    /** The models folder, or a {@link StemSightException} of kind Model listing what was tried. */
    public static File find(File... extraCandidates) {
        String prop = System.getProperty(PROPERTY);
        if (prop != null && !prop.trim().isEmpty()) {
            // An explicit setting is used as given: a wrong one should fail loudly, not fall back.
            return new File(prop.trim());
        }
        String env = System.getenv(ENV);
        if (env != null && !env.trim().isEmpty()) {
            return new File(env.trim());
        }
        List<String> candidates = new ArrayList<String>();
        for (File c : extraCandidates) {
            if (c != null) {
                candidates.add(c.getAbsolutePath());
            }
        }
        List<String> starts = new ArrayList<String>();
        for (File start : new File[] {jarFolder(), new File(System.getProperty("user.dir", "."))}) {
            if (start != null) {
                starts.add(start.getAbsolutePath());
            }
        }
        NativeLoader.load();
        String found = NativeBridge.findModels(candidates.toArray(new String[0]), starts.toArray(new String[0]));
        if (!found.isEmpty()) {
            return new File(found);
        }
        StringBuilder msg = new StringBuilder("no StemSight model found (a folder with model.json). Tried:");
        msg.append("\n  - -D").append(PROPERTY).append(" (unset)");
        msg.append("\n  - ").append(ENV).append(" (unset)");
        for (String c : candidates) {
            msg.append("\n  - ").append(c);
        }
        for (String start : starts) {
            msg.append("\n  - models/ with README.md in ").append(start).append(" or above");
        }
        throw new StemSightException(StemSightException.Kind.Model, msg.toString());
    }

    /** True when {@code dir} or one of its sub-folders holds a model.json (what loading accepts). */
    public static boolean holdsModel(File dir) {
        if (dir == null) {
            return false;
        }
        NativeLoader.load();
        return !NativeBridge.findModels(new String[] {dir.getAbsolutePath()}, new String[0]).isEmpty();
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
