package io.tokenquota.jdbi;

import java.sql.Connection;
import java.sql.SQLException;
import java.util.Collections;
import java.util.IdentityHashMap;
import java.util.Map;
import java.util.Objects;
import java.util.WeakHashMap;
import javax.sql.DataSource;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.jdbi.v3.core.ConnectionFactory;
import org.jdbi.v3.core.Handle;
import org.jdbi.v3.core.Jdbi;
import org.jdbi.v3.core.statement.Cleanable;

/**
 * The store's connections, taken from the host's data source or {@code Jdbi}: each one is switched to
 * autocommit and READ COMMITTED before the store's {@code Jdbi} builds a handle on it, and given back
 * with the settings it came with.
 *
 * <p>Why here, before the handle exists: JDBI's {@code LocalTransactionHandler} reads the connection's
 * autocommit flag when the handle is created, and treats a connection that arrives with autocommit off
 * as enrolled in a transaction its owner manages: it neither commits nor rolls back, so on a pool
 * configured {@code autoCommit=false} (Spring's common setting) every write would be rolled back when
 * the pool takes the connection back, after the store reported success. The ledger's conditional
 * updates are written for READ COMMITTED (each statement sees the latest committed row), and at
 * REPEATABLE READ or SERIALIZABLE they would fail where they should wait. So the handle only ever sees
 * a connection in the state the store's statements assume (autocommit, READ COMMITTED, writable). Not API. Thread-safe.
 */
final class StoreConnections implements ConnectionFactory {
    private static final Logger LOG = LoggerFactory.getLogger(SqlQuotaStore.class);

    private final Opener opener;
    /** What each open connection came with, until it is given back; keyed by identity (pools proxy connections). */
    private final Map<Connection, Original> originals = Collections.synchronizedMap(new IdentityHashMap<>());
    /**
     * The isolation each physical connection (behind the pool's proxy) was handed out with, as first
     * read: PostgreSQL's driver answers {@code getTransactionIsolation()} with a query, a round trip that
     * would cost as much as the store's one statement. A pool gives a connection back at the isolation it
     * was lent at (HikariCP resets what JDBC changed, and the store restores what it changed), so one
     * reading per physical connection holds. Weak keys: a connection the pool retires is forgotten.
     */
    private final Map<Connection, Integer> isolations = Collections.synchronizedMap(new WeakHashMap<>());

    private StoreConnections(Opener opener) {
        this.opener = opener;
    }

    /** Spring's transaction-aware proxy (spring-jdbc), named so that Spring stays optional. */
    private static final String SPRING_TRANSACTION_AWARE_PROXY =
            "org.springframework.jdbc.datasource.TransactionAwareDataSourceProxy";

    /** Connections from a data source (a host's pool, or the pool the store built). */
    public static Jdbi over(DataSource dataSource) {
        DataSource pool = ownConnections(Objects.requireNonNull(dataSource, "dataSource"));
        return Jdbi.create(new StoreConnections(() -> new Borrowed(pool.getConnection(), null)));
    }

    /**
     * The pool behind Spring's {@code TransactionAwareDataSourceProxy}, wherever it sits in what the host hands over:
     * inside a host's Spring-managed transaction that proxy hands out the transaction's own connection, with the
     * host's uncommitted writes on it, and {@link #openConnection}'s switch to autocommit would commit them half-way
     * (JDBC: changing autocommit during a transaction commits it), so a later rollback of the host's would no longer
     * undo them (round 451). The store's charges are its own and outlive the host's transaction either way, so it
     * takes connections of its own from the pool. Outside a transaction the proxy only delegates to that pool.
     *
     * <p>Found through JDBC's {@code Wrapper} calls, not the outermost class: a Spring Boot bean is often wrapped once
     * more (a {@code DelegatingDataSource} subclass, a Spring AOP JDK proxy, an {@code AbstractRoutingDataSource}
     * whose current route it is, a {@code LazyConnectionDataSourceProxy} outside it), and each of those answers
     * {@code isWrapperFor}/{@code unwrap} from its target, while its own class hides the proxy (round 454: the host's
     * rollback again left the row it wrote before the ledger call). Whatever wraps the proxy is skipped with it: the
     * store's connections come from the pool itself. Any other data source that lends a host transaction's
     * connection is not recognised (docs/storage.md, item 7).
     */
    static DataSource ownConnections(DataSource dataSource) {
        Class<? extends DataSource> proxyType = transactionAwareProxyType(dataSource);
        if (proxyType == null) {
            return dataSource; // spring-jdbc is not there: nothing can be that proxy
        }
        DataSource current = dataSource;
        while (wraps(current, proxyType)) {
            Object target;
            try {
                DataSource proxy = current.unwrap(proxyType);
                target = proxyType.getMethod("getTargetDataSource").invoke(proxy);
            } catch (SQLException | ReflectiveOperationException e) {
                throw new IllegalStateException("cannot read the target of the TransactionAwareDataSourceProxy in "
                        + current.getClass().getName(), e);
            }
            if (!(target instanceof DataSource next)) {
                throw new IllegalStateException("the TransactionAwareDataSourceProxy in "
                        + current.getClass().getName() + " has no target DataSource");
            }
            current = next; // the proxy's target may be another such proxy, or wrap one
        }
        if (current != dataSource) {
            // said when the store is built: whatever the host wrapped around the proxy (a decorator setting a tenant or a
            // search_path, a router's other routes) does not see the store's connections
            LOG.info("the store takes its connections from {}, the pool behind the TransactionAwareDataSourceProxy in"
                    + " the given {}, not through it (docs/storage.md, item 7)", current.getClass().getName(),
                    dataSource.getClass().getName());
        }
        return current;
    }

    /** Whether {@code ds} is or wraps the proxy; a data source that cannot answer wraps nothing the store knows. */
    private static boolean wraps(DataSource ds, Class<?> proxyType) {
        try {
            return ds.isWrapperFor(proxyType);
        } catch (SQLException | RuntimeException | AbstractMethodError e) {
            return false; // a driver's data source predating JDBC 4's Wrapper, or one refusing the call
        }
    }

    /**
     * Spring's proxy class, loaded by name so that Spring stays optional: from the host's data source's class loader
     * (which sees spring-jdbc when any of its wrappers is Spring's), else the store's own.
     */
    @SuppressWarnings("unchecked")
    private static Class<? extends DataSource> transactionAwareProxyType(DataSource dataSource) {
        for (ClassLoader loader : new ClassLoader[] {dataSource.getClass().getClassLoader(),
                Thread.currentThread().getContextClassLoader(), StoreConnections.class.getClassLoader()}) {
            if (loader == null) {
                continue;
            }
            try {
                Class<?> type = Class.forName(SPRING_TRANSACTION_AWARE_PROXY, false, loader);
                if (DataSource.class.isAssignableFrom(type)) {
                    return (Class<? extends DataSource>) type;
                }
            } catch (ClassNotFoundException | LinkageError e) {
                // not visible from this loader
            }
        }
        return null;
    }

    /**
     * Connections from the host's {@code Jdbi}: the store opens one of its handles per operation and
     * closes it after, and runs its own transactions on the connection; the host's configuration is
     * neither used nor changed.
     */
    public static Jdbi over(Jdbi host) {
        Objects.requireNonNull(host, "jdbi");
        return Jdbi.create(new StoreConnections(() -> {
            Handle handle = host.open();
            return new Borrowed(handle.getConnection(), handle);
        }));
    }

    @Override
    public Connection openConnection() throws SQLException {
        Borrowed borrowed = opener.open();
        Connection c = borrowed.connection;
        try {
            boolean autoCommit = c.getAutoCommit();
            if (!autoCommit) {
                // a connection just taken from a pool has no work of the store's pending; what this commits is the
                // pool's own set-up, HikariCP's connectionInitSql, which it runs after turning autocommit off
                c.setAutoCommit(true);
            }
            // read after that commit: an init SQL that sets the session's isolation (SET SESSION CHARACTERISTICS AS
            // TRANSACTION ISOLATION LEVEL SERIALIZABLE) counts only once committed, and PostgreSQL's driver reads the
            // isolation of the transaction open before it, READ COMMITTED; cached so, every later statement of the
            // store on that connection ran SERIALIZABLE (round 392: 16 threads, commits gave up after 6
            // serialization failures, their holds released, the calls free)
            int isolation = isolationOf(c);
            if (isolation != Connection.TRANSACTION_READ_COMMITTED) {
                c.setTransactionIsolation(Connection.TRANSACTION_READ_COMMITTED);
            }
            // a pool lending connections read-only (HikariCP's readOnly, Spring Boot's
            // spring.datasource.hikari.read-only): PostgreSQL's driver begins every transaction READ ONLY, so the
            // one-statement paths wrote and every locked one failed (round 366: a call held before midnight and
            // committed after it was never charged). A local flag on the driver, no round trip
            boolean readOnly = c.isReadOnly();
            if (readOnly) {
                c.setReadOnly(false);
            }
            originals.put(c, new Original(autoCommit, isolation, readOnly, borrowed.hostHandle));
            return c;
        } catch (SQLException | RuntimeException e) {
            giveBack(c, borrowed.hostHandle, e);
            throw e;
        }
    }

    private int isolationOf(Connection c) throws SQLException {
        Connection physical = c.isWrapperFor(Connection.class) ? c.unwrap(Connection.class) : c;
        Integer known = isolations.get(physical);
        if (known != null) {
            return known;
        }
        int isolation = c.getTransactionIsolation();
        isolations.put(physical, isolation);
        return isolation;
    }

    @Override
    public void closeConnection(Connection c) throws SQLException {
        Original original = originals.remove(c);
        if (original == null) {
            c.close();
            return;
        }
        SQLException failure = null;
        try {
            // isolation first: a driver may refuse to change it once a transaction is open, and with
            // autocommit still on none is
            if (original.isolation != Connection.TRANSACTION_READ_COMMITTED) {
                c.setTransactionIsolation(original.isolation);
            }
            if (original.readOnly) {
                c.setReadOnly(true);
            }
            if (!original.autoCommit) {
                c.setAutoCommit(false);
            }
        } catch (SQLException e) {
            failure = e;
        }
        giveBack(c, original.hostHandle, failure);
        if (failure != null) {
            throw failure;
        }
    }

    @Override
    public Cleanable getCleanableFor(Connection connection) {
        return () -> closeConnection(connection);
    }

    private static void giveBack(Connection c, Handle hostHandle, Exception failure) throws SQLException {
        try {
            if (hostHandle != null) {
                hostHandle.close();
            } else {
                c.close();
            }
        } catch (SQLException | RuntimeException e) {
            if (failure == null) {
                throw e;
            }
            failure.addSuppressed(e);
        }
    }

    @FunctionalInterface
    private interface Opener {
        Borrowed open() throws SQLException;
    }

    /** A connection and, when it came from the host's {@code Jdbi}, the host handle that owns it. */
    private record Borrowed(Connection connection, Handle hostHandle) {
    }

    private record Original(boolean autoCommit, int isolation, boolean readOnly, Handle hostHandle) {
    }
}
