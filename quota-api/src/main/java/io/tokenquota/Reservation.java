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
        Instant finishedAt) {
}
