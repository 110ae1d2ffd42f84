package io.tokenquota;

import java.util.Locale;

/**
 * {@code pending -> completed | failed | refunded}, {@code failed -> completed | refunded},
 * {@code completed -> refunded}; {@code refunded} is final (a refund before the completion: round 340).
 */
public enum PurchaseStatus {
    PENDING, COMPLETED, FAILED, REFUNDED;

    public String wireName() {
        return name().toLowerCase(Locale.ROOT);
    }

    /** Parses a wire name; anything else is {@link ErrorCode#INVALID_STATUS}. */
    public static PurchaseStatus parse(String s) {
        for (PurchaseStatus t : values()) {
            if (t.wireName().equals(s)) {
                return t;
            }
        }
        throw new QuotaException(ErrorCode.INVALID_STATUS,
                "status must be one of pending, completed, failed, refunded");
    }
}
