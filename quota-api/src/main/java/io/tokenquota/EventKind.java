package io.tokenquota;

/**
 * Kinds of ledger events. The first group is also stored in the append-only event log; the last two
 * are derived notifications for listeners only.
 */
public enum EventKind {
    /** A hold was granted. */
    RESERVED,
    /** A hold (or a one-step consume) was charged; {@code tokens} is the charged amount. */
    COMMITTED,
    /**
     * A hold that had already expired (its tokens returned) was committed: the actual usage is charged
     * to the hold's month anyway, since the model did the work; {@code tokens} is the charged amount,
     * {@code overage} what the actual usage exceeded it by. Counted in {@code used} like {@link #COMMITTED}.
     */
    LATE_COMMITTED,
    /** A hold was returned without charge. */
    RELEASED,
    /** A hold passed its TTL and was returned. */
    EXPIRED,
    /** A hold was refused for lack of tokens; {@code tokens} is the amount asked for. */
    REJECTED,
    /** Granted tokens were credited (completed purchase, bonus, refund credit, top-up). */
    CREDITED,
    /**
     * A refunded purchase was debited: {@code tokens} is what left the month's purchased tokens (the
     * unspent ones, and in the current month those already spent, which become its allowance);
     * {@code overage} carries the part already spent ({@code unrecovered}). A purchase refunded before it
     * was credited (pending or failed) logs one with 0 tokens and 0 overage (round 340).
     */
    DEBITED,
    /** A purchase was recorded as pending or failed (no balance change). */
    PURCHASE_RECORDED,
    /** The subject's plan allocation changed. */
    PLAN_CHANGED,
    /** Listener only: usage crossed the policy's warning threshold. */
    THRESHOLD_CROSSED,
    /** Listener only: nothing is available any more. */
    EXHAUSTED;

    /** Whether events of this kind are written to the event log. */
    public boolean logged() {
        return this != THRESHOLD_CROSSED && this != EXHAUSTED;
    }

    /** Whether events of this kind add their {@code tokens} to the month's {@code used}. */
    public boolean charges() {
        return this == COMMITTED || this == LATE_COMMITTED;
    }
}
