package io.tokenquota.jdbi.breakit481;

import io.tokenquota.QuotaPolicy;
import io.tokenquota.QuotaStore;
import io.tokenquota.jdbi.JdbiQuotaStore;
import io.tokenquota.jdbi.testing.PostgresExtension;
import org.junit.jupiter.api.extension.RegisterExtension;

/** Round 481's scenarios on Postgres: two store instances over one database. */
class PostgresRound481Test extends AbstractRound481 {
    @RegisterExtension
    static final PostgresExtension DB = new PostgresExtension();

    @Override
    protected QuotaStore store(QuotaPolicy policy) {
        return JdbiQuotaStore.builder().dataSource(DB.dataSource()).policy(policy).installSchema(true).build();
    }

    @Override
    protected QuotaStore secondInstance(QuotaStore first, QuotaPolicy policy) {
        return store(policy);
    }
}
