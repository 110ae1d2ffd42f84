package io.tokenquota;

import java.math.BigDecimal;
import java.time.Instant;
import java.time.YearMonth;

/**
 * A recorded credit: a purchase through a payment system, a bonus, or a refund credit. Immutable.
 *
 * @param transactionId the payment system's id (or the caller's idempotency key for direct grants)
 * @param month         the month credited, set when the purchase completes; {@code null} before
 * @param unrecovered   on refund: tokens of this purchase already spent, so not debited back
 *                      (recorded, never lost)
 * @param processedAt   when it completed, failed or was refunded; {@code null} while pending
 */
public record Purchase(
        String transactionId,
        String subject,
        long tokens,
        PurchaseType type,
        PurchaseStatus status,
        String paymentMethod,
        BigDecimal amount,
        Currency currency,
        String reason,
        YearMonth month,
        long unrecovered,
        Instant createdAt,
        Instant processedAt) {
}
