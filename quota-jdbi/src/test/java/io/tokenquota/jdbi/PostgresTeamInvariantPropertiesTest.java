package io.tokenquota.jdbi;

import io.tokenquota.QuotaPolicy;
import io.tokenquota.QuotaStore;
import io.tokenquota.jdbi.testing.TestDatabase;
import io.tokenquota.jdbi.testing.TestDatabases;
import io.tokenquota.testkit.TeamInvariantProperties;
import net.jqwik.api.lifecycle.AfterContainer;
import net.jqwik.api.lifecycle.BeforeContainer;

/**
 * Team budgets as jqwik stateful properties on Postgres, compared step by step with the in-memory model.
 * All tries share one database (the properties isolate by random subject and team ids).
 */
class PostgresTeamInvariantPropertiesTest extends TeamInvariantProperties {
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

    // each step is several real transactions plus reads of every account (about 0.5 s a try on PostgreSQL on 2
    // shared cores): 10 tries here; the same property runs 30 tries on H2 (same JDBI store) and 100 in memory
    @Override
    protected int tries() {
        return 10;
    }
}
