package io.tokenquota.jdbi;

import io.tokenquota.QuotaPolicy;
import io.tokenquota.QuotaStore;
import io.tokenquota.jdbi.testing.PostgresExtension;
import io.tokenquota.testkit.ModelUsageContract;
import org.junit.jupiter.api.extension.RegisterExtension;

/** The usage of weighted charges kept and reported on Postgres (the suite isolates by subject and month). */
class PostgresModelUsageContractTest extends ModelUsageContract {
    @RegisterExtension
    static final PostgresExtension DB = new PostgresExtension();

    @Override
    protected QuotaStore newStore(QuotaPolicy policy) {
        return JdbiQuotaStore.builder().dataSource(DB.dataSource()).policy(policy).installSchema(true).build();
    }
}
