package io.tokenquota.servlet.testing;

import io.tokenquota.HoldRequest;
import io.tokenquota.QuotaAccount;
import io.tokenquota.QuotaLedger;
import io.tokenquota.QuotaPolicy;
import io.tokenquota.Reservation;
import io.tokenquota.Reserved;
import io.tokenquota.TokenUsage;
import java.time.Duration;
import java.time.YearMonth;
import java.util.List;
import java.util.Optional;

/**
 * A round's store as a service's ledger in trouble shows it: every call goes through to the store, but a
 * commit, release or extension first runs the round's hook for it, which may throw (a connection timeout,
 * a failover, an outage) or wait (a row lock another transaction holds). A round overrides the hooks it
 * arms; the others do nothing.
 */
public class FailingLedger implements QuotaLedger {
    private final QuotaLedger store;

    public FailingLedger(QuotaLedger store) {
        this.store = store;
    }

    /**
     * A store whose commits first run {@code hook} with the subject of the hold being committed ("?" for a
     * hold it does not know): the hook throws to fail the commit, or waits to slow it.
     */
    public static FailingLedger onCommit(QuotaLedger store, java.util.function.Consumer<String> hook) {
        return new FailingLedger(store) {
            @Override
            protected void beforeCommit(String reservationId) {
                hook.accept(store.reservation(reservationId).map(Reservation::subject).orElse("?"));
            }
        };
    }

    /** Runs before each commit of the hold {@code reservationId}; throws to fail it. */
    protected void beforeCommit(String reservationId) {
    }

    /** Runs before each release of the hold {@code reservationId}; throws to fail it. */
    protected void beforeRelease(String reservationId) {
    }

    /** Runs before each extension of the hold {@code reservationId}; throws to fail it. */
    protected void beforeExtend(String reservationId) {
    }

    @Override public Reserved reserve(HoldRequest request) { return store.reserve(request); }
    @Override public Reservation commit(String id, long actual) { beforeCommit(id); return store.commit(id, actual); }
    @Override public Reservation commit(String id, long actual, TokenUsage usage) {
        beforeCommit(id);
        return store.commit(id, actual, usage);
    }
    @Override public Reservation release(String id) { beforeRelease(id); return store.release(id); }
    @Override public Reservation consume(HoldRequest request) { return store.consume(request); }
    @Override public Reservation extend(String id, Duration ttl) { beforeExtend(id); return store.extend(id, ttl); }
    @Override public int expireStale() { return store.expireStale(); }
    @Override public Optional<Reservation> reservation(String id) { return store.reservation(id); }
    @Override public QuotaAccount account(String subject) { return store.account(subject); }
    @Override public Optional<QuotaAccount> account(String subject, YearMonth month) { return store.account(subject, month); }
    @Override public List<QuotaAccount> history(String subject, int months) { return store.history(subject, months); }
    @Override public QuotaAccount setPlan(String subject, long allocation) { return store.setPlan(subject, allocation); }
    @Override public void setTeam(String subject, String teamId) { store.setTeam(subject, teamId); }
    @Override public Optional<String> team(String subject) { return store.team(subject); }
    @Override public QuotaPolicy policy() { return store.policy(); }
}
