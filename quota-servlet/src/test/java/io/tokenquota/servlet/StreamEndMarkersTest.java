package io.tokenquota.servlet;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.util.List;
import net.jqwik.api.Arbitraries;
import net.jqwik.api.Arbitrary;
import net.jqwik.api.Combinators;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.Provide;
import net.jqwik.api.constraints.IntRange;
import org.junit.jupiter.api.Test;

/** Which {@code [DONE]} markers are taken out from between JSON documents, fed in pieces of any size. */
final class StreamEndMarkersTest {
    private static String filtered(String input, int piece) {
        StreamEndMarkers markers = new StreamEndMarkers();
        byte[] bytes = input.getBytes(StandardCharsets.UTF_8);
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        for (int i = 0; i < bytes.length; i += piece) {
            markers.filter(bytes, i, Math.min(piece, bytes.length - i));
            out.write(markers.bytes(), 0, markers.length());
        }
        markers.flush();
        out.write(markers.bytes(), 0, markers.length());
        return out.toString(StandardCharsets.UTF_8);
    }

    private static void assertFiltered(String expected, String input) {
        for (int piece : new int[] {1, 2, 3, 5, 7, 1_000}) {
            assertEquals(expected, filtered(input, piece), "in pieces of " + piece);
        }
    }

    @Test
    void markersBetweenDocumentsAreTakenOut() {
        assertFiltered("{\"a\":1}\n\n{\"b\":2}\n\n", "{\"a\":1}\n[DONE]\n{\"b\":2}\n[DONE]\n");
        assertFiltered("{\"a\":1}{\"b\":2}", "{\"a\":1}[DONE]{\"b\":2}[DONE]");
    }

    @Test
    void markersInsideDocumentsAndStringsStay() {
        assertFiltered("{\"text\":\"[DONE]\"}", "{\"text\":\"[DONE]\"}");
        assertFiltered("{\"text\":\"a \\\" [DONE]\"}", "{\"text\":\"a \\\" [DONE]\"}");
        assertFiltered("{\"list\":[[DONE]]}", "{\"list\":[[DONE]]}");
    }

    @Test
    void arraysAndUnfinishedMarkersPassOn() {
        assertFiltered("[{\"a\":1},{\"b\":2}]", "[{\"a\":1},{\"b\":2}]");
        assertFiltered("{\"a\":1}\n[DON", "{\"a\":1}\n[DON");
        assertFiltered("{\"a\":1}\n[DONE!]", "{\"a\":1}\n[DONE!]");
        assertFiltered("[\"DONE\"]", "[\"DONE\"]");
    }

    /**
     * Any documents (whose strings and arrays may hold the marker's text), each followed or not by a marker,
     * in pieces of any size: what is passed on is the documents alone, byte for byte.
     */
    @Property(tries = 300)
    void onlyTheMarkersBetweenDocumentsAreTakenOut(@ForAll("documents") List<String> documents,
                                                   @ForAll("marked") List<Boolean> marked,
                                                   @ForAll @IntRange(min = 1, max = 40) int piece) {
        StringBuilder input = new StringBuilder();
        StringBuilder expected = new StringBuilder();
        for (int i = 0; i < documents.size(); i++) {
            input.append(documents.get(i)).append('\n');
            expected.append(documents.get(i)).append('\n');
            if (marked.get(i % marked.size())) {
                input.append("[DONE]\n");
                expected.append('\n');
            }
        }
        assertEquals(expected.toString(), filtered(input.toString(), piece));
    }

    @Provide
    Arbitrary<List<String>> documents() {
        Arbitrary<String> text = Arbitraries.of("[DONE]", "DONE", "[", "]", "{", "}", "\\\"", "\\\\", "a", " ")
                .list().ofMaxSize(8).map(parts -> String.join("", parts));
        Arbitrary<String> document = Combinators.combine(text, Arbitraries.integers().between(0, 3))
                .as((t, shape) -> switch (shape) {
                    case 0 -> "{\"text\":\"" + t + "\"}";
                    case 1 -> "{\"list\":[\"" + t + "\",[1,[2]]],\"o\":{\"t\":\"" + t + "\"}}";
                    case 2 -> "[{\"a\":\"" + t + "\"},{\"b\":[]}]";
                    default -> "{}";
                });
        return document.list().ofMinSize(1).ofMaxSize(6);
    }

    @Provide
    Arbitrary<List<Boolean>> marked() {
        return Arbitraries.of(true, false).list().ofMinSize(1).ofMaxSize(6);
    }
}
