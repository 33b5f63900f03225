package org.stemsight;

import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertNull;
import static org.junit.Assert.assertTrue;
import static org.junit.Assert.fail;

import java.util.List;
import java.util.Map;
import org.junit.Test;

public class JsonTest {
    @Test
    public void parsesNestedValues() {
        Object v = Json.parse(" {\"a\": [1, -2.5e2, true, null], \"b\": {\"c\": \"x\\\"y\\u00c5\\n\"}, \"e\": {}} ");
        Map<?, ?> m = (Map<?, ?>) v;
        List<?> a = (List<?>) m.get("a");
        assertEquals(1.0, (Double) a.get(0), 0);
        assertEquals(-250.0, (Double) a.get(1), 0);
        assertEquals(Boolean.TRUE, a.get(2));
        assertNull(a.get(3));
        assertEquals("x\"y\u00c5\n", ((Map<?, ?>) m.get("b")).get("c"));
        assertTrue(((Map<?, ?>) m.get("e")).isEmpty());
    }

    @Test
    public void refusesMalformedText() {
        for (String bad : new String[] {"", "{", "[1,]", "{\"a\" 1}", "tru", "{} x", "\"abc"}) {
            try {
                Json.parse(bad);
                fail("accepted " + bad);
            } catch (IllegalArgumentException expected) {
                assertTrue(expected.getMessage().contains("invalid JSON"));
            }
        }
    }

    @Test
    public void quoteRoundTrips() {
        String s = "a\"b\\c\nd\u0001\u00c5";
        assertEquals(s, Json.parse(Json.quote(s)));
    }

    @Test
    public void nullNumbersReadAsNaN() {
        JsonFields f = new JsonFields(Json.parse("{\"x\": null, \"n\": 3}"));
        assertTrue(Double.isNaN(f.num("x")));
        assertTrue(Double.isNaN(f.num("missing")));
        assertEquals(3, f.integer("n"));
    }

    @Test
    public void optionsSerializeOnlyWhatWasSet() {
        assertEquals("{}", new AnalysisOptions().toJson());
        String json = new AnalysisOptions().tasks("atoms").carbonFilter(false).atomThreshold(0.4).toJson();
        Map<?, ?> m = (Map<?, ?>) Json.parse(json);
        assertEquals("atoms", m.get("tasks"));
        assertEquals(Boolean.FALSE, m.get("carbon_filter"));
        assertEquals(0.4, (Double) m.get("atom_threshold"), 1e-12);
        Map<?, ?> v = (Map<?, ?>) Json.parse(new AnalysisOptions().views(8).carbonSmoothing(0).toJson());
        assertEquals(8.0, ((Number) v.get("views")).doubleValue(), 0.0);
        assertEquals(0.0, ((Number) v.get("carbon_smoothing_a")).doubleValue(), 0.0);
    }
}
