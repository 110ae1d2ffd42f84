package io.tokenquota.servlet;

import java.util.LinkedHashMap;

/**
 * The usage of recent answers by the request that got them and their {@code ETag}. An ETag filter
 * inside the quota filter (Spring's {@code ShallowEtagHeaderFilter}), or Spring MVC checking a
 * {@code ResponseEntity}'s ETag, lets the model answer, then sends {@code 304 Not Modified} without the
 * body when the client already has an identical answer: the usage of that answer, given earlier to the
 * same request of the same subject, is what the call cost, and this is where the filter finds it. The
 * request is part of the key ({@link #requestKey}): the same answer ("OK") to a cheaper or another
 * subject's request says nothing about this one's cost. Also the fingerprints of the calls a
 * subject's results files reported ({@link #chargedCalls}), and the event streams a subject was sent
 * ({@link #streamed}), which an {@code EventSource} reconnects to. Kept per subject and kind, so that
 * other subjects' traffic (every streamed answer is an entry) cannot push out what one subject's next
 * request needs: each subject keeps its {@value #PER_SUBJECT} most recent entries of a kind, and when all
 * of them hold more than the capacity, the subject least recently seen goes whole. What state kept at
 * the provider costs has a memory of its own ({@link ProviderState}). Thread-safe.
 */
final class AnswerUsages {
    /** Longer request key and ETag pairs are not kept: an entry stays small whatever a response sets. */
    private static final int MAX_KEY_LENGTH = 1024;
    /** Entries one subject keeps of one kind: its recent answers, not its history. */
    static final int PER_SUBJECT = 64;

    private final int capacity;
    /** By subject and kind, least recently used first; each its entries, least recently used first. Guarded by itself. */
    private final LinkedHashMap<String, LinkedHashMap<String, Long>> partitions = new LinkedHashMap<>(16, 0.75f, true);
    private int entries;

    AnswerUsages(int capacity) {
        this.capacity = capacity;
    }

    /**
     * A request's key: a SHA-256 digest of its subject, method, URI, query string and body, so an
     * entry is found only by the very request that got the answer.
     */
    static String requestKey(String subject, String method, String uri, String query, byte[] body) {
        try {
            java.security.MessageDigest sha = java.security.MessageDigest.getInstance("SHA-256");
            for (String part : new String[] {subject, method, uri, query}) {
                byte[] bytes = String.valueOf(part).getBytes(java.nio.charset.StandardCharsets.UTF_8);
                // each part's length first: no two different requests make the same stream of bytes
                sha.update(java.nio.ByteBuffer.allocate(4).putInt(bytes.length).array());
                sha.update(bytes);
            }
            sha.update(body);
            return java.util.HexFormat.of().formatHex(sha.digest());
        } catch (java.security.NoSuchAlgorithmException e) {
            throw new IllegalStateException("every Java platform has SHA-256", e);
        }
    }

    /**
     * The key under which a subject's results of several calls (a batch's output file) are kept, by
     * their fingerprint: the same calls read again were charged when first read.
     */
    static String chargedCalls(String subject) {
        return "charged-calls " + subject;
    }

    /**
     * The key under which an event stream sent to a subject on a URL is kept (with the ETag-like marker
     * {@link #STREAM}): a browser's {@code EventSource} reconnects to that URL when the stream ends.
     */
    static String streamed(String subject, String uri, String query) {
        return "streamed " + subject + ' ' + uri + (query == null ? "" : '?' + query);
    }

    /** The marker the entries of {@link #streamed} are kept under. */
    static final String STREAM = "text/event-stream";

    /** The kinds of entry, each kept apart: answers by ETag, results files' calls, streams sent. */
    enum Kind { ANSWER, CALLS, STREAM }

    /**
     * Remembers the usage an answer to {@code request} ({@link #requestKey}, or a key of {@code kind})
     * of {@code subject} sent with {@code etag} reported.
     */
    void remember(String subject, Kind kind, String request, String etag, long usage) {
        String key = key(request, etag);
        if (key == null) {
            return;
        }
        synchronized (partitions) {
            LinkedHashMap<String, Long> partition = partitions.computeIfAbsent(kind + " " + subject,
                    k -> new LinkedHashMap<>(16, 0.75f, true));
            if (partition.put(key, usage) == null) {
                entries++;
                if (partition.size() > PER_SUBJECT) {
                    var eldest = partition.keySet().iterator();
                    eldest.next();
                    eldest.remove();
                    entries--;
                }
            }
            // the subjects least recently seen go whole, never the one just written
            var oldest = partitions.values().iterator();
            while (entries > capacity && partitions.size() > 1) {
                LinkedHashMap<String, Long> gone = oldest.next();
                if (gone == partition) {
                    continue;
                }
                entries -= gone.size();
                oldest.remove();
            }
        }
    }

    /** The usage of the answer last sent to {@code subject}'s {@code request} with {@code etag}, or {@code null}. */
    Long usage(String subject, Kind kind, String request, String etag) {
        String key = key(request, etag);
        if (key == null) {
            return null;
        }
        synchronized (partitions) {
            LinkedHashMap<String, Long> partition = partitions.get(kind + " " + subject);
            return partition == null ? null : partition.get(key);
        }
    }

    private static String key(String request, String etag) {
        if (etag == null || etag.isBlank() || request == null || request.length() + etag.length() >= MAX_KEY_LENGTH) {
            return null;
        }
        return request + ' ' + etag.trim();
    }
}
