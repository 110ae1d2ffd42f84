package io.tokenquota.jdbi;

import io.tokenquota.QuotaPolicy;
import io.tokenquota.QuotaStore;
import org.junit.jupiter.api.extension.RegisterExtension;

/** Round 50 team break-it scenarios on H2. */
class H2TeamBreakTest extends TeamBreakScenarios {
    @RegisterExtension
    static final io.tokenquota.jdbi.testing.H2Extension DB = new io.tokenquota.jdbi.testing.H2Extension();

    @Override
    protected QuotaStore newStore(QuotaPolicy policy) {
        return JdbiQuotaStore.builder().dataSource(DB.dataSource()).policy(policy).installSchema(true).build();
    }
}
