package io.tokenquota.jdbi.breakit424;

import io.tokenquota.jdbi.testing.TestDatabase;
import io.tokenquota.jdbi.testing.TestDatabases;

/**
 * Round 424's scenarios on the shared embedded PostgreSQL (a database of its own per test): SERIALIZABLE pools whose
 * init SQL sets the session's search_path to the ledger's schema and the timeouts operators give application roles
 * (search_path, statement_timeout, idle_in_transaction_session_timeout:
 * https://www.postgresql.org/docs/current/runtime-config-client.html).
 */
class PostgresRound424Test extends HostPoolRound424 {
    @Override
    protected TestDatabase freshDatabase() {
        return TestDatabases.postgres();
    }

    @Override
    protected String createSchemaSql() {
        return "CREATE SCHEMA IF NOT EXISTS tq_tenant";
    }

    @Override
    protected String isolation() {
        return "TRANSACTION_SERIALIZABLE";
    }

    @Override
    protected String connectionInitSql() {
        return "SET search_path TO tq_tenant; SET statement_timeout = '5s';"
                + " SET idle_in_transaction_session_timeout = '30s'";
    }
}
