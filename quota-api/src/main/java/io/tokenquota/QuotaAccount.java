package io.tokenquota;

import java.time.Instant;
import java.time.YearMonth;

/**
 * A subject's quota for one month: an immutable snapshot.
 *
 * <p>{@code available = allocated + granted + carried - used - reserved} is derived, never stored.
 * Conservation ({@code limit() == used + reserved + available()}) holds by construction; the stores
 * guarantee the rest (non-negative {@code used} and {@code reserved}, {@code reserved}
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
     * The purchased tokens (granted and carried) the month has neither spent nor put on hold, given
     * the burn-down order (allowance first): {@code granted + carried - clamp(used + reserved - allocated,
     * 0, granted + carried)}. With rollover on it is what the next month starts with as {@code carried};
     * the purchased part of holds still open comes back to the subject's latest month when they finish.
     */
    public long unusedGranted() {
        long purchased = Math.max(0, granted + carried);
        long consumed = used > Long.MAX_VALUE - reserved ? Long.MAX_VALUE : used + reserved;
        return purchased - Math.max(0, Math.min(consumed - allocated, purchased));
    }
}
