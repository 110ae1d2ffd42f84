package io.tokenquota.jdbi.breakit532;

import com.zaxxer.hikari.HikariConfig;
import com.zaxxer.hikari.HikariDataSource;
import io.tokenquota.QuotaPolicy;
import io.tokenquota.QuotaStore;
import io.tokenquota.jdbi.JdbiQuotaStore;
import io.tokenquota.jdbi.testing.PostgresExtension;
import io.tokenquota.jdbi.testing.TestDatabase;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * Round 532's scenarios on Postgres through a host pool as Spring configures one (autoCommit=false) at SERIALIZABLE:
 * the store sets its own connection settings, so the group commit decides the same.
 */
class PostgresHostPoolRound532Test extends AbstractRound532 {
    @RegisterExtension
    static final PostgresExtension DB = new PostgresExtension();

    private static HikariDataSource pool;

    private static synchronized HikariDataSource pool() {
        if (pool == null) {
            TestDatabase db = DB.database();
            HikariConfig config = new HikariConfig();
            config.setJdbcUrl(db.jdbcUrl());
            config.setUsername(db.user());
            config.setPassword(db.password());
            config.setPoolName(db.name() + "-host532");
            config.setAutoCommit(false);
            config.setTransactionIsolation("TRANSACTION_SERIALIZABLE");
            config.setMaximumPoolSize(4);
            config.setConnectionTimeout(10_000);
            pool = new HikariDataSource(config);
        }
        return pool;
    }

    @AfterAll
    static void closePool() {
        if (pool != null) {
            pool.close();
            pool = null;
        }
    }

    @Override
    protected QuotaStore store(QuotaPolicy policy) {
        return JdbiQuotaStore.builder().dataSource(pool()).policy(policy).installSchema(true).build();
    }

    @Override
    protected QuotaStore secondInstance(QuotaStore first, QuotaPolicy policy) {
        return store(policy);
    }
}
