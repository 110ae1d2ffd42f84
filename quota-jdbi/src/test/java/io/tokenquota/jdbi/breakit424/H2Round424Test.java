package io.tokenquota.jdbi.breakit424;

import io.tokenquota.jdbi.testing.TestDatabase;
import io.tokenquota.jdbi.testing.TestDatabases;

/**
 * Round 424's scenarios on H2 (a database of its own per test): pools at READ_UNCOMMITTED (H2 reads uncommitted
 * rows at that level: https://h2database.com/html/advanced.html#transaction_isolation) whose init SQL selects the
 * schema ({@code SET SCHEMA}: https://h2database.com/html/commands.html#set_schema).
 */
class H2Round424Test extends HostPoolRound424 {
    @Override
    protected TestDatabase freshDatabase() {
        return TestDatabases.h2();
    }

    @Override
    protected String createSchemaSql() {
        return "CREATE SCHEMA IF NOT EXISTS TQ_TENANT";
    }

    @Override
    protected String isolation() {
        return "TRANSACTION_READ_UNCOMMITTED";
    }

    @Override
    protected String connectionInitSql() {
        return "SET SCHEMA TQ_TENANT";
    }
}
