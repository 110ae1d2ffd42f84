package io.tokenquota;

/**
 * Every way a quota operation can fail, with a stable machine-readable name.
 *
 * <p>The {@link #type()} is the last segment of the problem+json {@code type} URI the HTTP layer
 * answers with, and {@link #httpStatus()} the status it uses. Both are part of the public contract:
 * they do not change once released. The README's error table lists the codes in this order with
 * these statuses, and a test compares the two.
 */
public enum ErrorCode {
    /** Subject id empty, blank, longer than {@link Limits#MAX_ID_LENGTH} characters, or with control characters. */
    INVALID_SUBJECT(400),
    /** Token amount zero or negative where a positive one is needed, or above {@link Limits#MAX_TOKENS}. */
    INVALID_AMOUNT(400),
    /** Idempotency key, transaction id or reservation id malformed like a bad {@link #INVALID_SUBJECT subject}. */
    INVALID_KEY(400),
    /** Unknown purchase type. */
    INVALID_PURCHASE_TYPE(400),
    /** Unknown purchase status. */
    INVALID_STATUS(400),
    /** Currency other than KRW, USD, EUR, JPY. */
    INVALID_CURRENCY(400),
    /** Money amount negative, with more than 2 decimal places, or above {@link Limits#MAX_MONEY}. */
    INVALID_MONEY(400),
    /** A month in the future or further back than the policy's history window. */
    MONTH_OUT_OF_RANGE(400),
    /**
     * Any other argument of a call out of its documented range: a TTL outside
     * {@link Limits#MIN_TTL}..{@link Limits#MAX_TTL}, a month count, more than {@link Limits#MAX_DAYS} days,
     * text longer than its limit or with control characters. Configuration (a policy, a builder) is never
     * refused with it: that is an {@link IllegalArgumentException} or {@link IllegalStateException}.
     */
    INVALID_ARGUMENT(400),
    /** Not enough tokens available for the hold; see {@link QuotaExceededException}. */
    QUOTA_EXCEEDED(429),
    /** A credit would take {@code allocated + granted + carried} past the policy's max quota. */
    MAX_QUOTA_EXCEEDED(422),
    /**
     * The change would take an account's {@code used + reserved} past 64 bits (about 9.2 * 10^18
     * tokens); refused before anything is written.
     */
    AMOUNT_OVERFLOW(422),
    /** The idempotency key or transaction id was used before with different parameters. */
    IDEMPOTENCY_CONFLICT(409),
    /** No reservation with that id. */
    RESERVATION_NOT_FOUND(404),
    /** The reservation already finished in a different way (committed with another amount, released...). */
    RESERVATION_STATE_CONFLICT(409),
    /**
     * Not raised by the stores any more (a commit after expiry is charged as a late commit); kept so the
     * HTTP problem type stays stable for clients that know it.
     */
    RESERVATION_EXPIRED(409),
    /** No purchase with that transaction id. */
    PURCHASE_NOT_FOUND(404),
    /** The purchase's status does not allow the transition (completing a refunded purchase, failing a completed one...). */
    PURCHASE_STATE_CONFLICT(409),
    /** The store could not be reached or gave up after bounded retries. */
    STORE_UNAVAILABLE(503),
    /**
     * A count weighted by {@link ModelWeights} comes to more than {@link Limits#MAX_TOKENS}: the table's
     * multipliers are too large for the counts. Raised instead of wrapping or silently capping; nothing
     * is written.
     */
    WEIGHTED_AMOUNT_OVERFLOW(422);

    private final int httpStatus;

    ErrorCode(int httpStatus) {
        this.httpStatus = httpStatus;
    }

    /** The HTTP status the servlet layer maps this error to. */
    public int httpStatus() {
        return httpStatus;
    }

    /** Stable kebab-case name, used as the last segment of problem+json {@code type} URIs. */
    public String type() {
        return name().toLowerCase(java.util.Locale.ROOT).replace('_', '-');
    }
}
