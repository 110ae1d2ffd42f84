package io.tokenquota.jdbi.breakit326;

import io.tokenquota.QuotaPolicy;
import io.tokenquota.QuotaStore;
import io.tokenquota.jdbi.JdbiQuotaStore;
import io.tokenquota.jdbi.testing.H2Extension;
import org.junit.jupiter.api.extension.RegisterExtension;

/** Round 326's fixes beyond the round's scenarios (AbstractRound326Fixes) on H2. */
class H2Round326FixesTest extends AbstractRound326Fixes {
    @RegisterExtension
    static final H2Extension DB = new H2Extension();

    @Override
    protected QuotaStore instance(QuotaPolicy policy) {
        return JdbiQuotaStore.builder().dataSource(DB.dataSource()).policy(policy).installSchema(true).build();
    }

    @Override
    protected QuotaStore instanceOnPoolOfOne(QuotaPolicy policy) {
        com.zaxxer.hikari.HikariConfig config = new com.zaxxer.hikari.HikariConfig();
        config.setJdbcUrl(DB.database().jdbcUrl());
        config.setUsername(DB.database().user());
        config.setPassword(DB.database().password());
        config.setMaximumPoolSize(1);
        config.setAutoCommit(false);
        config.setConnectionTimeout(2_000);
        config.setPoolName("r326f-one-" + System.nanoTime());
        com.zaxxer.hikari.HikariDataSource host = new com.zaxxer.hikari.HikariDataSource(config);
        POOLS.add(host);
        return JdbiQuotaStore.builder().dataSource(host).policy(policy).installSchema(true).build();
    }

    private static final java.util.List<com.zaxxer.hikari.HikariDataSource> POOLS =
            new java.util.concurrent.CopyOnWriteArrayList<>();

    @org.junit.jupiter.api.AfterAll
    static void closePools() {
        POOLS.forEach(com.zaxxer.hikari.HikariDataSource::close);
    }
}
