package io.tokenquota.jdbi.breakit323;

import io.tokenquota.QuotaPolicy;
import io.tokenquota.QuotaStore;
import io.tokenquota.jdbi.JdbiQuotaStore;
import org.junit.jupiter.api.extension.RegisterExtension;

/** Round 323's ledger scenarios (team budgets across the month turn) on H2. */
class H2Round323Test extends AbstractRound323 {
    @RegisterExtension
    static final io.tokenquota.jdbi.testing.H2Extension DB = new io.tokenquota.jdbi.testing.H2Extension();

    @Override
    protected QuotaStore newStore(QuotaPolicy policy) {
        return JdbiQuotaStore.builder().dataSource(DB.dataSource()).policy(policy).installSchema(true).build();
    }
}
