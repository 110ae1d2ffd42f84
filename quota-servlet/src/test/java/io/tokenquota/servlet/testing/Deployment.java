package io.tokenquota.servlet.testing;

import jakarta.servlet.Filter;
import jakarta.servlet.Servlet;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;

/**
 * What to mount in an embedded container: filters (REQUEST dispatch, async supported) and servlets
 * (async supported), each under URL patterns, in the order given. Mutable while being built; not
 * thread-safe.
 */
public final class Deployment {
    /** A filter or servlet mapping. */
    public record Mapping<T>(String name, T component, List<String> urlPatterns) {
    }

    private final List<Mapping<Filter>> filters = new ArrayList<>();
    private final List<Mapping<Servlet>> servlets = new ArrayList<>();

    public static Deployment create() {
        return new Deployment();
    }

    public Deployment filter(String name, Filter filter, String... urlPatterns) {
        filters.add(new Mapping<>(Objects.requireNonNull(name), Objects.requireNonNull(filter), List.of(urlPatterns)));
        return this;
    }

    public Deployment servlet(String name, Servlet servlet, String... urlPatterns) {
        servlets.add(new Mapping<>(Objects.requireNonNull(name), Objects.requireNonNull(servlet), List.of(urlPatterns)));
        return this;
    }

    public List<Mapping<Filter>> filters() {
        return List.copyOf(filters);
    }

    public List<Mapping<Servlet>> servlets() {
        return List.copyOf(servlets);
    }
}
