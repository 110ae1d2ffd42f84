package io.tokenquota.jdbi.testing;

/**
 * One fresh database on the shared embedded PostgreSQL server per test class:
 * {@code @RegisterExtension static PostgresExtension pg = new PostgresExtension();}
 */
public final class PostgresExtension extends TestDatabaseExtension {
    public PostgresExtension() {
        super(TestDatabases::postgres);
    }
}
