package io.tokenquota.jdbi.breakit2;

import io.tokenquota.jdbi.testing.TestDatabase;
import io.tokenquota.jdbi.testing.TestDatabases;

class PostgresMonthTurnRaceBreakItTest extends MonthTurnRaceScenarios {
    @Override
    protected TestDatabase newDatabase() {
        return TestDatabases.postgres();
    }
}
