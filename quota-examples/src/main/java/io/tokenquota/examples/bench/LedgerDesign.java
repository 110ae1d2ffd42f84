package io.tokenquota.examples.bench;

import io.tokenquota.QuotaExceededException;
import io.tokenquota.QuotaLedger;
import io.tokenquota.Reservation;

/** Our ledger, called as a user calls it: no idempotency key, the policy's TTL. Thread-safe. */
final class LedgerDesign implements Design {
    private final String name;
    private final QuotaLedger ledger;

    LedgerDesign(String name, QuotaLedger ledger) {
        this.name = name;
        this.ledger = ledger;
    }

    @Override
    public String name() {
        return name;
    }

    @Override
    public Object reserve(String subject, long tokens) {
        try {
            return ledger.reserve(subject, tokens, null);
        } catch (QuotaExceededException e) {
            return null;
        }
    }

    @Override
    public void commit(Object hold, long actual) {
        ledger.commit((Reservation) hold, actual);
    }

    @Override
    public boolean consume(String subject, long tokens) {
        try {
            ledger.consume(subject, tokens, null);
            return true;
        } catch (QuotaExceededException e) {
            return false;
        }
    }
}
