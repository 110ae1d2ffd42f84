package io.tokenquota.servlet;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.nio.charset.StandardCharsets;
import org.junit.jupiter.api.Test;

/** What counts as an answer's start when a call ends in an exception: content, and a whole answer. */
class AnswerStartTest {
    /** "content whole" of the bytes, fed in pieces of {@code piece} bytes. */
    private static String read(String written, int piece) {
        AnswerStart answer = new AnswerStart();
        byte[] b = written.getBytes(StandardCharsets.UTF_8);
        for (int i = 0; i < b.length; i += piece) {
            answer.feed(b, i, Math.min(piece, b.length - i));
        }
        return answer.content() + " " + answer.whole();
    }

    private static void assertRead(String expected, String written) {
        for (int piece : new int[] {1, 2, 3, 1 << 20}) {
            assertEquals(expected, read(written, piece), "[" + written + "] in pieces of " + piece);
        }
    }

    @Test
    void aPreambleIsNoAnswer() {
        assertRead("false false", "");
        assertRead("false false", " \r\n\t\n");
        assertRead("false false", "\uFEFF\n");
        assertRead("false false", ": connecting\n\n");
        assertRead("false false", "retry: 3000\n\n");
        assertRead("false false", "event: ping\nid: 7\n: still there\n\n");
        assertRead("false false", "  : indented comment\n");
    }

    @Test
    void anEventsDataOrAnyTextIsAWholeAnswer() {
        assertRead("true true", "retry: 3000\n\ndata: {\"choices\":[");
        assertRead("true true", "event: message\ndata: hi\n\n");
        assertRead("true true", "Hello");
        assertRead("true true", "retrying later");
        assertRead("true true", "identity");
        assertRead("true true", "eventually");
        assertRead("true true", "yes");
        assertRead("true true", "no\n");
        assertRead("true true", "false");
        assertRead("true true", "42");
    }

    @Test
    void jsonIsWholeOnceItsValueCloses() {
        assertRead("true false", "{\"conversation_id\":\"c1\",\"reply\":");
        assertRead("true false", "{\"reply\":\"a } ] \\\" {\"");
        assertRead("true true", "{\"reply\":\"a } ] \\\" {\"}");
        assertRead("true true", "\n  [{\"a\":[1,2]},{}]");
        assertRead("true true", "[{\"candidates\":[]},");
        assertRead("true false", "[{\"candidates\":[");
        assertRead("true true", "[1,");
        assertRead("true false", "{\"a\":[1,2]");
    }

    @Test
    void markupThatIsNoDocumentIsText() {
        assertRead("true true", "<think>The user asks");
        assertRead("true true", "<div class=\"message\">Paris</div>");
        assertRead("true true", "<h");
    }

    @Test
    void aPageIsWholeOnceItsBodyOrItsDocumentCloses() {
        assertRead("true false", "<!DOCTYPE html><html><head><title>Report</title></head><body><h1>");
        assertRead("true true", "<!DOCTYPE html><html><body><p>The answer</p></BODY>");
        assertRead("true true", "<html><p>The answer</p></html>");
    }
}
