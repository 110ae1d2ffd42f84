package io.tokenquota.jdbi.breakit323;

import io.tokenquota.QuotaPolicy;
import io.tokenquota.QuotaStore;
import io.tokenquota.memory.InMemoryQuotaStore;

/** Round 323's ledger scenarios (team budgets across the month turn) on the in-memory store. */
class InMemoryRound323Test extends AbstractRound323 {
    @Override
    protected QuotaStore newStore(QuotaPolicy policy) {
        return new InMemoryQuotaStore(policy);
    }
}
