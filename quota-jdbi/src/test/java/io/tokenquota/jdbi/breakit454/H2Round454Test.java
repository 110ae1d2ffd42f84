package io.tokenquota.jdbi.breakit454;

import io.tokenquota.jdbi.testing.H2Extension;
import io.tokenquota.jdbi.testing.TestDatabase;
import org.junit.jupiter.api.extension.RegisterExtension;

/** Round 454's scenarios on H2: the store on a Spring application's wrapped DataSource inside the host's transactions. */
class H2Round454Test extends AbstractRound454 {
    @RegisterExtension
    static final H2Extension DB = new H2Extension();

    @Override
    protected TestDatabase database() {
        return DB.database();
    }
}
