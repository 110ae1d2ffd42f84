package io.tokenquota.jdbi;

import io.tokenquota.QuotaPolicy;
import io.tokenquota.QuotaStore;
import io.tokenquota.jdbi.testing.TestDatabase;
import io.tokenquota.jdbi.testing.TestDatabases;
import io.tokenquota.testkit.LedgerInvariantProperties;
import net.jqwik.api.lifecycle.AfterContainer;
import net.jqwik.api.lifecycle.BeforeContainer;

/**
 * The ledger's invariants (docs/semantics.md) as jqwik stateful properties on Postgres, compared step by step with the
 * in-memory model. All tries share one database (the properties isolate by random subject ids).
 */
class PostgresInvariantPropertiesTest extends LedgerInvariantProperties {
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

    // each step is several real transactions plus reads of every month (about 0.45 s a try on PostgreSQL on 2
    // shared cores): 12 tries here; the same property runs 25 tries on H2 (same JDBI store) and 100 in memory
    @Override
    protected int tries() {
        return 12;
    }

    @Override
    protected int orderTries() {
        return 15;
    }
}
