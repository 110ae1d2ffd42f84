package io.tokenquota;

/**
 * Estimates how many model tokens a text costs, before the model says. Implementations must be
 * thread-safe, and must not keep the {@code CharSequence} after {@link #estimate} returns: the
 * filter passes views of the JSON parser's reused buffer. {@link io.tokenquota.estimator.DefaultTokenEstimator} needs no
 * dependency.
 */
@FunctionalInterface
public interface TokenEstimator {
    /** Estimated tokens for {@code text}; 0 for an empty text, never negative. */
    long estimate(CharSequence text);
}
