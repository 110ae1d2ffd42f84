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
 * The invariant properties on Postgres with the store given a host pool configured `autoCommit=false` and SERIALIZABLE isolation,
 * as Spring applications commonly configure HikariCP. After every step a second store reading through
 * a pool of its own (autocommit, READ COMMITTED) must see exactly what the store under test answered: a write the pool
 * rolled back after the store reported success fails the property.
 */
class PostgresHostPoolInvariantPropertiesTest extends LedgerInvariantProperties {
    private static TestDatabase database;
    private static HikariDataSource hostPool;
    private static HikariDataSource reader;

    @BeforeContainer
    static void openDatabase() {
        database = TestDatabases.postgres();
        hostPool = HostPools.autoCommitOff(database, "TRANSACTION_SERIALIZABLE");
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

    // every step also reads back through new connections: fewer tries than the plain Postgres run; the same
    // property runs 12 tries on H2's host pool (same JDBI store) and 100 in memory
    @Override
    protected int tries() {
        return 6;
    }

    @Override
    protected int orderTries() {
        return 10;
    }
}
