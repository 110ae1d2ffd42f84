package io.tokenquota.jdbi.breakit;

import com.zaxxer.hikari.HikariConfig;
import com.zaxxer.hikari.HikariDataSource;
import io.tokenquota.QuotaPolicy;
import io.tokenquota.QuotaStore;
import io.tokenquota.breakit.BoundaryScenarios;
import io.tokenquota.jdbi.JdbiQuotaStore;
import io.tokenquota.jdbi.testing.TestDatabase;
import io.tokenquota.jdbi.testing.TestDatabases;
import java.util.function.Supplier;
import org.junit.jupiter.api.AfterEach;

/** The boundary scenarios through a host pool with autoCommit=false and SERIALIZABLE (Spring/Hikari style). */
class PostgresHostPoolBoundaryBreakItTest extends BoundaryScenarios {
    private TestDatabase db;
    private HikariDataSource pool;

    protected Supplier<TestDatabase> factory() {
        return TestDatabases::postgres;
    }

    @Override
    protected QuotaStore newStore(QuotaPolicy policy) {
        if (db == null) {
            db = factory().get();
            HikariConfig config = new HikariConfig();
            config.setJdbcUrl(db.jdbcUrl());
            config.setUsername(db.user());
            config.setPassword(db.password());
            config.setPoolName(db.name() + "-host");
            config.setAutoCommit(false);
            config.setTransactionIsolation("TRANSACTION_SERIALIZABLE");
            config.setMaximumPoolSize(4);
            config.setMinimumIdle(1);
            pool = new HikariDataSource(config);
        }
        return JdbiQuotaStore.builder().dataSource(pool).installSchema(true).policy(policy).build();
    }

    @AfterEach
    void dropDatabase() {
        if (pool != null) {
            pool.close();
            pool = null;
        }
        if (db != null) {
            db.close();
            db = null;
        }
    }
}
