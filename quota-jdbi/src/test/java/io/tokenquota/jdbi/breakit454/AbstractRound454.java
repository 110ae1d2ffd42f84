package io.tokenquota.jdbi.breakit454;

import static org.junit.jupiter.api.Assertions.assertEquals;

import io.tokenquota.Reservation;
import io.tokenquota.jdbi.testing.SpringHostTransactions;
import io.tokenquota.jdbi.testing.SpringHostTransactions.HostFailure;
import io.tokenquota.jdbi.testing.TestDatabase;
import java.sql.Connection;
import java.sql.SQLException;
import java.util.Map;
import java.util.concurrent.atomic.AtomicInteger;
import javax.sql.DataSource;
import org.aopalliance.intercept.MethodInterceptor;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.springframework.aop.framework.ProxyFactory;
import org.springframework.aop.support.AopUtils;
import org.springframework.jdbc.core.JdbcTemplate;
import org.springframework.jdbc.datasource.DelegatingDataSource;
import org.springframework.jdbc.datasource.LazyConnectionDataSourceProxy;
import org.springframework.jdbc.datasource.TransactionAwareDataSourceProxy;
import org.springframework.jdbc.datasource.lookup.AbstractRoutingDataSource;
import org.springframework.jdbc.support.JdbcTransactionManager;
import org.springframework.transaction.support.TransactionTemplate;

/**
 * Round 454 (a ledger round): round 451's fix unwraps a Spring {@code TransactionAwareDataSourceProxy} handed to the
 * store, but only when it is the outermost object (or nested only in more of the same): it walks
 * {@code getTargetDataSource()} while the class is that proxy or a subclass. A Spring Boot application's
 * {@code DataSource} bean is often wrapped once more around it, and then the store again takes the host
 * transaction's own connection, and its switch to autocommit commits the host's open transaction half-way.
 *
 * <p>The wrappers are Spring's own classes, used as their documentation says:
 * <ul>
 * <li>{@code DelegatingDataSource}: "JDBC DataSource implementation that delegates all calls to a given target
 * DataSource. This class is meant to be subclassed, with subclasses overriding only those methods (such as
 * getConnection()) that should not simply delegate to the target DataSource" (its javadoc,
 * https://docs.spring.io/spring-framework/docs/current/javadoc-api/org/springframework/jdbc/datasource/DelegatingDataSource.html):
 * a host's metering decorator around its transaction-aware bean;</li>
 * <li>a Spring AOP proxy of the bean ({@code ProxyFactory}, JDK dynamic proxy on the bean's interfaces: what an
 * aspect or a {@code BeanPostProcessor} advising the DataSource bean produces; Spring Boot's own
 * {@code DataSourceUnwrapper} exists because "a DataSource that may have been proxied or wrapped in a custom Wrapper
 * such as DelegatingDataSource" is common: its javadoc,
 * https://docs.spring.io/spring-boot/api/java/org/springframework/boot/jdbc/DataSourceUnwrapper.html);</li>
 * <li>{@code AbstractRoutingDataSource} ("Abstract DataSource implementation that routes getConnection() calls to
 * one of various target DataSources based on a lookup key": its javadoc) whose target is the transaction-aware bean;</li>
 * <li>{@code LazyConnectionDataSourceProxy} around the transaction-aware proxy (Spring's javadoc asks for the
 * transaction-aware one outermost: "If you configure both a LazyConnectionDataSourceProxy and a
 * TransactionAwareDataSourceProxy, make sure that the latter is the outermost DataSource"; this order is the
 * misconfiguration, the other order the control).</li>
 * </ul>
 *
 * <p>The host: Spring Boot's {@code JdbcTransactionManager} on the pool, a {@code TransactionTemplate} (what
 * {@code @Transactional} runs) and a {@code JdbcTemplate} on the bean (round 451's rig). The rule (docs/storage.md,
 * Concurrency item 7; docs/semantics.md "Host connection pools"; README "The store takes its own connections from the
 * pool even when your DataSource bean is a TransactionAwareDataSourceProxy"): a host's rollback undoes all of its own
 * writes and none of the ledger's.
 */
abstract class AbstractRound454 {
    protected abstract TestDatabase database();

    /** The host's pool, chat log and user, fresh for each test, and the store on its bean. */
    @RegisterExtension
    final SpringHostTransactions host = SpringHostTransactions.perTest(this::database, "r454");

    /** A host's metering decorator: a DelegatingDataSource subclass overriding getConnection(), as its javadoc says. */
    static final class MeteredDataSource extends DelegatingDataSource {
        final AtomicInteger borrowed = new AtomicInteger();

        MeteredDataSource(DataSource target) {
            super(target);
        }

        @Override
        public Connection getConnection() throws SQLException {
            borrowed.incrementAndGet();
            return super.getConnection();
        }
    }

    /** A Spring AOP proxy of the bean: JDK dynamic proxy on its interfaces (or CGLIB when proxyTargetClass). */
    static DataSource advised(DataSource target, boolean proxyTargetClass) {
        ProxyFactory factory = new ProxyFactory(target);
        factory.setProxyTargetClass(proxyTargetClass);
        AtomicInteger calls = new AtomicInteger();
        factory.addAdvice((MethodInterceptor) invocation -> {
            calls.incrementAndGet(); // a timing / tracing aspect
            return invocation.proceed();
        });
        DataSource proxy = (DataSource) factory.getProxy();
        if (!AopUtils.isAopProxy(proxy) || AopUtils.isCglibProxy(proxy) != proxyTargetClass) {
            throw new AssertionError("not the proxy meant: " + proxy.getClass());
        }
        return proxy;
    }

    /** A routing data source with one route, to the given target (a primary/replica router's write route). */
    static DataSource routing(DataSource primary) {
        AbstractRoutingDataSource router = new AbstractRoutingDataSource() {
            @Override
            protected Object determineCurrentLookupKey() {
                return "primary";
            }
        };
        router.setTargetDataSources(Map.of("primary", primary));
        router.setDefaultTargetDataSource(primary);
        router.afterPropertiesSet();
        return router;
    }

    TransactionAwareDataSourceProxy transactionAware() {
        return new TransactionAwareDataSourceProxy(host.pool());
    }

    /**
     * The host's {@code @Transactional} service (manager on {@code managed}, the host's JdbcTemplate on {@code bean}):
     * writes its chat log row, makes the model call through the ledger (hold 3,000, the model reports 700, commit 700),
     * then a later step fails and Spring rolls back. Returns what the host and the ledger are left with.
     */
    String logThenCallThenFail(DataSource bean, DataSource managed) throws Exception {
        StringBuilder out = new StringBuilder();
        host.withStore(bean, store -> {
            try {
                TransactionTemplate template = new TransactionTemplate(new JdbcTransactionManager(managed));
                JdbcTemplate jdbc = new JdbcTemplate(bean);
                boolean committed;
                try {
                    template.executeWithoutResult(status -> {
                        jdbc.update(host.insertChatLog());
                        Reservation hold = store.reserve(host.user(), 3_000, null);
                        store.commit(hold, 700);
                        throw new HostFailure("the step after the model call failed");
                    });
                    committed = true;
                } catch (HostFailure e) {
                    committed = false;
                }
                out.append(host.outcome(committed, store));
            } catch (Exception e) {
                throw new AssertionError(e);
            }
        });
        return out.toString();
    }

    static final String ROLLED_BACK_CHARGED = "rolled back, chat log rows 0, ledger [10000, 0, 0, 700, 0]";
    static final String WHAT = "host wrote its chat log row, called the ledger (hold 3,000, commit 700), then failed "
            + "and rolled back: its row must be gone, the 700 charged";

    // ---- findings: a wrapper around the transaction-aware proxy hides it from StoreConnections.ownConnections ----
    // The host's transaction manager is on its pool, as in round 451 (there the bean was the bare proxy, and
    // JdbcTransactionManager unwraps a TransactionAwareDataSourceProxy to its target: "If the passed-in DataSource is a
    // TransactionAwareDataSourceProxy, its target DataSource will be used", DataSourceTransactionManager.setDataSource's
    // javadoc). Here the host defines that manager on its pool itself (its pool is a bean of its own, the decorated
    // proxy the @Primary DataSource the auto-configuration takes); the host's own JdbcTemplate on the bean writes in the
    // transaction through the proxy, as Spring's guide means it to.

    /**
     * Found: the host's metering {@code DelegatingDataSource} subclass around its transaction-aware bean. The store
     * sees a {@code MeteredDataSource}, not the proxy, keeps it, and its {@code getConnection()} is the transaction's
     * connection; the store's switch to autocommit commits the chat log row, which the rollback then leaves.
     */
    @Test
    void aDelegatingDataSourceAroundTheTransactionAwareProxyLeavesTheHostsRowAfterItsRollback() throws Exception {
        assertEquals(ROLLED_BACK_CHARGED,
                logThenCallThenFail(new MeteredDataSource(transactionAware()), host.pool()), WHAT);
    }

    /** Found: a Spring AOP (JDK dynamic) proxy of the transaction-aware bean, as an aspect advising it produces. */
    @Test
    void anAopProxyOfTheTransactionAwareProxyLeavesTheHostsRowAfterItsRollback() throws Exception {
        assertEquals(ROLLED_BACK_CHARGED, logThenCallThenFail(advised(transactionAware(), false), host.pool()), WHAT);
    }

    /** Found: a routing data source whose (write) route is the transaction-aware bean. */
    @Test
    void aRoutingDataSourceOverTheTransactionAwareProxyLeavesTheHostsRowAfterItsRollback() throws Exception {
        assertEquals(ROLLED_BACK_CHARGED, logThenCallThenFail(routing(transactionAware()), host.pool()), WHAT);
    }

    /**
     * Found (against Spring's advice on the order): a lazy proxy outside the transaction-aware one; its connection's
     * target, fetched at the store's first statement, is the transaction's connection. The store reads the lazy
     * connection's autocommit before the target exists (the lazy proxy answers its pool default, true), so it never
     * switches the host's connection back: on PostgreSQL the host's rollback then fails ("Cannot rollback when
     * autoCommit is enabled").
     */
    @Test
    void aLazyProxyAroundTheTransactionAwareProxyLeavesTheHostsRowAfterItsRollback() throws Exception {
        assertEquals(ROLLED_BACK_CHARGED,
                logThenCallThenFail(new LazyConnectionDataSourceProxy(transactionAware()), host.pool()), WHAT);
    }

    // ---- controls ----

    /** Control: the bare transaction-aware proxy, the manager on the pool (round 451's fix). */
    @Test
    void theBareTransactionAwareProxyKeepsTheRollbackWhole() throws Exception {
        assertEquals(ROLLED_BACK_CHARGED, logThenCallThenFail(transactionAware(), host.pool()));
    }

    /** Control: a CGLIB (proxyTargetClass) proxy of the transaction-aware bean is a subclass of it, so it is unwrapped. */
    @Test
    void aCglibProxyOfTheTransactionAwareProxyKeepsTheRollbackWhole() throws Exception {
        assertEquals(ROLLED_BACK_CHARGED, logThenCallThenFail(advised(transactionAware(), true), host.pool()));
    }

    /**
     * Controls: each wrapper of the findings with Spring Boot's own manager, built on the DataSource bean itself
     * (DataSourceTransactionManagerAutoConfiguration): the manager binds the transaction under the wrapper, the proxy
     * inside looks it up under the pool and finds none, so the store's connection is its own.
     */
    @Test
    void aDelegatingDataSourceAroundTheTransactionAwareProxyWithTheManagerOnTheBeanKeepsTheRollbackWhole()
            throws Exception {
        DataSource bean = new MeteredDataSource(transactionAware());
        assertEquals(ROLLED_BACK_CHARGED, logThenCallThenFail(bean, bean));
    }

    @Test
    void anAopProxyOfTheTransactionAwareProxyWithTheManagerOnTheBeanKeepsTheRollbackWhole() throws Exception {
        DataSource bean = advised(transactionAware(), false);
        assertEquals(ROLLED_BACK_CHARGED, logThenCallThenFail(bean, bean));
    }

    @Test
    void aRoutingDataSourceOverTheTransactionAwareProxyWithTheManagerOnTheBeanKeepsTheRollbackWhole()
            throws Exception {
        DataSource bean = routing(transactionAware());
        assertEquals(ROLLED_BACK_CHARGED, logThenCallThenFail(bean, bean));
    }

    /** Controls: the same wrappers on the plain pool, the manager on the bean. */
    @Test
    void aDelegatingDataSourceAroundThePoolKeepsTheRollbackWhole() throws Exception {
        DataSource bean = new MeteredDataSource(host.pool());
        assertEquals(ROLLED_BACK_CHARGED, logThenCallThenFail(bean, bean));
    }

    @Test
    void anAopProxyOfThePoolKeepsTheRollbackWhole() throws Exception {
        DataSource bean = advised(host.pool(), false);
        assertEquals(ROLLED_BACK_CHARGED, logThenCallThenFail(bean, bean));
    }

    @Test
    void aRoutingDataSourceOverThePoolKeepsTheRollbackWhole() throws Exception {
        DataSource bean = routing(host.pool());
        assertEquals(ROLLED_BACK_CHARGED, logThenCallThenFail(bean, bean));
    }

    /**
     * Control: Spring's documented order, the transaction-aware proxy outermost over a lazy proxy, the manager on the
     * lazy proxy (the javadoc's arrangement).
     */
    @Test
    void theTransactionAwareProxyOverALazyProxyKeepsTheRollbackWhole() throws Exception {
        LazyConnectionDataSourceProxy lazy = new LazyConnectionDataSourceProxy(host.pool());
        assertEquals(ROLLED_BACK_CHARGED, logThenCallThenFail(new TransactionAwareDataSourceProxy(lazy), lazy));
    }

    /** Control: a lazy proxy alone, the manager on it. */
    @Test
    void aLazyProxyAloneKeepsTheRollbackWhole() throws Exception {
        LazyConnectionDataSourceProxy lazy = new LazyConnectionDataSourceProxy(host.pool());
        assertEquals(ROLLED_BACK_CHARGED, logThenCallThenFail(lazy, lazy));
    }
}
