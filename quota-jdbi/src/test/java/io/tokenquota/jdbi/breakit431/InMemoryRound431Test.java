package io.tokenquota.jdbi.breakit431;

import io.tokenquota.QuotaPolicy;
import io.tokenquota.QuotaStore;
import io.tokenquota.memory.InMemoryQuotaStore;
import java.time.YearMonth;
import java.util.List;

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

    @Override
    protected List<YearMonth> dropEventsPastHistory(QuotaStore store) {
        // the reference keeps every event: retention is the SQL stores' (docs/storage.md, "Retention")
        return List.of();
    }
}
