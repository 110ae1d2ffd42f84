package io.tokenquota.jdbi;

import io.tokenquota.QuotaPolicy;
import io.tokenquota.QuotaStore;
import io.tokenquota.jdbi.testing.TestDatabase;
import io.tokenquota.jdbi.testing.TestDatabases;
import io.tokenquota.testkit.LedgerInvariantProperties;
import net.jqwik.api.lifecycle.AfterContainer;
import net.jqwik.api.lifecycle.BeforeContainer;

/**
 * The ledger's invariants (docs/semantics.md) as jqwik stateful properties on H2, compared step by step with the
 * in-memory model. All tries share one database (the properties isolate by random subject ids).
 */
class H2InvariantPropertiesTest extends LedgerInvariantProperties {
    private static TestDatabase database;

    @BeforeContainer
    static void openDatabase() {
        database = TestDatabases.h2();
    }

    @AfterContainer
    static void dropDatabase() {
        database.close();
    }

    @Override
    protected QuotaStore newStore(QuotaPolicy policy) {
        return JdbiQuotaStore.builder().dataSource(database.dataSource()).policy(policy).installSchema(true).build();
    }

    // each step is several real transactions plus reads of every month: fewer tries than the in-memory
    // run keep each property near 8 s on 2 shared cores (H2, measured; about 0.3 s a try)
    @Override
    protected int tries() {
        return 25;
    }

    @Override
    protected int orderTries() {
        return 15;
    }
}
