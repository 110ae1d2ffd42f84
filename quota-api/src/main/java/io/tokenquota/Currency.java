package io.tokenquota;

/** The currencies a purchase may be paid in (those of the original Python/FastAPI service). Anything else is {@link ErrorCode#INVALID_CURRENCY}. */
public enum Currency {
    KRW, USD, EUR, JPY;

    public static Currency parse(String s) {
        for (Currency c : values()) {
            if (c.name().equals(s)) {
                return c;
            }
        }
        throw new QuotaException(ErrorCode.INVALID_CURRENCY, "currency must be one of KRW, USD, EUR, JPY");
    }
}
