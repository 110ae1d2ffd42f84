package io.tokenquota.jdbi;

import com.zaxxer.hikari.HikariDataSource;
import io.tokenquota.QuotaPolicy;
import io.tokenquota.QuotaStore;
import io.tokenquota.jdbi.testing.TestDatabase;
import io.tokenquota.jdbi.testing.TestDatabases;
import io.tokenquota.testkit.LedgerInvariantProperties;
import net.jqwik.api.lifecycle.AfterContainer;
import net.jqwik.api.lifecycle.BeforeContainer;

/**
 * The invariant properties on H2 with the store given a host pool configured `autoCommit=false`,
 * as Spring applications commonly configure HikariCP. After every step a second store reading through
 * a pool of its own (autocommit, READ COMMITTED) must see exactly what the store under test answered: a write the pool
 * rolled back after the store reported success fails the property.
 */
class H2HostPoolInvariantPropertiesTest extends LedgerInvariantProperties {
    private static TestDatabase database;
    private static HikariDataSource hostPool;
    private static HikariDataSource reader;

    @BeforeContainer
    static void openDatabase() {
        database = TestDatabases.h2();
        hostPool = HostPools.autoCommitOff(database, null);
        reader = HostPools.committedReader(database);
    }

    @AfterContainer
    static void dropDatabase() {
        reader.close();
        hostPool.close();
        database.close();
    }

    @Override
    protected QuotaStore newStore(QuotaPolicy policy) {
        return JdbiQuotaStore.builder().dataSource(hostPool).policy(policy).installSchema(true).build();
    }

    @Override
    protected QuotaStore newVerifier(QuotaPolicy policy) {
        return JdbiQuotaStore.builder().dataSource(reader).policy(policy)
                .installSchema(false).build();
    }

    // every step also reads back through new connections: fewer tries than the plain H2 run
    @Override
    protected int tries() {
        return 12;
    }

    @Override
    protected int orderTries() {
        return 10;
    }
}
