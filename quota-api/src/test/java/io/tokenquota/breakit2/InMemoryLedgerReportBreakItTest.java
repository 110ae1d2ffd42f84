package io.tokenquota.breakit2;

import io.tokenquota.QuotaPolicy;
import io.tokenquota.QuotaStore;
import io.tokenquota.memory.InMemoryQuotaStore;

class InMemoryLedgerReportBreakItTest extends LedgerReportScenarios {
    @Override
    protected QuotaStore newStore(QuotaPolicy policy) {
        return new InMemoryQuotaStore(policy);
    }
}
