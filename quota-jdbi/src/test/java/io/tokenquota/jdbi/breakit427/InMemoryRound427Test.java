package io.tokenquota.jdbi.breakit427;

import io.tokenquota.QuotaPolicy;
import io.tokenquota.QuotaStore;
import io.tokenquota.memory.InMemoryQuotaStore;
import java.time.YearMonth;
import java.util.List;

/** Round 427's scenarios on the in-memory reference (one instance: its "second instance" is itself). */
class InMemoryRound427Test extends AbstractRound427 {
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
