package io.tokenquota;

import java.time.Instant;
import java.time.YearMonth;

/**
 * A hold on a subject's tokens (the first phase of a two-phase transfer), an immutable snapshot.
 * It is charged to the month it was taken in, even when committed after that month ends.
 *
 * @param id             store-assigned id (a UUID string)
 * @param held           tokens held when the reservation was granted
 * @param charged        tokens added to {@code used} on commit (0 unless committed)
 * @param actual         actual tokens reported on commit ({@code null} unless committed)
 * @param overage        actual tokens beyond the hold on commit (charged under CHARGE_ACTUAL,
 *                       not charged under CAP_AT_HOLD), 0 otherwise
 * @param idempotencyKey the caller's key, or {@code null}
 * @param endpoint       what the hold was for (a path, a job name), or {@code null}
 * @param finishedAt     when it was committed, released or expired; {@code null} while held
 * @param teamId         the team whose account the hold was also held against (the subject's team when
 *                       it was granted), or {@code null}; its commit, release or expiry settles that
 *                       team's account even if the subject changed teams meanwhile
 */
public record Reservation(
        String id,
        String subject,
        YearMonth month,
        long held,
        ReservationState state,
        long charged,
        Long actual,
        long overage,
        String idempotencyKey,
        String endpoint,
        Instant createdAt,
        Instant expiresAt,
        Instant finishedAt,
        String teamId) {

    /** A hold of a subject without a team. */
    public Reservation(String id, String subject, YearMonth month, long held, ReservationState state, long charged,
                       Long actual, long overage, String idempotencyKey, String endpoint, Instant createdAt,
                       Instant expiresAt, Instant finishedAt) {
        this(id, subject, month, held, state, charged, actual, overage, idempotencyKey, endpoint, createdAt, expiresAt,
                finishedAt, null);
    }
}
