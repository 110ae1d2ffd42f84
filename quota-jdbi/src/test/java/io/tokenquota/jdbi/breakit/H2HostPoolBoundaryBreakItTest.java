package io.tokenquota.jdbi.breakit;

import io.tokenquota.jdbi.testing.TestDatabase;
import io.tokenquota.jdbi.testing.TestDatabases;
import java.util.function.Supplier;

class H2HostPoolBoundaryBreakItTest extends PostgresHostPoolBoundaryBreakItTest {
    @Override
    protected Supplier<TestDatabase> factory() {
        return TestDatabases::h2;
    }
}
