package io.tokenquota.jdbi.testing;

import com.zaxxer.hikari.HikariConfig;
import com.zaxxer.hikari.HikariDataSource;

/**
 * A host application's own HikariCP pool on a test database, apart from the extension's pool. The store under
 * test is given this pool (usually wrapped in a {@code RecordingDataSource}), while the test sets up, locks rows
 * and watches {@code pg_stat_activity} through the extension's: so a connection the test ends or cuts is always
 * the store's, never one of its own.
 */
public final class HostPool {
    private HostPool() {
    }

    /**
     * The settings of a host pool on {@code db}: six connections (room for a lane's leader, the calls queued
     * behind it and a retry's fresh connection), a 10 s connection timeout (a test that leaks connections fails
     * instead of hanging), and a pool name unique in the JVM ({@code name} plus a counter) so that HikariCP's
     * MBeans and thread names of two tests never clash. A caller may change any setting before opening the pool.
     */
    public static HikariConfig config(TestDatabase db, String name) {
        HikariConfig config = new HikariConfig();
        config.setJdbcUrl(db.jdbcUrl());
        config.setUsername(db.user());
        config.setPassword(db.password());
        config.setPoolName(name + "-" + System.nanoTime());
        config.setMaximumPoolSize(6);
        config.setConnectionTimeout(10_000);
        return config;
    }

    /** A host pool on {@code db} with {@link #config}'s settings; the caller closes it. */
    public static HikariDataSource open(TestDatabase db, String name) {
        return new HikariDataSource(config(db, name));
    }
}
