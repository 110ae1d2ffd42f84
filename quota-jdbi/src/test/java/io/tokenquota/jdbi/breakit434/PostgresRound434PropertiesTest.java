package io.tokenquota.jdbi.breakit434;

import io.tokenquota.QuotaPolicy;
import io.tokenquota.QuotaStore;
import io.tokenquota.jdbi.JdbiQuotaStore;
import io.tokenquota.jdbi.testing.TestDatabase;
import io.tokenquota.jdbi.testing.TestDatabases;
import net.jqwik.api.lifecycle.AfterContainer;
import net.jqwik.api.lifecycle.BeforeContainer;

/** Round 434's rollover-off refund property on PostgreSQL, compared step by step with the in-memory reference. */
class PostgresRound434PropertiesTest extends AbstractRound434Properties {
    private static TestDatabase database;

    @BeforeContainer
    static void openDatabase() {
        database = TestDatabases.postgres();
    }

    @AfterContainer
    static void dropDatabase() {
        database.close();
    }

    @Override
    protected QuotaStore newStore(QuotaPolicy policy) {
        return JdbiQuotaStore.builder().dataSource(database.dataSource()).policy(policy).installSchema(true).build();
    }
}
