package io.tokenquota.jdbi.breakit392;

import io.tokenquota.jdbi.testing.TestDatabase;
import io.tokenquota.jdbi.testing.TestDatabases;
import org.junit.jupiter.api.Test;

/** Round 392's scenarios on the shared embedded PostgreSQL (a database of its own per test), and PostgreSQL's own. */
class PostgresRound392Test extends AbstractRound392 {

    @Override
    protected Target fresh(String urlOptions) {
        TestDatabase db = TestDatabases.postgres();
        closing.add(db);
        String url = db.jdbcUrl();
        if (urlOptions != null) {
            url += (url.contains("?") ? "&" : "?") + urlOptions;
        }
        return new Target(url, db.user(), db.password(), db.dataSource());
    }

    /**
     * Found: the same as the shared SERIALIZABLE scenario, with the form PostgreSQL documents for a
     * session's default ({@code default_transaction_isolation}, "Each SQL transaction has an isolation level
     * ... The default is read committed": https://www.postgresql.org/docs/current/runtime-config-client.html#GUC-DEFAULT-TRANSACTION-ISOLATION)
     * set to {@code repeatable read} by the pool's {@code connectionInitSql}, autoCommit=false.
     */
    @Test
    void aPoolWhoseInitSqlSetsRepeatableReadChargesEveryCallOnce() throws Exception {
        assertExact(onHostPools(fresh(null), false, null, "SET default_transaction_isolation = 'repeatable read'"),
                "autoCommit=false, connectionInitSql SET default_transaction_isolation = 'repeatable read'");
    }

    /**
     * Control: the same default set on the database ({@code ALTER DATABASE ... SET}, "the session default
     * for a run-time configuration variable": https://www.postgresql.org/docs/current/sql-alterdatabase.html),
     * SERIALIZABLE, on pools with autoCommit=false: the store reads it and switches.
     */
    @Test
    void aDatabaseWhoseDefaultIsSerializableChargesEveryCallOnce() throws Exception {
        Target db = fresh(null);
        String name = db.url().replaceAll("^.*/([^/?]+).*$", "$1");
        try (var c = db.plain().getConnection(); var s = c.createStatement()) {
            s.execute("ALTER DATABASE " + name + " SET default_transaction_isolation = 'serializable'");
        }
        assertExact(onHostPools(db, false, null, null), "ALTER DATABASE ... default_transaction_isolation serializable");
    }

    /**
     * Control: pgJDBC's {@code preferQueryMode=simple} (no server-side prepared statements, as behind PgBouncer's
     * transaction pooling: https://jdbc.postgresql.org/documentation/use/#connection-parameters) with
     * {@code prepareThreshold=0}, autoCommit=false.
     */
    @Test
    void aSimpleQueryModePoolChargesEveryCallOnce() throws Exception {
        assertExact(onHostPools(fresh("preferQueryMode=simple&prepareThreshold=0"), false, null, null),
                "preferQueryMode=simple");
    }
}
