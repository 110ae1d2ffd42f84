package io.tokenquota;

import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.time.LocalDate;
import java.time.YearMonth;
import java.time.ZoneId;
import java.time.ZoneOffset;
import java.util.Objects;

/**
 * How quotas behave: allocations, limits, rollover, overruns, holds and time. Immutable and
 * thread-safe; validated when {@link Builder#build()} seals it.
 */
public final class QuotaPolicy {
    private final long defaultAllocation;
    private final long maxQuota;
    private final double warningThreshold;
    private final boolean rolloverPurchased;
    private final OverrunPolicy overrunPolicy;
    private final Duration holdTtl;
    private final ZoneId zone;
    private final Clock clock;
    private final int historyMonths;

    private QuotaPolicy(Builder b) {
        this.defaultAllocation = b.defaultAllocation;
        this.maxQuota = b.maxQuota;
        this.warningThreshold = b.warningThreshold;
        this.rolloverPurchased = b.rolloverPurchased;
        this.overrunPolicy = b.overrunPolicy;
        this.holdTtl = b.holdTtl;
        this.zone = b.zone;
        this.clock = b.clock;
        this.historyMonths = b.historyMonths;
    }

    /** The defaults: 10,000 tokens a month, rollover on, {@code CHARGE_ACTUAL}, 5 minute holds, UTC. */
    public static QuotaPolicy defaults() {
        return builder().build();
    }

    public static Builder builder() {
        return new Builder();
    }

    /** A builder starting from this policy's values. */
    public Builder toBuilder() {
        Builder b = new Builder();
        b.defaultAllocation = defaultAllocation;
        b.maxQuota = maxQuota;
        b.warningThreshold = warningThreshold;
        b.rolloverPurchased = rolloverPurchased;
        b.overrunPolicy = overrunPolicy;
        b.holdTtl = holdTtl;
        b.zone = zone;
        b.clock = clock;
        b.historyMonths = historyMonths;
        return b;
    }

    /** Monthly allowance of a subject without a plan of its own. */
    public long defaultAllocation() {
        return defaultAllocation;
    }

    /** Cap on {@code allocated + granted + carried} of one month; a credit past it is refused. */
    public long maxQuota() {
        return maxQuota;
    }

    /** Fraction of the limit after which responses carry a warning and a threshold event fires. */
    public double warningThreshold() {
        return warningThreshold;
    }

    /** Whether unused granted (purchased, bonus) tokens carry over into the next month. */
    public boolean rolloverPurchased() {
        return rolloverPurchased;
    }

    public OverrunPolicy overrunPolicy() {
        return overrunPolicy;
    }

    /** How long a hold lives when the caller gives no TTL. */
    public Duration holdTtl() {
        return holdTtl;
    }

    public ZoneId zone() {
        return zone;
    }

    public Clock clock() {
        return clock;
    }

    /** How many months back (current month included) history and account reads may reach. */
    public int historyMonths() {
        return historyMonths;
    }

    /** Now, from the injected clock. */
    public Instant now() {
        return clock.instant();
    }

    /**
     * The period that contains {@code instant} in the policy's zone: the month whose window
     * {@code [startOf(month), resetOf(month))} holds it, so months never go backwards. Round 389: where the
     * clock goes back across a month's first midnight (America/St_Johns, 2009-11-01T02:31Z, 00:01 -02:30
     * back to 23:01 -03:30 of October 31st) the local date says October again from 02:31Z to 03:30Z, but
     * November began at its first midnight (02:30Z) and stays begun: October is not reopened. An instant
     * before {@code startOf} of its local month never occurs ({@code atStartOfDay} takes the earliest
     * midnight, or a gap's end, and QuotaPolicyMonthsTest checks every tzdata transition).
     */
    public YearMonth monthOf(Instant instant) {
        YearMonth month = YearMonth.from(instant.atZone(zone));
        return instant.isBefore(resetOf(month)) ? month : month.plusMonths(1);
    }

    public YearMonth currentMonth() {
        return monthOf(now());
    }

    /**
     * First instant of {@code month} in the policy's zone: the first midnight of its first day, the
     * earliest one where the clock goes back across it, the gap's end where midnight does not exist.
     */
    public Instant startOf(YearMonth month) {
        return month.atDay(1).atStartOfDay(zone).toInstant();
    }

    /** When {@code month} ends and the next one begins: the reset instant clients are told. */
    public Instant resetOf(YearMonth month) {
        return startOf(month.plusMonths(1));
    }

    /** Calendar day of {@code instant} in the policy's zone. */
    public LocalDate dayOf(Instant instant) {
        return instant.atZone(zone).toLocalDate();
    }

    /**
     * Checks that {@code month} can be read: not after the current month, not older than
     * {@link #historyMonths()}. Otherwise {@link ErrorCode#MONTH_OUT_OF_RANGE}; no month at all is
     * {@link ErrorCode#INVALID_ARGUMENT}.
     */
    public YearMonth checkReadableMonth(YearMonth month) {
        if (month == null) {
            throw new QuotaException(ErrorCode.INVALID_ARGUMENT, "month is required");
        }
        YearMonth current = currentMonth();
        if (month.isAfter(current)) {
            throw new QuotaException(ErrorCode.MONTH_OUT_OF_RANGE, "month " + month + " is in the future");
        }
        if (month.isBefore(current.minusMonths(historyMonths - 1L))) {
            throw new QuotaException(ErrorCode.MONTH_OUT_OF_RANGE,
                    "month " + month + " is more than " + historyMonths + " months back");
        }
        return month;
    }

    @Override
    public String toString() {
        return "QuotaPolicy{defaultAllocation=" + defaultAllocation + ", maxQuota=" + maxQuota
                + ", warningThreshold=" + warningThreshold + ", rolloverPurchased=" + rolloverPurchased
                + ", overrunPolicy=" + overrunPolicy + ", holdTtl=" + holdTtl + ", zone=" + zone
                + ", historyMonths=" + historyMonths + '}';
    }

    /** Mutable builder; not thread-safe. */
    public static final class Builder {
        private long defaultAllocation = 10_000;
        private long maxQuota = 100_000_000;
        private double warningThreshold = 0.8;
        private boolean rolloverPurchased = true;
        private OverrunPolicy overrunPolicy = OverrunPolicy.CHARGE_ACTUAL;
        private Duration holdTtl = Duration.ofMinutes(5);
        private ZoneId zone = ZoneOffset.UTC;
        private Clock clock = Clock.systemUTC();
        private int historyMonths = 24;

        private Builder() {
        }

        public Builder defaultAllocation(long tokens) {
            this.defaultAllocation = tokens;
            return this;
        }

        public Builder maxQuota(long tokens) {
            this.maxQuota = tokens;
            return this;
        }

        public Builder warningThreshold(double fraction) {
            this.warningThreshold = fraction;
            return this;
        }

        public Builder rolloverPurchased(boolean rollover) {
            this.rolloverPurchased = rollover;
            return this;
        }

        public Builder overrunPolicy(OverrunPolicy policy) {
            this.overrunPolicy = Objects.requireNonNull(policy, "overrunPolicy");
            return this;
        }

        public Builder holdTtl(Duration ttl) {
            this.holdTtl = ttl;
            return this;
        }

        public Builder zone(ZoneId zone) {
            this.zone = Objects.requireNonNull(zone, "zone");
            return this;
        }

        public Builder clock(Clock clock) {
            this.clock = Objects.requireNonNull(clock, "clock");
            return this;
        }

        public Builder historyMonths(int months) {
            this.historyMonths = months;
            return this;
        }

        /**
         * Validates and seals the policy. A policy is configuration, not a caller's request, so a bad
         * value fails here with an {@link IllegalArgumentException}, never with an HTTP-mapped
         * {@link QuotaException}.
         *
         * @throws IllegalArgumentException {@code defaultAllocation} outside 0..{@link Limits#MAX_TOKENS},
         *                                  {@code maxQuota} outside 1..{@link Limits#MAX_TOKENS} or below
         *                                  {@code defaultAllocation}, {@code warningThreshold} outside (0, 1],
         *                                  {@code holdTtl} {@code null} or outside
         *                                  {@link Limits#MIN_TTL}..{@link Limits#MAX_TTL}, {@code historyMonths}
         *                                  outside 1..{@link Limits#MAX_HISTORY_MONTHS}
         */
        public QuotaPolicy build() {
            if (defaultAllocation < 0 || defaultAllocation > Limits.MAX_TOKENS) {
                throw new IllegalArgumentException("defaultAllocation must be between 0 and " + Limits.MAX_TOKENS
                        + ", was " + defaultAllocation);
            }
            if (maxQuota < 1 || maxQuota > Limits.MAX_TOKENS) {
                throw new IllegalArgumentException("maxQuota must be between 1 and " + Limits.MAX_TOKENS
                        + ", was " + maxQuota);
            }
            if (defaultAllocation > maxQuota) {
                throw new IllegalArgumentException("defaultAllocation " + defaultAllocation
                        + " exceeds maxQuota " + maxQuota);
            }
            if (!(warningThreshold > 0 && warningThreshold <= 1)) {
                throw new IllegalArgumentException("warningThreshold must be in (0, 1], was " + warningThreshold);
            }
            if (holdTtl == null || holdTtl.compareTo(Limits.MIN_TTL) < 0 || holdTtl.compareTo(Limits.MAX_TTL) > 0) {
                throw new IllegalArgumentException("holdTtl must be between " + Limits.MIN_TTL + " and "
                        + Limits.MAX_TTL + ", was " + holdTtl);
            }
            if (historyMonths < 1 || historyMonths > Limits.MAX_HISTORY_MONTHS) {
                throw new IllegalArgumentException("historyMonths must be between 1 and "
                        + Limits.MAX_HISTORY_MONTHS + ", was " + historyMonths);
            }
            return new QuotaPolicy(this);
        }
    }
}
