package io.tokenquota.servlet;

import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonToken;
import java.io.IOException;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.function.Predicate;

/**
 * The message ids a request body carries: the {@code id} string of every object in it that has a
 * {@code type} or {@code role} and a {@code content} field, as a client resending a conversation sends
 * its messages back (LangServe's {@code input.messages[]}, a LangGraph thread). An AI message in the
 * answer whose id is one of them is the client's history, echoed back, not this call's: LangChain and
 * LangGraph give every message a run writes a fresh id the client cannot name in advance
 * ({@link JsonDocumentScanner#LANGSERVE_OUTPUT}). A Pydantic AI {@code ModelResponse} the client sent back
 * as its {@code message_history} is among them by its {@code provider_response_id} and its usage's counts
 * together ({@link #modelResponse}): one in the answer with both the same is that history.
 *
 * <p>Bounded: at most {@link #MAX_IDS} ids of at most {@link JsonDocumentScanner#KEPT_STRING_BYTES}
 * characters (a longer one is cut in the answer's scan and so never matches: its message counts), a
 * {@code ModelResponse}'s with at most {@link JsonDocumentScanner#MAX_COUNTERS} counters. The body is read
 * only when an answer holds an AI message with an id or such a {@code ModelResponse}, at most once per request.
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
        List<Open> open = new ArrayList<>();
        try (JsonParser parser = Json.REQUEST_SCAN.createParser(body)) {
            JsonToken t;
            String field = null;
            while ((t = parser.nextToken()) != null) {
                Open in = open.isEmpty() ? null : open.get(open.size() - 1);
                boolean member = in != null && in.object;
                switch (t) {
                    case START_OBJECT, START_ARRAY -> open.add(new Open(t == JsonToken.START_OBJECT,
                            member && "usage".equals(field) ? new HashMap<>() : null));
                    case END_OBJECT, END_ARRAY -> {
                        if (in == null) {
                            break;
                        }
                        open.remove(open.size() - 1);
                        Open outer = open.isEmpty() ? null : open.get(open.size() - 1);
                        if (in.counters != null && outer != null) {
                            outer.usage = in.counters;
                        }
                        String id = in.typed && in.content && kept(in.id) ? in.id
                                : in.response && in.parts && in.usage != null && kept(in.responseId)
                                ? modelResponse(in.responseId, in.usage) : null;
                        if (id != null) {
                            ids.add(id);
                            if (ids.size() >= MAX_IDS) {
                                return withoutRuns(ids, runIds);
                            }
                        }
                    }
                    case FIELD_NAME -> {
                        field = parser.currentName();
                        if ("type".equals(field) || "role".equals(field)) {
                            in.typed = true;
                        } else if ("content".equals(field)) {
                            in.content = true;
                        } else if ("parts".equals(field)) {
                            in.parts = true;
                        }
                    }
                    case VALUE_STRING -> {
                        if (!member) {
                            break;
                        }
                        if ("id".equals(field)) {
                            in.id = parser.getText();
                        } else if ("kind".equals(field)) {
                            // the last one named counts, as pydantic reads it
                            in.response = "response".equals(parser.getText());
                        } else if ("provider_response_id".equals(field)) {
                            in.responseId = parser.getText();
                        } else if (("run_id".equals(field) || "runId".equals(field)) && runIds.size() < MAX_RUN_IDS) {
                            runIds.add(parser.getText());
                        }
                    }
                    case VALUE_NUMBER_INT -> {
                        JsonParser.NumberType type = parser.getNumberType();
                        if (member && in.counters != null && (type == JsonParser.NumberType.INT
                                || type == JsonParser.NumberType.LONG)
                                && (in.counters.size() < JsonDocumentScanner.MAX_COUNTERS || in.counters.containsKey(field))) {
                            in.counters.put(field, parser.getLongValue());
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

    /**
     * What names a Pydantic AI {@code ModelResponse} the request sent back ({@code ModelMessagesTypeAdapter}'s:
     * {@code "kind": "response"}, its {@code parts}, its {@code usage} and {@code provider_response_id}) among the
     * ids: its id with every integer counter of its usage, so that only the very report the client holds matches.
     * Round 394: a stateless route answers {@code all_messages_json()}, the history the client sent before this
     * run's messages, and each earlier {@code ModelResponse} in it was charged again (turn 2 committed 7,000 for
     * its call of 4,300); but some backends' ids can be guessed (Ollama's OpenAI-compatible
     * {@code chatcmpl-<n>}), and by its id alone a client could name this run's call as history and go free.
     */
    static String modelResponse(String id, Map<String, Long> usage) {
        StringBuilder key = new StringBuilder("ModelResponse\0").append(id);
        new TreeMap<>(usage).forEach((name, count) -> {
            if (name.indexOf('.') < 0) {
                key.append('\0').append(name).append('=').append(count);
            }
        });
        return key.toString();
    }

    /** An id the answer's scan keeps whole ({@link JsonDocumentScanner#KEPT_STRING_BYTES}): a longer one never matches. */
    private static boolean kept(String id) {
        return id != null && id.length() <= JsonDocumentScanner.KEPT_STRING_BYTES;
    }

    /**
     * An open object or array of the body: for an object, what makes it a message (a {@code type} or {@code role}
     * and a {@code content}; its {@code id}) or a Pydantic AI {@code ModelResponse} ({@link #modelResponse}).
     */
    private static final class Open {
        final boolean object;
        /** The integer members of an object that is its parent's {@code usage}; {@code null} for any other. */
        final Map<String, Long> counters;
        boolean typed;
        boolean content;
        String id;
        boolean parts;
        boolean response;
        String responseId;
        Map<String, Long> usage;

        Open(boolean object, Map<String, Long> counters) {
            this.object = object;
            this.counters = object ? counters : null;
        }
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
