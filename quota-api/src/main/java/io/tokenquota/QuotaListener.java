package io.tokenquota;

/**
 * Receives every ledger event after its transaction committed, on the calling thread, so hosts can
 * bridge to Micrometer or OpenTelemetry. A listener that throws is logged and ignored: it can never
 * undo or block a balance change. Implementations must be thread-safe and fast.
 */
@FunctionalInterface
public interface QuotaListener {
    void onEvent(LedgerEvent event);
}
