package io.tokenquota.jdbi.breakit431;

import io.tokenquota.QuotaPolicy;
import io.tokenquota.QuotaStore;
import io.tokenquota.memory.InMemoryQuotaStore;

/** Round 431's scenarios on the in-memory reference (one instance: its "second instance" is itself). */
class InMemoryRound431Test extends AbstractRound431 {
    @Override
    protected QuotaStore store(QuotaPolicy policy) {
        return new InMemoryQuotaStore(policy);
    }

    @Override
    protected QuotaStore secondInstance(QuotaStore first, QuotaPolicy policy) {
        return first;
    }
}
