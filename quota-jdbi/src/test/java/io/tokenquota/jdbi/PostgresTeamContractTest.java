package io.tokenquota.jdbi;

import io.tokenquota.QuotaPolicy;
import io.tokenquota.QuotaStore;
import io.tokenquota.jdbi.testing.PostgresExtension;
import io.tokenquota.testkit.TeamContract;
import org.junit.jupiter.api.extension.RegisterExtension;

/** Team budgets on PostgreSQL: every test gets its own store over one database (the suite isolates by subject and month). */
class PostgresTeamContractTest extends TeamContract {
    @RegisterExtension
    static final PostgresExtension DB = new PostgresExtension();

    @Override
    protected QuotaStore newStore(QuotaPolicy policy) {
        return JdbiQuotaStore.builder().dataSource(DB.dataSource()).policy(policy).installSchema(true).build();
    }
}
