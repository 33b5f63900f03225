package org.stemsight.fiji;

import ij.ImageListener;
import ij.ImagePlus;
import java.util.Arrays;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.Map;
import org.stemsight.AnalysisResult;

/**
 * Compute once, show many: the full analysis (every task) of one image slice is kept,
 * so that Find Atoms, Detect Vacancies, Identify Polymorphs and Map Carbon Contamination
 * on the same pixels run the network once. An entry is found by the image's identity
 * (ImagePlus id and slice), a hash of the pixels the engine saw (so any edit misses), the
 * pixel size, and the settings the asking command reads ({@link Command#reads}).
 * Bounded, least recently used first out: at most {@link #MAX_ENTRIES} entries and
 * {@link #MAX_PIXELS} pixels; an image's entries go when it closes.
 *
 * <p>Macros read the counters: {@code call("org.stemsight.fiji.AnalysisCache.networkRuns")}.
 */
public final class AnalysisCache {
    static final int MAX_ENTRIES = 4;
    /** Two 4096² images: the maps take 5 bytes a pixel, plus the report. */
    static final long MAX_PIXELS = 2L * 4096 * 4096;

    private static final Map<Key, AnalysisResult> ENTRIES = new LinkedHashMap<Key, AnalysisResult>(8, 0.75f, true);
    private static int networkRuns;
    private static int reuses;
    private static boolean listening;

    private AnalysisCache() {
    }

    /** Where an analysis came from and what it was computed with. */
    static final class Key {
        final int imageId;
        final int slice;
        final int width;
        final int height;
        final int pixelHash;
        final double pixelSize;
        /** Setting name → value, every setting the analysis used (PluginSettings.analysisFields). */
        final Map<String, Object> settings;

        Key(ImagePlus imp, int slice, float[] pixels, double pixelSize, Map<String, Object> settings) {
            this.imageId = imp.getID();
            this.slice = slice;
            this.width = imp.getWidth();
            this.height = imp.getHeight();
            this.pixelHash = Arrays.hashCode(pixels);
            this.pixelSize = pixelSize;
            this.settings = settings;
        }

        /** Same pixels, and equal on the settings {@code cmd} reads. */
        boolean serves(Key wanted, Command cmd) {
            if (imageId != wanted.imageId || slice != wanted.slice || width != wanted.width
                    || height != wanted.height || pixelHash != wanted.pixelHash
                    || Double.compare(pixelSize, wanted.pixelSize) != 0) {
                return false;
            }
            for (String name : cmd.reads()) {
                Object a = settings.get(name);
                Object b = wanted.settings.get(name);
                if (a == null ? b != null : !a.equals(b)) {
                    return false;
                }
            }
            return true;
        }
    }

    /** A kept analysis that serves {@code cmd}, or null; counts a reuse. */
    static synchronized AnalysisResult find(Key wanted, Command cmd) {
        for (Key k : ENTRIES.keySet()) {
            if (k.serves(wanted, cmd)) {
                reuses++;
                // get() marks the entry most recently used (the iteration has ended).
                return ENTRIES.get(k);
            }
        }
        return null;
    }

    /** Keeps a fresh analysis (one network run), dropping the least recently used beyond the bounds. */
    static synchronized void put(Key key, AnalysisResult result) {
        listen();
        networkRuns++;
        ENTRIES.put(key, result);
        long pixels = 0;
        for (Key k : ENTRIES.keySet()) {
            pixels += (long) k.width * k.height;
        }
        Iterator<Key> oldest = ENTRIES.keySet().iterator();
        while (ENTRIES.size() > 1 && (ENTRIES.size() > MAX_ENTRIES || pixels > MAX_PIXELS)) {
            Key k = oldest.next();
            pixels -= (long) k.width * k.height;
            oldest.remove();
        }
    }

    /** How many analyses ran the network since ImageJ started (a String, for macro call()). */
    public static synchronized String networkRuns() {
        return Integer.toString(networkRuns);
    }

    /** How many times a kept analysis was shown instead of running the network again. */
    public static synchronized String reuses() {
        return Integer.toString(reuses);
    }

    /** How many analyses are kept now. */
    public static synchronized String size() {
        return Integer.toString(ENTRIES.size());
    }

    /** Forgets every kept analysis (the counters stay). */
    public static synchronized String clear() {
        ENTRIES.clear();
        return "0";
    }

    private static synchronized void forget(int imageId) {
        for (Iterator<Key> it = ENTRIES.keySet().iterator(); it.hasNext();) {
            if (it.next().imageId == imageId) {
                it.remove();
            }
        }
    }

    /** Releases an image's analyses when it closes. */
    private static void listen() {
        if (listening) {
            return;
        }
        listening = true;
        ImagePlus.addImageListener(new ImageListener() {
            @Override
            public void imageOpened(ImagePlus imp) {
            }

            @Override
            public void imageClosed(ImagePlus imp) {
                forget(imp.getID());
            }

            @Override
            public void imageUpdated(ImagePlus imp) {
            }
        });
    }
}
