package io.tokenquota.jdbi;

import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.SQLException;
import java.time.Instant;
import java.time.ZoneOffset;
import java.util.List;
import org.jdbi.v3.core.statement.ColonPrefixSqlParser;
import org.jdbi.v3.core.statement.ParsedSql;

/**
 * One of {@link Sql}'s named-parameter statements, parsed once by JDBI's own parser into JDBC's
 * positional form, for the reserve/consume/commit/release hot path, which binds on the handle's
 * connection directly: JDBI's per-statement context, named binding and argument lookup cost about as
 * much as a whole in-process H2 statement. Not API. Immutable.
 */
final class Positional {
    private static final ColonPrefixSqlParser PARSER = new ColonPrefixSqlParser();

    private final String sql;
    private final List<String> names;

    private Positional(String sql, List<String> names) {
        this.sql = sql;
        this.names = names;
    }

    static Positional of(String namedSql) {
        if (namedSql == null) {
            return null;
        }
        ParsedSql parsed = PARSER.parse(namedSql, null);
        return new Positional(parsed.getSql(), List.copyOf(parsed.getParameters().getParameterNames()));
    }

    /**
     * Prepares the statement and binds every parameter from {@code namesAndValues} (name, value,
     * name, value, ...). Instants travel as UTC {@code OffsetDateTime}s, as {@link Rows#timestamp} binds
     * them; a {@code null} goes untyped, so the statements cast every parameter that may be null.
     */
    PreparedStatement prepare(Connection connection, Object... namesAndValues) throws SQLException {
        PreparedStatement ps = connection.prepareStatement(sql);
        try {
            for (int i = 0; i < names.size(); i++) {
                ps.setObject(i + 1, valueOf(names.get(i), namesAndValues));
            }
            return ps;
        } catch (SQLException | RuntimeException e) {
            ps.close();
            throw e;
        }
    }

    private static Object valueOf(String name, Object[] namesAndValues) {
        for (int i = 0; i < namesAndValues.length; i += 2) {
            if (namesAndValues[i].equals(name)) {
                Object value = namesAndValues[i + 1];
                return value instanceof Instant instant ? instant.atOffset(ZoneOffset.UTC) : value;
            }
        }
        throw new IllegalArgumentException("no value for :" + name + " in " + List.of(namesAndValues));
    }
}
