package io.tokenquota.jdbi.breakit326;

import io.tokenquota.QuotaPolicy;
import io.tokenquota.QuotaStore;
import io.tokenquota.jdbi.JdbiQuotaStore;
import io.tokenquota.jdbi.testing.H2Extension;
import org.junit.jupiter.api.extension.RegisterExtension;

/** Round 326's ledger scenarios (several instances on one database) and its fixes' tests on H2. */
class H2Round326Test extends AbstractRound326Fixes {
    @RegisterExtension
    static final H2Extension DB = new H2Extension();

    @Override
    protected QuotaStore instance(QuotaPolicy policy) {
        return JdbiQuotaStore.builder().dataSource(DB.dataSource()).policy(policy).installSchema(true).build();
    }

    @Override
    protected QuotaStore instanceOnPoolOfOne(QuotaPolicy policy) {
        return onPoolOfOne(DB.database(), policy);
    }
}
