package io.tokenquota.jdbi.breakit343;

import io.tokenquota.QuotaPolicy;
import io.tokenquota.QuotaStore;
import io.tokenquota.jdbi.JdbiQuotaStore;
import io.tokenquota.jdbi.testing.H2Extension;
import org.junit.jupiter.api.extension.RegisterExtension;

/** Round 343's scenarios on H2 (no group commit: H2's takes are short transactions, run one after another). */
class H2Round343Test extends AbstractRound343 {
    @RegisterExtension
    static final H2Extension DB = new H2Extension();

    @Override
    protected QuotaStore store(QuotaPolicy policy) {
        return JdbiQuotaStore.builder().dataSource(DB.dataSource()).policy(policy).installSchema(true).build();
    }
}
