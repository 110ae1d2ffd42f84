package io.tokenquota;

import java.time.Instant;
import java.time.YearMonth;

/**
 * A subject's quota for one month: an immutable snapshot.
 *
 * <p>{@code available = allocated + granted + carried - used - reserved} is derived, never stored.
 * Conservation ({@code limit() == used + reserved + available()}) holds by construction; the stores
 * guarantee the rest of SPEC section 4 (non-negative {@code used} and {@code reserved}, {@code reserved}
 * equal to the open holds, {@code available >= 0} except after a {@code CHARGE_ACTUAL} overrun).
 *
 * @param allocated the month's plan allowance
 * @param granted   purchases, bonuses and refund credits of the month, minus refunded purchases
 * @param carried   unused granted tokens carried from an earlier month
 * @param used      tokens charged this month
 * @param reserved  tokens held by open reservations
 */
public record QuotaAccount(
        String subject,
        YearMonth month,
        long allocated,
        long granted,
        long carried,
        long used,
        long reserved,
        Instant createdAt,
        Instant updatedAt) {

    /** {@code allocated + granted + carried}: what the month may spend. */
    public long limit() {
        return allocated + granted + carried;
    }

    public long available() {
        return limit() - used - reserved;
    }

    /** Whether no tokens are available (the next hold of any size is refused). */
    public boolean exhausted() {
        return available() <= 0;
    }

    /** {@code used / limit * 100}, 0 when the limit is 0. */
    public double usagePercentage() {
        long limit = limit();
        return limit <= 0 ? (used > 0 ? 100.0 : 0.0) : used * 100.0 / limit;
    }

    /**
     * The part of granted and carried tokens not yet spent, given the burn-down order (allowance
     * first, then carried, then granted): {@code min(granted + carried, max(0, available))}. With
     * rollover on it becomes the next month's {@code carried}.
     */
    public long unusedGranted() {
        return Math.max(0, Math.min(granted + carried, Math.max(0, available())));
    }
}
