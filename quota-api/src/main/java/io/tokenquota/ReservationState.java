package io.tokenquota;

/** A hold resolves at most once: {@code HELD -> COMMITTED | RELEASED | EXPIRED}. */
public enum ReservationState {
    HELD, COMMITTED, RELEASED, EXPIRED;

    public boolean isFinal() {
        return this != HELD;
    }
}
