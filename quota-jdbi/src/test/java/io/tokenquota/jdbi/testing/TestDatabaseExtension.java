package io.tokenquota.jdbi.testing;

import java.util.function.Supplier;
import javax.sql.DataSource;
import org.junit.jupiter.api.extension.AfterAllCallback;
import org.junit.jupiter.api.extension.BeforeAllCallback;
import org.junit.jupiter.api.extension.ExtensionContext;

/**
 * A JUnit 5 extension giving a test class one fresh database: register it on a static field with
 * {@code @RegisterExtension}; the database is created before the first test and dropped after the
 * last. See {@link H2Extension} and {@link PostgresExtension}. Thread-safe once started.
 */
public class TestDatabaseExtension implements BeforeAllCallback, AfterAllCallback {
    private final Supplier<TestDatabase> factory;
    private volatile TestDatabase database;

    protected TestDatabaseExtension(Supplier<TestDatabase> factory) {
        this.factory = factory;
    }

    @Override
    public void beforeAll(ExtensionContext context) {
        database = factory.get();
    }

    @Override
    public void afterAll(ExtensionContext context) {
        TestDatabase db = database;
        database = null;
        if (db != null) {
            db.close();
        }
    }

    public TestDatabase database() {
        TestDatabase db = database;
        if (db == null) {
            throw new IllegalStateException("the extension must be registered on a static field");
        }
        return db;
    }

    public DataSource dataSource() {
        return database().dataSource();
    }
}
