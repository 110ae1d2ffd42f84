package io.tokenquota;

import java.math.BigDecimal;
import java.time.YearMonth;
import java.util.List;
import java.util.Optional;

/**
 * Purchases, bonuses and refund credits from a payment system or an admin, idempotent on the
 * transaction id. Status moves {@code pending -> completed | failed | refunded}, {@code failed -> completed |
 * refunded} and {@code completed -> refunded}; {@code refunded} is final. Completing credits the current
 * month's {@code granted} in the same transaction that changes the status.
 *
 * <p>Payment providers deliver events out of order, so a refund may arrive before the completion it
 * reverses. A refund of a purchase never credited (pending or failed) marks it refunded with nothing
 * debited, and its completion, whenever it comes, is refused (round 340). A refund of a purchase the
 * ledger does not know is recorded first ({@link #recordPending}, the refund event names the user and the
 * tokens), then refunded: the payment callback of the servlet layer does so. Thread-safe.
 */
public interface PurchaseRecorder {

    /**
     * Records a pending purchase. Repeating it with an equal request returns the first record; a
     * different request under the same transaction id is {@code IDEMPOTENCY_CONFLICT}. Once the purchase
     * was credited, its amount and currency are those its completion captured and are not compared
     * (round 417: the request repeated after a completion naming other money was a conflict).
     */
    Purchase recordPending(PurchaseRequest request);

    /**
     * Completes a pending or failed purchase and credits its tokens: a payment declined once and then
     * paid under the same id (a Stripe PaymentIntent retried with another card) is credited. Completing
     * an already completed purchase returns it unchanged (a replayed callback credits once). A refunded
     * purchase is never completed, also one refunded before it was ever credited (round 340).
     *
     * @throws QuotaException {@code PURCHASE_NOT_FOUND}, {@code PURCHASE_STATE_CONFLICT} (refunded),
     *                        {@code MAX_QUOTA_EXCEEDED}
     */
    default Purchase complete(String transactionId) {
        return complete(transactionId, null, null);
    }

    /**
     * {@link #complete(String)}, recording the money its payment provider captured: {@code amount} and {@code
     * currency}, each when not {@code null}, replace the pending (or failed) record's. The completion is the
     * capture, so its money is the purchase's, also where the pending record took {@link PurchaseRequest}'s
     * default currency (round 414: a pending event without a currency, then its completion naming
     * {@code "33.00" USD}, was stored as 33.00 KRW, a currency no event named). A completed purchase is returned
     * unchanged, its money too.
     *
     * @param amount   0..{@link Limits#MAX_MONEY}, 2 decimal places; {@code null} keeps the record's
     * @param currency {@code null} keeps the record's
     * @throws QuotaException as {@link #complete(String)}, and {@code INVALID_MONEY}
     */
    Purchase complete(String transactionId, BigDecimal amount, Currency currency);

    /** Marks a pending purchase failed; repeated calls return it unchanged. */
    Purchase fail(String transactionId);

    /**
     * Refunds a purchase. A completed one: debits the tokens still unspent (burn-down order: allowance,
     * carried, then granted) and records the already-spent rest as {@link Purchase#unrecovered()}. A
     * pending or failed one (its refund delivered before its completion): marks it refunded with nothing
     * debited ({@code unrecovered} 0, no {@code month}), logs a {@code DEBITED} event of 0 tokens, and from
     * then on {@link #complete} refuses it, so the completion credits nothing (round 340). Repeated calls
     * return it unchanged.
     *
     * @throws QuotaException {@code PURCHASE_NOT_FOUND} for an unknown transaction id (record it with
     *                        {@link #recordPending} first)
     */
    Purchase refund(String transactionId);

    /**
     * Records and credits at once (bonus, refund credit, admin top-up): the purchase is created
     * {@code completed}. Idempotent on the transaction id like {@link #recordPending}.
     */
    Purchase grant(PurchaseRequest request);

    Optional<Purchase> purchase(String transactionId);

    /** Purchases of the subject created in {@code month}, newest first. */
    List<Purchase> purchases(String subject, YearMonth month);
}
