package org.stemsight;

import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/** Typed reads from one parsed JSON object; absent or null numbers read as NaN. */
final class JsonFields {
    private final Map<?, ?> map;

    JsonFields(Object parsed) {
        this.map = parsed instanceof Map ? (Map<?, ?>) parsed : Collections.emptyMap();
    }

    double num(String key) {
        Object v = map.get(key);
        return v instanceof Number ? ((Number) v).doubleValue() : Double.NaN;
    }

    int integer(String key) {
        double v = num(key);
        return Double.isNaN(v) ? 0 : (int) Math.round(v);
    }

    String str(String key) {
        Object v = map.get(key);
        return v == null ? "" : v.toString();
    }

    boolean bool(String key) {
        return Boolean.TRUE.equals(map.get(key));
    }

    JsonFields obj(String key) {
        return new JsonFields(map.get(key));
    }

    List<JsonFields> objects(String key) {
        List<JsonFields> out = new ArrayList<JsonFields>();
        for (Object o : list(key)) {
            out.add(new JsonFields(o));
        }
        return out;
    }

    List<?> list(String key) {
        Object v = map.get(key);
        return v instanceof List ? (List<?>) v : Collections.emptyList();
    }

    List<String> strings(String key) {
        List<String> out = new ArrayList<String>();
        for (Object o : list(key)) {
            out.add(String.valueOf(o));
        }
        return out;
    }

    double[] numbers(String key) {
        List<?> l = list(key);
        double[] out = new double[l.size()];
        for (int k = 0; k < out.length; k++) {
            Object o = l.get(k);
            out[k] = o instanceof Number ? ((Number) o).doubleValue() : Double.NaN;
        }
        return out;
    }

    /** An object of numbers, e.g. polymorph fractions, in file order. */
    Map<String, Double> numberMap(String key) {
        Map<String, Double> out = new LinkedHashMap<String, Double>();
        Object v = map.get(key);
        if (v instanceof Map) {
            for (Map.Entry<?, ?> e : ((Map<?, ?>) v).entrySet()) {
                Object n = e.getValue();
                out.put(String.valueOf(e.getKey()), n instanceof Number ? ((Number) n).doubleValue() : Double.NaN);
            }
        }
        return out;
    }

    /** An object of number arrays, e.g. histogram counts per site. */
    Map<String, double[]> arrayMap(String key) {
        Map<String, double[]> out = new LinkedHashMap<String, double[]>();
        JsonFields inner = obj(key);
        for (Object k : inner.map.keySet()) {
            out.put(String.valueOf(k), inner.numbers(String.valueOf(k)));
        }
        return out;
    }
}
