package io.tokenquota.jdbi;

import java.sql.Connection;
import java.sql.SQLException;
import java.util.Locale;

/**
 * The two databases the store speaks, detected from connection metadata. Not API: the
 * {@code internal} package may change in any release. Immutable.
 */
enum Dialect {
    H2("h2"),
    POSTGRESQL("postgresql");

    private final String directory;

    Dialect(String directory) {
        this.directory = directory;
    }

    /** Reads the product name of the connected database; anything but H2 or PostgreSQL is refused. */
    public static Dialect of(Connection connection) throws SQLException {
        String product = connection.getMetaData().getDatabaseProductName();
        String name = product == null ? "" : product.toLowerCase(Locale.ROOT);
        if (name.contains("h2")) {
            return H2;
        }
        if (name.contains("postgresql")) {
            return POSTGRESQL;
        }
        throw new IllegalArgumentException("token-quota supports H2 and PostgreSQL, not " + product);
    }

    /** Class-path location of a migration file of this dialect, e.g. {@code V1__token_quota.sql}. */
    public String schemaResource(String fileName) {
        return "/io/tokenquota/jdbi/schema/" + directory + "/" + fileName;
    }
}
