package io.tokenquota.jdbi.breakit424;

import com.zaxxer.hikari.HikariConfig;
import com.zaxxer.hikari.HikariDataSource;
import io.tokenquota.QuotaPolicy;
import io.tokenquota.QuotaStore;
import io.tokenquota.jdbi.JdbiQuotaStore;
import io.tokenquota.jdbi.testing.TestDatabase;
import java.sql.Connection;
import java.time.YearMonth;
import java.util.List;
import org.junit.jupiter.api.BeforeEach;

/**
 * Round 424's SQL stores: every instance on a HikariCP pool of its own as a host configures it (HikariCP's
 * documented properties autoCommit, readOnly, transactionIsolation, maximumPoolSize, connectionInitSql:
 * https://github.com/brettwooldridge/HikariCP#gear-configuration-knobs-baby), one of its two connections taken by
 * another part of the host for the whole scenario, the tables in a schema of their own that the init SQL selects.
 */
abstract class HostPoolRound424 extends AbstractRound424 {
    protected TestDatabase db;

    protected abstract TestDatabase freshDatabase();

    /** The schema the host keeps the ledger in, created before the pools. */
    protected abstract String createSchemaSql();

    protected abstract String isolation();

    protected abstract String connectionInitSql();

    @BeforeEach
    void database() {
        db = freshDatabase();
        closing.add(db);
        db.execute(createSchemaSql());
    }

    @Override
    protected QuotaStore store(QuotaPolicy policy) {
        HikariConfig config = new HikariConfig();
        config.setJdbcUrl(db.jdbcUrl());
        config.setUsername(db.user());
        config.setPassword(db.password());
        config.setPoolName(db.name() + "-host-" + closing.size());
        config.setAutoCommit(false);
        config.setReadOnly(true);
        config.setTransactionIsolation(isolation());
        config.setMaximumPoolSize(2);
        config.setMinimumIdle(1);
        config.setConnectionTimeout(10_000);
        config.setConnectionInitSql(connectionInitSql());
        HikariDataSource pool = new HikariDataSource(config);
        try {
            // another part of the host keeps one of the two connections for the whole scenario
            Connection taken = pool.getConnection();
            closing.add(0, taken);
        } catch (java.sql.SQLException e) {
            throw new IllegalStateException(e);
        }
        closing.add(0, pool);
        JdbiQuotaStore store = JdbiQuotaStore.builder().dataSource(pool).policy(policy).installSchema(true).build();
        closing.add(0, store);
        return store;
    }

    @Override
    protected boolean oneStore() {
        return false;
    }

    @Override
    protected List<YearMonth> dropEventsPastHistory(QuotaStore store) {
        return ((JdbiQuotaStore) store).dropEventsPastHistory();
    }
}
