package io.tokenquota.servlet.testing;

import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;

/**
 * What a mock endpoint observed of its own request or response, in order, per subject: a test
 * compares the control path's list with the protected path's, and prints it in failure messages.
 * Each round holds its own; thread-safe.
 */
public final class Observations {
    private final Map<String, List<String>> seen = new ConcurrentHashMap<>();

    /** Records {@code what} for {@code subject} (a request without one records under "?"). */
    public void add(String subject, String what) {
        seen.computeIfAbsent(subject == null ? "?" : subject, s -> new CopyOnWriteArrayList<>()).add(what);
    }

    /** What was recorded for {@code subject}, oldest first. */
    public List<String> of(String subject) {
        return seen.getOrDefault(subject, List.of());
    }
}
