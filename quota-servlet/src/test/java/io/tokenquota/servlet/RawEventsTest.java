package io.tokenquota.servlet;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.nio.charset.StandardCharsets;
import org.junit.jupiter.api.Test;

/** Which raw events repeat the one before them, and what they give back. */
final class RawEventsTest {
    private static long counted(RawEvents events, String event, long tokens) {
        byte[] bytes = event.getBytes(StandardCharsets.UTF_8);
        return events.counted(bytes, bytes.length, tokens);
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
}
