package io.tokenquota.jdbi.testing;

import com.zaxxer.hikari.HikariConfig;
import com.zaxxer.hikari.HikariDataSource;
import io.tokenquota.QuotaAccount;
import io.tokenquota.QuotaStore;
import io.tokenquota.jdbi.spring.QuotaStoreAutoConfiguration;
import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.Statement;
import java.util.List;
import java.util.UUID;
import java.util.function.Consumer;
import java.util.function.Supplier;
import javax.sql.DataSource;
import org.junit.jupiter.api.extension.AfterEachCallback;
import org.junit.jupiter.api.extension.BeforeEachCallback;
import org.junit.jupiter.api.extension.ExtensionContext;
import org.springframework.boot.autoconfigure.AutoConfigurations;
import org.springframework.boot.test.context.runner.ApplicationContextRunner;

/**
 * The rig of a round that calls the store inside a Spring host application's own transaction: the host's pool (Spring
 * Boot's default, HikariCP with its defaults, autoCommit true), its chat log table {@code <round>_chat_log} with an
 * order id and a user of the test's own, the store as {@link QuotaStoreAutoConfiguration} builds it on the host's
 * {@code DataSource} bean, and what the host and the ledger are left with afterwards. The rounds drive the host's
 * transaction themselves ({@code JdbcTransactionManager}, {@code TransactionTemplate}, {@code JdbcTemplate}); this holds
 * only what each of them would otherwise set up and read back the same way, so that two rounds of that kind do not
 * each carry a copy of it. A JUnit extension on an instance field ({@code @RegisterExtension}): before each test it
 * opens a fresh pool and picks fresh ids, after it closes the pool.
 */
public final class SpringHostTransactions implements BeforeEachCallback, AfterEachCallback {
    private final Supplier<TestDatabase> database;
    private final String round;
    private TestDatabase db;
    private HikariDataSource pool;
    private String table;
    private String order;
    private String user;

    private SpringHostTransactions(Supplier<TestDatabase> database, String round) {
        this.database = database;
        this.round = round;
    }

    /**
     * The rig of round {@code round} ("r451": its pool's name, its table's and its ids' prefix) on the test database
     * {@code database} gives (asked before each test, so that a database extension set up before it is ready).
     */
    public static SpringHostTransactions perTest(Supplier<TestDatabase> database, String round) {
        return new SpringHostTransactions(database, round);
    }

    @Override
    public void beforeEach(ExtensionContext context) {
        db = database.get();
        // Spring Boot's default pool: HikariCP with its defaults (autoCommit true)
        HikariConfig config = HostPool.config(db, round);
        config.setMaximumPoolSize(4);
        pool = new HikariDataSource(config);
        table = round + "_chat_log";
        db.execute("CREATE TABLE IF NOT EXISTS " + table + " (id VARCHAR(80) PRIMARY KEY)");
        String p = round + UUID.randomUUID().toString().substring(0, 8) + "-";
        order = p + "log-1";
        user = p + "alice";
    }

    @Override
    public void afterEach(ExtensionContext context) {
        pool.close();
    }

    /** The host's pool (four connections, 10 s connection timeout). */
    public HikariDataSource pool() {
        return pool;
    }

    /** The id of the host's chat log row in this test. */
    public String order() {
        return order;
    }

    /** This test's user. */
    public String user() {
        return user;
    }

    /** The host's own write in its transaction, as SQL: its chat log row (a chat log, an order, an audit entry). */
    public String insertChatLog() {
        return "INSERT INTO " + table + " (id) VALUES ('" + order + "')";
    }

    /** The store the auto-configuration builds on {@code bean} (schema installed, the sweep off: no background work). */
    public void withStore(DataSource bean, Consumer<QuotaStore> body) {
        new ApplicationContextRunner()
                .withConfiguration(AutoConfigurations.of(QuotaStoreAutoConfiguration.class))
                .withBean(DataSource.class, () -> bean)
                .withPropertyValues("quota.default-allocation=10000", "quota.expire-stale.enabled=false")
                .run(context -> {
                    if (context.getStartupFailure() != null) {
                        throw new AssertionError("context failed", context.getStartupFailure());
                    }
                    body.accept(context.getBean(QuotaStore.class));
                });
    }

    /** How many of the host's chat log rows of this test are committed (read apart from the host's pool). */
    public long chatLogRows() throws Exception {
        try (Connection c = db.dataSource().getConnection(); Statement s = c.createStatement();
             ResultSet r = s.executeQuery("SELECT COUNT(*) FROM " + table + " WHERE id = '" + order + "'")) {
            r.next();
            return r.getLong(1);
        }
    }

    /**
     * What the host and the ledger are left with: "committed" or "rolled back" (as {@code committed} says), the
     * committed chat log rows, then the user's account on {@code store} as {@link #view}.
     */
    public String outcome(boolean committed, QuotaStore store) throws Exception {
        return (committed ? "committed" : "rolled back") + ", chat log rows " + chatLogRows() + ", ledger "
                + view(store.account(user));
    }

    /** An account as [allocated, granted, carried, used, reserved]. */
    public static List<Long> view(QuotaAccount a) {
        return List.of(a.allocated(), a.granted(), a.carried(), a.used(), a.reserved());
    }

    /** A runtime exception the host's method throws after its work (a later step failed): Spring rolls back. */
    public static final class HostFailure extends RuntimeException {
        public HostFailure(String message) {
            super(message);
        }
    }
}
