package io.tokenquota.servlet;

import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonToken;
import io.tokenquota.Limits;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * What state kept at the provider costs a call that names it, by the provider's id for it: an OpenAI
 * stored Response (continued with {@code previous_response_id}), a conversation ({@code conversation}:
 * the Conversations API) and a stored prompt template ({@code prompt.id} and {@code version}). The
 * request carries only the id, and the model reads that state as input: the filter adds what it saw it
 * cost to the estimate, so a stream cut before its usage is not charged without it.
 *
 * <p>Keyed by the id alone: the provider's ids belong to the application's provider project, not to
 * one subject, and any subject that knows one continues it (an id is no secret worth guarding here;
 * what is remembered is a token count). Its own memory, least recently used out, written only by
 * answers that create or extend such state: ETag answers, batch fingerprints and calls that store
 * nothing ({@code "store": false}, no conversation, no prompt) cannot evict an entry. Thread-safe.
 */
final class ProviderState {
    /**
     * Entries kept by default: about 160 bytes each for ids of OpenAI's length (about 50 characters),
     * at most 240 ({@link #MAX_ID_LENGTH}); 10 MB, at most 16 MB, in all. Evicting a figure takes as
     * many calls that store state, each charged its own usage.
     */
    static final int DEFAULT_ENTRIES = 65_536;
    /** Longer ids (and prompt versions) are not kept: an entry stays small whatever a body names. */
    static final int MAX_ID_LENGTH = 128;

    private static final byte[][] NAMES = {"previous_response_id".getBytes(StandardCharsets.US_ASCII),
        "conversation".getBytes(StandardCharsets.US_ASCII), "prompt".getBytes(StandardCharsets.US_ASCII),
        "store".getBytes(StandardCharsets.US_ASCII)};

    private final Map<String, Long> figures;

    ProviderState(int entries) {
        this.figures = new LinkedHashMap<>(16, 0.75f, true) {
            private static final long serialVersionUID = 1L;

            @Override
            protected boolean removeEldestEntry(Map.Entry<String, Long> eldest) {
                return size() > entries;
            }
        };
    }

    /**
     * The provider state a request body names at its top level: {@code previous_response_id}, a
     * {@code conversation} (its id, or an object's {@code id}), a {@code prompt} object's {@code id}
     * and {@code version} ({@code null} each when not named), and whether the answer is stored
     * ({@code "store": false} says not).
     */
    record Refs(String previousResponse, String conversation, String prompt, boolean stores) {
        /** A body that names none (not JSON, a form, a multipart body). */
        static final Refs NONE = new Refs(null, null, null, true);

        /** What {@code body} names; bodies without any of the field names are not parsed again. */
        static Refs of(byte[] body) {
            if (body == null || !mentionsAny(body)) {
                return NONE;
            }
            String previous = null;
            String conversation = null;
            String prompt = null;
            boolean stores = true;
            try (JsonParser p = Json.REQUEST_SCAN.createParser(body)) {
                if (p.nextToken() != JsonToken.START_OBJECT) {
                    return NONE;
                }
                while (p.nextToken() == JsonToken.FIELD_NAME) {
                    String name = p.currentName();
                    JsonToken value = p.nextToken();
                    if ("previous_response_id".equals(name) && value == JsonToken.VALUE_STRING) {
                        previous = p.getText();
                    } else if ("conversation".equals(name) && value == JsonToken.VALUE_STRING) {
                        conversation = p.getText();
                    } else if ("conversation".equals(name) && value == JsonToken.START_OBJECT) {
                        conversation = members(p)[0];
                    } else if ("prompt".equals(name) && value == JsonToken.START_OBJECT) {
                        String[] idAndVersion = members(p);
                        prompt = idAndVersion[0] == null ? null
                                : idAndVersion[0] + (idAndVersion[1] == null ? "" : "@" + idAndVersion[1]);
                    } else if ("store".equals(name) && value == JsonToken.VALUE_FALSE) {
                        stores = false;
                    } else {
                        p.skipChildren();
                    }
                }
            } catch (IOException | RuntimeException e) {
                // not JSON: the endpoint cannot read a reference in it either
                return NONE;
            }
            return new Refs(previous, conversation, prompt, stores);
        }

        /** An object's {@code id} and {@code version} strings (null when absent); its other members skipped. */
        private static String[] members(JsonParser p) throws IOException {
            String[] found = new String[2];
            while (p.nextToken() == JsonToken.FIELD_NAME) {
                String name = p.currentName();
                if (p.nextToken() == JsonToken.VALUE_STRING && ("id".equals(name) || "version".equals(name))) {
                    found["id".equals(name) ? 0 : 1] = p.getText();
                } else {
                    p.skipChildren();
                }
            }
            return found;
        }

        private static boolean mentionsAny(byte[] body) {
            for (byte[] name : NAMES) {
                if (indexOf(body, name) >= 0) {
                    return true;
                }
            }
            return false;
        }
    }

    /**
     * What a request names and what the filter saw it cost: {@code history} the stored Response's and
     * the conversation's figures (what the model reads again of earlier calls), {@code historyKnown}
     * whether every history named was known, {@code prompt} the stored prompt's figure ({@code null}
     * when none is named or known).
     */
    record Reading(Refs refs, long history, boolean historyKnown, Long prompt) {
        /** What the request makes the model read besides its own input, in tokens. */
        long held() {
            return saturated(history, prompt == null ? 0 : prompt);
        }
    }

    /** What this filter saw the state {@code refs} names cost. */
    Reading read(Refs refs) {
        Long previous = figure(key("r:", refs.previousResponse()));
        Long conversation = figure(key("c:", refs.conversation()));
        boolean known = (refs.previousResponse() == null || previous != null)
                && (refs.conversation() == null || conversation != null);
        return new Reading(refs, saturated(previous == null ? 0 : previous, conversation == null ? 0 : conversation),
                known, figure(key("p:", refs.prompt())));
    }

    /**
     * Remembers what a completed call's final usage says of the state it named and created: the
     * stored prompt cost what the model read above the request's own input and the history it named
     * (only when that history was known: else the difference holds it too); the Response it stored and
     * the conversation it extended hold what it read and wrote, but the prompt (a template is not
     * carried into either).
     *
     * @param inputEstimate  the request's input as held, in raw tokens: its own and {@link Reading#held}
     * @param storedResponse the id of the Response the answer is, or {@code null}
     * @param kinds          the usage by kind ({@code {input, cachedInput, output, reasoning}}), or
     *                       {@code null} when the answer did not split it
     * @param total          the usage, raw tokens
     */
    void answered(Reading reading, long inputEstimate, String storedResponse, long[] kinds, long total) {
        Refs refs = reading.refs();
        Long prompt = reading.prompt();
        if (refs.prompt() != null && reading.historyKnown() && kinds != null) {
            long own = Math.max(0, inputEstimate - reading.held());
            prompt = Math.max(0, saturated(kinds[0], kinds[1]) - saturated(own, reading.history()));
            remember(key("p:", refs.prompt()), prompt);
        }
        long read = Math.max(0, total - (prompt == null ? 0 : prompt));
        if (refs.stores()) {
            remember(key("r:", storedResponse), read);
        }
        remember(key("c:", refs.conversation()), read);
    }

    private Long figure(String key) {
        if (key == null) {
            return null;
        }
        synchronized (figures) {
            return figures.get(key);
        }
    }

    private void remember(String key, long tokens) {
        if (key != null) {
            synchronized (figures) {
                figures.put(key, tokens);
            }
        }
    }

    private static String key(String kind, String id) {
        return id == null || id.isEmpty() || id.length() > MAX_ID_LENGTH ? null : kind + id;
    }

    private static long saturated(long a, long b) {
        long sum = a + b;
        return sum < 0 || sum > Limits.MAX_TOKENS ? Limits.MAX_TOKENS : sum;
    }

    private static int indexOf(byte[] haystack, byte[] needle) {
        outer:
        for (int i = 0; i + needle.length <= haystack.length; i++) {
            for (int j = 0; j < needle.length; j++) {
                if (haystack[i + j] != needle[j]) {
                    continue outer;
                }
            }
            return i;
        }
        return -1;
    }
}
