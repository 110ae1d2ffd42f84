package io.tokenquota.jdbi.breakit395;

import io.tokenquota.jdbi.testing.H2Extension;
import io.tokenquota.jdbi.testing.TestDatabase;
import org.junit.jupiter.api.extension.RegisterExtension;

/** Round 395's shared scenarios on H2 (retention deletes or moves rows: no table lock). */
class H2Round395Test extends AbstractRound395 {
    @RegisterExtension
    static final H2Extension DB = new H2Extension();

    @Override
    protected TestDatabase database() {
        return DB.database();
    }
}
