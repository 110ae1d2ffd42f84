package io.tokenquota.servlet;

import java.util.LinkedHashMap;
import java.util.Map;

/**
 * The usage of recent answers by their path and {@code ETag}. An ETag filter inside the quota filter
 * (Spring's {@code ShallowEtagHeaderFilter}) lets the model answer, then sends {@code 304 Not Modified}
 * without the body when the client already has an identical answer: that answer's usage is what the
 * call cost, and this is where the filter finds it. Bounded: the least recently used entries go.
 * Thread-safe.
 */
final class AnswerUsages {
    /** Longer path and ETag pairs are not kept: an entry stays small whatever a response sets. */
    private static final int MAX_KEY_LENGTH = 1024;

    private final Map<String, Long> usages;

    AnswerUsages(int capacity) {
        this.usages = new LinkedHashMap<>(16, 0.75f, true) {
            private static final long serialVersionUID = 1L;

            @Override
            protected boolean removeEldestEntry(Map.Entry<String, Long> eldest) {
                return size() > capacity;
            }
        };
    }

    /** Remembers the usage an answer sent with {@code etag} reported; nothing without an ETag. */
    void remember(String path, String etag, long usage) {
        String key = key(path, etag);
        if (key != null) {
            synchronized (usages) {
                usages.put(key, usage);
            }
        }
    }

    /** The usage of the answer last sent for {@code path} with {@code etag}, or {@code null}. */
    Long usage(String path, String etag) {
        String key = key(path, etag);
        if (key == null) {
            return null;
        }
        synchronized (usages) {
            return usages.get(key);
        }
    }

    private static String key(String path, String etag) {
        if (etag == null || etag.isBlank() || path == null || path.length() + etag.length() >= MAX_KEY_LENGTH) {
            return null;
        }
        return path + ' ' + etag.trim();
    }
}
