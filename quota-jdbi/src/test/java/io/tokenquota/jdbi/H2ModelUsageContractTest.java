package io.tokenquota.jdbi;

import io.tokenquota.QuotaPolicy;
import io.tokenquota.QuotaStore;
import io.tokenquota.jdbi.testing.H2Extension;
import io.tokenquota.testkit.ModelUsageContract;
import org.junit.jupiter.api.extension.RegisterExtension;

/** The usage of weighted charges kept and reported on H2 (the suite isolates by subject and month). */
class H2ModelUsageContractTest extends ModelUsageContract {
    @RegisterExtension
    static final H2Extension DB = new H2Extension();

    @Override
    protected QuotaStore newStore(QuotaPolicy policy) {
        return JdbiQuotaStore.builder().dataSource(DB.dataSource()).policy(policy).installSchema(true).build();
    }
}
