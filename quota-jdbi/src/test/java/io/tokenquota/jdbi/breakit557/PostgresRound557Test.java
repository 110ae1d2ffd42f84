package io.tokenquota.jdbi.breakit557;

import io.tokenquota.QuotaPolicy;
import io.tokenquota.QuotaStore;
import io.tokenquota.jdbi.JdbiQuotaStore;
import io.tokenquota.jdbi.testing.H2Extension;
import io.tokenquota.jdbi.testing.PostgresExtension;
import org.junit.jupiter.api.extension.RegisterExtension;

class PostgresRound557Test extends AbstractRound557 {
    @RegisterExtension
    static final PostgresExtension DB = new PostgresExtension();

    @Override
    protected QuotaStore newStore(QuotaPolicy policy) {
        return JdbiQuotaStore.builder().dataSource(DB.dataSource()).policy(policy).installSchema(true).build();
    }
}
