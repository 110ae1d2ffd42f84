package io.tokenquota.jdbi.breakit397;

import io.tokenquota.QuotaPolicy;
import io.tokenquota.QuotaStore;
import io.tokenquota.memory.InMemoryQuotaStore;

/** Round 397's scenarios on the in-memory reference (one instance: every "instance" is the same store). */
class InMemoryRound397Test extends AbstractRound397 {
    private QuotaStore shared;

    @Override
    protected QuotaStore store(QuotaPolicy policy) {
        if (shared == null) {
            shared = new InMemoryQuotaStore(policy);
        }
        return shared;
    }
}
