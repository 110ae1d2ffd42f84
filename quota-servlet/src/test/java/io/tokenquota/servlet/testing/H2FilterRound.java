package io.tokenquota.servlet.testing;

import io.tokenquota.QuotaAccount;
import io.tokenquota.QuotaPolicy;
import io.tokenquota.jdbi.JdbiQuotaStore;
import io.tokenquota.jdbi.testing.TestDatabase;
import io.tokenquota.jdbi.testing.TestDatabases;
import io.tokenquota.servlet.QuotaFilter;
import io.tokenquota.servlet.SubjectResolver;
import java.time.YearMonth;
import java.time.ZoneOffset;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.TestInstance;

/**
 * What the later break-it rounds share: a {@link JdbiQuotaStore} on H2 with a 20,000-token monthly
 * allowance, a {@link QuotaFilter} protecting {@code /ai/} whose subject is the trusted
 * {@code x-user-id} header from loopback, and one container of {@link #kind()} running the round's
 * {@link #deploy} (which places the filter among the round's own servlets and filters). One instance
 * per test class.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
public abstract class H2FilterRound {
    protected static final long ALLOWANCE = 20_000;

    protected final QuotaPolicy policy = QuotaPolicy.builder().defaultAllocation(ALLOWANCE).build();
    protected TestDatabase db;
    protected JdbiQuotaStore store;
    protected QuotaFilter filter;
    protected EmbeddedContainer container;

    protected abstract ContainerKind kind();

    /** The round's deployment, with {@code filter} registered where the round wants it. */
    protected abstract Deployment deploy(QuotaFilter filter);

    @BeforeAll
    void start() {
        db = TestDatabases.h2();
        store = JdbiQuotaStore.builder().dataSource(db.dataSource()).policy(policy).installSchema(true).build();
        filter = filterFor("/ai/").build();
        container = kind().start(deploy(filter));
    }

    /**
     * A builder for another filter on this round's store protecting {@code prefix}, its subject the
     * trusted {@code x-user-id} header from loopback as for {@link #filter}; the round adds what differs.
     */
    protected QuotaFilter.Builder filterFor(String prefix) {
        return filterFor(store, prefix);
    }

    /** As {@link #filterFor(String)}, on {@code ledger} (this round's store as a failing round sees it). */
    protected QuotaFilter.Builder filterFor(io.tokenquota.QuotaLedger ledger, String prefix) {
        return QuotaFilter.builder(ledger).protect(prefix)
                .subjectResolver(SubjectResolver.trustedHeader("x-user-id", "127.0.0.1", "::1"));
    }

    @AfterAll
    void stop() {
        if (container != null) container.close();
        if (store != null) store.close();
        if (db != null) db.close();
    }

    /** The subject's account once every hold is settled. */
    protected QuotaAccount settled(String subject) {
        return Ledgers.settled(store, subject);
    }

    /** The subject's account once nothing is held and at least {@code used} is charged (bounded: 15 s). */
    protected QuotaAccount chargedAtLeast(String subject, long used) throws InterruptedException {
        return Ledgers.chargedAtLeast(store, subject, used);
    }

    /** Until the subject holds nothing or {@code seconds} passed: {@link Ledgers#settledWithin}. */
    protected boolean settledWithin(String subject, int seconds) throws InterruptedException {
        return Ledgers.settledWithin(store, subject, seconds);
    }

    /** The subject's events of this month, for failure messages. */
    protected String ledger(String subject) {
        return Ledgers.events(store, subject, YearMonth.now(ZoneOffset.UTC)).toString();
    }
}
