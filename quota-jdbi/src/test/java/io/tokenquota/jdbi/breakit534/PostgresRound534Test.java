package io.tokenquota.jdbi.breakit534;

import io.tokenquota.jdbi.testing.PostgresExtension;
import org.junit.jupiter.api.extension.RegisterExtension;

/** Round 534's comparison on PostgreSQL (the store's one-statement paths). */
class PostgresRound534Test extends AbstractRound534 {
    @RegisterExtension
    static final PostgresExtension DB = new PostgresExtension();

    @Override
    javax.sql.DataSource data() {
        return DB.dataSource();
    }

    @Override
    int defaultRuns() {
        return 60;
    }
}
