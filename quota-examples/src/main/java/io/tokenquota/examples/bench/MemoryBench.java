package io.tokenquota.examples.bench;

import io.tokenquota.QuotaPolicy;
import io.tokenquota.QuotaStore;
import io.tokenquota.memory.InMemoryQuotaStore;

import java.lang.management.ManagementFactory;
import java.lang.ref.Reference;
import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.Statement;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import javax.sql.DataSource;

/**
 * Issue 5, part 6a: what open holds cost. "Heap per open hold" = growth of the JVM heap in use after
 * full GCs, between a store whose {@code holdSubjects} accounts already exist and the same store after
 * {@code n} reserves that stay HELD (so it includes the hold and its index entries; the in-memory store's
 * RESERVED event too, while the JDBI store's hold writes none until it finishes),
 * divided by {@code n}. For the JDBI store the holds live in the database: the heap side should be
 * flat, and the table side is the growth of {@code tq_reservation} and {@code tq_event} on disk.
 * Driver thread only.
 */
final class MemoryBench {
    private static final int HOLD_SUBJECTS = 1_000;

    private final Settings settings;
    private final Report report;
    private final List<List<String>> rows = new ArrayList<>();

    MemoryBench(Settings settings, Report report) {
        this.settings = settings;
        this.report = report;
    }

    void inMemory() throws InterruptedException {
        QuotaStore store = new InMemoryQuotaStore(policy());
        measure("InMemoryQuotaStore", store, null, null);
        Reference.reachabilityFence(store);
    }

    void jdbi(Backend backend, LedgerBench.LedgerFactory factory) throws Exception {
        var ds = backend.newDatabase(4);
        factory.installSchema(ds);
        QuotaStore store = factory.open(ds, policy());
        try {
            measure("JdbiQuotaStore on " + backend.name(), store, ds, backend);
        } finally {
            if (store instanceof AutoCloseable closeable) {
                closeable.close();
            }
        }
    }

    void write() {
        report.heading("Memory per open hold");
        report.line(settings.memoryHolds() + " reserves of 100 tokens that stay HELD (hold TTL 1 h), spread over "
                + HOLD_SUBJECTS + " subjects whose accounts existed before; heap = used heap after 3 full GCs, after"
                + " minus before, per hold (includes the hold and its indexes; in memory, its RESERVED event). Database = growth"
                + " of tq_reservation + tq_event including indexes (PostgreSQL only).");
        report.table(List.of("store", "JVM heap per open hold", "database bytes per open hold",
                "heap for " + settings.memoryHolds() + " holds"), rows);
    }

    private static QuotaPolicy policy() {
        return LedgerBench.unlimitedPolicy().toBuilder().holdTtl(Duration.ofHours(1)).build();
    }

    private void measure(String name, QuotaStore store, DataSource ds, Backend backend) throws InterruptedException {
        String[] subjects = Subjects.names(HOLD_SUBJECTS);
        for (String s : subjects) {
            store.account(s);
        }
        long dbBefore = dbBytes(ds, backend);
        long before = usedHeapAfterGc();
        int n = settings.memoryHolds();
        for (int i = 0; i < n; i++) {
            store.reserve(subjects[i % HOLD_SUBJECTS], 100, null);
        }
        long after = usedHeapAfterGc();
        long dbAfter = dbBytes(ds, backend);
        report.record("memory." + name + ".heapBytesPerHold", (double) (after - before) / n);
        rows.add(List.of(name, Report.num((double) (after - before) / n) + " B",
                dbBefore < 0 ? "n/a" : Report.num((double) (dbAfter - dbBefore) / n) + " B",
                Report.num((after - before) / 1024.0 / 1024.0) + " MB"));
    }

    static long usedHeapAfterGc() throws InterruptedException {
        var memory = ManagementFactory.getMemoryMXBean();
        for (int i = 0; i < 3; i++) {
            System.gc();
            // lets the reference handler and cleaners run between collections
            Thread.sleep(50);
        }
        return memory.getHeapMemoryUsage().getUsed();
    }

    private static long dbBytes(DataSource ds, Backend backend) {
        if (ds == null || backend.dialect() != Backend.Dialect.POSTGRES) {
            return -1;
        }
        try (Connection c = ds.getConnection(); Statement s = c.createStatement();
             // the event log is partitioned by month: its bytes are its partitions'
             ResultSet rs = s.executeQuery("SELECT pg_total_relation_size('tq_reservation')"
                     + " + (SELECT COALESCE(SUM(pg_total_relation_size(relid)), 0) FROM pg_partition_tree('tq_event'))")) {
            rs.next();
            return rs.getLong(1);
        } catch (java.sql.SQLException e) {
            throw new IllegalStateException(e);
        }
    }
}
