package io.tokenquota.jdbi.breakit389;

import io.tokenquota.QuotaPolicy;
import io.tokenquota.QuotaStore;
import io.tokenquota.jdbi.JdbiQuotaStore;
import io.tokenquota.jdbi.testing.PostgresExtension;
import org.junit.jupiter.api.extension.RegisterExtension;

/** Round 389's scenarios on the shared embedded PostgreSQL (the same extension the other Postgres tests use). */
class PostgresRound389Test extends AbstractRound389 {
    @RegisterExtension
    static final PostgresExtension DB = new PostgresExtension();

    @Override
    protected QuotaStore store(QuotaPolicy policy) {
        return JdbiQuotaStore.builder().dataSource(DB.dataSource()).policy(policy).installSchema(true).build();
    }
}
