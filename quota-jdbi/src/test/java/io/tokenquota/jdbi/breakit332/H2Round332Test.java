package io.tokenquota.jdbi.breakit332;

import io.tokenquota.QuotaPolicy;
import io.tokenquota.QuotaStore;
import io.tokenquota.jdbi.JdbiQuotaStore;
import io.tokenquota.jdbi.testing.H2Extension;
import io.tokenquota.testkit.Round332Contract;
import org.junit.jupiter.api.extension.RegisterExtension;

/** Round 332 ({@link Round332Contract}) on H2. */
class H2Round332Test extends Round332Contract {
    @RegisterExtension
    static final H2Extension DB = new H2Extension();

    @Override
    protected QuotaStore newStore(QuotaPolicy policy) {
        return JdbiQuotaStore.builder().dataSource(DB.dataSource()).policy(policy).installSchema(true).build();
    }
}
