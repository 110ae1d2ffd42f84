package io.tokenquota.jdbi.breakit337;

import io.tokenquota.QuotaPolicy;
import io.tokenquota.QuotaStore;
import io.tokenquota.memory.InMemoryQuotaStore;

/** Round 337's scenarios on the in-memory reference. */
class InMemoryRound337Test extends AbstractRound337 {
    @Override
    protected QuotaStore store(QuotaPolicy policy) {
        return new InMemoryQuotaStore(policy);
    }

    @Override
    protected int histories() {
        return 20_000;
    }
}
