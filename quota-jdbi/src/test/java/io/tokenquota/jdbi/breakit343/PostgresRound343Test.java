package io.tokenquota.jdbi.breakit343;


import io.tokenquota.QuotaPolicy;
import io.tokenquota.QuotaStore;
import io.tokenquota.jdbi.JdbiQuotaStore;
import io.tokenquota.jdbi.testing.CombinerQueue;
import io.tokenquota.jdbi.testing.PostgresExtension;
import java.util.concurrent.Callable;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * Round 343's scenarios on the shared embedded PostgreSQL (the same extension the other Postgres tests
 * use), where key-less takes are combined ({@code Combiner}, take-together.sql, team-take-together.sql).
 *
 * <p>The queued choreography, with handshakes and no sleeps: a host transaction locks the January account
 * ({@code SELECT ... FOR UPDATE}, https://www.postgresql.org/docs/current/sql-select.html#SQL-FOR-UPDATE-SHARE);
 * the first call leads its lane and waits on that row lock (seen in {@code pg_stat_activity} as a
 * {@code Lock} wait); the second (January) and third (February) calls are seen parked in the combiner
 * ({@code LockSupport.getBlocker}); then the host transaction commits.
 */
class PostgresRound343Test extends AbstractRound343 {
    @RegisterExtension
    static final PostgresExtension DB = new PostgresExtension();

    @Override
    protected QuotaStore store(QuotaPolicy policy) {
        return JdbiQuotaStore.builder().dataSource(DB.dataSource()).policy(policy).installSchema(true).build();
    }

    @Override
    protected void whileUnderWay(QuotaStore store, boolean queued, String lockedSubject, Callable<?> first,
                                 Callable<?> second, Runnable move, Callable<?> third) throws Exception {
        CombinerQueue.underWay(DB.dataSource(), JANUARY, queued, lockedSubject, first, second, move, third);
    }
}
