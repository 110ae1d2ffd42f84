package io.tokenquota.jdbi.breakit557;

import io.tokenquota.QuotaPolicy;
import io.tokenquota.QuotaStore;
import io.tokenquota.jdbi.JdbiQuotaStore;
import io.tokenquota.jdbi.testing.H2Extension;
import io.tokenquota.jdbi.testing.PostgresExtension;
import org.junit.jupiter.api.extension.RegisterExtension;

class InMemoryRound557Test extends AbstractRound557 {

    @Override
    protected QuotaStore newStore(QuotaPolicy policy) {
        return new io.tokenquota.memory.InMemoryQuotaStore(policy);
    }
}
