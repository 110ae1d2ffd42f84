package io.tokenquota.jdbi.breakit451;

import io.tokenquota.jdbi.testing.PostgresExtension;
import io.tokenquota.jdbi.testing.TestDatabase;
import org.junit.jupiter.api.extension.RegisterExtension;

/** Round 451's scenarios on Postgres: the store on a Spring application's DataSource inside the host's transactions. */
class PostgresRound451Test extends AbstractRound451 {
    @RegisterExtension
    static final PostgresExtension DB = new PostgresExtension();

    @Override
    protected TestDatabase database() {
        return DB.database();
    }
}
