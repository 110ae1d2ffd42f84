package io.tokenquota.jdbi;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.tokenquota.ErrorCode;
import io.tokenquota.EventKind;
import io.tokenquota.HoldRequest;
import io.tokenquota.LedgerEvent;
import io.tokenquota.OverrunPolicy;
import io.tokenquota.QuotaException;
import io.tokenquota.QuotaPolicy;
import io.tokenquota.QuotaStatistics.BlockStats;
import io.tokenquota.Reservation;
import io.tokenquota.ReservationState;
import io.tokenquota.Team;
import io.tokenquota.jdbi.testing.PostgresExtension;
import io.tokenquota.memory.InMemoryQuotaStore;
import io.tokenquota.QuotaStore;
import io.tokenquota.testkit.MutableClock;
import java.time.Duration;
import java.time.YearMonth;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CopyOnWriteArrayList;
import org.jdbi.v3.core.Jdbi;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * What a hold writes on PostgreSQL (schema version 4): its row at reserve and no event; the event that
 * finishes it records the reserve (held tokens, when, until when) under the hold's number as its id,
 * listed under an id drawn when it is written; a key-less hold's row is deleted at its commit or
 * release, and the hold is found again by its event. The API reads as before: a RESERVED event per
 * hold, in order, ids unique and increasing, the same as the in-memory store's.
 */
class PostgresHoldStorageTest {
    @RegisterExtension
    static final PostgresExtension DB = new PostgresExtension();
    private static final YearMonth MONTH = YearMonth.of(2030, 3);

    private final MutableClock clock = MutableClock.at(MONTH, 10, 12);
    private final List<LedgerEvent> heard = new CopyOnWriteArrayList<>();

    private JdbiQuotaStore store(OverrunPolicy overrun) {
        JdbiQuotaStore store = JdbiQuotaStore.builder().dataSource(DB.dataSource()).installSchema(true)
                .policy(QuotaPolicy.builder().clock(clock).overrunPolicy(overrun).build()).build();
        store.addListener(heard::add);
        return store;
    }

    private static long count(String sql, String subject) {
        return Jdbi.create(DB.dataSource()).withHandle(h -> h.createQuery(sql).bind("s", subject)
                .mapTo(Long.class).one());
    }

    private static Map<String, Object> eventRow(String subject, String kind) {
        return Jdbi.create(DB.dataSource()).withHandle(h -> h.createQuery("SELECT id, logged_id, held_tokens, held_at,"
                + " held_until, reservation_id, tokens FROM tq_event WHERE subject = :s AND kind = :k")
                .bind("s", subject).bind("k", kind).mapToMap().one());
    }

    private static List<EventKind> kinds(List<LedgerEvent> events) {
        return events.stream().map(LedgerEvent::kind).toList();
    }

    /** The kinds of {@code events} without the plan's (a team's log starts with its plan). */
    private static List<EventKind> holdKinds(List<LedgerEvent> events) {
        return kinds(events).stream().filter(k -> k != EventKind.PLAN_CHANGED).toList();
    }

    @Test
    void aKeylessReserveAndCommitAppendOneEventRowAndLeaveNoHoldRow() {
        JdbiQuotaStore store = store(OverrunPolicy.CAP_AT_HOLD);
        String s = "one-row-" + System.nanoTime();
        store.account(s);
        Reservation hold = store.reserve(HoldRequest.of(s, 400).endpoint("/chat").build()).reservation();
        assertTrue(hold.id().matches("[0-9]+"), "a key-less hold's id is its number: " + hold.id());
        assertEquals(0, count("SELECT COUNT(*) FROM tq_event WHERE subject = :s", s), "a reserve logs no row");
        assertEquals(1, count("SELECT COUNT(*) FROM tq_reservation WHERE subject = :s", s));
        // the open hold's RESERVED event is read from its row, under its number
        List<LedgerEvent> open = store.events(s, MONTH);
        assertEquals(List.of(EventKind.RESERVED), kinds(open));
        assertEquals(Long.parseLong(hold.id()), open.get(0).id());

        Reservation done = store.commit(hold.id(), 250);
        assertEquals(1, count("SELECT COUNT(*) FROM tq_event WHERE subject = :s", s), "one row for the whole call");
        assertEquals(0, count("SELECT COUNT(*) FROM tq_reservation WHERE subject = :s", s), "the hold's row is deleted");
        Map<String, Object> row = eventRow(s, "COMMITTED");
        assertEquals(Long.parseLong(hold.id()), ((Number) row.get("id")).longValue(), "the event's id is the hold's number");
        assertEquals(400L, ((Number) row.get("held_tokens")).longValue());
        assertNotNull(row.get("held_at"));
        assertNotNull(row.get("held_until"));
        assertEquals(hold.id(), row.get("reservation_id"));
        long logged = ((Number) row.get("logged_id")).longValue();
        assertTrue(logged > Long.parseLong(hold.id()), "listed after its reserve");

        List<LedgerEvent> events = store.events(s, MONTH);
        assertEquals(List.of(EventKind.RESERVED, EventKind.COMMITTED), kinds(events));
        assertEquals(List.of(Long.parseLong(hold.id()), logged), events.stream().map(LedgerEvent::id).toList());
        assertEquals(events, heard.stream().filter(e -> e.kind().logged()).toList(),
                "the log reads as the listeners heard it, ids included");
        assertEquals(400, events.get(0).tokens());
        assertEquals("/chat", events.get(0).detail());
        assertEquals(hold.createdAt(), events.get(0).at());

        // found again by its event: the same answer, a repeat with the same actual, a conflict otherwise
        assertEquals(done, store.reservation(hold.id()).orElseThrow());
        assertEquals(done, store.commit(hold.id(), 250));
        assertEquals(ErrorCode.RESERVATION_STATE_CONFLICT,
                assertThrows(QuotaException.class, () -> store.commit(hold.id(), 251)).code());
        assertEquals(ErrorCode.RESERVATION_STATE_CONFLICT,
                assertThrows(QuotaException.class, () -> store.release(hold.id())).code());
        assertEquals(1, count("SELECT COUNT(*) FROM tq_event WHERE subject = :s", s), "a repeat writes nothing");
        assertEquals(250, store.account(s).used());
    }

    @Test
    void aFinishedKeylessHoldReadsBackAsItsCommitAnsweredUnderEitherOverrunPolicy() {
        for (OverrunPolicy overrun : OverrunPolicy.values()) {
            JdbiQuotaStore store = store(overrun);
            String s = "overrun-" + overrun + "-" + System.nanoTime();
            for (long actual : new long[] {0, 99, 100, 101, 1_000}) {
                Reservation hold = store.reserve(s, 100, null);
                Reservation done = store.commit(hold.id(), actual);
                assertEquals(done, store.reservation(hold.id()).orElseThrow(), overrun + " " + actual);
                assertEquals(done, store.commit(hold.id(), actual));
            }
            Reservation released = store.release(store.reserve(s, 70, null).id());
            assertEquals(ReservationState.RELEASED, released.state());
            assertEquals(released, store.reservation(released.id()).orElseThrow());
            assertEquals(released, store.release(released.id()));
            assertEquals(0, count("SELECT COUNT(*) FROM tq_reservation WHERE subject = :s", s));
        }
    }

    @Test
    void aHoldWithAKeyKeepsItsRowAndItsFinishingEventRecordsTheReserve() {
        JdbiQuotaStore store = store(OverrunPolicy.CAP_AT_HOLD);
        String s = "keyed-" + System.nanoTime();
        Reservation hold = store.reserve(HoldRequest.of(s, 300).idempotencyKey("k-1").build()).reservation();
        Reservation done = store.commit(hold.id(), 120);
        assertEquals(1, count("SELECT COUNT(*) FROM tq_reservation WHERE subject = :s AND state = 'COMMITTED'", s),
                "a retry of the reserve must find its hold");
        assertEquals(1, count("SELECT COUNT(*) FROM tq_event WHERE subject = :s", s));
        assertEquals(300L, ((Number) eventRow(s, "COMMITTED").get("held_tokens")).longValue());
        assertEquals(done, store.reserve(HoldRequest.of(s, 300).idempotencyKey("k-1").build()).reservation());
        assertEquals(List.of(EventKind.RESERVED, EventKind.COMMITTED), kinds(store.events(s, MONTH)));
    }

    @Test
    void expiryKeepsTheRowAndALateCommitLogsAPlainEvent() {
        JdbiQuotaStore store = store(OverrunPolicy.CAP_AT_HOLD);
        String s = "expiry-" + System.nanoTime();
        Reservation hold = store.reserve(HoldRequest.of(s, 200).ttl(Duration.ofSeconds(10)).build()).reservation();
        clock.advance(Duration.ofSeconds(11));
        assertEquals(1, store.expireStale());
        assertEquals(ReservationState.EXPIRED, store.reservation(hold.id()).orElseThrow().state());
        assertEquals(1, count("SELECT COUNT(*) FROM tq_reservation WHERE subject = :s", s));
        assertEquals(200L, ((Number) eventRow(s, "EXPIRED").get("held_tokens")).longValue());
        Reservation late = store.commit(hold.id(), 150);
        assertEquals(ReservationState.COMMITTED, late.state());
        Map<String, Object> lateRow = eventRow(s, "LATE_COMMITTED");
        assertNull(lateRow.get("held_tokens"), "only the first finishing event records the reserve");
        assertNull(lateRow.get("logged_id"));
        assertEquals(List.of(EventKind.RESERVED, EventKind.EXPIRED, EventKind.LATE_COMMITTED),
                kinds(store.events(s, MONTH)));
        assertEquals(late, store.commit(hold.id(), 150));
    }

    /**
     * Events logged between a hold's reserve and its finish sit between them in the log, as they did
     * when the RESERVED event was a row of its own: the same order as the in-memory store's, and every
     * id unique and increasing.
     */
    @Test
    void theLogReadsInTheOrderThingsHappenedWithUniqueIds() {
        JdbiQuotaStore store = store(OverrunPolicy.CAP_AT_HOLD);
        QuotaStore model = new InMemoryQuotaStore(store.policy());
        String s = "order-" + System.nanoTime();
        String team = "team-" + System.nanoTime();
        String member = "member-" + System.nanoTime();
        for (QuotaStore q : List.of(store, model)) {
            q.setTeam(member, team);
            Reservation a = q.reserve(s, 100, null);
            Reservation b = q.reserve(HoldRequest.of(s, 50).idempotencyKey("b").build()).reservation();
            q.consume(s, 10, null);
            Reservation t = q.reserve(member, 40, null);
            q.commit(b.id(), 20);
            Reservation c = q.reserve(s, 30, null);
            q.consume(member, 5, null);
            q.release(a.id());
            q.commit(t.id(), 35);
            q.reserve(s, 7, null);
            q.reserve(member, 3, null);
            q.release(c.id());
        }
        for (String subject : List.of(s, member, Team.subject(team))) {
            List<LedgerEvent> got = store.events(subject, MONTH);
            List<LedgerEvent> want = model.events(subject, MONTH);
            assertEquals(kinds(want), kinds(got), subject);
            assertEquals(want.stream().map(LedgerEvent::tokens).toList(), got.stream().map(LedgerEvent::tokens).toList());
            for (int i = 1; i < got.size(); i++) {
                assertTrue(got.get(i - 1).id() < got.get(i).id(), "oldest first: " + got);
            }
        }
        Set<Long> ids = new HashSet<>();
        for (String subject : List.of(s, member, Team.subject(team))) {
            store.events(subject, MONTH).forEach(e -> assertTrue(ids.add(e.id()), "event ids are unique: " + e));
        }
        assertEquals(0, count("SELECT COUNT(*) FROM tq_event WHERE kind = 'RESERVED' AND subject = :s", s));
        assertEquals(0, count("SELECT COUNT(*) FROM tq_event WHERE kind = 'RESERVED' AND subject = :s",
                Team.subject(team)));
        assertEquals(2, count("SELECT COUNT(*) FROM tq_event WHERE held_tokens IS NOT NULL"
                + " AND reservation_id LIKE '%t%' AND subject IN (:s, '" + member + "')", Team.subject(team)),
                "a member's hold's finishing events, one per account, each record the reserve");
        BlockStats got = store.blockStats(s, MONTH);
        assertEquals(model.blockStats(s, MONTH), got);
        assertEquals(model.blockStats(Team.subject(team), MONTH), store.blockStats(Team.subject(team), MONTH));
        assertEquals(model.dailyUsage(s, MONTH.atDay(1), MONTH.atEndOfMonth()),
                store.dailyUsage(s, MONTH.atDay(1), MONTH.atEndOfMonth()));
    }

    /**
     * A key-less team member's hold is deleted at its commit or release as a plain one is: its two
     * finishing events (the member's under the member's number, the team's under the team's) are its
     * record, and the store answers for it, the member's account and the team's as it did with the row.
     */
    @Test
    void aKeylessTeamHoldLeavesNoRowAndAnswersFromItsEvents() {
        JdbiQuotaStore store = store(OverrunPolicy.CAP_AT_HOLD);
        String member = "tm-" + System.nanoTime();
        String team = "tt-" + System.nanoTime();
        String teamSubject = Team.subject(team);
        store.setPlan(teamSubject, 1_000);
        store.setTeam(member, team);
        Reservation hold = store.reserve(HoldRequest.of(member, 400).endpoint("/chat").build()).reservation();
        assertTrue(hold.id().matches("[0-9]+t[0-9]+"), "a member's hold's id is its two numbers: " + hold.id());
        String[] numbers = hold.id().split("t");
        assertEquals(1, count("SELECT COUNT(*) FROM tq_reservation WHERE subject = :s", member));

        Reservation done = store.commit(hold.id(), 250);
        assertEquals(team, done.teamId());
        assertEquals(0, count("SELECT COUNT(*) FROM tq_reservation WHERE subject = :s", member),
                "the member's hold's row is deleted");
        assertEquals(Long.parseLong(numbers[0]), ((Number) eventRow(member, "COMMITTED").get("id")).longValue());
        assertEquals(Long.parseLong(numbers[1]), ((Number) eventRow(teamSubject, "COMMITTED").get("id")).longValue());
        for (String owner : List.of(member, teamSubject)) {
            assertEquals(400L, ((Number) eventRow(owner, "COMMITTED").get("held_tokens")).longValue());
            assertEquals(List.of(EventKind.RESERVED, EventKind.COMMITTED), holdKinds(store.events(owner, MONTH)), owner);
            assertEquals(250, store.account(owner).used(), owner);
            assertEquals(0, store.account(owner).reserved(), owner);
        }

        // found again by its events, the team it was held against included, even after the member moved
        store.setTeam(member, "other-" + team);
        assertEquals(done, store.reservation(hold.id()).orElseThrow());
        assertEquals(done, store.commit(hold.id(), 250));
        assertEquals(ErrorCode.RESERVATION_STATE_CONFLICT,
                assertThrows(QuotaException.class, () -> store.commit(hold.id(), 251)).code());
        assertEquals(ErrorCode.RESERVATION_STATE_CONFLICT,
                assertThrows(QuotaException.class, () -> store.release(hold.id())).code());
        store.setTeam(member, team);

        // a release, alone and then repeated
        Reservation released = store.release(store.reserve(member, 70, null).id());
        assertEquals(ReservationState.RELEASED, released.state());
        assertEquals(released, store.reservation(released.id()).orElseThrow());
        assertEquals(released, store.release(released.id()));
        assertEquals(ErrorCode.RESERVATION_STATE_CONFLICT,
                assertThrows(QuotaException.class, () -> store.commit(released.id(), 10)).code());

        // a hold of a closed month, finished on the locked path, the same way
        Reservation closed = store.reserve(HoldRequest.of(member, 30).ttl(Duration.ofDays(31)).build()).reservation();
        clock.set(MONTH.plusMonths(1).atDay(2).atStartOfDay(java.time.ZoneOffset.UTC).toInstant());
        store.account(member);
        store.account(teamSubject);
        Reservation late = store.commit(closed.id(), 20);
        assertEquals(late, store.reservation(closed.id()).orElseThrow());
        assertEquals(late, store.commit(closed.id(), 20));
        assertEquals(0, count("SELECT COUNT(*) FROM tq_reservation WHERE subject = :s", member));
        for (String owner : List.of(member, teamSubject)) {
            assertEquals(270, store.account(owner, MONTH).orElseThrow().used(), owner);
            assertEquals(List.of(EventKind.RESERVED, EventKind.COMMITTED, EventKind.RESERVED, EventKind.RELEASED,
                    EventKind.RESERVED, EventKind.COMMITTED), holdKinds(store.events(owner, MONTH)), owner);
        }

        // a member's hold with a key keeps its row, so that a retry of its reserve finds it
        Reservation keyed = store.reserve(HoldRequest.of(member, 50).idempotencyKey("tk").build()).reservation();
        Reservation keyedDone = store.commit(keyed.id(), 40);
        assertEquals(1, count("SELECT COUNT(*) FROM tq_reservation WHERE subject = :s AND state = 'COMMITTED'", member));
        assertEquals(keyedDone, store.reserve(HoldRequest.of(member, 50).idempotencyKey("tk").build()).reservation());
    }
}
