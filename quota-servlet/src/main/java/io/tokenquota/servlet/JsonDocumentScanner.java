package io.tokenquota.servlet;

import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonToken;
import com.fasterxml.jackson.core.async.ByteArrayFeeder;
import java.io.IOException;
import java.util.HashMap;
import java.util.Map;
import java.util.Set;
import java.util.function.Consumer;

/**
 * Scans JSON fed in arbitrary chunks for the usage objects providers put at fixed places, and hands
 * each complete root-level object to a callback as a {@link Document}: its top-level {@code type}
 * string, the integer counters of the objects at {@code usage}, {@code usageMetadata},
 * {@code message.usage} and {@code response.usage}, and whether it says a Gemini answer ended (a
 * {@code candidates[].finishReason} or a {@code promptFeedback.blockReason}). Objects anywhere else
 * (tool arguments, echoed JSON in a model's answer) are never looked into.
 *
 * <p>jackson's non-blocking parser keeps a whole string value in memory until it ends, and one
 * {@code b64_json} image is megabytes. Only structure matters here, so string contents past
 * {@link #KEPT_STRING_BYTES} are dropped before the parser sees them, cut where the rest stays valid
 * JSON and UTF-8 (never inside an escape or a multi-byte character). Not thread-safe.
 */
final class JsonDocumentScanner {
    static final int KEPT_STRING_BYTES = 256;
    /**
     * Usage sits at most three levels deep; what a model nests deeper (tool arguments) is dropped
     * before the parser, down to an empty {@code {}} or {@code []}, so no nesting a model can produce
     * makes the parse fail before the usage that follows it.
     */
    static final int KEPT_DEPTH = 8;
    private static final int SLICE = 8192;
    private static final Set<String> USAGE_PARENTS = Set.of("message", "response");
    private static final Set<String> TOP_LEVEL_USAGE = Set.of("usage", "usageMetadata");

    /**
     * One root-level JSON object's findings.
     *
     * @param ended the object has a candidate with a {@code finishReason} or a
     *              {@code promptFeedback.blockReason}: a Gemini answer (or chunk) that ends the answer
     */
    record Document(String type, Map<String, Map<String, Long>> usages, boolean ended) {
        Map<String, Long> usage(String path) {
            return usages.get(path);
        }
    }

    private final Consumer<Document> sink;
    private JsonParser parser;
    private ByteArrayFeeder feeder;
    /** Kept bytes of a chunk that also had bytes to drop; allocated by the first such chunk. */
    private byte[] slice;
    private boolean failed;

    // string elision
    private boolean inString;
    private boolean afterBackslash;
    private int hexLeft;
    private int kept;
    private boolean eliding;
    private int structDepth;

    // structure of the current root document
    private int depth;
    private boolean inRootArray;
    private final boolean[] objectAt = new boolean[4];
    private String field1;
    private String field2;
    private String field3;
    private String type;
    private boolean ended;
    private String collecting;
    private int collectDepth;
    private String counter;
    private Map<String, Long> counters;
    private Map<String, Map<String, Long>> usages = new HashMap<>();

    JsonDocumentScanner(Consumer<Document> sink) {
        this.sink = sink;
        try {
            parser = Json.RESPONSE_SCAN.createNonBlockingByteArrayParser();
            feeder = (ByteArrayFeeder) parser.getNonBlockingInputFeeder();
        } catch (IOException e) {
            failed = true;
        }
    }

    /** Whether the input turned out not to be JSON (nothing more will be found). */
    boolean failed() {
        return failed;
    }

    void feed(byte[] bytes, int off, int len) {
        if (failed) {
            return;
        }
        int end = off + len;
        int i = off;
        while (i < end && keep(bytes[i])) {
            i++;
        }
        // the usual chunk (short strings, shallow nesting) is kept whole: the parser reads it in place
        if (i > off) {
            parse(bytes, off, i);
        }
        if (i == end || failed) {
            return;
        }
        // past the first dropped byte the kept ones are gathered, so that input alternating between kept
        // and dropped bytes cannot multiply the parser calls
        if (slice == null) {
            slice = new byte[SLICE];
        }
        int n = 0;
        for (i++; i < end && !failed; i++) {
            if (keep(bytes[i])) {
                slice[n++] = bytes[i];
                if (n == SLICE) {
                    parse(slice, 0, n);
                    n = 0;
                }
            }
        }
        if (n > 0 && !failed) {
            parse(slice, 0, n);
        }
    }

    /**
     * End of input. A document cut short (a truncated body, broken JSON after the usage) still
     * reports the usage objects that were complete before the break.
     */
    void end() {
        if (!failed) {
            feeder.endOfInput();
            drain();
        }
        if (depth > 0 && !usages.isEmpty()) {
            sink.accept(new Document(type, usages, ended));
        }
        usages = new HashMap<>();
        depth = 0;
        ended = false;
    }

    /**
     * Whether a byte goes to the parser: everything but string contents past the kept prefix and
     * the contents of values nested deeper than {@link #KEPT_DEPTH}.
     */
    private boolean keep(byte b) {
        if (!inString) {
            switch (b) {
                case '"' -> {
                    inString = true;
                    kept = 0;
                    eliding = false;
                    return structDepth <= KEPT_DEPTH;
                }
                case '{', '[' -> {
                    structDepth++;
                    return structDepth <= KEPT_DEPTH + 1;
                }
                case '}', ']' -> {
                    boolean keptBracket = structDepth <= KEPT_DEPTH + 1;
                    structDepth--;
                    return keptBracket;
                }
                default -> {
                    return structDepth <= KEPT_DEPTH;
                }
            }
        }
        if (structDepth > KEPT_DEPTH) {
            // a string inside a dropped value: follow it to its end, keep none of it
            if (afterBackslash) {
                afterBackslash = false;
            } else if (b == '\\') {
                afterBackslash = true;
            } else if (b == '"') {
                inString = false;
            }
            return false;
        }
        boolean boundary = !afterBackslash && hexLeft == 0 && (b & 0xC0) != 0x80;
        if (afterBackslash) {
            afterBackslash = false;
            if (b == 'u') {
                hexLeft = 4;
            }
        } else if (hexLeft > 0) {
            hexLeft--;
        } else if (b == '\\') {
            afterBackslash = true;
        } else if (b == '"') {
            inString = false;
            return true;
        }
        if (!eliding && boundary && kept >= KEPT_STRING_BYTES) {
            eliding = true;
        }
        if (eliding) {
            return false;
        }
        kept++;
        return true;
    }

    private void parse(byte[] bytes, int start, int end) {
        try {
            feeder.feedInput(bytes, start, end);
        } catch (IOException e) {
            failed = true;
            return;
        }
        drain();
    }

    private void drain() {
        try {
            JsonToken t;
            while ((t = parser.nextToken()) != null && t != JsonToken.NOT_AVAILABLE) {
                accept(t);
            }
        } catch (IOException | RuntimeException e) {
            failed = true;
        }
    }

    private void accept(JsonToken t) throws IOException {
        switch (t) {
            case START_OBJECT, START_ARRAY -> {
                if (depth == 0 && t == JsonToken.START_ARRAY && !inRootArray) {
                    // a stream of documents sent as one JSON array (Gemini's streamGenerateContent
                    // without alt=sse): each element is a root document of its own
                    inRootArray = true;
                    return;
                }
                depth++;
                boolean object = t == JsonToken.START_OBJECT;
                if (depth < objectAt.length) {
                    objectAt[depth] = object;
                }
                if (object && collecting == null) {
                    if (depth == 2 && objectAt[1] && TOP_LEVEL_USAGE.contains(field1)) {
                        startCollecting(field1);
                    } else if (depth == 3 && objectAt[1] && objectAt[2] && USAGE_PARENTS.contains(field1)
                            && "usage".equals(field2)) {
                        startCollecting(field1 + ".usage");
                    }
                }
            }
            case END_OBJECT, END_ARRAY -> {
                if (depth == 0 && inRootArray) {
                    inRootArray = false;
                    return;
                }
                if (collecting != null && depth == collectDepth) {
                    usages.put(collecting, counters);
                    collecting = null;
                }
                depth--;
                if (depth == 0) {
                    if (t == JsonToken.END_OBJECT) {
                        sink.accept(new Document(type, usages, ended));
                    }
                    usages = new HashMap<>();
                    type = null;
                    ended = false;
                    field1 = null;
                    field2 = null;
                    field3 = null;
                }
            }
            case FIELD_NAME -> {
                String name = parser.currentName();
                if (depth == 1) {
                    field1 = name;
                    field2 = null;
                } else if (depth == 2) {
                    field2 = name;
                } else if (depth == 3) {
                    field3 = name;
                }
                if (collecting != null && depth == collectDepth) {
                    counter = name;
                }
            }
            case VALUE_STRING -> {
                if (depth == 1 && "type".equals(field1)) {
                    type = parser.getText();
                } else if (depth == 3 && "candidates".equals(field1) && objectAt[1] && !objectAt[2] && objectAt[3]
                        && "finishReason".equals(field3)) {
                    // Gemini: a candidate the model finished (STOP, MAX_TOKENS, SAFETY...)
                    ended = true;
                } else if (depth == 2 && "promptFeedback".equals(field1) && objectAt[1] && objectAt[2]
                        && "blockReason".equals(field2)) {
                    // Gemini: the prompt was blocked, no candidate will be written
                    ended = true;
                }
            }
            case VALUE_NUMBER_INT -> {
                if (collecting != null && depth == collectDepth && counter != null
                        && parser.getNumberType() != JsonParser.NumberType.BIG_INTEGER) {
                    long value = parser.getLongValue();
                    if (value >= 0) {
                        counters.put(counter, value);
                    }
                }
            }
            case VALUE_NUMBER_FLOAT -> {
                // 5000.0 is the same count; a fraction is rounded up, never down
                if (collecting != null && depth == collectDepth && counter != null) {
                    double value = Math.ceil(parser.getDoubleValue());
                    if (value >= 0 && value <= Long.MAX_VALUE) {
                        counters.put(counter, (long) value);
                    }
                }
            }
            default -> {
                // other scalars carry no usage
            }
        }
    }

    private void startCollecting(String path) {
        collecting = path;
        collectDepth = depth;
        counter = null;
        counters = new HashMap<>();
    }
}
