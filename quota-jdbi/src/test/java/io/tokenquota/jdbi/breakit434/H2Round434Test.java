package io.tokenquota.jdbi.breakit434;

import io.tokenquota.QuotaPolicy;
import io.tokenquota.QuotaStore;

/** Round 434's control on H2. */
class H2Round434Test extends AbstractRound434 {
    @org.junit.jupiter.api.extension.RegisterExtension
    static final io.tokenquota.jdbi.testing.H2Extension DB = new io.tokenquota.jdbi.testing.H2Extension();

    @Override
    protected QuotaStore store(QuotaPolicy policy) {
        return io.tokenquota.jdbi.JdbiQuotaStore.builder().dataSource(DB.dataSource()).policy(policy).installSchema(true).build();
    }
}
