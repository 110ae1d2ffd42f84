package io.tokenquota;

/**
 * What {@link QuotaLedger#reserve(HoldRequest)} returns: the hold, and the subject's account as the
 * hold left it. An immutable snapshot.
 *
 * @param reservation the hold (for a replayed idempotency key, the first call's hold)
 * @param account     the account of the hold's month right after the hold (for a replay, as read afterwards)
 * @param replayed    whether the idempotency key had been used before, so this call granted nothing new and
 *                    {@code reservation} is the first call's hold (in whatever state it is now); of all the
 *                    calls that share a key, exactly one sees {@code false}
 */
public record Reserved(Reservation reservation, QuotaAccount account, boolean replayed) {
}
