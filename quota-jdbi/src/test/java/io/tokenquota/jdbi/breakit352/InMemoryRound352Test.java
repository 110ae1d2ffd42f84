package io.tokenquota.jdbi.breakit352;

import io.tokenquota.QuotaPolicy;
import io.tokenquota.QuotaStore;
import io.tokenquota.memory.InMemoryQuotaStore;

/** Round 352's scenarios on the in-memory reference (compared with a second reference: the invariants). */
class InMemoryRound352Test extends AbstractRound352 {
    @Override
    protected QuotaStore store(QuotaPolicy policy) {
        return new InMemoryQuotaStore(policy);
    }

    @Override
    protected int histories() {
        return 200;
    }
}
