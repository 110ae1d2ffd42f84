package io.tokenquota.jdbi.breakit323;

import io.tokenquota.QuotaPolicy;
import io.tokenquota.QuotaStore;
import io.tokenquota.jdbi.JdbiQuotaStore;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * Round 323's ledger scenarios (team budgets across the month turn) on PostgreSQL, on the shared
 * embedded server: a member's hold there starts on team-take.sql (alone) or team-take-together.sql
 * (combined) and falls back to the transaction path, which spun as H2's did when a faster instance had
 * opened February and the membership changed on that account.
 */
class PostgresRound323Test extends AbstractRound323 {
    @RegisterExtension
    static final io.tokenquota.jdbi.testing.PostgresExtension DB = new io.tokenquota.jdbi.testing.PostgresExtension();

    @Override
    protected QuotaStore newStore(QuotaPolicy policy) {
        return JdbiQuotaStore.builder().dataSource(DB.dataSource()).policy(policy).installSchema(true).build();
    }
}
