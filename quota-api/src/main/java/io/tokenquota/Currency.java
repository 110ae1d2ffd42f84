package io.tokenquota;

/** The currencies the seed accepts. Anything else is {@link ErrorCode#INVALID_CURRENCY}. */
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
