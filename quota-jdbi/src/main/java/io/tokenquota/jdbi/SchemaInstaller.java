package io.tokenquota.jdbi;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.time.Instant;
import java.time.temporal.ChronoUnit;
import java.util.ArrayList;
import java.util.List;
import org.jdbi.v3.core.Handle;
import org.jdbi.v3.core.Jdbi;
import org.jdbi.v3.core.JdbiException;

/**
 * Applies the versioned migration files of a dialect, recording each applied version in
 * {@code tq_schema_version}; a version already recorded is skipped, so installing twice is a
 * no-op. The files themselves are {@code IF NOT EXISTS} throughout, so a host that runs them
 * through Flyway or Liquibase and later calls the installer loses nothing either. Not API.
 * Thread-safe (stateless).
 */
final class SchemaInstaller {
    /**
     * Migration files in order, in both dialects; each is recorded under the version its name starts
     * with ({@code V<version>__}), so an install that recorded some of them applies only the others.
     */
    private static final List<String> VERSIONS = List.of("V1__token_quota.sql", "V2__event_usage.sql",
            "V3__teams.sql", "V4__hold_on_finish.sql", "V5__keys_nulls_distinct.sql",
            "V6__refund_absorbed.sql", "V7__refund_taken.sql", "V8__refund_lapsed.sql");
    /** The advisory lock installers of one PostgreSQL database take turns on (any fixed number; "tq" in ASCII). */
    private static final long INSTALL_LOCK_KEY = 0x7471L;
    private static final Object H2_INSTALL_LOCK = new Object();
    private static final int H2_INSTALL_ATTEMPTS = 3;
    /** How often a PostgreSQL install is run when its attempts fail retryably (round 440). */
    private static final int POSTGRES_INSTALL_ATTEMPTS = 3;

    private SchemaInstaller() {
    }

    /** The latest schema version this jar ships (how many rows a complete install records). */
    static int latestVersion() {
        return version(VERSIONS.get(VERSIONS.size() - 1));
    }

    /**
     * Installs every version not yet recorded; returns how many were applied now. On PostgreSQL the
     * whole install is one transaction that first takes an advisory lock, because
     * {@code CREATE ... IF NOT EXISTS} is not safe against a concurrent identical {@code CREATE}
     * (several instances starting at once): installers take turns, and the later ones find every
     * version recorded; an install that fails retryably ({@link Failures#isRetryable}: a session the server
     * ended for idleness, round 440) runs again, up to {@value #POSTGRES_INSTALL_ATTEMPTS} attempts. H2 commits each DDL statement itself and has no such lock: installers in one
     * JVM take turns on a lock of this class, and one that still loses a race to another process
     * (the object it creates appeared meanwhile) runs again, finding more already there.
     */
    public static int install(Jdbi jdbi, Dialect dialect) {
        if (dialect == Dialect.POSTGRESQL) {
            for (int attempt = 1; ; attempt++) {
                try {
                    return jdbi.inTransaction(h -> {
                        h.createQuery("SELECT pg_advisory_xact_lock(:key)").bind("key", INSTALL_LOCK_KEY)
                                .map((rs, ctx) -> Boolean.TRUE).one();
                        return installVersions(h, dialect);
                    });
                } catch (JdbiException e) {
                    // round 440: a session the server ended for idleness (25P03, 57P05), a deadlock or a
                    // serialization failure rolled the install back whole; it is idempotent, so run it again
                    // (the pool evicted the dead connection) as every operation is, rather than fail the build
                    if (attempt >= POSTGRES_INSTALL_ATTEMPTS || !Failures.isRetryable(e)) {
                        throw e;
                    }
                }
            }
        }
        synchronized (H2_INSTALL_LOCK) {
            for (int attempt = 1; ; attempt++) {
                try {
                    return jdbi.withHandle(h -> installVersions(h, dialect));
                } catch (JdbiException e) {
                    if (attempt >= H2_INSTALL_ATTEMPTS) {
                        throw e;
                    }
                }
            }
        }
    }

    /**
     * Refuses tables that compare text without case: H2 makes every text column of a table created while
     * {@code IGNORECASE} is on {@code VARCHAR_IGNORECASE} (its documented MySQL compatibility setup), and
     * then {@code alice} and {@code Alice}, two idempotency keys or two payment ids differing in case
     * would be one subject, one call or one payment. Subjects, keys and transaction ids are compared
     * exactly, as the in-memory store and PostgreSQL compare them.
     *
     * @throws IllegalStateException naming the first such column
     */
    static void checkCaseSensitive(Jdbi jdbi, Dialect dialect) {
        if (dialect != Dialect.H2) {
            return;
        }
        jdbi.useHandle(h -> h.createQuery("SELECT LOWER(TABLE_NAME) || '.' || LOWER(COLUMN_NAME)"
                        + " FROM INFORMATION_SCHEMA.COLUMNS WHERE LOWER(TABLE_NAME) LIKE 'tq\\_%' ESCAPE '\\'"
                        + " AND TABLE_SCHEMA = SCHEMA() AND UPPER(DATA_TYPE) = 'VARCHAR_IGNORECASE'"
                        + " ORDER BY TABLE_NAME, COLUMN_NAME")
                .mapTo(String.class).findFirst().ifPresent(column -> {
                    throw new IllegalStateException("token-quota needs text compared with case, but " + column
                            + " is VARCHAR_IGNORECASE (H2's IGNORECASE=TRUE was on when the table was created):"
                            + " create the tq_ tables with IGNORECASE off");
                }));
    }

    private static int installVersions(Handle h, Dialect dialect) {
        h.execute("CREATE TABLE IF NOT EXISTS tq_schema_version ("
                + " version INTEGER NOT NULL PRIMARY KEY,"
                + " script VARCHAR(200) NOT NULL,"
                + " installed_at TIMESTAMP WITH TIME ZONE NOT NULL)");
        int applied = 0;
        for (String script : VERSIONS) {
            int version = version(script);
            if (isInstalled(h, version)) {
                continue;
            }
            for (String statement : statements(read(dialect.schemaResource(script)))) {
                h.execute(statement);
            }
            try {
                h.createUpdate("INSERT INTO tq_schema_version (version, script, installed_at)"
                                + " VALUES (:version, :script, :now)")
                        .bind("version", version).bind("script", script)
                        .bind("now", Rows.timestamp(Instant.now().truncatedTo(ChronoUnit.MICROS)))
                        .execute();
                applied++;
            } catch (JdbiException e) {
                // (H2) another installer recorded the same version meanwhile; its statements equal ours
                if (!Failures.isUniqueViolation(e)) {
                    throw e;
                }
            }
        }
        return applied;
    }

    /** The version a migration file is named for: {@code V3__teams.sql} is version 3. */
    static int version(String script) {
        return Integer.parseInt(script.substring(1, script.indexOf("__")));
    }

    private static boolean isInstalled(Handle h, int version) {
        return h.createQuery("SELECT COUNT(*) FROM tq_schema_version WHERE version = :version")
                .bind("version", version).mapTo(Integer.class).one() > 0;
    }

    /** Splits a migration file into statements: drops {@code --} comment lines, splits at {@code ;}. */
    static List<String> statements(String script) {
        StringBuilder code = new StringBuilder();
        for (String line : script.split("\n")) {
            if (!line.strip().startsWith("--")) {
                code.append(line).append('\n');
            }
        }
        List<String> statements = new ArrayList<>();
        for (String statement : code.toString().split(";")) {
            if (!statement.isBlank()) {
                statements.add(statement.strip());
            }
        }
        return statements;
    }

    private static String read(String resource) {
        try (InputStream in = SchemaInstaller.class.getResourceAsStream(resource)) {
            if (in == null) {
                throw new IllegalStateException("missing schema resource " + resource);
            }
            return new String(in.readAllBytes(), StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
