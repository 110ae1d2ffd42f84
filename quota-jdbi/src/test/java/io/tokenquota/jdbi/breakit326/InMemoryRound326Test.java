package io.tokenquota.jdbi.breakit326;

import io.tokenquota.QuotaPolicy;
import io.tokenquota.QuotaStore;
import io.tokenquota.memory.InMemoryQuotaStore;

/**
 * Round 326's scenarios on the in-memory reference store: one ledger with one clock, so every
 * "instance" of a scenario is that one store (what a single ledger answers for the same history).
 */
class InMemoryRound326Test extends AbstractRound326 {
    private QuotaStore ledger;

    @Override
    protected QuotaStore instance(QuotaPolicy policy) {
        if (ledger == null) {
            ledger = new InMemoryQuotaStore(policy);
        }
        return ledger;
    }

    @Override
    protected QuotaStore instanceOnPoolOfOne(QuotaPolicy policy) {
        return instance(policy);
    }
}
