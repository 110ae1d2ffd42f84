package io.tokenquota.jdbi.breakit404;

import static org.junit.jupiter.api.Assertions.assertEquals;

import io.tokenquota.EventKind;
import io.tokenquota.HoldRequest;
import io.tokenquota.PurchaseRequest;
import io.tokenquota.PurchaseType;
import io.tokenquota.QuotaAccount;
import io.tokenquota.QuotaPolicy;
import io.tokenquota.QuotaStatistics.DailyUsage;
import io.tokenquota.QuotaStore;
import io.tokenquota.Reservation;
import io.tokenquota.ReservationState;
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
 * Round 404 (a ledger round): round 389's month windows attacked with the writes its tests left out, on the
 * in-memory reference, H2 and PostgreSQL: an October hold committed (on time, and late) in St. John's repeated
 * hour of 2009-11-01, where {@code dayOf} says October 31st and {@code monthOf} November; a plan change and a
 * refund in that hour; daily usage of the two days against the two months' {@code used}. The rules:
 * docs/semantics.md, "Accounts and the month model", "Holds that outlive their month", "Reports" ("Daily usage
 * counts a charge on the day it happened, kept inside that month"), {@code QuotaPolicy.monthOf}.
 *
 * <p>The transition is the JDK's tzdata: America/St_Johns, 2009-11-01T02:31:00Z, -02:30 to -03:30 (tzdata
 * northamerica, "Rule StJohns 2007 2011 - Nov Sun>=1 0:01 0 S"), checked by {@link #transition}: from 02:30Z
 * to 02:31Z it is November 1st on the local clock, from 02:31Z to 03:30Z October 31st again, from 03:30Z
 * November for good. November began at 02:30Z (its first midnight).
 */
abstract class AbstractRound404 {
    protected abstract QuotaStore store(QuotaPolicy policy);

    static final ZoneId ST_JOHNS = ZoneId.of("America/St_Johns");
    static final YearMonth OCT_2009 = YearMonth.of(2009, 10);
    static final YearMonth NOV_2009 = YearMonth.of(2009, 11);
    static final LocalDate OCT_31 = LocalDate.of(2009, 10, 31);
    static final LocalDate NOV_1 = LocalDate.of(2009, 11, 1);

    protected String p;
    protected MutableClock clock;

    @BeforeEach
    void start() {
        p = "r404" + UUID.randomUUID().toString().substring(0, 8) + "-";
        clock = new MutableClock(Instant.parse("2009-10-20T12:00:00Z"));
        ZoneOffsetTransition t = ST_JOHNS.getRules().nextTransition(Instant.parse("2009-11-01T02:30:59Z"));
        assertEquals(Instant.parse("2009-11-01T02:31:00Z"), t.getInstant(), "St_Johns' transition");
        assertEquals(List.of("-02:30", "-03:30"), List.of(t.getOffsetBefore().getId(), t.getOffsetAfter().getId()));
    }

    QuotaStore store(long allocation, Duration ttl) {
        return store(QuotaPolicy.builder().clock(clock).zone(ST_JOHNS).defaultAllocation(allocation).holdTtl(ttl)
                .build());
    }

    void at(String instant) {
        clock.set(Instant.parse(instant));
    }

    static List<Long> view(QuotaAccount a) {
        return List.of(a.allocated(), a.granted(), a.carried(), a.used(), a.reserved());
    }

    static List<Long> v(long allocated, long granted, long carried, long used, long reserved) {
        return List.of(allocated, granted, carried, used, reserved);
    }

    /** Each day's (used, granted holds, refused holds). */
    static List<List<Long>> days(List<DailyUsage> days) {
        return days.stream().map(d -> List.of(d.used(), d.requests(), d.rejected())).toList();
    }

    /**
     * An October hold of 500 taken at 02:00Z (23:30 -02:30 of October 31st), one hour TTL, committed with 700 at
     * 02:45Z: 23:16 of October 31st on the local clock again, but November since 02:30Z. The hold's month pays
     * (October used 700); the charge counts on the day it happened, October 31st by the local date, which is
     * inside October: daily usage says 700 on October 31st and nothing on November 1st. A consume of 300 at the
     * same instant lands in November (the clock's month) and counts on November 1st (its local day, October
     * 31st, kept inside November). The days add up to each month's used.
     */
    @Test
    void controlAnOctoberHoldCommittedInTheRepeatedHourIsOctobersOnOctober31st() {
        QuotaStore s = store(10_000, Duration.ofHours(1));
        String ann = p + "ann";
        at("2009-11-01T02:00:00Z");
        Reservation hold = s.reserve(HoldRequest.of(ann, 500).build()).reservation();
        assertEquals(OCT_2009, hold.month());
        at("2009-11-01T02:45:00Z");
        assertEquals(ReservationState.COMMITTED, s.commit(hold.id(), 700).state());
        assertEquals(NOV_2009, s.consume(ann, 300, null).month());
        at("2009-11-02T12:00:00Z");
        assertEquals(v(10_000, 0, 0, 700, 0), view(s.account(ann, OCT_2009).orElseThrow()));
        assertEquals(v(10_000, 0, 0, 300, 0), view(s.account(ann, NOV_2009).orElseThrow()));
        assertEquals(List.of(List.of(700L, 1L, 0L), List.of(300L, 1L, 0L)),
                days(s.dailyUsage(ann, OCT_31, NOV_1)), "October 31st, November 1st");
        assertEquals(List.of(List.of(700L, 1L, 0L)), days(s.dailyUsage(ann, OCT_31, OCT_31)), "October 31st alone");
        assertEquals(List.of(List.of(300L, 1L, 0L)), days(s.dailyUsage(ann, NOV_1, NOV_1)), "November 1st alone");
        assertEquals(List.of(List.of(1_000L, 2L, 0L)), days(s.dailyUsage(null, OCT_31, NOV_1)).stream()
                .reduce((a, b) -> List.of(a.get(0) + b.get(0), a.get(1) + b.get(1), a.get(2) + b.get(2))).stream()
                .toList(), "every user's two days together");
    }

    /**
     * The same October hold with a 10-minute TTL: it expired at 02:10Z, and its commit at 02:45Z is a late commit
     * of October (CHARGE_ACTUAL: the whole 700), on October 31st; the expiry in between returned the hold.
     */
    @Test
    void controlALateCommitOfOctoberInTheRepeatedHourIsChargedToOctober() {
        QuotaStore s = store(10_000, Duration.ofMinutes(10));
        String ben = p + "ben";
        at("2009-11-01T02:00:00Z");
        Reservation hold = s.reserve(HoldRequest.of(ben, 500).build()).reservation();
        at("2009-11-01T02:40:00Z");
        assertEquals(1, s.expireStale());
        at("2009-11-01T02:45:00Z");
        Reservation late = s.commit(hold.id(), 700);
        assertEquals(ReservationState.COMMITTED, late.state());
        assertEquals(700, late.charged());
        at("2009-11-02T12:00:00Z");
        assertEquals(v(10_000, 0, 0, 700, 0), view(s.account(ben, OCT_2009).orElseThrow()));
        assertEquals(List.of(List.of(700L, 1L, 0L), List.of(0L, 0L, 0L)), days(s.dailyUsage(ben, OCT_31, NOV_1)));
        assertEquals(java.util.Set.of(EventKind.RESERVED, EventKind.EXPIRED, EventKind.LATE_COMMITTED),
                java.util.Set.copyOf(s.events(ben, OCT_2009).stream().map(e -> e.kind()).toList()));
        assertEquals(3, s.events(ben, OCT_2009).size(), "one event each");
    }

    /**
     * A plan change in the repeated hour (02:45Z) is November's: November's account opens with the new 20,000,
     * October keeps its 10,000 and its 1,000 used.
     */
    @Test
    void controlAPlanChangeInTheRepeatedHourIsNovembers() {
        QuotaStore s = store(10_000, Duration.ofHours(1));
        String cy = p + "cy";
        s.consume(cy, 1_000, null);
        at("2009-11-01T02:45:00Z");
        QuotaAccount after = s.setPlan(cy, 20_000);
        assertEquals(NOV_2009, after.month());
        assertEquals(v(20_000, 0, 0, 0, 0), view(after));
        assertEquals(v(10_000, 0, 0, 1_000, 0), view(s.account(cy, OCT_2009).orElseThrow()));
    }

    /**
     * A purchase of 5,000 completed on October 20th, 2,000 of it spent (the 10,000 allowance first, then
     * purchased: 12,000 used), refunded in the repeated hour (02:45Z), November's: November carries the 3,000
     * unspent purchased tokens (rollover on) and the refund takes them back there; October is closed and keeps
     * its figures. The refund's unrecovered part is the 2,000 spent.
     */
    @Test
    void controlARefundInTheRepeatedHourTakesNovembersCarriedTokens() {
        QuotaStore s = store(10_000, Duration.ofHours(1));
        String dee = p + "dee";
        String tx = s.grant(PurchaseRequest.grant(p + "tx", dee, 5_000, PurchaseType.PURCHASE, "card")).transactionId();
        s.consume(dee, 12_000, null);
        at("2009-11-01T02:45:00Z");
        var refunded = s.refund(tx);
        assertEquals(2_000, refunded.unrecovered(), "the spent part");
        assertEquals(v(10_000, 5_000, 0, 12_000, 0), view(s.account(dee, OCT_2009).orElseThrow()));
        assertEquals(v(10_000, -3_000, 3_000, 0, 0), view(s.account(dee, NOV_2009).orElseThrow()));
    }
}
