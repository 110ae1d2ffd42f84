package io.tokenquota.servlet;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.nio.charset.StandardCharsets;
import org.junit.jupiter.api.Test;

/** What counts as an answer when a call ends in an exception: anything but a preamble. */
class AnswerStartTest {
    /** Whether the bytes, fed in pieces of {@code piece} bytes, are content. */
    private static String read(String written, int piece) {
        AnswerStart answer = new AnswerStart();
        byte[] b = written.getBytes(StandardCharsets.UTF_8);
        for (int i = 0; i < b.length; i += piece) {
            answer.feed(b, i, Math.min(piece, b.length - i));
        }
        return String.valueOf(answer.content());
    }

    private static void assertRead(String expected, String written) {
        for (int piece : new int[] {1, 2, 3, 1 << 20}) {
            assertEquals(expected, read(written, piece), "[" + written + "] in pieces of " + piece);
        }
    }

    @Test
    void aPreambleIsNoAnswer() {
        assertRead("false", "");
        assertRead("false", " \r\n\t\n");
        assertRead("false", "\uFEFF\n");
        assertRead("false", ": connecting\n\n");
        assertRead("false", "retry: 3000\n\n");
        assertRead("false", "event: ping\nid: 7\n: still there\n\n");
        assertRead("false", "  : indented comment\n");
    }

    @Test
    void anEventsDataOrAnyOtherTextIsAnAnswer() {
        assertRead("true", "retry: 3000\n\ndata: {\"choices\":[");
        assertRead("true", "event: message\ndata: hi\n\n");
        assertRead("true", "Hello");
        assertRead("true", "retrying later");
        assertRead("true", "identity");
        assertRead("true", "eventually");
        assertRead("true", "yes");
        assertRead("true", "no\n");
        assertRead("true", "false");
        assertRead("true", "42");
    }

    /** What an application writes around the model's answer cannot be told from it: unfinished or not, it counts. */
    @Test
    void jsonAndMarkupCountFromTheirFirstByte() {
        assertRead("true", "{\"conversation_id\":\"c1\",\"reply\":");
        assertRead("true", "[{\"candidates\":[");
        assertRead("true", "<think>The user asks");
        assertRead("true", "<div class=\"message\">Paris</div>");
        assertRead("true", "<!DOCTYPE html><html><head><title>Report</title></head><body><h1>");
    }
}
