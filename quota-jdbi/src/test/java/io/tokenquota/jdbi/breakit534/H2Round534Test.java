package io.tokenquota.jdbi.breakit534;

import io.tokenquota.jdbi.testing.H2Extension;
import org.junit.jupiter.api.extension.RegisterExtension;

/** Round 534's comparison on H2 (the store's short transactions). */
class H2Round534Test extends AbstractRound534 {
    @RegisterExtension
    static final H2Extension DB = new H2Extension();

    @Override
    javax.sql.DataSource data() {
        return DB.dataSource();
    }

    @Override
    int defaultRuns() {
        return 150;
    }
}
