package io.tokenquota;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.tokenquota.testkit.MutableClock;
import java.time.Duration;
import java.time.Instant;
import java.time.LocalDate;
import java.time.YearMonth;
import java.time.ZoneId;
import java.time.ZoneOffset;
import org.junit.jupiter.api.Test;

class QuotaPolicyTest {

    private static void assertCode(ErrorCode code, org.junit.jupiter.api.function.Executable call) {
        QuotaException e = assertThrows(QuotaException.class, call);
        assertEquals(code, e.code(), e.getMessage());
    }

    /** A policy is configuration: a bad value is an IllegalArgumentException naming the setting, not an HTTP error. */
    private static void assertRefused(String setting, org.junit.jupiter.api.function.Executable call) {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, call);
        assertTrue(e.getMessage().contains(setting), e.getMessage());
    }

    @Test
    void defaultsAreTenThousandTokensRolloverChargeActualFiveMinuteHoldsUtcAndTwoYearsOfHistory() {
        QuotaPolicy p = QuotaPolicy.defaults();
        assertEquals(10_000, p.defaultAllocation());
        assertEquals(0.8, p.warningThreshold());
        assertTrue(p.rolloverPurchased());
        assertEquals(OverrunPolicy.CHARGE_ACTUAL, p.overrunPolicy());
        assertEquals(Duration.ofMinutes(5), p.holdTtl());
        assertEquals(ZoneOffset.UTC, p.zone());
        assertEquals(24, p.historyMonths());
        assertTrue(p.maxQuota() >= p.defaultAllocation());
    }

    @Test
    void invalidSettingsAreConfigurationErrorsRefusedWhenSealed() {
        assertRefused("defaultAllocation", () -> QuotaPolicy.builder().defaultAllocation(-1).build());
        assertRefused("defaultAllocation", () -> QuotaPolicy.builder().defaultAllocation(Limits.MAX_TOKENS + 1)
                .maxQuota(Limits.MAX_TOKENS).build());
        assertRefused("maxQuota", () -> QuotaPolicy.builder().maxQuota(0).build());
        assertRefused("maxQuota", () -> QuotaPolicy.builder().maxQuota(Limits.MAX_TOKENS + 1).build());
        assertRefused("exceeds maxQuota", () -> QuotaPolicy.builder().defaultAllocation(200).maxQuota(100).build());
        assertRefused("warningThreshold", () -> QuotaPolicy.builder().warningThreshold(0).build());
        assertRefused("warningThreshold", () -> QuotaPolicy.builder().warningThreshold(1.01).build());
        assertRefused("warningThreshold", () -> QuotaPolicy.builder().warningThreshold(Double.NaN).build());
        assertRefused("holdTtl", () -> QuotaPolicy.builder().holdTtl(Duration.ZERO).build());
        assertRefused("holdTtl", () -> QuotaPolicy.builder().holdTtl(Limits.MAX_TTL.plusSeconds(1)).build());
        assertRefused("holdTtl", () -> QuotaPolicy.builder().holdTtl(null).build());
        assertRefused("historyMonths", () -> QuotaPolicy.builder().historyMonths(0).build());
        assertRefused("historyMonths", () -> QuotaPolicy.builder().historyMonths(Limits.MAX_HISTORY_MONTHS + 1).build());
        assertEquals(Limits.MAX_TTL, QuotaPolicy.builder().holdTtl(Limits.MAX_TTL).build().holdTtl());
        assertEquals(Limits.MAX_HISTORY_MONTHS,
                QuotaPolicy.builder().historyMonths(Limits.MAX_HISTORY_MONTHS).build().historyMonths());
        assertThrows(NullPointerException.class, () -> QuotaPolicy.builder().zone(null));
        assertEquals(1.0, QuotaPolicy.builder().warningThreshold(1).build().warningThreshold());
    }

    @Test
    void toBuilderKeepsEverySetting() {
        MutableClock clock = MutableClock.at(YearMonth.of(2030, 2), 1, 0);
        QuotaPolicy p = QuotaPolicy.builder().defaultAllocation(7).maxQuota(70).warningThreshold(0.5)
                .rolloverPurchased(false).overrunPolicy(OverrunPolicy.CAP_AT_HOLD).holdTtl(Duration.ofSeconds(9))
                .zone(ZoneId.of("Asia/Seoul")).clock(clock).historyMonths(3).build();
        QuotaPolicy copy = p.toBuilder().build();
        assertEquals(p.toString(), copy.toString());
        assertEquals(clock, copy.clock());
        assertFalse(copy.rolloverPurchased());
    }

    @Test
    void monthsFollowTheZone() {
        // 2030-01-31T16:00Z is already February 1st in Seoul (UTC+9)
        MutableClock clock = new MutableClock(Instant.parse("2030-01-31T16:00:00Z"));
        QuotaPolicy utc = QuotaPolicy.builder().clock(clock).build();
        QuotaPolicy seoul = QuotaPolicy.builder().clock(clock).zone(ZoneId.of("Asia/Seoul")).build();
        assertEquals(YearMonth.of(2030, 1), utc.currentMonth());
        assertEquals(YearMonth.of(2030, 2), seoul.currentMonth());
        assertEquals(Instant.parse("2030-01-31T15:00:00Z"), seoul.startOf(YearMonth.of(2030, 2)));
        assertEquals(Instant.parse("2030-02-28T15:00:00Z"), seoul.resetOf(YearMonth.of(2030, 2)));
        assertEquals(Instant.parse("2030-02-01T00:00:00Z"), utc.resetOf(YearMonth.of(2030, 1)));
        assertEquals(LocalDate.of(2030, 2, 1), seoul.dayOf(clock.instant()));
        clock.advance(Duration.ofHours(8));
        assertEquals(YearMonth.of(2030, 2), utc.currentMonth());
    }

    @Test
    void readableMonthsAreTheHistoryWindow() {
        MutableClock clock = MutableClock.at(YearMonth.of(2030, 6), 15, 12);
        QuotaPolicy p = QuotaPolicy.builder().clock(clock).historyMonths(3).build();
        assertEquals(YearMonth.of(2030, 6), p.checkReadableMonth(YearMonth.of(2030, 6)));
        assertEquals(YearMonth.of(2030, 4), p.checkReadableMonth(YearMonth.of(2030, 4)));
        assertCode(ErrorCode.MONTH_OUT_OF_RANGE, () -> p.checkReadableMonth(YearMonth.of(2030, 3)));
        assertCode(ErrorCode.MONTH_OUT_OF_RANGE, () -> p.checkReadableMonth(YearMonth.of(2030, 7)));
        clock.advanceMonths(1, 1, 0);
        assertCode(ErrorCode.MONTH_OUT_OF_RANGE, () -> p.checkReadableMonth(YearMonth.of(2030, 4)));
        assertEquals(YearMonth.of(2030, 7), p.checkReadableMonth(YearMonth.of(2030, 7)));
    }

    @Test
    void mutableClockIsSharedAcrossZonesAndMovesOnlyWhenTold() {
        MutableClock clock = new MutableClock(Instant.parse("2030-01-01T00:00:00Z"));
        java.time.Clock seoul = clock.withZone(ZoneId.of("Asia/Seoul"));
        assertEquals(ZoneId.of("Asia/Seoul"), seoul.getZone());
        clock.advance(Duration.ofMinutes(90));
        assertEquals(Instant.parse("2030-01-01T01:30:00Z"), seoul.instant());
        assertEquals(clock.instant(), clock.instant());
        assertEquals(Instant.parse("2030-03-02T05:00:00Z"), clock.advanceMonths(2, 2, 5));
    }

    @Test
    void accountArithmetic() {
        Instant t = Instant.EPOCH;
        QuotaAccount a = new QuotaAccount("u", YearMonth.of(2030, 1), 10_000, 3_000, 1_000, 11_500, 500, t, t);
        assertEquals(14_000, a.limit());
        assertEquals(2_000, a.available());
        assertEquals(2_000, a.unusedGranted());
        assertFalse(a.exhausted());
        QuotaAccount overdrawn = new QuotaAccount("u", YearMonth.of(2030, 1), 10_000, 0, 0, 12_000, 0, t, t);
        assertEquals(-2_000, overdrawn.available());
        assertEquals(0, overdrawn.unusedGranted());
        assertTrue(overdrawn.exhausted());
        assertEquals(120.0, overdrawn.usagePercentage(), 1e-9);
        QuotaAccount empty = new QuotaAccount("u", YearMonth.of(2030, 1), 0, 0, 0, 0, 0, t, t);
        assertEquals(0.0, empty.usagePercentage());
    }
}
