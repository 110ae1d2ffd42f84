package io.tokenquota.jdbi.breakit450;

import io.tokenquota.QuotaPolicy;
import io.tokenquota.QuotaStore;
import io.tokenquota.memory.InMemoryQuotaStore;

/** Round 450's scenarios on the in-memory reference (one instance: its "second instance" is itself). */
class InMemoryRound450Test extends AbstractRound450 {
    @Override
    protected QuotaStore store(QuotaPolicy policy) {
        return new InMemoryQuotaStore(policy);
    }

    @Override
    protected QuotaStore secondInstance(QuotaStore first, QuotaPolicy policy) {
        return first;
    }
}
