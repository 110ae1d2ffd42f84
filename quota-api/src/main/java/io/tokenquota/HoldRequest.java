package io.tokenquota;

import io.tokenquota.internal.Validation;
import java.time.Duration;
import java.util.Objects;

/**
 * What a hold ({@link QuotaLedger#reserve(HoldRequest)}) or a one-step consume
 * ({@link QuotaLedger#consume(HoldRequest)}) asks for. Its optional parts are named, so an
 * idempotency key and an endpoint label cannot be swapped by accident:
 * <pre>{@code
 * HoldRequest request = HoldRequest.of("user-42", 1_500)
 *         .idempotencyKey(requestId)
 *         .endpoint("/api/v1/ai/chat")
 *         .build();
 * }</pre>
 *
 * <p>Validated by {@link Builder#build()}, in the order subject, tokens, idempotency key, endpoint,
 * TTL, so an invalid request never reaches a store; the values are the caller's input, so a bad one
 * is a {@link QuotaException} like any other refused call. A request with the idempotency key of an
 * earlier one asks "the same parameters" when its tokens and endpoint are equal and its TTL is no longer
 * than the earlier hold lives (a running call's hold may have been extended). Immutable and thread-safe.
 */
public final class HoldRequest {
    private final String subject;
    private final long tokens;
    private final String idempotencyKey;
    private final Duration ttl;
    private final String endpoint;
    private final TokenUsage usage;

    private HoldRequest(Builder b) {
        this.subject = b.subject;
        this.tokens = b.tokens;
        this.idempotencyKey = b.idempotencyKey;
        this.ttl = b.ttl;
        this.endpoint = b.endpoint;
        this.usage = b.usage;
    }

    /**
     * Starts a request for {@code tokens} of the subject's current month; nothing is checked until
     * {@link Builder#build()}.
     */
    public static Builder of(String subject, long tokens) {
        return new Builder(subject, tokens);
    }

    /** The subject whose month is charged: 1..{@link Limits#MAX_ID_LENGTH} printable characters. */
    public String subject() {
        return subject;
    }

    /** 1..{@link Limits#MAX_TOKENS}. */
    public long tokens() {
        return tokens;
    }

    /** Unique per subject, one namespace for holds and consumes; {@code null} when the call is not to be replayed. */
    public String idempotencyKey() {
        return idempotencyKey;
    }

    /** How long the hold lives; {@code null} means the policy's {@link QuotaPolicy#holdTtl()}. A consume takes none. */
    public Duration ttl() {
        return ttl;
    }

    /** Label stored on the events (a path, a job name); {@code null} for none. */
    public String endpoint() {
        return endpoint;
    }

    /**
     * For a consume: what the call used (model and raw counts), kept on its COMMITTED event beside the
     * charge ({@link #tokens()}); {@code null} for none. Not compared on a replay (the first usage stays),
     * and refused on a hold ({@link ErrorCode#INVALID_ARGUMENT}): a hold is taken before the call used anything.
     */
    public TokenUsage usage() {
        return usage;
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof HoldRequest other && tokens == other.tokens && subject.equals(other.subject)
                && Objects.equals(idempotencyKey, other.idempotencyKey) && Objects.equals(ttl, other.ttl)
                && Objects.equals(endpoint, other.endpoint) && Objects.equals(usage, other.usage);
    }

    @Override
    public int hashCode() {
        return Objects.hash(subject, tokens, idempotencyKey, ttl, endpoint, usage);
    }

    @Override
    public String toString() {
        return "HoldRequest{subject=" + subject + ", tokens=" + tokens + ", idempotencyKey=" + idempotencyKey
                + ", ttl=" + ttl + ", endpoint=" + endpoint + (usage == null ? "" : ", usage=" + usage) + '}';
    }

    /** Mutable builder of one {@link HoldRequest}; not thread-safe. Each optional part may be set to {@code null}. */
    public static final class Builder {
        private final String subject;
        private final long tokens;
        private String idempotencyKey;
        private Duration ttl;
        private String endpoint;
        private TokenUsage usage;

        private Builder(String subject, long tokens) {
            this.subject = subject;
            this.tokens = tokens;
        }

        /** Makes the call idempotent: a repeat with the same key and parameters returns the first result. */
        public Builder idempotencyKey(String idempotencyKey) {
            this.idempotencyKey = idempotencyKey;
            return this;
        }

        /** How long the hold lives, {@link Limits#MIN_TTL}..{@link Limits#MAX_TTL}; {@code null}: the policy's. */
        public Builder ttl(Duration ttl) {
            this.ttl = ttl;
            return this;
        }

        /** Label stored on the events, up to {@link Limits#MAX_ENDPOINT_LENGTH} characters. */
        public Builder endpoint(String endpoint) {
            this.endpoint = endpoint;
            return this;
        }

        /** For a consume: the usage its COMMITTED event keeps beside the charge; see {@link HoldRequest#usage()}. */
        public Builder usage(TokenUsage usage) {
            this.usage = usage;
            return this;
        }

        /**
         * @throws QuotaException {@code INVALID_SUBJECT}, {@code INVALID_AMOUNT}, {@code INVALID_KEY} or
         *                        {@code INVALID_ARGUMENT} (endpoint, TTL), for the first bad part
         */
        public HoldRequest build() {
            Validation.holdRequest(subject, tokens, idempotencyKey, endpoint);
            if (ttl != null) {
                Validation.ttl(ttl);
            }
            return new HoldRequest(this);
        }
    }
}
