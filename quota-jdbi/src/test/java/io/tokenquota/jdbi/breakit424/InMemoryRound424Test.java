package io.tokenquota.jdbi.breakit424;

import io.tokenquota.QuotaPolicy;
import io.tokenquota.QuotaStore;
import io.tokenquota.memory.InMemoryQuotaStore;
import java.time.YearMonth;
import java.util.List;

/** Round 424's scenarios on the in-memory reference: one store, one clock, every "instance" is it. */
class InMemoryRound424Test extends AbstractRound424 {
    @Override
    protected QuotaStore store(QuotaPolicy policy) {
        // the reference keeps every event (retention is the SQL stores'), so its reads keep the wide window
        return new InMemoryQuotaStore(policy.toBuilder().historyMonths(24).build());
    }

    @Override
    protected boolean oneStore() {
        return true;
    }

    @Override
    protected List<YearMonth> dropEventsPastHistory(QuotaStore store) {
        return List.of();
    }
}
