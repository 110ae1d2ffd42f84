package io.tokenquota.servlet;

import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonToken;
import com.fasterxml.jackson.core.async.ByteArrayFeeder;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.util.HashMap;
import java.util.Locale;
import java.util.Map;
import java.util.Set;

/**
 * Finds the model's reported token usage in a response while its bytes pass through, without keeping
 * the response: a JSON body is fed to jackson's non-blocking parser chunk by chunk; a
 * {@code text/event-stream} is split into events and each event's {@code data} is parsed on its own
 * (one event at a time, at most {@link #MAX_EVENT_BYTES}). Recognised usage objects: OpenAI
 * ({@code total_tokens}, else {@code prompt_tokens + completion_tokens}), Anthropic
 * ({@code input_tokens + output_tokens}, merged across {@code message_start} and {@code message_delta}
 * events) and Gemini {@code usageMetadata}. The last value seen of each field wins.
 *
 * <p>Thread-safe: an async servlet may write from another thread than the one that settles.
 */
final class UsageSniffer {
    static final int MAX_EVENT_BYTES = 1 << 20;

    private static final Set<String> USAGE_OBJECTS = Set.of("usage", "usageMetadata");
    private static final Set<String> COUNTERS = Set.of("total_tokens", "prompt_tokens", "completion_tokens",
            "input_tokens", "output_tokens", "totalTokenCount", "promptTokenCount", "candidatesTokenCount");

    private enum Mode { UNDECIDED, JSON, SSE, OFF }

    private Mode mode = Mode.UNDECIDED;
    private final Map<String, Long> latest = new HashMap<>();
    private final Walker walker = new Walker();

    private JsonParser parser;
    private ByteArrayFeeder feeder;

    private final ByteArrayOutputStream line = new ByteArrayOutputStream(256);
    private final ByteArrayOutputStream data = new ByteArrayOutputStream(256);
    private boolean eventTooLarge;

    /** Chooses JSON, SSE or nothing from the response headers at the first byte written. */
    synchronized void begin(String contentType, String contentEncoding) {
        if (mode != Mode.UNDECIDED) {
            return;
        }
        String type = contentType == null ? "" : contentType.toLowerCase(Locale.ROOT);
        if (contentEncoding != null && !contentEncoding.isBlank() && !"identity".equalsIgnoreCase(contentEncoding.trim())) {
            mode = Mode.OFF;
        } else if (type.startsWith("text/event-stream")) {
            mode = Mode.SSE;
        } else if (type.contains("json")) {
            try {
                parser = Json.SCAN.createNonBlockingByteArrayParser();
                feeder = (ByteArrayFeeder) parser.getNonBlockingInputFeeder();
                mode = Mode.JSON;
            } catch (IOException e) {
                mode = Mode.OFF;
            }
        } else {
            mode = Mode.OFF;
        }
    }

    synchronized boolean started() {
        return mode != Mode.UNDECIDED;
    }

    synchronized void feed(byte[] bytes, int off, int len) {
        if (len <= 0) {
            return;
        }
        switch (mode) {
            case JSON -> feedJson(bytes, off, len);
            case SSE -> feedSse(bytes, off, len);
            default -> {
                // not a format we read, or reading failed: bytes only pass through
            }
        }
    }

    /** End of the response: an event not followed by a blank line still counts. */
    synchronized void finish() {
        if (mode == Mode.SSE) {
            if (line.size() > 0) {
                acceptLine();
            }
            dispatchEvent();
        } else if (mode == Mode.JSON) {
            feeder.endOfInput();
            drain();
            mode = Mode.OFF;
        }
    }

    /** The usage the response reported, or {@code null} when it reported none. */
    synchronized Long usage() {
        Long total = latest.get("total_tokens");
        if (total != null) {
            return total;
        }
        if (latest.containsKey("prompt_tokens") || latest.containsKey("completion_tokens")) {
            return sum("prompt_tokens", "completion_tokens");
        }
        if (latest.containsKey("input_tokens") || latest.containsKey("output_tokens")) {
            return sum("input_tokens", "output_tokens");
        }
        Long gemini = latest.get("totalTokenCount");
        if (gemini != null) {
            return gemini;
        }
        if (latest.containsKey("promptTokenCount") || latest.containsKey("candidatesTokenCount")) {
            return sum("promptTokenCount", "candidatesTokenCount");
        }
        return null;
    }

    private long sum(String a, String b) {
        long sum = latest.getOrDefault(a, 0L) + latest.getOrDefault(b, 0L);
        return sum < 0 ? Long.MAX_VALUE : sum;
    }

    private void feedJson(byte[] bytes, int off, int len) {
        try {
            // the parser may keep pointing into the array; the caller's buffer is reused, so copy
            byte[] copy = java.util.Arrays.copyOfRange(bytes, off, off + len);
            feeder.feedInput(copy, 0, copy.length);
            drain();
        } catch (IOException | RuntimeException e) {
            mode = Mode.OFF;
        }
    }

    private void drain() {
        try {
            JsonToken t;
            while ((t = parser.nextToken()) != null && t != JsonToken.NOT_AVAILABLE) {
                walker.accept(t, parser);
            }
        } catch (IOException | RuntimeException e) {
            // not JSON after all, or too big a string: stop reading, keep what was found
            mode = Mode.OFF;
        }
    }

    private void feedSse(byte[] bytes, int off, int len) {
        int start = off;
        int end = off + len;
        for (int i = off; i < end; i++) {
            if (bytes[i] == '\n') {
                appendLine(bytes, start, i - start);
                acceptLine();
                start = i + 1;
            }
        }
        appendLine(bytes, start, end - start);
    }

    private void appendLine(byte[] bytes, int off, int len) {
        if (len <= 0) {
            return;
        }
        if (line.size() + len > MAX_EVENT_BYTES) {
            eventTooLarge = true;
            line.reset();
            return;
        }
        line.write(bytes, off, len);
    }

    private void acceptLine() {
        byte[] l = line.toByteArray();
        line.reset();
        int len = l.length;
        if (len > 0 && l[len - 1] == '\r') {
            len--;
        }
        if (len == 0) {
            dispatchEvent();
            return;
        }
        if (eventTooLarge || len < 5 || l[0] != 'd' || l[1] != 'a' || l[2] != 't' || l[3] != 'a' || l[4] != ':') {
            return;
        }
        int from = len > 5 && l[5] == ' ' ? 6 : 5;
        if (data.size() + (len - from) + 1 > MAX_EVENT_BYTES) {
            eventTooLarge = true;
            data.reset();
            return;
        }
        if (data.size() > 0) {
            data.write('\n');
        }
        data.write(l, from, len - from);
    }

    private void dispatchEvent() {
        boolean skip = eventTooLarge;
        eventTooLarge = false;
        if (data.size() == 0 || skip) {
            data.reset();
            return;
        }
        byte[] event = data.toByteArray();
        data.reset();
        if (event[0] != '{') {
            return; // "[DONE]" and other non-JSON markers
        }
        Walker eventWalker = new Walker();
        try (JsonParser p = Json.SCAN.createParser(event)) {
            JsonToken t;
            while ((t = p.nextToken()) != null) {
                eventWalker.accept(t, p);
            }
        } catch (IOException | RuntimeException e) {
            // a broken event is skipped; the stream itself is passed through untouched
        }
    }

    /** Follows the token stream and records the counters of every usage object, whatever its depth. */
    private final class Walker {
        private int depth;
        private int usageDepth = -1;
        private boolean usageNext;
        private String field;
        private final Map<String, Long> current = new HashMap<>();

        void accept(JsonToken t, JsonParser p) throws IOException {
            switch (t) {
                case START_OBJECT -> {
                    depth++;
                    if (usageNext && usageDepth < 0) {
                        usageDepth = depth;
                        current.clear();
                    }
                    usageNext = false;
                }
                case START_ARRAY -> {
                    depth++;
                    usageNext = false;
                }
                case END_OBJECT -> {
                    if (depth == usageDepth) {
                        latest.putAll(current);
                        usageDepth = -1;
                    }
                    depth--;
                }
                case END_ARRAY -> depth--;
                case FIELD_NAME -> {
                    String name = p.currentName();
                    usageNext = usageDepth < 0 && USAGE_OBJECTS.contains(name);
                    if (depth == usageDepth) {
                        field = name;
                    }
                }
                case VALUE_NUMBER_INT -> {
                    usageNext = false;
                    if (depth == usageDepth && COUNTERS.contains(field)
                            && p.getNumberType() != JsonParser.NumberType.BIG_INTEGER) {
                        long value = p.getLongValue();
                        if (value >= 0) {
                            current.put(field, value);
                        }
                    }
                }
                default -> usageNext = false;
            }
        }
    }
}
