package io.tokenquota;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.time.Instant;
import java.time.LocalDate;
import java.time.YearMonth;
import java.time.ZoneId;
import java.time.zone.ZoneOffsetTransition;
import java.time.zone.ZoneRules;
import org.junit.jupiter.api.Test;

/**
 * Round 389: a month is the window {@code [startOf(month), resetOf(month))} between two first midnights of
 * the policy's zone (the earliest of each, a gap's end where midnight does not exist), and
 * {@code monthOf} is the month whose window holds the instant, so months never go backwards where the
 * clock is set back across a month's first midnight.
 */
class QuotaPolicyMonthsTest {
    private static QuotaPolicy in(String zone) {
        return QuotaPolicy.builder().zone(ZoneId.of(zone)).build();
    }

    /** {@code monthOf(at)} is {@code month}, and {@code at} lies in its window. */
    private static void assertMonth(QuotaPolicy policy, YearMonth month, Instant at) {
        assertEquals(month, policy.monthOf(at), policy.zone() + " at " + at);
        assertInWindow(policy, at);
    }

    private static void assertInWindow(QuotaPolicy policy, Instant at) {
        YearMonth month = policy.monthOf(at);
        assertFalse(at.isBefore(policy.startOf(month)), policy.zone() + ": " + at + " before " + month + "'s start");
        assertTrue(at.isBefore(policy.resetOf(month)), policy.zone() + ": " + at + " not before " + month + "'s reset");
    }

    /**
     * St. John's, November 1st, 2009: 00:01 -02:30 (02:31Z) back to 23:01 -03:30 of October 31st. November
     * begins at its first midnight (02:30Z) and the hour of October 31st that follows is November's.
     */
    @Test
    void stJohnsNovemberBeginsAtItsFirstMidnightAndOctoberIsNotReopened() {
        QuotaPolicy p = in("America/St_Johns");
        YearMonth oct = YearMonth.of(2009, 10);
        YearMonth nov = YearMonth.of(2009, 11);
        assertEquals(Instant.parse("2009-11-01T02:30:00Z"), p.startOf(nov));
        assertEquals(p.startOf(nov), p.resetOf(oct));
        assertMonth(p, oct, Instant.parse("2009-11-01T02:30:00Z").minusNanos(1));
        assertMonth(p, nov, Instant.parse("2009-11-01T02:30:00Z"));
        assertMonth(p, nov, Instant.parse("2009-11-01T02:31:00Z"));
        Instant repeated = Instant.parse("2009-11-01T02:45:00Z");
        assertEquals(LocalDate.of(2009, 10, 31), p.dayOf(repeated), "23:16 of October 31st on the clock");
        assertMonth(p, nov, repeated);
        assertMonth(p, nov, Instant.parse("2009-11-01T03:29:59Z"));
        assertMonth(p, nov, Instant.parse("2009-11-01T03:30:00Z"));
        // Goose Bay had the same rule an hour later in UTC: 00:01 -03:00 (03:01Z) back to 23:01 -04:00
        QuotaPolicy gooseBay = in("America/Goose_Bay");
        assertEquals(Instant.parse("2009-11-01T03:00:00Z"), gooseBay.resetOf(oct));
        assertMonth(gooseBay, oct, Instant.parse("2009-11-01T02:59:59Z"));
        assertMonth(gooseBay, nov, Instant.parse("2009-11-01T03:45:00Z"));
    }

    /** Asuncion, October 1st, 2023: 00:00 -04 jumps to 01:00 -03, so October begins at the gap's end. */
    @Test
    void asuncionOctoberBeginsAtTheGapsEnd() {
        QuotaPolicy p = in("America/Asuncion");
        YearMonth sep = YearMonth.of(2023, 9);
        YearMonth oct = YearMonth.of(2023, 10);
        assertEquals(Instant.parse("2023-10-01T04:00:00Z"), p.startOf(oct));
        assertEquals(p.startOf(oct), p.resetOf(sep));
        assertMonth(p, sep, Instant.parse("2023-10-01T03:59:59Z"));
        assertMonth(p, oct, Instant.parse("2023-10-01T04:00:00Z"));
        assertMonth(p, oct, Instant.parse("2023-10-31T12:00:00Z"));
    }

    /** Apia, December 2011: December 30th never happened (24:00 -10 of the 29th to 00:00 +14 of the 31st). */
    @Test
    void apiaDecemberThatLostADay() {
        QuotaPolicy p = in("Pacific/Apia");
        YearMonth dec = YearMonth.of(2011, 12);
        assertEquals(Instant.parse("2011-12-01T10:00:00Z"), p.startOf(dec));
        assertEquals(Instant.parse("2011-12-31T10:00:00Z"), p.resetOf(dec));
        assertMonth(p, dec, Instant.parse("2011-12-30T09:59:59Z"));
        assertMonth(p, dec, Instant.parse("2011-12-30T10:00:00Z"));
        assertMonth(p, dec, Instant.parse("2011-12-31T09:59:59Z"));
        assertMonth(p, YearMonth.of(2012, 1), Instant.parse("2011-12-31T10:00:00Z"));
    }

    /** Paris, March 2030: daylight time starts inside the month (March 31st, 01:00Z), not at its turn. */
    @Test
    void parisMonthWithAClockChangeInside() {
        QuotaPolicy p = in("Europe/Paris");
        YearMonth mar = YearMonth.of(2030, 3);
        assertEquals(Instant.parse("2030-02-28T23:00:00Z"), p.startOf(mar));
        assertEquals(Instant.parse("2030-03-31T22:00:00Z"), p.resetOf(mar));
        assertMonth(p, YearMonth.of(2030, 2), Instant.parse("2030-02-28T22:59:59Z"));
        assertMonth(p, mar, Instant.parse("2030-02-28T23:00:00Z"));
        assertMonth(p, mar, Instant.parse("2030-03-31T01:00:00Z"));
        assertMonth(p, mar, Instant.parse("2030-03-31T21:59:59Z"));
        assertMonth(p, YearMonth.of(2030, 4), Instant.parse("2030-03-31T22:00:00Z"));
    }

    /**
     * Every zone and every transition of the JDK's tzdata up to 2100. Between two transitions the offset is
     * fixed and the local clock moves with the instant, so the local month changes only at a transition or
     * where the clock reaches a first midnight, which is never before {@code startOf} (the earliest one).
     * An instant before {@code startOf} of its local month, the case {@code monthOf} does not correct, could
     * therefore only be a transition's first instant: none is. Each transition's last instant before and
     * first instant after lie in the window of their {@code monthOf}, and the windows around it follow one
     * another.
     */
    @Test
    void everyTransitionOfEveryZoneLiesInTheWindowOfItsMonth() {
        Instant end = Instant.parse("2100-01-01T00:00:00Z");
        int checked = 0;
        for (String id : ZoneId.getAvailableZoneIds()) {
            QuotaPolicy p = in(id);
            ZoneRules rules = p.zone().getRules();
            for (ZoneOffsetTransition t = rules.nextTransition(Instant.parse("1800-01-01T00:00:00Z"));
                    t != null && t.getInstant().isBefore(end); t = rules.nextTransition(t.getInstant())) {
                Instant at = t.getInstant();
                YearMonth local = YearMonth.from(at.atZone(p.zone()));
                assertFalse(at.isBefore(p.startOf(local)), id + ": " + t + " before " + local + "'s start");
                assertInWindow(p, at.minusNanos(1));
                assertInWindow(p, at);
                assertTrue(p.startOf(local.minusMonths(1)).isBefore(p.startOf(local))
                        && p.startOf(local).isBefore(p.resetOf(local)), id + ": windows around " + t);
                checked++;
            }
        }
        assertTrue(checked > 10_000, "transitions checked: " + checked);
    }
}
