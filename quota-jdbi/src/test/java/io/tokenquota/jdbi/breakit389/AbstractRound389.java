package io.tokenquota.jdbi.breakit389;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import io.tokenquota.HoldRequest;
import io.tokenquota.Purchase;
import io.tokenquota.PurchaseRequest;
import io.tokenquota.PurchaseType;
import io.tokenquota.QuotaAccount;
import io.tokenquota.QuotaExceededException;
import io.tokenquota.QuotaPolicy;
import io.tokenquota.QuotaStatistics.DailyUsage;
import io.tokenquota.QuotaStore;
import io.tokenquota.Reservation;
import io.tokenquota.testkit.MutableClock;
import java.time.Duration;
import java.time.Instant;
import java.time.LocalDate;
import java.time.YearMonth;
import java.time.ZoneId;
import java.time.zone.ZoneOffsetTransition;
import java.util.List;
import java.util.UUID;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * Round 389 (a ledger round): a policy zone other than UTC at month turns where the zone's clock jumps, on
 * the in-memory reference, H2 and PostgreSQL. The rules: docs/semantics.md, "Accounts and the month model"
 * (months in the policy's zone; "a write lands in the later of the clock's month and the subject's latest
 * account"), "Holds that outlive their month", "Reports" (daily usage), {@code QuotaPolicy.resetOf} ("when
 * {@code month} ends and the next one begins: the reset instant clients are told") and
 * {@code PurchaseRecorder.purchases} ("purchases of the subject created in {@code month}").
 *
 * <p>The transitions used are the JDK's tzdata (17.0.15 here), each checked by {@link #transition} before
 * a scenario relies on it:
 * <ul>
 *   <li>America/St_Johns, 2009-11-01T02:31:00Z: an overlap from 00:01 -02:30 back to 23:01 -03:30 of
 *       October 31st (tzdata northamerica, "Rule StJohns 2007 2011 - Nov Sun>=1 0:01 0 S": Newfoundland
 *       changed at 00:01 local from 2007 to 2011, and November 1st, 2009 was a Sunday). The local clock
 *       goes back across the month's first midnight: from 02:30Z to 02:31Z it is November 1st, from 02:31Z
 *       to 03:30Z October 31st again, from 03:30Z November for good. The same in America/Goose_Bay. Found
 *       and fixed: a month is the window between its first midnight and the next month's (the earliest of
 *       each), so the repeated hour is November's ({@code QuotaPolicy.monthOf}).</li>
 *   <li>America/Asuncion, 2023-10-01T04:00:00Z: a gap from 00:00 -04 to 01:00 -03 (tzdata southamerica,
 *       "Rule Para 2010 2024 - Oct Sun>=1 0:00 1:00 -"): October 1st's first midnight does not exist.</li>
 *   <li>Pacific/Apia, 2011-12-30T10:00:00Z: from 24:00 -10 of December 29th to 00:00 +14 of December 31st
 *       (tzdata australasia, "Zone Pacific/Apia ... -11:00 WS -11/-10 2011 Dec 29 24:00; 13:00 WS
 *       +13/+14"): December 30th, 2011 never happened in Samoa.</li>
 * </ul>
 */
abstract class AbstractRound389 {
    protected abstract QuotaStore store(QuotaPolicy policy);

    static final ZoneId ST_JOHNS = ZoneId.of("America/St_Johns");
    static final ZoneId ASUNCION = ZoneId.of("America/Asuncion");
    static final ZoneId APIA = ZoneId.of("Pacific/Apia");
    static final YearMonth OCT_2009 = YearMonth.of(2009, 10);
    static final YearMonth NOV_2009 = YearMonth.of(2009, 11);

    protected String p;
    protected MutableClock clock;

    @BeforeEach
    void start() {
        p = "r389" + UUID.randomUUID().toString().substring(0, 8) + "-";
        clock = new MutableClock(Instant.parse("2009-10-20T12:00:00Z"));
    }

    QuotaStore store(ZoneId zone, long allocation) {
        return store(QuotaPolicy.builder().clock(clock).zone(zone).defaultAllocation(allocation).build());
    }

    static List<Long> view(QuotaAccount a) {
        return List.of(a.allocated(), a.granted(), a.carried(), a.used(), a.reserved());
    }

    static List<Long> v(long allocated, long granted, long carried, long used, long reserved) {
        return List.of(allocated, granted, carried, used, reserved);
    }

    void at(String instant) {
        clock.set(Instant.parse(instant));
    }

    /** The zone's transition at {@code instant}, checked to be in the JDK's tzdata as the class comment says. */
    static ZoneOffsetTransition transition(ZoneId zone, String instant, String before, String after) {
        ZoneOffsetTransition t = zone.getRules().nextTransition(Instant.parse(instant).minusSeconds(1));
        assertEquals(Instant.parse(instant), t.getInstant(), zone + "'s transition");
        assertEquals(List.of(before, after), List.of(t.getOffsetBefore().getId(), t.getOffsetAfter().getId()));
        return t;
    }

    String buy(QuotaStore s, String subject, String tx, long tokens) {
        return s.grant(PurchaseRequest.grant(p + tx, subject, tokens, PurchaseType.PURCHASE, "card")).transactionId();
    }

    static List<String> ids(List<Purchase> purchases) {
        return purchases.stream().map(Purchase::transactionId).toList();
    }

    // ------------------------------------------------------------------ St_Johns, November 1st, 2009

    /**
     * Found and fixed. Bob's only account is October's. At 2009-11-01T02:45Z it is 23:16 of October 31st on
     * St. John's clocks (the hour repeated after the 00:01 fall-back), but November began at its first
     * midnight (02:30Z) and a clock set back does not reopen October: the policy's month is November, so the
     * purchase is credited to November and listed in November, never in October. Before the fix
     * {@code monthOf} said October again from 02:31Z to 03:30Z while the SQL stores list purchases by the
     * window {@code [startOf(month), resetOf(month))}, so the purchase was credited to October and listed
     * under November.
     */
    @Test
    void aPurchaseMadeInTheRepeatedHourAfterNovemberBeganIsCreditedToAndListedInNovember() {
        transition(ST_JOHNS, "2009-11-01T02:31:00Z", "-02:30", "-03:30");
        QuotaStore s = store(ST_JOHNS, 10_000);
        String bob = p + "bob";
        s.account(bob);
        at("2009-11-01T02:45:00Z");
        assertEquals(NOV_2009, s.policy().currentMonth(), "23:16 of October 31st on the clock, November since 02:30Z");
        String tx = buy(s, bob, "tx-repeated-hour", 1_000);
        assertEquals(NOV_2009, s.purchase(tx).orElseThrow().month(), "credited to November");
        assertEquals(v(10_000, 0, 0, 0, 0), view(s.account(bob, OCT_2009).orElseThrow()));
        assertEquals(v(10_000, 1_000, 0, 0, 0), view(s.account(bob, NOV_2009).orElseThrow()));
        assertEquals(List.of(tx), ids(s.purchases(bob, NOV_2009)), "November's purchases, read at once");
        assertEquals(List.of(), ids(s.purchases(bob, OCT_2009)), "October's purchases, read at once");
        at("2009-11-02T12:00:00Z");
        assertEquals(List.of(tx), ids(s.purchases(bob, NOV_2009)), "November's purchases, read the next day");
        assertEquals(List.of(), ids(s.purchases(bob, OCT_2009)), "October's purchases, read the next day");
    }

    /** Control: the same purchase a minute before the turn (23:59 -02:30 of October 31st). */
    @Test
    void controlAPurchaseAMinuteBeforeTheFallBackIsListedInOctober() {
        transition(ST_JOHNS, "2009-11-01T02:31:00Z", "-02:30", "-03:30");
        QuotaStore s = store(ST_JOHNS, 10_000);
        String bob = p + "bob";
        s.account(bob);
        at("2009-11-01T02:29:00Z");
        String tx = buy(s, bob, "tx-before", 1_000);
        assertEquals(OCT_2009, s.purchase(tx).orElseThrow().month());
        assertEquals(List.of(tx), ids(s.purchases(bob, OCT_2009)));
        at("2009-11-02T12:00:00Z");
        assertEquals(List.of(tx), ids(s.purchases(bob, OCT_2009)));
        assertEquals(List.of(), ids(s.purchases(bob, NOV_2009)));
    }

    /**
     * Found and fixed. Carol spent her 1,000-token October on the 20th. At 2009-11-01T02:45Z (23:16 of
     * October 31st on St. John's clocks, the repeated hour) November has begun (at 02:30Z, the reset a
     * refusal a minute earlier is told, see the control below), so a hold of 1 is granted in November. Before
     * the fix {@code monthOf} said October again from 02:31Z to 03:30Z: the hold was refused in October and
     * told the reset 02:30Z, already past, until 03:30Z.
     */
    @Test
    void aHoldInTheRepeatedHourOfOctober31stLandsInNovemberWhichBeganAtItsFirstMidnight() {
        transition(ST_JOHNS, "2009-11-01T02:31:00Z", "-02:30", "-03:30");
        QuotaStore s = store(ST_JOHNS, 1_000);
        String carol = p + "carol";
        s.consume(carol, 1_000, null);
        at("2009-11-01T02:45:00Z");
        assertEquals(NOV_2009, s.reserve(HoldRequest.of(carol, 1).build()).reservation().month(),
                "granted in November, not refused in October");
        assertEquals(v(1_000, 0, 0, 1_000, 0), view(s.account(carol, OCT_2009).orElseThrow()));
        assertEquals(v(1_000, 0, 0, 0, 1), view(s.account(carol, NOV_2009).orElseThrow()));
    }

    /** Control: the same refusal a minute before the fall-back is told the reset 02:30Z, which is right then. */
    @Test
    void controlARefusalBeforeTheFallBackIsToldTheFirstMidnight() {
        transition(ST_JOHNS, "2009-11-01T02:31:00Z", "-02:30", "-03:30");
        QuotaStore s = store(ST_JOHNS, 1_000);
        String carol = p + "carol";
        s.consume(carol, 1_000, null);
        at("2009-11-01T02:29:00Z");
        QuotaExceededException refused = assertThrows(QuotaExceededException.class,
                () -> s.reserve(HoldRequest.of(carol, 1).build()));
        assertEquals(Instant.parse("2009-11-01T02:30:00Z"), refused.resetAt());
        at("2009-11-01T02:30:00Z");
        assertEquals(NOV_2009, s.reserve(HoldRequest.of(carol, 1).build()).reservation().month());
    }

    /**
     * Control: a write in the repeated hour after November was opened lands in November (the later of the
     * clock's month and the latest account), and its day in daily usage is kept inside November (November
     * 1st), so each month's days add up to its {@code used}.
     */
    @Test
    void controlAWriteInTheRepeatedHourAfterNovemberOpenedLandsInNovemberAndCountsOnItsFirstDay() {
        transition(ST_JOHNS, "2009-11-01T02:31:00Z", "-02:30", "-03:30");
        QuotaStore s = store(ST_JOHNS, 10_000);
        String dan = p + "dan";
        s.consume(dan, 100, null);
        at("2009-11-01T02:30:30Z");
        assertEquals(NOV_2009, s.consume(dan, 200, null).month());
        at("2009-11-01T02:45:00Z");
        assertEquals(NOV_2009, s.consume(dan, 300, null).month(), "the later of the clock's month and the latest account");
        at("2009-11-02T12:00:00Z");
        assertEquals(v(10_000, 0, 0, 100, 0), view(s.account(dan, OCT_2009).orElseThrow()));
        assertEquals(v(10_000, 0, 0, 500, 0), view(s.account(dan, NOV_2009).orElseThrow()));
        List<DailyUsage> days = s.dailyUsage(dan, LocalDate.of(2009, 10, 31), LocalDate.of(2009, 11, 1));
        assertEquals(List.of(0L, 500L), days.stream().map(DailyUsage::used).toList());
    }

    // ------------------------------------------------------------------ Asuncion, October 1st, 2023

    /**
     * Control: October 1st, 2023 has no 00:00 in Asuncion. A September hold open across the turn and
     * committed on October 2nd is charged to September and counts on September 30th; a consume a minute
     * before the gap is September's, one at the gap's end (01:00 -03) October's; the reset told in September
     * is the gap's end.
     */
    @Test
    void controlAsuncionMonthWhoseFirstMidnightDoesNotExist() {
        transition(ASUNCION, "2023-10-01T04:00:00Z", "-04:00", "-03:00");
        at("2023-09-30T12:00:00Z");
        QuotaStore s = store(ASUNCION, 10_000);
        assertEquals(Instant.parse("2023-10-01T04:00:00Z"), s.policy().resetOf(YearMonth.of(2023, 9)));
        String eve = p + "eve";
        Reservation job = s.reserve(HoldRequest.of(eve, 3_000).ttl(Duration.ofDays(31)).build()).reservation();
        at("2023-10-01T03:59:00Z");
        assertEquals(YearMonth.of(2023, 9), s.consume(eve, 100, null).month());
        at("2023-10-01T04:00:00Z");
        assertEquals(YearMonth.of(2023, 10), s.consume(eve, 200, null).month());
        at("2023-10-02T12:00:00Z");
        s.commit(job.id(), 4_000);
        assertEquals(v(10_000, 0, 0, 4_100, 0), view(s.account(eve, YearMonth.of(2023, 9)).orElseThrow()));
        assertEquals(v(10_000, 0, 0, 200, 0), view(s.account(eve, YearMonth.of(2023, 10)).orElseThrow()));
        List<DailyUsage> days = s.dailyUsage(eve, LocalDate.of(2023, 9, 30), LocalDate.of(2023, 10, 2));
        assertEquals(List.of(4_100L, 200L, 0L), days.stream().map(DailyUsage::used).toList());
    }

    // ------------------------------------------------------------------ Apia, December 2011

    /**
     * Control: December 30th, 2011 never happened in Samoa. A hold taken on December 29th (-10), a consume
     * at the first instant after the jump (00:00 +14 of December 31st) and one at January 1st's midnight
     * (+14); the hold committed late in January counts on December 31st. December resets at
     * 2011-12-31T10:00Z, and December 30th's row in daily usage is empty.
     */
    @Test
    void controlApiaMonthThatLostADay() {
        transition(APIA, "2011-12-30T10:00:00Z", "-10:00", "+14:00");
        at("2011-12-29T20:00:00Z");
        QuotaStore s = store(APIA, 10_000);
        YearMonth dec = YearMonth.of(2011, 12);
        assertEquals(Instant.parse("2011-12-31T10:00:00Z"), s.policy().resetOf(dec));
        String fay = p + "fay";
        Reservation job = s.reserve(HoldRequest.of(fay, 1_000).ttl(Duration.ofHours(2)).build()).reservation();
        at("2011-12-30T10:00:00Z");
        assertEquals(dec, s.consume(fay, 50, null).month());
        at("2011-12-31T10:00:00Z");
        assertEquals(YearMonth.of(2012, 1), s.consume(fay, 70, null).month());
        s.commit(job.id(), 1_500);
        assertEquals(v(10_000, 0, 0, 1_550, 0), view(s.account(fay, dec).orElseThrow()));
        assertEquals(v(10_000, 0, 0, 70, 0), view(s.account(fay, YearMonth.of(2012, 1)).orElseThrow()));
        List<DailyUsage> days = s.dailyUsage(fay, LocalDate.of(2011, 12, 29), LocalDate.of(2012, 1, 1));
        assertEquals(List.of(0L, 0L, 1_550L, 70L), days.stream().map(DailyUsage::used).toList());
    }
}
