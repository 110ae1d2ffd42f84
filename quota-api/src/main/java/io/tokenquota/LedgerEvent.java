package io.tokenquota;

import java.time.Instant;
import java.time.YearMonth;

/**
 * One row of the append-only event log, or a derived notification. Immutable.
 *
 * @param tokens        the amount the kind is about (held, charged, released, asked, credited, debited)
 * @param overage       on COMMITTED, actual tokens beyond the hold; on DEBITED, the already-spent part
 * @param reservationId set for hold events
 * @param transactionId set for purchase events
 * @param detail        endpoint of a hold or reason of a credit, may be {@code null}
 * @param usage         on the COMMITTED or LATE_COMMITTED event of a call charged by
 *                      {@link QuotaLedger#commit(String, long, TokenUsage)} (or a consume with
 *                      {@link HoldRequest.Builder#usage}), the model and raw counts the charge
 *                      ({@code tokens}) was weighed from; {@code null} otherwise
 */
public record LedgerEvent(
        long id,
        String subject,
        YearMonth month,
        EventKind kind,
        long tokens,
        long overage,
        String reservationId,
        String transactionId,
        String detail,
        Instant at,
        TokenUsage usage) {

    /** An event without a recorded usage (every kind but a charge with one). */
    public LedgerEvent(long id, String subject, YearMonth month, EventKind kind, long tokens, long overage,
                       String reservationId, String transactionId, String detail, Instant at) {
        this(id, subject, month, kind, tokens, overage, reservationId, transactionId, detail, at, null);
    }
}
