package io.tokenquota.jdbi.breakit368;

import io.tokenquota.jdbi.testing.H2Extension;
import io.tokenquota.jdbi.testing.TestDatabase;
import org.junit.jupiter.api.extension.RegisterExtension;

/** Round 368's shared scenarios on H2. */
class H2Round368Test extends AbstractRound368 {
    @RegisterExtension
    static final H2Extension DB = new H2Extension();

    @Override
    protected TestDatabase database() {
        return DB.database();
    }
}
