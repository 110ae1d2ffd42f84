package io.tokenquota.jdbi;

import io.tokenquota.QuotaPolicy;
import io.tokenquota.QuotaStore;
import io.tokenquota.jdbi.testing.TestDatabase;
import io.tokenquota.jdbi.testing.TestDatabases;
import io.tokenquota.testkit.WeightedChargeProperties;
import net.jqwik.api.lifecycle.AfterContainer;
import net.jqwik.api.lifecycle.BeforeContainer;

/** Weighted charges are exact and the account conserved on H2; all tries share one database (random subjects). */
class H2WeightedChargePropertiesTest extends WeightedChargeProperties {
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
}
