package io.tokenquota.servlet;

import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonToken;
import java.io.IOException;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.function.Predicate;

/**
 * The message ids a request body carries: the {@code id} string of every object in it that has a
 * {@code type} or {@code role} and a {@code content} field, as a client resending a conversation sends
 * its messages back (LangServe's {@code input.messages[]}, a LangGraph thread). An AI message in the
 * answer whose id is one of them is the client's history, echoed back, not this call's: LangChain and
 * LangGraph give every message a run writes a fresh id the client cannot name in advance
 * ({@link JsonDocumentScanner#LANGSERVE_OUTPUT}).
 *
 * <p>Bounded: at most {@link #MAX_IDS} ids of at most {@link JsonDocumentScanner#KEPT_STRING_BYTES}
 * characters (a longer one is cut in the answer's scan and so never matches: its message counts). The
 * body is read only when an answer holds an AI message with an id, at most once per request.
 *
 * <p>A run's id can come from the client ({@code config.run_id}, where an app accepts it), and a
 * message a chat model run writes is named after its run ({@code run-<run_id>-0}): an id containing a
 * {@code run_id} the request names is not taken as sent back, so a client cannot name its answer's
 * message in advance and go free.
 */
final class RequestMessageIds {
    /** How many ids are kept: a thread's messages, a few thousand at most. */
    static final int MAX_IDS = 4_096;
    /** How many {@code run_id} values of the request are kept (the ids containing one are dropped). */
    static final int MAX_RUN_IDS = 64;

    private RequestMessageIds() {
    }

    /**
     * Whether an answer's message id is one the request body sent; the body is scanned on the first
     * question. {@code body} {@code null} (a multipart request, not kept): no id was sent.
     */
    static Predicate<String> sentBy(byte[] body) {
        if (body == null || body.length == 0) {
            return id -> false;
        }
        return new Predicate<>() {
            private Set<String> ids;

            @Override
            public synchronized boolean test(String id) {
                if (ids == null) {
                    ids = of(body);
                }
                return id != null && ids.contains(id);
            }
        };
    }

    /** The message ids {@code body} carries; empty when it is not JSON (what was read before an error counts). */
    static Set<String> of(byte[] body) {
        Set<String> ids = new HashSet<>();
        Set<String> runIds = new HashSet<>();
        // per open object: [0] a type or role seen, [1] a content field seen; its id string
        List<boolean[]> shape = new ArrayList<>();
        List<String> idOf = new ArrayList<>();
        List<Boolean> objects = new ArrayList<>();
        try (JsonParser parser = Json.REQUEST_SCAN.createParser(body)) {
            JsonToken t;
            String field = null;
            while ((t = parser.nextToken()) != null) {
                switch (t) {
                    case START_OBJECT -> {
                        objects.add(true);
                        shape.add(new boolean[2]);
                        idOf.add(null);
                    }
                    case START_ARRAY -> {
                        objects.add(false);
                        shape.add(null);
                        idOf.add(null);
                    }
                    case END_OBJECT, END_ARRAY -> {
                        int last = objects.size() - 1;
                        if (last < 0) {
                            break;
                        }
                        boolean[] s = shape.remove(last);
                        String id = idOf.remove(last);
                        objects.remove(last);
                        if (s != null && s[0] && s[1] && id != null
                                && id.length() <= JsonDocumentScanner.KEPT_STRING_BYTES) {
                            ids.add(id);
                            if (ids.size() >= MAX_IDS) {
                                return withoutRuns(ids, runIds);
                            }
                        }
                    }
                    case FIELD_NAME -> {
                        field = parser.currentName();
                        boolean[] s = shape.get(shape.size() - 1);
                        if ("type".equals(field) || "role".equals(field)) {
                            s[0] = true;
                        } else if ("content".equals(field)) {
                            s[1] = true;
                        }
                    }
                    case VALUE_STRING -> {
                        int last = objects.size() - 1;
                        if (last >= 0 && objects.get(last) && "id".equals(field)) {
                            idOf.set(last, parser.getText());
                        } else if (last >= 0 && objects.get(last) && ("run_id".equals(field) || "runId".equals(field))
                                && runIds.size() < MAX_RUN_IDS) {
                            runIds.add(parser.getText());
                        }
                    }
                    default -> {
                    }
                }
            }
        } catch (IOException | RuntimeException e) {
            // not JSON, or cut: the ids read so far
        }
        return withoutRuns(ids, runIds);
    }

    /** {@code ids} without those containing one of the request's run ids (a message of a run the client named). */
    private static Set<String> withoutRuns(Set<String> ids, Set<String> runIds) {
        for (String run : runIds) {
            String named = run.strip();
            String canonical = canonicalUuid(named);
            if (!named.isEmpty()) {
                ids.removeIf(id -> id.contains(named) || (canonical != null && id.toLowerCase(java.util.Locale.ROOT)
                        .contains(canonical)));
            }
        }
        return ids;
    }

    /**
     * A run id as Python's {@code str(UUID(value))} writes it (lower case, dashed; {@code urn:uuid:},
     * braces and dashes dropped, as {@code UUID()} drops them), or {@code null} when it is no uuid.
     */
    static String canonicalUuid(String value) {
        String hex = value.toLowerCase(java.util.Locale.ROOT).replace("urn:", "").replace("uuid:", "")
                .replace("{", "").replace("}", "").replace("-", "");
        if (hex.length() != 32 || !hex.chars().allMatch(c -> (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) {
            return null;
        }
        return hex.substring(0, 8) + "-" + hex.substring(8, 12) + "-" + hex.substring(12, 16) + "-"
                + hex.substring(16, 20) + "-" + hex.substring(20);
    }
}
