package io.tokenquota;

import java.util.Objects;

/**
 * The one exception type of the library: every failure carries an {@link ErrorCode}.
 * Thrown before any storage is touched for bad input, so a failed call leaves the ledger unchanged.
 */
public class QuotaException extends RuntimeException {
    private static final long serialVersionUID = 1L;

    private final ErrorCode code;

    public QuotaException(ErrorCode code, String message) {
        super(message);
        this.code = Objects.requireNonNull(code, "code");
    }

    public QuotaException(ErrorCode code, String message, Throwable cause) {
        super(message, cause);
        this.code = Objects.requireNonNull(code, "code");
    }

    public ErrorCode code() {
        return code;
    }
}
