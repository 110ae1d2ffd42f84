package io.tokenquota.jdbi.breakit434;

import io.tokenquota.QuotaPolicy;
import io.tokenquota.QuotaStore;

/** Round 434's control on Postgres. */
class PostgresRound434Test extends AbstractRound434 {
    @org.junit.jupiter.api.extension.RegisterExtension
    static final io.tokenquota.jdbi.testing.PostgresExtension DB = new io.tokenquota.jdbi.testing.PostgresExtension();

    @Override
    protected QuotaStore store(QuotaPolicy policy) {
        return io.tokenquota.jdbi.JdbiQuotaStore.builder().dataSource(DB.dataSource()).policy(policy).installSchema(true).build();
    }
}
