package io.tokenquota.jdbi;

import io.tokenquota.QuotaPolicy;
import io.tokenquota.QuotaStore;
import io.tokenquota.jdbi.testing.H2Extension;
import io.tokenquota.testkit.RefundTakeContract;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * Round 318: a refund's take from a closed month's hold and a plan change, in either order, on H2: every
 * test gets its own store over one database (the suite isolates by subject and month).
 */
class H2RefundTakeContractTest extends RefundTakeContract {
    @RegisterExtension
    static final H2Extension DB = new H2Extension();

    @Override
    protected QuotaStore newStore(QuotaPolicy policy) {
        return JdbiQuotaStore.builder().dataSource(DB.dataSource()).policy(policy).installSchema(true).build();
    }
}
