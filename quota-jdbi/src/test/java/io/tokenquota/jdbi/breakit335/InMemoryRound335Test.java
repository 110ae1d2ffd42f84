package io.tokenquota.jdbi.breakit335;

import io.tokenquota.QuotaPolicy;
import io.tokenquota.QuotaStore;
import io.tokenquota.memory.InMemoryQuotaStore;

/** Round 335's scenarios on the in-memory reference: what one ledger answers for the same history. */
class InMemoryRound335Test extends AbstractRound335 {
    @Override
    protected QuotaStore store(QuotaPolicy policy) {
        return new InMemoryQuotaStore(policy);
    }

    @Override
    protected QuotaStore storeOnHostConfiguration(QuotaPolicy policy) {
        return new InMemoryQuotaStore(policy);
    }
}
