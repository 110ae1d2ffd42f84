package io.tokenquota.jdbi.breakit454;

import io.tokenquota.jdbi.testing.PostgresExtension;
import io.tokenquota.jdbi.testing.TestDatabase;
import org.junit.jupiter.api.extension.RegisterExtension;

/** Round 454's scenarios on Postgres: the store on a Spring application's wrapped DataSource inside the host's transactions. */
class PostgresRound454Test extends AbstractRound454 {
    @RegisterExtension
    static final PostgresExtension DB = new PostgresExtension();

    @Override
    protected TestDatabase database() {
        return DB.database();
    }
}
