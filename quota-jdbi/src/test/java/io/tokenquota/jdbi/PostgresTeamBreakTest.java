package io.tokenquota.jdbi;

import io.tokenquota.QuotaPolicy;
import io.tokenquota.QuotaStore;
import org.junit.jupiter.api.extension.RegisterExtension;

/** Round 50 team break-it scenarios on Postgres. */
class PostgresTeamBreakTest extends TeamBreakScenarios {
    @RegisterExtension
    static final io.tokenquota.jdbi.testing.PostgresExtension DB = new io.tokenquota.jdbi.testing.PostgresExtension();

    @Override
    protected QuotaStore newStore(QuotaPolicy policy) {
        return JdbiQuotaStore.builder().dataSource(DB.dataSource()).policy(policy).installSchema(true).build();
    }
}
