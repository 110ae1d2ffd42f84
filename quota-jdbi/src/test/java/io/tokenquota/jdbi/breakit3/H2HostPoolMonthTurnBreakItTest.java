package io.tokenquota.jdbi.breakit3;

import io.tokenquota.QuotaPolicy;
import io.tokenquota.QuotaStore;
import io.tokenquota.breakit3.MonthTurnScenarios;
import io.tokenquota.jdbi.JdbiQuotaStore;
import io.tokenquota.jdbi.testing.TestDatabase;
import io.tokenquota.jdbi.testing.TestDatabases;
import org.junit.jupiter.api.AfterEach;

class H2HostPoolMonthTurnBreakItTest extends MonthTurnScenarios {
    private TestDatabase db;
    private com.zaxxer.hikari.HikariDataSource host;

    @Override
    protected QuotaStore newStore(QuotaPolicy policy) {
        if (db == null) {
            db = TestDatabases.h2();
        }
        if (host == null) {
            host = io.tokenquota.jdbi.breakit3.HostPool3.autoCommitOffSerializable(db);
        }
        return JdbiQuotaStore.builder().dataSource(host).installSchema(true).policy(policy).build();
    }

    @AfterEach
    void dropDatabase() {
        if (host != null) {
            host.close();
            host = null;
        }
        if (db != null) {
            db.close();
            db = null;
        }
    }
}
