package io.tokenquota.jdbi.breakit451;

import static io.tokenquota.jdbi.testing.SpringHostTransactions.view;
import static org.junit.jupiter.api.Assertions.assertAll;
import static org.junit.jupiter.api.Assertions.assertEquals;

import io.tokenquota.QuotaAccount;
import io.tokenquota.QuotaStore;
import io.tokenquota.Reservation;
import io.tokenquota.jdbi.spring.QuotaStoreAutoConfiguration;
import io.tokenquota.jdbi.testing.SpringHostTransactions;
import io.tokenquota.jdbi.testing.SpringHostTransactions.HostFailure;
import io.tokenquota.jdbi.testing.TestDatabase;
import java.util.List;
import javax.sql.DataSource;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.springframework.dao.DuplicateKeyException;
import org.springframework.jdbc.core.JdbcTemplate;
import org.springframework.jdbc.datasource.TransactionAwareDataSourceProxy;
import org.springframework.jdbc.support.JdbcTransactionManager;
import org.springframework.transaction.support.TransactionTemplate;

/**
 * Round 451 (a ledger round): the store as {@link QuotaStoreAutoConfiguration} builds it on a Spring application's
 * {@code DataSource} bean, called inside the host's own Spring-managed transaction ({@code @Transactional} /
 * {@code TransactionTemplate}), which then commits or rolls back.
 *
 * <p>The Spring pieces are Spring's own classes, not copies: {@code JdbcTransactionManager} (the transaction manager
 * Spring Boot 3's {@code DataSourceTransactionManagerAutoConfiguration} defines for a {@code DataSource}:
 * https://docs.spring.io/spring-boot/3.3/reference/data/sql.html#data.sql.jdbc-template and its javadoc
 * "JdbcTransactionManager ... DataSourceTransactionManager subclass"), {@code JdbcTemplate} (the host's writes; it takes
 * its connection through {@code DataSourceUtils.getConnection}, so inside the transaction it writes on the connection
 * the manager bound to the thread) and {@code TransactionAwareDataSourceProxy} ("Proxy for a target JDBC DataSource,
 * adding awareness of Spring-managed transactions ... Data access code that should remain unaware of Spring's data
 * access support can work with this proxy to seamlessly participate in Spring-managed transactions": its javadoc, and
 * the reference guide, Data Access, "Controlling Database Connections", "TransactionAwareDataSourceProxy":
 * https://docs.spring.io/spring-framework/reference/data-access/jdbc/connections.html#jdbc-TransactionAwareDataSourceProxy).
 * A host that exposes its pool wrapped so (a {@code @Primary DataSource} bean, for libraries that take a plain
 * {@code DataSource}, as the guide advises) hands the auto-configuration that proxy: it is the single candidate
 * ({@code @ConditionalOnSingleCandidate(DataSource.class)}).
 *
 * <p>The host's transaction is a {@code TransactionTemplate} over that manager (what {@code @Transactional} runs):
 * begin, the callback, commit, or rollback when the callback throws, on the test's own thread (Spring binds the
 * transaction's connection to the thread: {@code TransactionSynchronizationManager}).
 *
 * <p>The rules (docs/storage.md, Concurrency item 7, "Host pools"; docs/semantics.md "Host connection pools"): the
 * store works on the host's pool "unchanged": it takes its connections, sets what it needs and gives each back "with the
 * host's own settings"; a call's charge, once the store reported it, is kept; a host rollback undoes the host's
 * writes, all of them, and nothing of the ledger's, and a host commit keeps both.
 */
abstract class AbstractRound451 {
    protected abstract TestDatabase database();

    /** The host's pool, chat log and user, fresh for each test, and the store on its bean. */
    @RegisterExtension
    final SpringHostTransactions host = SpringHostTransactions.perTest(this::database, "r451");

    /** The DataSource bean the host exposes: its pool, or its pool behind Spring's TransactionAwareDataSourceProxy. */
    DataSource bean(boolean transactionAware) {
        return transactionAware ? new TransactionAwareDataSourceProxy(host.pool()) : host.pool();
    }

    /** What the host does inside its transaction. */
    @FunctionalInterface
    interface Work {
        void run(HostTx tx);
    }

    /** The host's side of the transaction: its JdbcTemplate over the same bean. */
    final class HostTx {
        private final JdbcTemplate jdbcTemplate;

        HostTx(DataSource bean) {
            jdbcTemplate = new JdbcTemplate(bean);
        }

        /** The host's own write in the transaction (a chat log row, an order, an audit entry). */
        void logChat() {
            jdbcTemplate.update(host.insertChatLog());
        }
    }

    /**
     * {@code TransactionTemplate.execute} with a {@code JdbcTransactionManager} on the pool: begin, the work, commit,
     * or rollback when the work throws (Spring's default rollback rule: runtime exceptions). Returns whether it committed.
     */
    boolean inHostTransaction(DataSource bean, boolean readOnly, Work work) {
        TransactionTemplate template = new TransactionTemplate(new JdbcTransactionManager(host.pool()));
        template.setReadOnly(readOnly);
        HostTx tx = new HostTx(bean);
        try {
            template.executeWithoutResult(status -> work.run(tx));
        } catch (HostFailure e) {
            return false;
        }
        return true;
    }

    /** The model call as the host's service makes it: hold 3,000, the model reports 700, commit 700. */
    static void modelCall(QuotaStore store, String user) {
        Reservation hold = store.reserve(user, 3_000, null);
        store.commit(hold, 700);
    }

    /**
     * The host's {@code @Transactional} service: writes its chat log row, makes the model call through the ledger, then
     * a later step fails and Spring rolls the transaction back. Returns [chat log rows after, the user's ledger view].
     */
    String logThenCallThenFail(boolean transactionAware) throws Exception {
        DataSource bean = bean(transactionAware);
        StringBuilder out = new StringBuilder();
        host.withStore(bean, store -> {
            try {
                boolean committed = inHostTransaction(bean, false, tx -> {
                    tx.logChat();
                    modelCall(store, host.user());
                    throw new HostFailure("the step after the model call failed");
                });
                out.append(host.outcome(committed, store));
            } catch (Exception e) {
                throw new AssertionError(e);
            }
        });
        return out.toString();
    }

    static final String ROLLED_BACK_CHARGED = "rolled back, chat log rows 0, ledger [10000, 0, 0, 700, 0]";

    /**
     * Found: on the transaction-aware bean the store's {@code getConnection()} is the host's transaction-bound
     * connection (autocommit off, the chat log row written and uncommitted). {@code StoreConnections.openConnection}
     * switches it to autocommit, which by JDBC's rule ({@code Connection.setAutoCommit}: "If this method is called
     * during a transaction and the auto-commit mode is changed, the transaction is committed") commits the host's
     * transaction half-way, then gives it back with autocommit off. The host's rollback then undoes nothing of what it
     * wrote before the ledger call: its chat log row stays although its {@code @Transactional} method failed.
     */
    @Test
    void aHostRollbackUndoesItsWritesMadeBeforeTheLedgerCallOnATransactionAwareDataSource() throws Exception {
        assertEquals(ROLLED_BACK_CHARGED, logThenCallThenFail(true),
                "host wrote its chat log row, called the ledger (hold 3,000, commit 700), then failed and rolled back");
    }

    /** Control: the same service on Spring Boot's plain pool bean: the store's connection is its own. */
    @Test
    void aHostRollbackUndoesItsWritesMadeBeforeTheLedgerCallOnThePlainPool() throws Exception {
        assertEquals(ROLLED_BACK_CHARGED, logThenCallThenFail(false));
    }

    /**
     * The model call first, then the host's write, then the failure: the charge the store reported must survive the
     * host's rollback (a rollback that undid it would make the model call free), and the host's row must not.
     */
    String callThenLogThenFail(boolean transactionAware, boolean readOnly) throws Exception {
        DataSource bean = bean(transactionAware);
        StringBuilder out = new StringBuilder();
        host.withStore(bean, store -> {
            try {
                boolean committed = inHostTransaction(bean, readOnly, tx -> {
                    modelCall(store, host.user());
                    if (!readOnly) {
                        tx.logChat();
                    }
                    throw new HostFailure("the step after the model call failed");
                });
                out.append(host.outcome(committed, store));
            } catch (Exception e) {
                throw new AssertionError(e);
            }
        });
        return out.toString();
    }

    /** Control: the charge made inside the host's transaction is not undone by its rollback (transaction-aware bean). */
    @Test
    void aChargeMadeInsideAHostTransactionSurvivesItsRollbackOnATransactionAwareDataSource() throws Exception {
        assertEquals(ROLLED_BACK_CHARGED, callThenLogThenFail(true, false));
    }

    /** Control: the same on the plain pool. */
    @Test
    void aChargeMadeInsideAHostTransactionSurvivesItsRollbackOnThePlainPool() throws Exception {
        assertEquals(ROLLED_BACK_CHARGED, callThenLogThenFail(false, false));
    }

    /**
     * Control: inside {@code @Transactional(readOnly = true)} (Spring sets the bound connection read-only:
     * {@code DataSourceUtils.prepareConnectionForTransaction}; pgjdbc then begins {@code READ ONLY}) the call is held and
     * charged on the transaction-aware bean.
     */
    @Test
    void aCallInsideAReadOnlyHostTransactionIsChargedOnATransactionAwareDataSource() throws Exception {
        assertEquals(ROLLED_BACK_CHARGED, callThenLogThenFail(true, true));
    }

    /**
     * Control: the model fails after its hold; the host's service releases the hold in its catch and rethrows, Spring
     * rolls back: no hold is kept, nothing charged, and the host's row is gone.
     */
    @Test
    void aHoldReleasedAfterAFailedCallInsideARolledBackHostTransactionIsGone() throws Exception {
        DataSource bean = bean(true);
        host.withStore(bean, store -> {
            try {
                boolean committed = inHostTransaction(bean, false, tx -> {
                    Reservation hold = store.reserve(host.user(), 3_000, null);
                    try {
                        throw new HostFailure("the model answered 503");
                    } catch (HostFailure e) {
                        store.release(hold);
                        throw e;
                    }
                });
                QuotaAccount a = store.account(host.user());
                assertAll(() -> assertEquals(false, committed),
                        () -> assertEquals(List.of(10_000L, 0L, 0L, 0L, 0L), view(a)));
            } catch (Exception e) {
                throw new AssertionError(e);
            }
        });
    }

    /** Control: the host's transaction commits: its row and the charge are both kept (transaction-aware bean). */
    @Test
    void aCommittedHostTransactionKeepsItsRowAndTheCharge() throws Exception {
        DataSource bean = bean(true);
        host.withStore(bean, store -> {
            try {
                boolean committed = inHostTransaction(bean, false, tx -> {
                    tx.logChat();
                    modelCall(store, host.user());
                });
                assertEquals("committed, chat log rows 1, ledger [10000, 0, 0, 700, 0]",
                        host.outcome(committed, store));
            } catch (Exception e) {
                throw new AssertionError(e);
            }
        });
    }

    /**
     * The host's service holds the call, writes its chat log row, which fails (the row is there already: a retried
     * request) and is caught (a {@code DuplicateKeyException} the service treats as "already logged"), then commits the
     * model's usage, inside one {@code @Transactional} method that then returns normally. On PostgreSQL the failed
     * statement aborts the host's transaction (SQLSTATE 25P02 for what follows: "current transaction is aborted, commands
     * ignored until end of transaction block": https://www.postgresql.org/docs/current/errcodes-appendix.html); the
     * charge must land all the same. Returns the ledger view, or the failure of the commit.
     */
    String holdThenFailedHostWriteThenCommit(boolean transactionAware) throws Exception {
        database().execute(host.insertChatLog());
        DataSource bean = bean(transactionAware);
        StringBuilder out = new StringBuilder();
        host.withStore(bean, store -> {
            try {
                try {
                    inHostTransaction(bean, false, tx -> {
                        Reservation hold = store.reserve(host.user(), 3_000, null);
                        try {
                            tx.logChat();
                        } catch (DuplicateKeyException duplicate) {
                            // already logged
                        }
                        try {
                            store.commit(hold, 700);
                        } catch (RuntimeException e) {
                            out.append("commit failed: ").append(e).append("; ");
                        }
                    });
                } catch (Exception e) {
                    out.append("host transaction failed: ").append(e.getCause() != null ? e.getCause() : e).append("; ");
                }
                out.append("ledger ").append(view(store.account(host.user())));
            } catch (Exception e) {
                throw new AssertionError(e);
            }
        });
        return out.toString();
    }

    /** Control: the commit after a caught failure of the host's own write, on the transaction-aware bean (charged: the store works on a connection of its own, not on the host's aborted transaction). */
    @Test
    void aCallCommittedAfterAFailedHostWriteIsChargedOnATransactionAwareDataSource() throws Exception {
        assertEquals("ledger [10000, 0, 0, 700, 0]", holdThenFailedHostWriteThenCommit(true));
    }

    /** Control: the same on the plain pool. */
    @Test
    void aCallCommittedAfterAFailedHostWriteIsChargedOnThePlainPool() throws Exception {
        assertEquals("ledger [10000, 0, 0, 700, 0]", holdThenFailedHostWriteThenCommit(false));
    }
}
