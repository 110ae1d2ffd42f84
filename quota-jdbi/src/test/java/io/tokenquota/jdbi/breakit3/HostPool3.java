package io.tokenquota.jdbi.breakit3;

import com.zaxxer.hikari.HikariConfig;
import com.zaxxer.hikari.HikariDataSource;
import io.tokenquota.jdbi.testing.TestDatabase;

/** A host pool as Spring configures it: autoCommit=false, SERIALIZABLE. */
final class HostPool3 {
    private HostPool3() {
    }

    static HikariDataSource autoCommitOffSerializable(TestDatabase db) {
        HikariConfig config = new HikariConfig();
        config.setJdbcUrl(db.jdbcUrl());
        config.setUsername(db.user());
        config.setPassword(db.password());
        config.setPoolName(db.name() + "-host3");
        config.setAutoCommit(false);
        config.setTransactionIsolation("TRANSACTION_SERIALIZABLE");
        config.setMaximumPoolSize(8);
        config.setMinimumIdle(1);
        config.setConnectionTimeout(10_000);
        return new HikariDataSource(config);
    }
}
