package io.tokenquota.jdbi.breakit2;

import io.tokenquota.jdbi.testing.TestDatabase;
import io.tokenquota.jdbi.testing.TestDatabases;

class H2MonthTurnRaceBreakItTest extends MonthTurnRaceScenarios {
    @Override
    protected TestDatabase newDatabase() {
        return TestDatabases.h2();
    }
}
