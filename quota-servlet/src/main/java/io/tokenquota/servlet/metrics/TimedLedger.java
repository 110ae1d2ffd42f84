package io.tokenquota.servlet.metrics;

import io.tokenquota.HoldRequest;
import io.tokenquota.QuotaAccount;
import io.tokenquota.QuotaLedger;
import io.tokenquota.QuotaPolicy;
import io.tokenquota.Reservation;
import io.tokenquota.Reserved;
import java.time.Duration;
import java.time.YearMonth;
import java.util.List;
import java.util.Optional;

/** A {@link QuotaLedger} that times every call through {@link QuotaMetrics}. Thread-safe if the ledger is. */
final class TimedLedger implements QuotaLedger {
    private final QuotaLedger ledger;
    private final QuotaMetrics metrics;

    TimedLedger(QuotaLedger ledger, QuotaMetrics metrics) {
        this.ledger = ledger;
        this.metrics = metrics;
    }

    /** The timed ledger's: a timed view changes the accounts of the ledger it times (round 398). */
    @Override
    public QuotaLedger underlying() {
        return ledger.underlying();
    }

    @Override
    public Reserved reserve(HoldRequest request) {
        return metrics.time("reserve", () -> ledger.reserve(request));
    }

    @Override
    public Reservation commit(String reservationId, long actualTokens) {
        return metrics.time("commit", () -> ledger.commit(reservationId, actualTokens));
    }

    @Override
    public Reservation commit(String reservationId, long actualTokens, io.tokenquota.TokenUsage usage) {
        // forwarded whole: the interface's default would drop the usage
        return metrics.time("commit", () -> ledger.commit(reservationId, actualTokens, usage));
    }

    @Override
    public Reservation release(String reservationId) {
        return metrics.time("release", () -> ledger.release(reservationId));
    }

    @Override
    public Reservation consume(HoldRequest request) {
        return metrics.time("consume", () -> ledger.consume(request));
    }

    @Override
    public Reservation extend(String reservationId, Duration ttl) {
        return metrics.time("extend", () -> ledger.extend(reservationId, ttl));
    }

    @Override
    public int expireStale() {
        return metrics.time("expireStale", ledger::expireStale);
    }

    @Override
    public Optional<Reservation> reservation(String reservationId) {
        return metrics.time("reservation", () -> ledger.reservation(reservationId));
    }

    @Override
    public QuotaAccount account(String subject) {
        return metrics.time("account", () -> ledger.account(subject));
    }

    @Override
    public Optional<QuotaAccount> account(String subject, YearMonth month) {
        return metrics.time("account", () -> ledger.account(subject, month));
    }

    @Override
    public List<QuotaAccount> history(String subject, int months) {
        return metrics.time("history", () -> ledger.history(subject, months));
    }

    @Override
    public QuotaAccount setPlan(String subject, long monthlyAllocation) {
        return metrics.time("setPlan", () -> ledger.setPlan(subject, monthlyAllocation));
    }

    @Override
    public QuotaPolicy policy() {
        return ledger.policy();
    }

    @Override
    public void setTeam(String subject, String teamId) {
        metrics.time("setTeam", () -> {
            ledger.setTeam(subject, teamId);
            return null;
        });
    }

    @Override
    public Optional<String> team(String subject) {
        return metrics.time("team", () -> ledger.team(subject));
    }
}
