package io.tokenquota;

/**
 * Everything one storage backend provides: the ledger, the purchase recorder and the statistics,
 * over the same accounts. {@code InMemoryQuotaStore} and the JDBI store implement it. Thread-safe.
 */
public interface QuotaStore extends QuotaLedger, PurchaseRecorder, QuotaStatistics {

    /** Adds a listener that receives every event after it is committed. */
    void addListener(QuotaListener listener);

    /**
     * The event log of one account, oldest first (for audits and tests).
     */
    java.util.List<LedgerEvent> events(String subject, java.time.YearMonth month);
}
