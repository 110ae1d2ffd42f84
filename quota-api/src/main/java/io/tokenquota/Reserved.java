package io.tokenquota;

/**
 * What {@link QuotaLedger#reserve(HoldRequest)} returns: the hold, and the subject's account (and its
 * team's) as the hold left them. An immutable snapshot.
 *
 * @param reservation the hold (for a replayed idempotency key, the first call's hold)
 * @param account     the account of the hold's month right after the hold (for a replay, as read afterwards)
 * @param replayed    whether the idempotency key had been used before, so this call granted nothing new and
 *                    {@code reservation} is the first call's hold (in whatever state it is now); of all the
 *                    calls that share a key, exactly one sees {@code false}
 * @param team        the team's account of the hold's month right after the hold, or {@code null} when the
 *                    hold was not held against a team
 */
public record Reserved(Reservation reservation, QuotaAccount account, boolean replayed, QuotaAccount team) {

    /** A hold of a subject without a team. */
    public Reserved(Reservation reservation, QuotaAccount account, boolean replayed) {
        this(reservation, account, replayed, null);
    }

    /**
     * What the subject can still hold: its own account's {@code available}, or for a team member the
     * smaller of its own and its team's (the stricter limit is the one that refuses the next hold).
     */
    public long available() {
        return team == null ? account.available() : Math.min(account.available(), team.available());
    }
}
