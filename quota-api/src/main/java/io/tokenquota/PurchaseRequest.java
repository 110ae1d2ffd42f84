package io.tokenquota;

import io.tokenquota.internal.Validation;
import java.math.BigDecimal;

/**
 * What a payment system or admin asks to credit. Validated on construction, so an invalid request
 * never reaches a store. Two requests with the same transaction id are "the same parameters" when
 * they are {@link #equals equal}.
 *
 * @param transactionId external id, the purchase's idempotency key (1..{@link Limits#MAX_ID_LENGTH} printable chars)
 * @param tokens        1..{@link Limits#MAX_TOKENS}
 * @param paymentMethod optional, up to {@link Limits#MAX_PAYMENT_METHOD_LENGTH} chars
 * @param amount        optional money amount, 0..{@link Limits#MAX_MONEY}, 2 decimal places
 * @param currency      defaults to KRW (the original Python/FastAPI service's default) when {@code null}
 * @param reason        optional, up to {@link Limits#MAX_REASON_LENGTH} chars
 */
public record PurchaseRequest(
        String transactionId,
        String subject,
        long tokens,
        PurchaseType type,
        String paymentMethod,
        BigDecimal amount,
        Currency currency,
        String reason) {

    public PurchaseRequest {
        Validation.key(transactionId, "transaction_id");
        Validation.subject(subject);
        Validation.positiveTokens(tokens, "token_amount");
        if (type == null) {
            throw new QuotaException(ErrorCode.INVALID_PURCHASE_TYPE, "purchase_type is required");
        }
        Validation.text(paymentMethod, "payment_method", Limits.MAX_PAYMENT_METHOD_LENGTH);
        amount = Validation.money(amount);
        currency = currency == null ? Currency.KRW : currency;
        Validation.text(reason, "reason", Limits.MAX_REASON_LENGTH);
    }

    /** A bonus or admin top-up without money attached. */
    public static PurchaseRequest grant(String transactionId, String subject, long tokens, PurchaseType type, String reason) {
        return new PurchaseRequest(transactionId, subject, tokens, type, null, null, null, reason);
    }
}
