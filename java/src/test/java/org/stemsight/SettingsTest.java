package org.stemsight;

import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertFalse;
import static org.junit.Assert.assertNotNull;
import static org.junit.Assert.assertTrue;
import static org.junit.Assert.fail;

import java.lang.reflect.Method;
import java.util.Map;
import org.junit.Test;

/**
 * The settings are defined once, in the engine: every setting it has a default for can be
 * set through {@link AnalysisOptions} under the key the engine reads, a value given
 * there reaches the engine (out of range, it is refused naming the CLI flag and range),
 * and the defaults the binding reports are the engine's (the Fiji plugin takes its
 * dialog defaults from {@link EngineSettings} too).
 */
public class SettingsTest {
    /** The setter for an options key: snake_case → camelCase, less a unit suffix "_a" (Å). */
    private static Method setter(String key) {
        String base = key.endsWith("_a") ? key.substring(0, key.length() - 2) : key;
        StringBuilder name = new StringBuilder();
        boolean up = false;
        for (char c : base.toCharArray()) {
            if (c == '_') {
                up = true;
            } else {
                name.append(up ? Character.toUpperCase(c) : c);
                up = false;
            }
        }
        for (Method m : AnalysisOptions.class.getMethods()) {
            if (m.getName().equals(name.toString()) && m.getParameterTypes().length == 1) {
                return m;
            }
        }
        return null;
    }

    private static Object value(Method m, double v) {
        Class<?> t = m.getParameterTypes()[0];
        return t == int.class ? (Object) (int) Math.floor(v) : (Object) v;
    }

    @Test
    public void everyEngineSettingHasASetterWritingItsKey() throws Exception {
        EngineSettings s = EngineSettings.get();
        assertTrue(s.keys().size() >= 10);
        for (Object k : s.keys()) {
            String key = (String) k;
            Method m = setter(key);
            assertNotNull("AnalysisOptions has no setter for the engine's '" + key + "'", m);
            Class<?> t = m.getParameterTypes()[0];
            Object v;
            if (t == boolean.class) {
                v = s.flag(key);
            } else if (t == String.class) {
                v = s.text(key);
            } else {
                v = value(m, s.number(key));
            }
            AnalysisOptions o = (AnalysisOptions) m.invoke(new AnalysisOptions(), v);
            Map<?, ?> json = (Map<?, ?>) Json.parse(o.toJson());
            assertTrue(key + " not written: " + o, json.containsKey(key));
        }
    }

    @Test
    public void outOfRangeValuesAreRefusedByTheEngineNamingTheFlag() throws Exception {
        Analyzer analyzer = Analyzer.load(ModelLocator.find());
        float[] pixels = new float[128 * 128];
        EngineSettings s = EngineSettings.get();
        assertFalse(s.ranges().isEmpty());
        for (EngineSettings.Range r : s.ranges()) {
            assertTrue(r.key, r.min <= r.defaultValue && r.defaultValue <= r.max);
            assertEquals(r.key, r.defaultValue, s.number(r.key), 1e-6);
            Method m = setter(r.key);
            assertNotNull(r.key, m);
            AnalysisOptions o = (AnalysisOptions) m.invoke(new AnalysisOptions(), value(m, r.max + 1.5));
            try {
                analyzer.analyze(pixels, 128, 128, 0.1, o, null);
                fail(r.key + " = " + (r.max + 1.5) + " accepted");
            } catch (StemSightException e) {
                assertEquals(o.toString(), "InvalidParameter", e.getKind());
                assertTrue(e.getMessage(), e.getMessage().contains("--" + r.flag));
            }
        }
    }

    /**
     * Kind lists the engine's ErrorKinds in the engine's order, then the kinds the native
     * binding adds, then Loading (the Java side's own): every kind native code can throw
     * has its constant, and no constant is left over.
     */
    @Test
    public void exceptionKindsMirrorTheEnginesErrorKinds() {
        NativeLoader.load();
        Map<?, ?> limits = (Map<?, ?>) Json.parse(NativeBridge.limits());
        java.util.List<Object> thrown = new java.util.ArrayList<Object>((java.util.List<?>) limits.get("error_kinds"));
        thrown.addAll((java.util.List<?>) limits.get("binding_kinds"));
        java.util.List<String> declared = new java.util.ArrayList<String>();
        for (StemSightException.Kind k : StemSightException.Kind.values()) {
            declared.add(k.name());
        }
        thrown.add(StemSightException.Kind.Loading.name());
        assertEquals(thrown, declared);
        assertEquals(StemSightException.Kind.Device, StemSightException.Kind.of("Device"));
        assertEquals(StemSightException.Kind.Cancelled, new StemSightException("Cancelled", "x").kind());
        assertEquals(StemSightException.Kind.Engine, new StemSightException("Whatever", "x").kind());
        assertEquals("Model", new StemSightException(StemSightException.Kind.Model, "x").getKind());
    }

    /** Closing gives the hold back: a closed object refuses, other holders keep working. */
    @Test
    public void closedAnalyzersRefuseAndOthersKeepTheModel() {
        Analyzer a = Analyzer.load(ModelLocator.find());
        Analyzer b = Analyzer.load(ModelLocator.find());
        a.close();
        a.close();
        assertTrue(b.modelInfo().contains("sha256"));
        try {
            a.modelInfo();
            fail("a closed analyzer answered");
        } catch (StemSightException e) {
            assertEquals(StemSightException.Kind.InvalidParameter, e.kind());
        }
        b.close();
        try (Analyzer c = Analyzer.load(ModelLocator.find())) {
            assertTrue(c.modelInfo().contains("sha256"));
        }
    }

    @Test
    public void defaultsAreThoseOfTheMeasuredEngine() {
        EngineSettings s = EngineSettings.get();
        assertEquals("combined", s.text("refinement"));
        assertTrue(s.flag("carbon_filter"));
        assertTrue(s.flag("hollow_check"));
        assertTrue(s.flag("line_correction"));
        assertFalse(s.flag("parallel_tiles"));
        assertEquals("atoms,vacancies,polymorph,carbon", s.text("tasks"));
    }
}
