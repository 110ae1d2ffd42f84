package io.tokenquota.jdbi.testing;

/** One fresh in-memory H2 database per test class: {@code @RegisterExtension static H2Extension h2 = new H2Extension();} */
public final class H2Extension extends TestDatabaseExtension {
    public H2Extension() {
        super(TestDatabases::h2);
    }
}
