package io.tokenquota;

/** What a commit does when the actual token count exceeds the hold. */
public enum OverrunPolicy {
    /** Charge the actual amount: {@code used} tells the truth and {@code available} may go below zero. */
    CHARGE_ACTUAL,
    /** Charge at most the hold; the uncharged rest is recorded as overage on the event. */
    CAP_AT_HOLD
}
