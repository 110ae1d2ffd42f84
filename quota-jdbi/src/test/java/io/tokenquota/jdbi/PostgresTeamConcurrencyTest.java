package io.tokenquota.jdbi;

import io.tokenquota.QuotaPolicy;
import io.tokenquota.QuotaStore;
import io.tokenquota.jdbi.testing.PostgresExtension;
import io.tokenquota.testkit.TeamConcurrencyContract;
import org.junit.jupiter.api.extension.RegisterExtension;

/** Many members of one team racing on Postgres: the team never over-held, no deadlock, exact afterwards. */
class PostgresTeamConcurrencyTest extends TeamConcurrencyContract {
    @RegisterExtension
    static final PostgresExtension DB = new PostgresExtension();

    @Override
    protected QuotaStore newStore(QuotaPolicy policy) {
        return JdbiQuotaStore.builder().dataSource(DB.dataSource()).policy(policy).installSchema(true).build();
    }

    // no retries: a deadlock between the month openings of a team and its members fails the call the
    // test watches instead of being retried unseen
    @Override
    protected QuotaStore newStoreForMonthRace(QuotaPolicy policy) {
        return JdbiQuotaStore.builder().dataSource(DB.dataSource()).policy(policy).installSchema(true).maxRetries(0)
                .build();
    }

    // fewer rounds and operations than the in-memory run: each is a real transaction on 2 shared cores
    @Override
    protected int rounds() {
        return 3;
    }

    @Override
    protected int operationsPerThread() {
        return 50;
    }
}
