package io.tokenquota;

import java.time.YearMonth;
import java.util.List;
import java.util.Optional;

/**
 * Purchases, bonuses and refund credits from a payment system or an admin, idempotent on the
 * transaction id. Status moves {@code pending -> completed | failed} and {@code completed -> refunded};
 * completing credits the current month's {@code granted} in the same transaction that changes the
 * status. Thread-safe.
 */
public interface PurchaseRecorder {

    /**
     * Records a pending purchase. Repeating it with an equal request returns the first record; a
     * different request under the same transaction id is {@code IDEMPOTENCY_CONFLICT}.
     */
    Purchase recordPending(PurchaseRequest request);

    /**
     * Completes a pending or failed purchase and credits its tokens: a payment declined once and then
     * paid under the same id (a Stripe PaymentIntent retried with another card) is credited. Completing
     * an already completed purchase returns it unchanged (a replayed callback credits once).
     *
     * @throws QuotaException {@code PURCHASE_NOT_FOUND}, {@code PURCHASE_STATE_CONFLICT} (refunded),
     *                        {@code MAX_QUOTA_EXCEEDED}
     */
    Purchase complete(String transactionId);

    /** Marks a pending purchase failed; repeated calls return it unchanged. */
    Purchase fail(String transactionId);

    /**
     * Refunds a completed purchase: debits the tokens still unspent (burn-down order: allowance,
     * carried, then granted) and records the already-spent rest as {@link Purchase#unrecovered()}.
     * Repeated calls return it unchanged.
     *
     * @throws QuotaException {@code PURCHASE_STATE_CONFLICT} for a purchase that is not completed
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
