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
}
