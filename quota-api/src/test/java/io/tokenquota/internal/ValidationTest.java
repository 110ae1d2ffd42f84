package io.tokenquota.internal;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;

import io.tokenquota.ErrorCode;
import io.tokenquota.Currency;
import io.tokenquota.Limits;
import io.tokenquota.PurchaseRequest;
import io.tokenquota.PurchaseStatus;
import io.tokenquota.PurchaseType;
import io.tokenquota.QuotaException;
import java.math.BigDecimal;
import java.time.Duration;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

class ValidationTest {

    private static void assertCode(ErrorCode code, org.junit.jupiter.api.function.Executable call) {
        QuotaException e = assertThrows(QuotaException.class, call);
        assertEquals(code, e.code(), e.getMessage());
    }

    @ParameterizedTest
    @ValueSource(strings = {"", " ", "\t", "a\u0000", "a\nb", "\r", "\u0007", "\u007F", "\u009F", "a\u2028", "\u2029",
        "\uD800", "\uDC00", "a\uD800b", "\uDBFF\uD800", "\u3000\u2003"})
    void badSubjectsAreRefused(String subject) {
        assertCode(ErrorCode.INVALID_SUBJECT, () -> Validation.subject(subject));
        assertCode(ErrorCode.INVALID_KEY, () -> Validation.key(subject, "key"));
        assertCode(ErrorCode.INVALID_KEY, () -> Validation.optionalKey(subject, "key"));
    }

    @Test
    void nullSubjectIsRefusedButANullOptionalKeyIsAllowed() {
        assertCode(ErrorCode.INVALID_SUBJECT, () -> Validation.subject(null));
        assertCode(ErrorCode.INVALID_KEY, () -> Validation.key(null, "key"));
        assertNull(Validation.optionalKey(null, "key"));
    }

    @Test
    void lengthIsCountedInCodePoints() {
        assertEquals("x".repeat(128), Validation.subject("x".repeat(128)));
        assertCode(ErrorCode.INVALID_SUBJECT, () -> Validation.subject("x".repeat(129)));
        String emoji = "\uD83D\uDE00";
        assertEquals(emoji.repeat(128), Validation.subject(emoji.repeat(128)));
        assertCode(ErrorCode.INVALID_SUBJECT, () -> Validation.subject(emoji.repeat(129)));
    }

    @ParameterizedTest
    @ValueSource(strings = {"42", "user@example.com", "사용자", "'; DROP TABLE x;--", " padded ", "a%_\\", "\uD83D\uDE00",
        "NULL", "\u00A0x"})
    void printableIdsAreAcceptedVerbatim(String id) {
        assertEquals(id, Validation.subject(id));
        assertEquals(id, Validation.key(id, "key"));
    }

    @Test
    void tokenAmounts() {
        for (long bad : new long[] {0, -1, Long.MIN_VALUE, Long.MAX_VALUE, Limits.MAX_TOKENS + 1}) {
            assertCode(ErrorCode.INVALID_AMOUNT, () -> Validation.positiveTokens(bad, "tokens"));
        }
        for (long bad : new long[] {-1, Long.MIN_VALUE, Long.MAX_VALUE, Limits.MAX_TOKENS + 1}) {
            assertCode(ErrorCode.INVALID_AMOUNT, () -> Validation.nonNegativeTokens(bad, "tokens"));
        }
        assertEquals(1, Validation.positiveTokens(1, "tokens"));
        assertEquals(Limits.MAX_TOKENS, Validation.positiveTokens(Limits.MAX_TOKENS, "tokens"));
        assertEquals(0, Validation.nonNegativeTokens(0, "tokens"));
        // many maximal amounts still fit a 64-bit counter
        assertEquals(9, Long.MAX_VALUE / Limits.MAX_TOKENS / 1000);
    }

    @Test
    void ttls() {
        assertEquals(Limits.MIN_TTL, Validation.ttl(Duration.ofSeconds(1)));
        assertEquals(Limits.MAX_TTL, Validation.ttl(Duration.ofDays(31)));
        for (Duration bad : new Duration[] {null, Duration.ZERO, Duration.ofMillis(999), Duration.ofSeconds(-1),
            Duration.ofDays(31).plusNanos(1)}) {
            assertCode(ErrorCode.INVALID_ARGUMENT, () -> Validation.ttl(bad));
        }
    }

    @Test
    void money() {
        assertNull(Validation.money(null));
        assertEquals(new BigDecimal("12.50"), Validation.money(new BigDecimal("12.5")));
        assertEquals(new BigDecimal("0.00"), Validation.money(BigDecimal.ZERO));
        assertEquals(new BigDecimal("5.00"), Validation.money(new BigDecimal("5.000")));
        assertEquals(Limits.MAX_MONEY, Validation.money(Limits.MAX_MONEY));
        for (String bad : new String[] {"-0.01", "0.001", "1000000000000.00", "1E+13"}) {
            assertCode(ErrorCode.INVALID_MONEY, () -> Validation.money(new BigDecimal(bad)));
        }
    }

    @Test
    void freeText() {
        assertNull(Validation.text(null, "reason", 10));
        assertEquals("a\tb\nc\r", Validation.text("a\tb\nc\r", "reason", 10));
        assertEquals("x".repeat(10), Validation.text("x".repeat(10), "reason", 10));
        assertCode(ErrorCode.INVALID_ARGUMENT, () -> Validation.text("x".repeat(11), "reason", 10));
        assertCode(ErrorCode.INVALID_ARGUMENT, () -> Validation.text("a\u0000", "reason", 10));
        assertCode(ErrorCode.INVALID_ARGUMENT, () -> Validation.text("\u001B[31m", "reason", 10));
    }

    @Test
    void months() {
        assertEquals(1, Validation.months(1, 24));
        assertEquals(24, Validation.months(24, 24));
        for (int bad : new int[] {0, -1, 25, Integer.MIN_VALUE, Integer.MAX_VALUE}) {
            assertCode(ErrorCode.INVALID_ARGUMENT, () -> Validation.months(bad, 24));
        }
    }

    @Test
    void enumsParseWireNamesOnly() {
        assertEquals(PurchaseType.BONUS, PurchaseType.parse("bonus"));
        assertEquals(PurchaseStatus.REFUNDED, PurchaseStatus.parse("refunded"));
        assertEquals(Currency.JPY, Currency.parse("JPY"));
        assertCode(ErrorCode.INVALID_PURCHASE_TYPE, () -> PurchaseType.parse("BONUS"));
        assertCode(ErrorCode.INVALID_PURCHASE_TYPE, () -> PurchaseType.parse(null));
        assertCode(ErrorCode.INVALID_STATUS, () -> PurchaseStatus.parse("done"));
        assertCode(ErrorCode.INVALID_CURRENCY, () -> Currency.parse("krw"));
        assertCode(ErrorCode.INVALID_CURRENCY, () -> Currency.parse(""));
    }

    @Test
    void purchaseRequestsValidateOnConstruction() {
        PurchaseRequest ok = new PurchaseRequest("tx-1", "user", 100, PurchaseType.PURCHASE, "card",
                new BigDecimal("1.5"), null, "reason");
        assertEquals(Currency.KRW, ok.currency());
        assertEquals(new BigDecimal("1.50"), ok.amount());
        assertEquals(ok, new PurchaseRequest("tx-1", "user", 100, PurchaseType.PURCHASE, "card",
                new BigDecimal("1.50"), Currency.KRW, "reason"), "equal parameters compare equal");
        assertCode(ErrorCode.INVALID_KEY, () -> PurchaseRequest.grant("", "user", 1, PurchaseType.BONUS, null));
        assertCode(ErrorCode.INVALID_SUBJECT, () -> PurchaseRequest.grant("tx", "\u0000", 1, PurchaseType.BONUS, null));
        assertCode(ErrorCode.INVALID_AMOUNT, () -> PurchaseRequest.grant("tx", "user", 0, PurchaseType.BONUS, null));
        assertCode(ErrorCode.INVALID_PURCHASE_TYPE, () -> PurchaseRequest.grant("tx", "user", 1, null, null));
        assertCode(ErrorCode.INVALID_ARGUMENT, () -> new PurchaseRequest("tx", "user", 1, PurchaseType.PURCHASE,
                "m".repeat(51), null, null, null));
        assertCode(ErrorCode.INVALID_MONEY, () -> new PurchaseRequest("tx", "user", 1, PurchaseType.PURCHASE, null,
                new BigDecimal("-1"), null, null));
        assertCode(ErrorCode.INVALID_ARGUMENT, () -> PurchaseRequest.grant("tx", "user", 1, PurchaseType.BONUS,
                "r".repeat(501)));
    }

    @Test
    void errorCodesHaveStableTypesAndStatuses() {
        assertEquals("quota-exceeded", ErrorCode.QUOTA_EXCEEDED.type());
        assertEquals(429, ErrorCode.QUOTA_EXCEEDED.httpStatus());
        assertEquals(422, ErrorCode.MAX_QUOTA_EXCEEDED.httpStatus());
        assertEquals(409, ErrorCode.IDEMPOTENCY_CONFLICT.httpStatus());
        assertEquals(404, ErrorCode.RESERVATION_NOT_FOUND.httpStatus());
        assertEquals(503, ErrorCode.STORE_UNAVAILABLE.httpStatus());
        assertEquals("invalid-subject", ErrorCode.INVALID_SUBJECT.type());
    }
}
