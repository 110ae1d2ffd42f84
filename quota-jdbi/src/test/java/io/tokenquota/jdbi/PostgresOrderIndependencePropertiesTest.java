package io.tokenquota.jdbi;

import io.tokenquota.QuotaPolicy;
import io.tokenquota.QuotaStore;
import io.tokenquota.jdbi.testing.TestDatabase;
import io.tokenquota.jdbi.testing.TestDatabases;
import io.tokenquota.testkit.OrderIndependenceProperties;
import net.jqwik.api.lifecycle.AfterContainer;
import net.jqwik.api.lifecycle.BeforeContainer;

/**
 * Round 318: refunds and plan changes, late commits and releases, in either order on Postgres, each order compared
 * with the in-memory model (docs/semantics.md, "Credits and refunds", "Holds that outlive their month"). All
 * tries share one database (every run uses a random subject).
 */
class PostgresOrderIndependencePropertiesTest extends OrderIndependenceProperties {
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

    // each try runs its history four to eight times, half of them on the database: a few tens of tries
    @Override
    protected int tries() {
        return 20;
    }
}
