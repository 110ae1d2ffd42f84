package io.tokenquota;

/**
 * What {@link QuotaLedger#reserve(HoldRequest)} returns: the hold, and the subject's account (and its
 * team's) of one month: as the hold left them, or for a replay as they are when it is answered. An
 * immutable snapshot.
 *
 * @param reservation the hold (for a replayed idempotency key, the first call's hold)
 * @param account     the subject's account of the hold's month right after the hold; for a replay, the
 *                    subject's current account as read at the replay (the later of the clock's month and its
 *                    latest account's, where its next hold would land), which is a later month than the
 *                    hold's once its month has ended
 * @param replayed    whether the idempotency key had been used before, so this call granted nothing new and
 *                    {@code reservation} is the first call's hold (in whatever state it is now); of all the
 *                    calls that share a key, exactly one sees {@code false}
 * @param team        the account of the team the hold was held against, of {@code account}'s month: right
 *                    after the hold, or for a replay as read at the replay (the team of the hold, even when the
 *                    member has moved since); {@code null} when the hold was not held against a team
 */
public record Reserved(Reservation reservation, QuotaAccount account, boolean replayed, QuotaAccount team) {

    /** A hold of a subject without a team. */
    public Reserved(Reservation reservation, QuotaAccount account, boolean replayed) {
        this(reservation, account, replayed, null);
    }

    /**
     * What the subject can still hold: its own account's {@code available}, or for a team member the
     * smaller of its own and its team's (the stricter limit is the one that refuses the next hold), both
     * of the same month ({@link #account()}'s), so for a replay on a later month what that month still
     * has, not what the hold's month had left.
     */
    public long available() {
        return team == null ? account.available() : Math.min(account.available(), team.available());
    }
}
