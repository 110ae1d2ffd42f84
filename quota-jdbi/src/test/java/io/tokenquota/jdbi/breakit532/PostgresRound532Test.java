package io.tokenquota.jdbi.breakit532;

import io.tokenquota.QuotaPolicy;
import io.tokenquota.QuotaStore;
import io.tokenquota.jdbi.JdbiQuotaStore;
import io.tokenquota.jdbi.testing.PostgresExtension;
import org.junit.jupiter.api.extension.RegisterExtension;

/** Round 532's scenarios on Postgres: two store instances over one database. */
class PostgresRound532Test extends AbstractRound532 {
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
