package io.tokenquota;

import java.math.BigDecimal;
import java.time.Duration;

/**
 * The bounds every store enforces on its input, for callers that want to check or clamp before
 * they call. A value outside them is refused with the {@link ErrorCode} each constant names, and
 * the refused call changes nothing. Constants only; thread-safe.
 */
public final class Limits {
    /**
     * Longest subject id, idempotency key, transaction id or reservation id, in code points
     * ({@link ErrorCode#INVALID_SUBJECT}, {@link ErrorCode#INVALID_KEY}).
     */
    public static final int MAX_ID_LENGTH = 128;
    /**
     * Longest team id, in code points ({@link ErrorCode#INVALID_KEY}): a team's account is kept under
     * {@link Team#subject}, which must itself fit {@link #MAX_ID_LENGTH}.
     */
    public static final int MAX_TEAM_ID_LENGTH = 120;
    /**
     * Largest token amount accepted in one call, 10^15 ({@link ErrorCode#INVALID_AMOUNT}). Far above
     * any real request, and small enough that sums of many such amounts cannot overflow a 64-bit counter.
     */
    public static final long MAX_TOKENS = 1_000_000_000_000_000L;
    /** Largest money amount of a purchase, which fits DECIMAL(14,2) ({@link ErrorCode#INVALID_MONEY}). */
    public static final BigDecimal MAX_MONEY = new BigDecimal("999999999999.99");
    /** Longest free-text reason of a purchase, in code points ({@link ErrorCode#INVALID_ARGUMENT}). */
    public static final int MAX_REASON_LENGTH = 500;
    /** Longest payment method name, in code points ({@link ErrorCode#INVALID_ARGUMENT}). */
    public static final int MAX_PAYMENT_METHOD_LENGTH = 50;
    /** Longest endpoint label stored on an event, in code points ({@link ErrorCode#INVALID_ARGUMENT}). */
    public static final int MAX_ENDPOINT_LENGTH = 256;
    /** Longest model name kept on an event ({@link TokenUsage#model()}), in code points ({@link ErrorCode#INVALID_ARGUMENT}). */
    public static final int MAX_MODEL_LENGTH = 256;
    /** Shortest hold TTL ({@link ErrorCode#INVALID_ARGUMENT}). */
    public static final Duration MIN_TTL = Duration.ofSeconds(1);
    /** Longest hold TTL ({@link ErrorCode#INVALID_ARGUMENT}). */
    public static final Duration MAX_TTL = Duration.ofDays(31);
    /** Most days one daily-usage query may cover ({@link ErrorCode#INVALID_ARGUMENT}). */
    public static final int MAX_DAYS = 366;
    /** Most rows one top-consumers query may return ({@link ErrorCode#INVALID_ARGUMENT}). */
    public static final int MAX_TOP = 1000;
    /** Largest {@link QuotaPolicy#historyMonths()} a policy may be built with. */
    public static final int MAX_HISTORY_MONTHS = 120;

    private Limits() {
    }
}
