package io.tokenquota;

import io.tokenquota.internal.Validation;

/**
 * What one model call used, by kind of token, as the model's answer reported it: what
 * {@link ModelWeights} weighs into a charge, and what the event log keeps beside that charge
 * ({@link LedgerEvent#usage()}), so reports can show both. Immutable.
 *
 * <p>The four kinds are disjoint, so no token is counted twice and {@link #total()} is what an
 * unweighted charge would be: {@code input} excludes the cached part that {@code cachedInput}
 * counts (providers that count cached tokens inside the prompt have them subtracted), and
 * {@code output} excludes the reasoning part that {@code reasoning} counts.
 *
 * @param model       the model the answer names, or {@code null} when none is known; at most
 *                    {@link Limits#MAX_MODEL_LENGTH} characters, no control characters
 * @param input       input tokens read at the full rate (cache writes included)
 * @param cachedInput input tokens read from the provider's prompt cache
 * @param output      output tokens written, reasoning excluded
 * @param reasoning   reasoning ("thinking") tokens the model wrote but did not show
 */
public record TokenUsage(String model, long input, long cachedInput, long output, long reasoning) {

    /**
     * @throws QuotaException {@code INVALID_AMOUNT} for a count below 0 or above
     *                        {@link Limits#MAX_TOKENS}; {@code INVALID_ARGUMENT} for a blank, too long
     *                        or control-character model name
     */
    public TokenUsage {
        Validation.nonNegativeTokens(input, "input");
        Validation.nonNegativeTokens(cachedInput, "cached_input");
        Validation.nonNegativeTokens(output, "output");
        Validation.nonNegativeTokens(reasoning, "reasoning");
        if (model != null) {
            if (model.isBlank()) {
                throw new QuotaException(ErrorCode.INVALID_ARGUMENT, "model is blank");
            }
            Validation.text(model, "model", Limits.MAX_MODEL_LENGTH);
        }
    }

    /** Input and output only, for providers that report no cached or reasoning part. */
    public static TokenUsage of(String model, long input, long output) {
        return new TokenUsage(model, input, 0, output, 0);
    }

    /** All four kinds together: the unweighted charge (at most 4 * {@link Limits#MAX_TOKENS}, no overflow). */
    public long total() {
        return input + cachedInput + output + reasoning;
    }
}
