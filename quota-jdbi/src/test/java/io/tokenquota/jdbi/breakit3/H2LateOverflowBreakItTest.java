package io.tokenquota.jdbi.breakit3;

import io.tokenquota.QuotaPolicy;
import io.tokenquota.QuotaStore;
import io.tokenquota.breakit3.LateOverflowScenarios;
import io.tokenquota.jdbi.JdbiQuotaStore;
import io.tokenquota.jdbi.testing.TestDatabase;
import io.tokenquota.jdbi.testing.TestDatabases;
import org.junit.jupiter.api.AfterEach;

class H2LateOverflowBreakItTest extends LateOverflowScenarios {
    private TestDatabase db;

    @Override
    protected QuotaStore newStore(QuotaPolicy policy) {
        if (db == null) {
            db = TestDatabases.h2();
        }
        return JdbiQuotaStore.builder().dataSource(db.dataSource()).installSchema(true).policy(policy).build();
    }

    @AfterEach
    void dropDatabase() {
        if (db != null) {
            db.close();
            db = null;
        }
    }
}
