package io.tokenquota.breakit332;

import io.tokenquota.QuotaPolicy;
import io.tokenquota.QuotaStore;
import io.tokenquota.memory.InMemoryQuotaStore;
import io.tokenquota.testkit.Round332Contract;

/** Round 332 ({@link Round332Contract}) on the in-memory reference store. */
class InMemoryRound332Test extends Round332Contract {
    @Override
    protected QuotaStore newStore(QuotaPolicy policy) {
        return new InMemoryQuotaStore(policy);
    }
}
