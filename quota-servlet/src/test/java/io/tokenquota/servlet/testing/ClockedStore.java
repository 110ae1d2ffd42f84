package io.tokenquota.servlet.testing;

import io.tokenquota.QuotaPolicy;
import io.tokenquota.jdbi.JdbiQuotaStore;
import io.tokenquota.jdbi.testing.TestDatabase;
import io.tokenquota.jdbi.testing.TestDatabases;
import io.tokenquota.servlet.QuotaFilter;
import io.tokenquota.servlet.SubjectResolver;
import io.tokenquota.testkit.MutableClock;

/**
 * A round's second store, on an H2 database of its own, whose policy reads a {@link MutableClock}: the
 * round moves that clock (a month turn, a hold that outlives its TTL) behind a filter of its own while
 * its main store keeps real time. Close it after the round.
 */
public final class ClockedStore implements AutoCloseable {
    private final TestDatabase db;
    private final JdbiQuotaStore store;

    /** A new store on {@code clock}, every subject's default allocation {@code allocation}. */
    public ClockedStore(MutableClock clock, long allocation) {
        db = TestDatabases.h2();
        store = JdbiQuotaStore.builder().dataSource(db.dataSource())
                .policy(QuotaPolicy.builder().defaultAllocation(allocation).clock(clock).build()).installSchema(true).build();
    }

    public JdbiQuotaStore store() {
        return store;
    }

    /** A filter on this store protecting {@code prefix}, its subject the trusted {@code x-user-id} header from loopback. */
    public QuotaFilter filter(String prefix) {
        return QuotaFilter.builder(store).protect(prefix)
                .subjectResolver(SubjectResolver.trustedHeader("x-user-id", "127.0.0.1", "::1")).build();
    }

    @Override
    public void close() {
        store.close();
        db.close();
    }
}
