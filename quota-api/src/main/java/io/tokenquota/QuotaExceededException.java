package io.tokenquota;

import java.time.Instant;

/**
 * A hold was refused because the subject's month, or its team's, does not have enough tokens
 * available. Carries what a client needs to answer HTTP 429: which account refused ({@link #scope()}),
 * and that account's limit, what it has available now, and when its month resets.
 */
public final class QuotaExceededException extends QuotaException {
    private static final long serialVersionUID = 1L;

    /** Which account refused a hold. */
    public enum Scope {
        /** The subject's own account. */
        USER,
        /** The account of the team the subject belongs to. */
        TEAM;

        /** {@code user} or {@code team}, as the HTTP answers name it. */
        public String wireName() {
            return name().toLowerCase(java.util.Locale.ROOT);
        }
    }

    private final String subject;
    private final long requested;
    private final long limit;
    private final long available;
    private final Instant resetAt;
    private final Scope scope;
    private final String teamId;

    /** A refusal by the subject's own account. */
    public QuotaExceededException(String subject, long requested, long limit, long available, Instant resetAt) {
        this(subject, requested, limit, available, resetAt, Scope.USER, null);
    }

    /**
     * @param scope  the account that refused; its {@code limit}, {@code available} and {@code resetAt}
     * @param teamId the subject's team, or {@code null} when it has none
     */
    public QuotaExceededException(String subject, long requested, long limit, long available, Instant resetAt,
                                  Scope scope, String teamId) {
        super(ErrorCode.QUOTA_EXCEEDED, (scope == Scope.TEAM ? "team quota exceeded: requested " : "quota exceeded: requested ")
                + requested + " tokens, " + Math.max(0, available) + " of " + limit + " available until " + resetAt);
        this.subject = subject;
        this.requested = requested;
        this.limit = limit;
        this.available = available;
        this.resetAt = resetAt;
        this.scope = java.util.Objects.requireNonNull(scope, "scope");
        this.teamId = teamId;
    }

    public String subject() {
        return subject;
    }

    public long requested() {
        return requested;
    }

    /** {@code allocated + granted + carried} of the refusing account's month. */
    public long limit() {
        return limit;
    }

    /** Tokens the refusing account has available now; may be negative after a {@code CHARGE_ACTUAL} overrun. */
    public long available() {
        return available;
    }

    /** Start of the refusing account's next month in the policy's zone. */
    public Instant resetAt() {
        return resetAt;
    }

    /** Which account refused: the subject's ({@link Scope#USER}) or its team's ({@link Scope#TEAM}). */
    public Scope scope() {
        return scope;
    }

    /** The subject's team, or {@code null} when it belongs to none. */
    public String teamId() {
        return teamId;
    }
}
