package io.tokenquota.jdbi;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.tokenquota.HoldRequest;
import io.tokenquota.QuotaPolicy;
import io.tokenquota.QuotaStore;
import io.tokenquota.jdbi.testing.PostgresExtension;
import java.util.List;
import org.jdbi.v3.core.Jdbi;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * What one call writes on PostgreSQL, read from the catalog and the tables rather than timed: the
 * account update can be HOT (no index covers a column a call changes), a consume without an
 * idempotency key appends one event row and no reservation row, and that row has two B-tree
 * index entries (the others are BRIN, a few bytes per range of pages).
 */
class PostgresStorageShapeTest {
    @RegisterExtension
    static final PostgresExtension DB = new PostgresExtension();

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
        store.consume(HoldRequest.of(subject, 10).idempotencyKey("keyed").build());
        long keyed = jdbi.withHandle(h -> h.createQuery("SELECT COUNT(*) FROM tq_reservation WHERE subject = :s")
                .bind("s", subject).mapTo(Long.class).one());
        assertEquals(1, keyed, "a consume with a key keeps its row, so a retry finds it");
    }
}
