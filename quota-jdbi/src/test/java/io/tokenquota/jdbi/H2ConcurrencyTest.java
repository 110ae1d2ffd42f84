package io.tokenquota.jdbi;

import io.tokenquota.QuotaPolicy;
import io.tokenquota.QuotaStore;
import io.tokenquota.jdbi.testing.H2Extension;
import io.tokenquota.testkit.ConcurrencyContract;
import org.junit.jupiter.api.extension.RegisterExtension;

/** The no-overspend invariant on H2: 16 and 32 threads on one hot subject and on many subjects. */
class H2ConcurrencyTest extends ConcurrencyContract {
    @RegisterExtension
    static final H2Extension DB = new H2Extension();

    @Override
    protected QuotaStore newStore(QuotaPolicy policy) {
        return JdbiQuotaStore.builder().dataSource(DB.dataSource()).policy(policy).installSchema(true).build();
    }

    // fewer rounds and operations than the in-memory run: each is a real transaction on 2 shared cores
    @Override
    protected int rounds() {
        return 4;
    }

    @Override
    protected int operationsPerThread() {
        return 60;
    }
}
