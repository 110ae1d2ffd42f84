package io.tokenquota;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.time.Duration;
import org.junit.jupiter.api.Test;

class HoldRequestTest {

    private static void assertCode(ErrorCode code, org.junit.jupiter.api.function.Executable call) {
        QuotaException e = assertThrows(QuotaException.class, call);
        assertEquals(code, e.code(), e.getMessage());
    }

    @Test
    void optionalPartsDefaultToNullAndKeepTheirNames() {
        HoldRequest bare = HoldRequest.of("u", 5).build();
        assertEquals("u", bare.subject());
        assertEquals(5, bare.tokens());
        assertNull(bare.idempotencyKey());
        assertNull(bare.ttl());
        assertNull(bare.endpoint());
        HoldRequest full = HoldRequest.of("u", 5).idempotencyKey("k").ttl(Duration.ofSeconds(30)).endpoint("e").build();
        assertEquals("k", full.idempotencyKey());
        assertEquals(Duration.ofSeconds(30), full.ttl());
        assertEquals("e", full.endpoint());
    }

    @Test
    void equalRequestsAreTheSameParameters() {
        HoldRequest a = HoldRequest.of("u", 5).idempotencyKey("k").endpoint("e").build();
        assertEquals(a, HoldRequest.of("u", 5).idempotencyKey("k").endpoint("e").build());
        assertEquals(a.hashCode(), HoldRequest.of("u", 5).idempotencyKey("k").endpoint("e").build().hashCode());
        assertNotEquals(a, HoldRequest.of("u", 5).idempotencyKey("e").endpoint("k").build());
    }

    @Test
    void badPartsAreRefusedWhenBuiltFirstBadPartFirst() {
        assertCode(ErrorCode.INVALID_SUBJECT, () -> HoldRequest.of(null, 0).idempotencyKey("").build());
        assertCode(ErrorCode.INVALID_AMOUNT, () -> HoldRequest.of("u", 0).idempotencyKey("").build());
        assertCode(ErrorCode.INVALID_AMOUNT, () -> HoldRequest.of("u", Limits.MAX_TOKENS + 1).build());
        assertCode(ErrorCode.INVALID_KEY, () -> HoldRequest.of("u", 1).idempotencyKey(" ").endpoint("a\u0000").build());
        assertCode(ErrorCode.INVALID_ARGUMENT, () -> HoldRequest.of("u", 1).endpoint("x".repeat(Limits.MAX_ENDPOINT_LENGTH + 1)).build());
        assertCode(ErrorCode.INVALID_ARGUMENT, () -> HoldRequest.of("u", 1).ttl(Duration.ZERO).build());
        assertCode(ErrorCode.INVALID_ARGUMENT, () -> HoldRequest.of("u", 1).ttl(Limits.MAX_TTL.plusMillis(1)).build());
        assertEquals(Limits.MAX_TTL, HoldRequest.of("u", Limits.MAX_TOKENS).ttl(Limits.MAX_TTL).build().ttl());
    }
}
