package io.tokenquota;

import java.time.Instant;

/**
 * A hold was refused because the subject's month does not have enough tokens available.
 * Carries what a client needs to answer HTTP 429: the limit, what is available now, and when the
 * month resets.
 */
public final class QuotaExceededException extends QuotaException {
    private static final long serialVersionUID = 1L;

    private final String subject;
    private final long requested;
    private final long limit;
    private final long available;
    private final Instant resetAt;

    public QuotaExceededException(String subject, long requested, long limit, long available, Instant resetAt) {
        super(ErrorCode.QUOTA_EXCEEDED, "quota exceeded: requested " + requested + " tokens, "
                + Math.max(0, available) + " of " + limit + " available until " + resetAt);
        this.subject = subject;
        this.requested = requested;
        this.limit = limit;
        this.available = available;
        this.resetAt = resetAt;
    }

    public String subject() {
        return subject;
    }

    public long requested() {
        return requested;
    }

    /** {@code allocated + granted + carried} of the month. */
    public long limit() {
        return limit;
    }

    /** Tokens available now; may be negative after a {@code CHARGE_ACTUAL} overrun. */
    public long available() {
        return available;
    }

    /** Start of the next month in the policy's zone. */
    public Instant resetAt() {
        return resetAt;
    }
}
