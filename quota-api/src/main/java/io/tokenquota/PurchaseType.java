package io.tokenquota;

import java.util.Locale;

/** The kinds of credit a purchase records (those of the original Python/FastAPI service); the wire name is the lower-case constant name. */
public enum PurchaseType {
    PURCHASE, BONUS, REFUND;

    public String wireName() {
        return name().toLowerCase(Locale.ROOT);
    }

    /** Parses a wire name; anything else is {@link ErrorCode#INVALID_PURCHASE_TYPE}. */
    public static PurchaseType parse(String s) {
        for (PurchaseType t : values()) {
            if (t.wireName().equals(s)) {
                return t;
            }
        }
        throw new QuotaException(ErrorCode.INVALID_PURCHASE_TYPE,
                "purchase_type must be one of purchase, bonus, refund");
    }
}
