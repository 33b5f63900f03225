package org.stemsight;

import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Map;

/**
 * The engine's analysis settings as the engine defines them (native analysis::settings):
 * every default by its options key, and the numeric ranges. The binding and the plugin
 * read defaults and bounds here instead of keeping copies that could disagree.
 * Defaults are documented in one place: the engine ({@code stemsight analyze --help}).
 */
public final class EngineSettings {
    /** A numeric setting: options key, CLI flag, default and bounds. */
    public static final class Range {
        public final String key;
        public final String flag;
        public final double defaultValue;
        public final double min;
        public final double max;
        public final String why;

        Range(Map<?, ?> m) {
            key = (String) m.get("key");
            flag = (String) m.get("flag");
            defaultValue = ((Number) m.get("default")).doubleValue();
            min = ((Number) m.get("min")).doubleValue();
            max = ((Number) m.get("max")).doubleValue();
            why = (String) m.get("why");
        }
    }

    private static EngineSettings instance;

    private final Map<?, ?> defaults;
    private final List<Range> ranges;

    private EngineSettings(String json) {
        Map<?, ?> root = (Map<?, ?>) Json.parse(json);
        defaults = (Map<?, ?>) root.get("defaults");
        List<Range> r = new ArrayList<Range>();
        for (Object o : (List<?>) root.get("ranges")) {
            r.add(new Range((Map<?, ?>) o));
        }
        ranges = Collections.unmodifiableList(r);
    }

    /** The engine's settings (loads the native library on first use). */
    public static synchronized EngineSettings get() {
        if (instance == null) {
            NativeLoader.load();
            instance = new EngineSettings(NativeBridge.settings());
        }
        return instance;
    }

    /** Every options key that has a default. */
    public java.util.Set<?> keys() {
        return defaults.keySet();
    }

    public double number(String key) {
        return ((Number) value(key)).doubleValue();
    }

    public boolean flag(String key) {
        return (Boolean) value(key);
    }

    public String text(String key) {
        return (String) value(key);
    }

    public List<Range> ranges() {
        return ranges;
    }

    /** The range of a numeric setting, by options key. */
    public Range range(String key) {
        for (Range r : ranges) {
            if (r.key.equals(key)) {
                return r;
            }
        }
        throw new StemSightException(StemSightException.Kind.InvalidParameter, "no numeric setting '" + key + "'");
    }

    private Object value(String key) {
        Object v = defaults.get(key);
        if (v == null) {
            throw new StemSightException(StemSightException.Kind.InvalidParameter, "no setting '" + key + "'");
        }
        return v;
    }
}
