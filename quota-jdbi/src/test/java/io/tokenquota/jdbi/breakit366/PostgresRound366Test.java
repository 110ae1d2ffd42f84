package io.tokenquota.jdbi.breakit366;

import io.tokenquota.jdbi.testing.PostgresExtension;
import io.tokenquota.jdbi.testing.TestDatabase;
import org.junit.jupiter.api.extension.RegisterExtension;

/** Round 366's scenarios on the shared embedded PostgreSQL. */
class PostgresRound366Test extends AbstractRound366 {
    @RegisterExtension
    static final PostgresExtension DB = new PostgresExtension();

    @Override
    protected TestDatabase database() {
        return DB.database();
    }
}
