package io.tokenquota;

/**
 * What {@link QuotaLedger#reserveWithAccount} returns: the hold, and the subject's account as the
 * hold left it. An immutable snapshot.
 *
 * @param reservation the hold (for a replayed idempotency key, the first call's hold)
 * @param account     the account of the hold's month right after the hold (for a replay, as read afterwards)
 */
public record Reserved(Reservation reservation, QuotaAccount account) {
}
