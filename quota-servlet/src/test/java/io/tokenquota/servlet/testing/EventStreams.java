package io.tokenquota.servlet.testing;

import java.io.IOException;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;

/** Streamed answers as the rounds' mock providers and relays write them. */
public final class EventStreams {
    private EventStreams() {
    }

    /**
     * Writes {@code s} as UTF-8 and flushes it, so that the client (and the filter) sees each piece as it
     * is sent, and a relay whose client hung up learns it at its next write.
     */
    public static void write(OutputStream out, String s) throws IOException {
        out.write(s.getBytes(StandardCharsets.UTF_8));
        out.flush();
    }

    /** A server-sent event {@code name} of {@code data}. */
    public static String event(String name, String data) {
        return "event: " + name + "\ndata: " + data + "\n\n";
    }

    /** 100 words the rounds' providers count as 100 tokens (one for each "wave"). */
    public static final String HUNDRED = "wave ".repeat(100);

    /**
     * Anthropic's Messages stream of a story of 8,000 tokens ({@link #HUNDRED} a delta) as a relay passes it
     * on, to its {@code content_block_stop}; then, once the client of {@code user} has hung up, the relay
     * goes on ({@link HangUps#relayUntilGone}): the {@code message_delta} with the final usage comes only if
     * the client is still there. The {@code message_start} usage (20 in, 1 out) is provisional.
     */
    public static void anthropicStoryUntilGone(HangUps hangUps, String user, OutputStream out) throws IOException {
        write(out, "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_01\",\"type\":\"message\","
                + "\"role\":\"assistant\",\"model\":\"claude-sonnet-4-5\",\"content\":[],\"stop_reason\":null,"
                + "\"stop_sequence\":null,\"usage\":{\"input_tokens\":20,\"output_tokens\":1}}}\n\n"
                + "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,"
                + "\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n");
        for (int chunk = 0; chunk < 80; chunk++) {
            write(out, "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,"
                    + "\"delta\":{\"type\":\"text_delta\",\"text\":\"" + HUNDRED + "\"}}\n\n");
        }
        write(out, "event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":0}\n\n");
        hangUps.relayUntilGone(user, out, "event: ping\ndata: {\"type\":\"ping\"}\n\n",
                "event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\","
                        + "\"stop_sequence\":null},\"usage\":{\"output_tokens\":8000}}\n\n"
                        + "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n");
    }
}
