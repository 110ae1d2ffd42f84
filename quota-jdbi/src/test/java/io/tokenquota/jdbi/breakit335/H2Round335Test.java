package io.tokenquota.jdbi.breakit335;

import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.zaxxer.hikari.HikariConfig;
import com.zaxxer.hikari.HikariDataSource;
import io.tokenquota.QuotaPolicy;
import io.tokenquota.QuotaStore;
import io.tokenquota.jdbi.JdbiQuotaStore;
import io.tokenquota.jdbi.testing.H2Extension;
import java.sql.Connection;
import java.sql.SQLException;
import java.sql.Statement;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * Round 335's scenarios on H2. The host configuration: H2 in MySQL compatibility mode as H2's own
 * documentation sets it up, {@code jdbc:h2:mem:...;MODE=MySQL;DATABASE_TO_LOWER=TRUE} plus
 * {@code IGNORECASE=TRUE} (https://h2database.com/html/features.html#compatibility, "MySQL
 * Compatibility Mode": "To use the MySQL mode, use the database URL
 * jdbc:h2:~/test;MODE=MySQL;DATABASE_TO_LOWER=TRUE" and "Text comparison in MySQL is case insensitive
 * by default, while in H2 it is case sensitive (as in most other databases). H2 does support case
 * insensitive text comparison, but it needs to be set separately, using SET IGNORECASE TRUE"; the
 * URL form of a SET command is documented under "Changing Other Settings when Opening a Connection").
 * It is what a host whose production database is MySQL or MariaDB runs its development and tests on,
 * and the README names H2 the store's development and test database. The store installs its schema
 * itself ({@code installSchema(true)}), on the host's pool.
 *
 * <p>Found: with {@code IGNORECASE=TRUE} H2 creates every text column as {@code VARCHAR_IGNORECASE}, and
 * {@code …Alice} paid {@code …alice}'s call, a key differing in case replayed another call's hold, and a
 * payment id differing in case was refused as a conflict. Fixed by refusing such tables at build
 * ({@link #aCaseInsensitiveSchemaIsRefusedAtBuild}); the host configuration the scenarios run on is MySQL
 * mode without it, where ids differing in case are different ids.
 */
class H2Round335Test extends AbstractRound335 {
    @RegisterExtension
    static final H2Extension DB = new H2Extension();

    private static final String URL = "jdbc:h2:mem:r335_mysql_" + ProcessHandle.current().pid()
            + ";DB_CLOSE_DELAY=-1;MODE=MySQL;DATABASE_TO_LOWER=TRUE";
    private static final String IGNORECASE_URL = "jdbc:h2:mem:r335_ignorecase_" + ProcessHandle.current().pid()
            + ";MODE=MySQL;DATABASE_TO_LOWER=TRUE;IGNORECASE=TRUE";
    private static HikariDataSource mysqlMode;

    private static synchronized HikariDataSource mysqlMode() {
        if (mysqlMode == null) {
            HikariConfig config = new HikariConfig();
            config.setJdbcUrl(URL);
            config.setUsername("sa");
            config.setPassword("");
            config.setMaximumPoolSize(4);
            config.setPoolName("r335-h2-mysql");
            mysqlMode = new HikariDataSource(config);
        }
        return mysqlMode;
    }

    @AfterAll
    static void closeMysqlMode() {
        if (mysqlMode != null) {
            mysqlMode.close();
            mysqlMode = null;
        }
        // the pool may already have closed the in-memory database with its last connection
        try (Connection c = java.sql.DriverManager.getConnection(URL + ";IFEXISTS=TRUE", "sa", "");
             Statement s = c.createStatement()) {
            s.execute("SHUTDOWN");
        } catch (SQLException e) {
            // nothing left to shut down
        }
    }

    @Override
    protected QuotaStore store(QuotaPolicy policy) {
        return JdbiQuotaStore.builder().dataSource(DB.dataSource()).policy(policy).installSchema(true).build();
    }

    @Override
    protected QuotaStore storeOnHostConfiguration(QuotaPolicy policy) {
        return JdbiQuotaStore.builder().dataSource(mysqlMode()).policy(policy).installSchema(true).build();
    }

    @Test
    void aCaseInsensitiveSchemaIsRefusedAtBuild() {
        HikariConfig config = new HikariConfig();
        config.setJdbcUrl(IGNORECASE_URL);
        config.setUsername("sa");
        config.setPassword("");
        config.setMaximumPoolSize(2);
        try (HikariDataSource ignoreCase = new HikariDataSource(config)) {
            IllegalStateException refused = assertThrows(IllegalStateException.class, () -> JdbiQuotaStore.builder()
                    .dataSource(ignoreCase).policy(policy()).installSchema(true).build());
            assertTrue(refused.getMessage().contains("VARCHAR_IGNORECASE")
                    && refused.getMessage().contains("IGNORECASE=TRUE"), refused.getMessage());
            // the same tables handed over without installSchema are refused too
            assertThrows(IllegalStateException.class, () -> JdbiQuotaStore.builder()
                    .dataSource(ignoreCase).policy(policy()).build());
        }
    }
}
