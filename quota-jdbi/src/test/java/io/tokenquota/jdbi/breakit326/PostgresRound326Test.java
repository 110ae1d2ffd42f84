package io.tokenquota.jdbi.breakit326;

import io.tokenquota.QuotaPolicy;
import io.tokenquota.QuotaStore;
import io.tokenquota.jdbi.JdbiQuotaStore;
import io.tokenquota.jdbi.testing.PostgresExtension;
import org.junit.jupiter.api.extension.RegisterExtension;

/** Round 326's ledger scenarios (several instances on one database) and its fixes' tests on the shared embedded PostgreSQL. */
class PostgresRound326Test extends AbstractRound326Fixes {
    @RegisterExtension
    static final PostgresExtension DB = new PostgresExtension();

    @Override
    protected QuotaStore instance(QuotaPolicy policy) {
        return JdbiQuotaStore.builder().dataSource(DB.dataSource()).policy(policy).installSchema(true).build();
    }

    @Override
    protected QuotaStore instanceOnPoolOfOne(QuotaPolicy policy) {
        return onPoolOfOne(DB.database(), policy);
    }
}
