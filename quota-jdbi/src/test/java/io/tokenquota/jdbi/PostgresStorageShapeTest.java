package io.tokenquota.jdbi;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.tokenquota.HoldRequest;
import io.tokenquota.QuotaPolicy;
import io.tokenquota.QuotaStore;
import io.tokenquota.jdbi.testing.PostgresExtension;
import io.tokenquota.QuotaAccount;
import io.tokenquota.Reservation;
import io.tokenquota.ReservationState;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.concurrent.CyclicBarrier;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.jdbi.v3.core.Jdbi;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * What one call writes on PostgreSQL, read from the catalog and the tables rather than timed: the
 * account update can be HOT (no index covers a column a call changes), a consume without an
 * idempotency key appends one event row, in the current month's partition of the event log, and no
 * reservation row, and that row has two B-tree index entries (the others are BRIN, a few bytes per
 * range of pages).
 */
class PostgresStorageShapeTest {
    @RegisterExtension
    static final PostgresExtension DB = new PostgresExtension();

    /**
     * The transaction that wrote an event (its row's {@code xmin}): the events of one combined statement
     * share it. Not their instant: since round 343 each combined call keeps its own.
     */
    private static final String TX = "CAST(CAST(xmin AS TEXT) AS BIGINT) AS tx";

    private static List<String> indexDefinitions(Jdbi jdbi, String table) {
        return jdbi.withHandle(h -> h.createQuery("SELECT indexdef FROM pg_indexes WHERE schemaname = current_schema()"
                + " AND tablename = :table ORDER BY indexname").bind("table", table).mapTo(String.class).list());
    }

    @Test
    void noIndexCoversAColumnThatEveryCallChanges() {
        Jdbi jdbi = Jdbi.create(DB.dataSource());
        JdbiQuotaStore.installSchema(DB.dataSource());
        for (String index : indexDefinitions(jdbi, "tq_account")) {
            String columns = index.substring(index.indexOf('('));
            for (String changing : List.of("used", "reserved", "granted", "carried", "updated_at", "superseded")) {
                assertTrue(!columns.matches(".*\\b" + changing + "\\b.*"), index + " covers " + changing);
            }
        }
        String options = jdbi.withHandle(h -> h.createQuery("SELECT array_to_string(reloptions, ',') FROM pg_class"
                + " WHERE oid = 'tq_account'::regclass").mapTo(String.class).one());
        assertEquals("fillfactor=75", options, "room on each page for the next row version");
    }

    /**
     * Every finished hold leaves a dead entry in the open-holds index until a vacuum; a commit that
     * reached its hold through that index (a bitmap AND with the key, which the planner picks when the
     * statistics are stale) scanned all of them: 1 ms per commit with 29,000 finished holds. The index's
     * predicate is one that finishing by id ({@code state = 'HELD'}) does not imply.
     */
    @Test
    void aCommitCannotReachItsHoldThroughTheOpenHoldsIndex() {
        Jdbi jdbi = Jdbi.create(DB.dataSource());
        JdbiQuotaStore.installSchema(DB.dataSource());
        List<String> partial = indexDefinitions(jdbi, "tq_reservation").stream().filter(d -> d.contains(" WHERE "))
                .toList();
        assertFalse(partial.isEmpty());
        Sql sql = new Sql(Dialect.POSTGRESQL);
        for (String index : partial) {
            String predicate = index.substring(index.indexOf(" WHERE ") + 7).replaceAll("[()]", "");
            for (String finish : List.of(sql.commitInOneStatement, sql.releaseInOneStatement,
                    sql.expireHoldOfLatestMonth)) {
                assertFalse(finish.contains(predicate), finish + " implies the predicate of " + index);
            }
        }
        assertTrue(partial.stream().anyMatch(d -> d.endsWith("WHERE (finished_at IS NULL)")), partial.toString());
    }

    @Test
    void eachEventRowHasTwoBtreeEntriesAndAKeylessConsumeWritesNoReservation() {
        QuotaStore store = JdbiQuotaStore.builder().dataSource(DB.dataSource())
                .policy(QuotaPolicy.builder().defaultAllocation(1_000).build()).installSchema(true).build();
        Jdbi jdbi = Jdbi.create(DB.dataSource());
        List<String> btree = indexDefinitions(jdbi, "tq_event").stream().filter(d -> !d.contains("USING brin"))
                .toList();
        assertEquals(2, btree.size(), btree.toString());
        String subject = "shape-" + System.nanoTime();
        store.account(subject);
        for (int i = 0; i < 5; i++) {
            store.consume(HoldRequest.of(subject, 10).build());
        }
        long rows = jdbi.withHandle(h -> h.createQuery("SELECT COUNT(*) FROM tq_reservation WHERE subject = :s")
                .bind("s", subject).mapTo(Long.class).one());
        assertEquals(0, rows);
        long events = jdbi.withHandle(h -> h.createQuery("SELECT COUNT(*) FROM tq_event WHERE subject = :s")
                .bind("s", subject).mapTo(Long.class).one());
        assertEquals(5, events);
        // the event log is partitioned by month: the rows are in the month's partition, whose indexes are
        // the same two B-trees and one BRIN, declared once on tq_event
        String partition = EventPartitions.tableOf(store.policy().currentMonth());
        long inPartition = jdbi.withHandle(h -> h.createQuery("SELECT COUNT(*) FROM " + partition + " WHERE subject = :s")
                .bind("s", subject).mapTo(Long.class).one());
        assertEquals(5, inPartition);
        List<String> partitionIndexes = indexDefinitions(jdbi, partition);
        assertEquals(2, partitionIndexes.stream().filter(d -> !d.contains("USING brin")).count(),
                partitionIndexes.toString());
        assertEquals(1, partitionIndexes.stream().filter(d -> d.contains("USING brin")).count(),
                partitionIndexes.toString());
        store.consume(HoldRequest.of(subject, 10).idempotencyKey("keyed").build());
        long keyed = jdbi.withHandle(h -> h.createQuery("SELECT COUNT(*) FROM tq_reservation WHERE subject = :s")
                .bind("s", subject).mapTo(Long.class).one());
        assertEquals(1, keyed, "a consume with a key keeps its row, so a retry finds it");
    }

    /**
     * Concurrent key-less reserves and consumes in one JVM share statements (a group commit), within a
     * subject and across subjects: the events of one statement share the leader's instant. Exactness
     * under it is the concurrency suite's business; this shows the combining happens (so that suite
     * tests it) and that combined holds are whole holds: each commits by its id.
     */
    @Test
    void concurrentTakesShareStatements() throws Exception {
        QuotaStore store = JdbiQuotaStore.builder().dataSource(DB.dataSource())
                .policy(QuotaPolicy.builder().defaultAllocation(1_000_000).build()).installSchema(true).build();
        String first = "combined-" + System.nanoTime();
        // a second subject whose hash shares its low bits with the first's, so both meet in one lane
        String second = first;
        for (int i = 0; (second.hashCode() & 0xFF) != (first.hashCode() & 0xFF) || second.equals(first); i++) {
            second = first + "-" + i;
        }
        List<String> subjects = List.of(first, second);
        subjects.forEach(store::account);
        int threads = 16;
        int calls = 40;
        CyclicBarrier start = new CyclicBarrier(threads);
        List<Reservation> holds = Collections.synchronizedList(new ArrayList<>());
        ExecutorService pool = Executors.newFixedThreadPool(threads);
        try {
            List<Future<?>> done = new ArrayList<>();
            for (int t = 0; t < threads; t++) {
                boolean reserves = t % 2 == 0;
                String subject = subjects.get(t / 2 % 2);
                done.add(pool.submit(() -> {
                    start.await();
                    for (int i = 0; i < calls; i++) {
                        if (reserves) {
                            holds.add(store.reserve(subject, 5, null));
                        } else {
                            store.consume(subject, 5, null);
                        }
                    }
                    return null;
                }));
            }
            for (Future<?> f : done) {
                f.get(2, TimeUnit.MINUTES);
            }
        } finally {
            pool.shutdownNow();
        }
        Jdbi jdbi = Jdbi.create(DB.dataSource());
        long shared = jdbi.withHandle(h -> h.createQuery("SELECT COUNT(*) FROM (SELECT " + TX + " FROM tq_event"
                + " WHERE subject IN (<subjects>) GROUP BY tx HAVING COUNT(*) > 1) AS s")
                .bindList("subjects", subjects).mapTo(Long.class).one());
        long acrossSubjects = jdbi.withHandle(h -> h.createQuery("SELECT COUNT(*) FROM (SELECT " + TX
                + " FROM tq_event WHERE subject IN (<subjects>) GROUP BY tx HAVING COUNT(DISTINCT subject) = 2) AS s")
                .bindList("subjects", subjects).mapTo(Long.class).one());
        assertEquals(threads / 2 * calls, holds.size());
        for (String subject : subjects) {
            QuotaAccount a = store.account(subject);
            assertEquals(threads / 4 * calls * 5L, a.used(), subject);
            assertEquals(threads / 4 * calls * 5L, a.reserved(), subject);
        }
        // commits and releases arrive together too: combined by hold id, each finished as if alone
        ExecutorService finishers = Executors.newFixedThreadPool(threads);
        try {
            CyclicBarrier go = new CyclicBarrier(threads);
            List<Future<?>> done = new ArrayList<>();
            for (int t = 0; t < threads; t++) {
                int from = t;
                done.add(finishers.submit(() -> {
                    go.await();
                    for (int i = from; i < holds.size(); i += threads) {
                        assertEquals(ReservationState.COMMITTED, store.commit(holds.get(i).id(), 3).state());
                    }
                    return null;
                }));
            }
            for (Future<?> f : done) {
                f.get(2, TimeUnit.MINUTES);
            }
        } finally {
            finishers.shutdownNow();
        }
        long sharedCommits = jdbi.withHandle(h -> h.createQuery("SELECT COUNT(*) FROM (SELECT " + TX
                + " FROM tq_event WHERE subject IN (<subjects>) AND kind = 'COMMITTED' AND NOT is_consume GROUP BY tx"
                + " HAVING COUNT(*) > 1) AS s").bindList("subjects", subjects).mapTo(Long.class).one());
        for (Reservation hold : holds) {
            Reservation finished = store.reservation(hold.id()).orElseThrow();
            assertEquals(ReservationState.COMMITTED, finished.state());
            assertEquals(3, finished.charged());
        }
        for (String subject : subjects) {
            QuotaAccount a = store.account(subject);
            assertEquals(threads / 4 * calls * (5L + 3), a.used(), subject);
            assertEquals(0, a.reserved(), subject);
            assertEquals(threads / 2 * calls + threads / 4 * calls, store.events(subject, a.month()).size(), subject);
        }
        assertTrue(shared > 0, "no two takes shared a statement");
        assertTrue(acrossSubjects > 0, "no statement took for both subjects");
        assertTrue(sharedCommits > 0, "no two commits shared a statement");
    }
}
