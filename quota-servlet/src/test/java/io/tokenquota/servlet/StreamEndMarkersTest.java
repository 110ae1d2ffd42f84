package io.tokenquota.servlet;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
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
}
