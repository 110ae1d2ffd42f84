package io.tokenquota.jdbi;

import io.tokenquota.QuotaPolicy;
import io.tokenquota.QuotaStore;
import io.tokenquota.jdbi.testing.PostgresExtension;
import io.tokenquota.testkit.RefundTakeContract;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * Round 318: a refund's take from a closed month's hold and a plan change, in either order, on PostgreSQL: every
 * test gets its own store over one database (the suite isolates by subject and month).
 */
class PostgresRefundTakeContractTest extends RefundTakeContract {
    @RegisterExtension
    static final PostgresExtension DB = new PostgresExtension();

    @Override
    protected QuotaStore newStore(QuotaPolicy policy) {
        return JdbiQuotaStore.builder().dataSource(DB.dataSource()).policy(policy).installSchema(true).build();
    }
}
