package io.tokenquota.jdbi.breakit392;

import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.Statement;
import org.junit.jupiter.api.Test;

/** Round 392's scenarios on H2 (an in-memory database of its own per test, with the host's URL settings), and H2's own. */
class H2Round392Test extends AbstractRound392 {

    @Override
    protected Target fresh(String urlOptions) {
        String url = "jdbc:h2:mem:r392_" + System.nanoTime() + ";DB_CLOSE_DELAY=-1" + (urlOptions == null ? "" : urlOptions);
        var plain = pool(url, "sa", "", true, null, false, null, 4);
        closing.add(() -> {
            try (Connection c = DriverManager.getConnection(url, "sa", ""); Statement s = c.createStatement()) {
                s.execute("SHUTDOWN");
            }
        });
        return new Target(url, "sa", "", plain);
    }

    /**
     * Control: H2's PostgreSQL compatibility mode as its documentation gives the URL
     * (https://h2database.com/html/features.html#compatibility: "jdbc:h2:~/test;MODE=PostgreSQL;
     * DATABASE_TO_LOWER=TRUE;DEFAULT_NULL_ORDERING=HIGH"), pools with autoCommit=false.
     */
    @Test
    void aPostgresModeDatabaseChargesEveryCallOnce() throws Exception {
        assertExact(onHostPools(fresh(";MODE=PostgreSQL;DATABASE_TO_LOWER=TRUE;DEFAULT_NULL_ORDERING=HIGH"), false,
                null, null), "MODE=PostgreSQL");
    }

    /** Control: a small lock timeout (H2's {@code LOCK_TIMEOUT} URL setting in milliseconds: https://h2database.com/html/commands.html#set_lock_timeout). */
    @Test
    void aSmallLockTimeoutChargesEveryCallOnce() throws Exception {
        assertExact(onHostPools(fresh(";LOCK_TIMEOUT=20"), false, null, null), "LOCK_TIMEOUT=20");
    }
}
