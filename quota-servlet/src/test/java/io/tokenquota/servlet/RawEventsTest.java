package io.tokenquota.servlet;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.nio.charset.StandardCharsets;
import org.junit.jupiter.api.Test;

/** Which raw events repeat the one before them, and what they give back. */
final class RawEventsTest {
    private static long counted(RawEvents events, String event, long tokens) {
        return counted(events, null, event, tokens);
    }

    private static long counted(RawEvents events, String name, String event, long tokens) {
        byte[] bytes = event.getBytes(StandardCharsets.UTF_8);
        // fed in pieces, as an event's data lines come
        for (int i = 0; i < bytes.length; i += 7) {
            events.feed(bytes, i, Math.min(7, bytes.length - i));
        }
        return events.counted(tokens, name);
    }

    @Test
    void anEventThatGrowsTheOneBeforeGivesBackWhatThatOneCounted() {
        RawEvents events = new RawEvents();
        String so = "The lighthouse keeper watched the storm roll over the harbour while";
        assertEquals(0, counted(events, so, 14));
        assertEquals(14, counted(events, so + " the ships came home.", 18));
        assertEquals(18, counted(events, so + " the ships came home. Then", 19));
    }

    @Test
    void renderedFragmentsAreComparedWithoutTheirClosingMarkup() {
        RawEvents events = new RawEvents();
        String head = "<div class=\"msg assistant\"><p>The lighthouse keeper watched the storm roll over the harbour";
        assertEquals(0, counted(events, head + "</p></div>", 20));
        assertEquals(20, counted(events, head + " while the ships came home.</p></div>", 26));
    }

    @Test
    void aTypingCursorAfterTheMessageIsNoPartOfIt() {
        RawEvents events = new RawEvents();
        String head = "<div class=\"msg assistant\"><p>The lighthouse keeper watched the storm roll over the harbour";
        assertEquals(0, counted(events, head + "<span class=\"cursor\"></span></p></div>", 20));
        assertEquals(20, counted(events, head + " while<span class=\"cursor\"></span></p></div>", 21));
        assertEquals(21, counted(events, head + " while the ships came home.</p></div>", 26), "the last event has none");
        RawEvents text = new RawEvents();
        String so = "The lighthouse keeper watched the storm roll over the harbour while";
        assertEquals(0, counted(text, so + " \u258c", 14));
        assertEquals(14, counted(text, so + " the ships came home.", 18));
    }

    @Test
    void aCursorInsideItsOwnElementOrABarCursorIsNoPartOfTheMessage() {
        RawEvents events = new RawEvents();
        String head = "<div class=\"msg assistant\"><p>The lighthouse keeper watched the storm roll over the harbour";
        assertEquals(0, counted(events, head + "<span class=\"cursor\">\u258d</span></p></div>", 20));
        assertEquals(20, counted(events, head + " while<span class=\"cursor\">\u258d</span></p></div>", 21));
        RawEvents bar = new RawEvents();
        String so = "The lighthouse keeper watched the storm roll over the harbour while";
        assertEquals(0, counted(bar, so + " |", 14));
        assertEquals(14, counted(bar, so + " the ships |", 16));
        assertEquals(16, counted(bar, so + " the ships came home.", 18));
    }

    @Test
    void eachEventIsComparedWithTheLastOfItsName() {
        RawEvents events = new RawEvents();
        String so = "<div class=\"msg\"><p>The lighthouse keeper watched the storm roll over the harbour";
        assertEquals(0, counted(events, "message", so + "</p></div>", 20));
        assertEquals(0, counted(events, "status", "Writing\u2026 12 words", 4));
        assertEquals(20, counted(events, null, so + " while</p></div>", 21), "an unnamed event is a message");
        assertEquals(0, counted(events, "status", "Writing\u2026 13 words", 4));
        assertEquals(0, counted(events, "other", so + " while the ships", 23), "another name's event is compared with its own");
        assertEquals(21, counted(events, "message", so + " while the ships came home.</p></div>", 26));
    }

    /** Blocks in Thue-Morse order, {@code a} for 0 and {@code b} for 1: modulo 2^64 it hashes as the swapped order does. */
    private static String thueMorse(String a, String b, int blocks) {
        StringBuilder text = new StringBuilder();
        for (int i = 0; i < blocks; i++) {
            text.append(Integer.bitCount(i) % 2 == 0 ? a : b);
        }
        return text.toString();
    }

    @Test
    void textsBuiltToCollideUnderAWrappingHashAreNoRepeat() {
        String line = thueMorse(" the cat sat", " the dog ran", 1_024);
        String swapped = thueMorse(" the dog ran", " the cat sat", 1_024);
        for (int stream = 0; stream < 20; stream++) {
            RawEvents events = new RawEvents();
            assertEquals(0, counted(events, line, 3_072));
            assertEquals(0, counted(events, swapped, 3_072), "another text of the same length is no repeat");
        }
    }

    @Test
    void deltasAndOtherTextAreNeverGivenBack() {
        RawEvents events = new RawEvents();
        assertEquals(0, counted(events, " very", 1));
        assertEquals(0, counted(events, " very", 1), "a delta repeated is a word the model wrote twice");
        String line = "A line of the answer that is long enough to be compared with the next one.";
        assertEquals(0, counted(events, line, 15));
        assertEquals(0, counted(events, line.substring(0, 40), 8), "a shorter event is no growth of the one before");
        assertEquals(0, counted(events, line, 15));
        assertEquals(0, counted(events, "Another line of the answer, which does not start with the one before.", 14));
    }

    @Test
    void longEventsAreComparedWhole() {
        RawEvents events = new RawEvents();
        String opening = "The lighthouse keeper watched the storm roll over the harbour. ".repeat(100);
        String draft = opening + "The ships came home one by one, and he counted them. ".repeat(300);
        String revision = opening + "Every ship reached the harbour before midnight, he wrote. ".repeat(300);
        assertEquals(0, counted(events, draft, 4_000));
        assertEquals(0, counted(events, revision, 4_100), "a revision that keeps the draft's first 6,300 bytes is no growth of it");
        assertEquals(4_100, counted(events, revision + "The end.", 4_103), "the revision grown");
        events.reset();
        assertEquals(4_103, counted(events, revision + "The end. Really.", 4_105), "an event that was no raw text in between");
    }
}
