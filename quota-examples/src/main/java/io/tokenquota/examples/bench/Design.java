package io.tokenquota.examples.bench;

/**
 * One way to keep a token balance, driven by the load runs: our ledger, or a hand-written JDBC
 * design. Implementations are thread-safe.
 */
interface Design {

    String name();

    /** A hold of {@code tokens}, or {@code null} when refused for lack of tokens. */
    Object reserve(String subject, long tokens) throws Exception;

    /** Charges {@code actual} against a hold returned by {@link #reserve}. */
    void commit(Object hold, long actual) throws Exception;

    /** Reserve and charge in one step; false when refused for lack of tokens. */
    boolean consume(String subject, long tokens) throws Exception;

    /** Whether {@link #reserve}/{@link #commit} exist (the naive designs only consume). */
    default boolean supportsHolds() {
        return true;
    }
}
