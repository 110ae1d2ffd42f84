package io.tokenquota.jdbi.breakit366;

import io.tokenquota.jdbi.testing.H2Extension;
import io.tokenquota.jdbi.testing.TestDatabase;
import org.junit.jupiter.api.extension.RegisterExtension;

/** Round 366's scenarios on H2 (which takes a connection's read-only flag as a hint only: charged, as it should be). */
class H2Round366Test extends AbstractRound366 {
    @RegisterExtension
    static final H2Extension DB = new H2Extension();

    @Override
    protected TestDatabase database() {
        return DB.database();
    }
}
