package io.tokenquota.internal;

import static io.tokenquota.Limits.MAX_DAYS;
import static io.tokenquota.Limits.MAX_ENDPOINT_LENGTH;
import static io.tokenquota.Limits.MAX_ID_LENGTH;
import static io.tokenquota.Limits.MAX_MONEY;
import static io.tokenquota.Limits.MAX_TOKENS;
import static io.tokenquota.Limits.MAX_TOP;
import static io.tokenquota.Limits.MAX_TTL;
import static io.tokenquota.Limits.MIN_TTL;

import io.tokenquota.ErrorCode;
import io.tokenquota.HoldRequest;
import io.tokenquota.QuotaException;
import java.math.BigDecimal;
import java.time.Duration;
import java.time.LocalDate;
import java.time.temporal.ChronoUnit;
import java.util.Objects;

/**
 * The input rules of every store, in one place: each implementation calls these before it touches
 * storage, so bad input fails with a specific {@link ErrorCode} and changes nothing. The bounds are
 * the public {@link io.tokenquota.Limits}. Not API: public only because quota-jdbi and quota-servlet
 * call it. Thread-safe (stateless).
 */
public final class Validation {
    private Validation() {
    }

    /**
     * 1..128 printable characters: no control characters, no unpaired surrogates, not blank; or a
     * team's subject ({@link io.tokenquota.Team#subject}), whose prefix no other subject can have.
     */
    public static String subject(String subject) {
        if (io.tokenquota.Team.isTeam(subject)) {
            String team = io.tokenquota.Team.id(subject);
            try {
                teamId(team);
            } catch (QuotaException e) {
                throw new QuotaException(ErrorCode.INVALID_SUBJECT, "subject names a team with an invalid id");
            }
            return subject;
        }
        return id(subject, "subject", ErrorCode.INVALID_SUBJECT);
    }

    /**
     * A subject that may hold tokens and belong to a team: a user's, never a team's (a team's account
     * is held only through its members' holds, so that it always equals what they hold).
     */
    public static String userSubject(String subject) {
        subject(subject);
        if (io.tokenquota.Team.isTeam(subject)) {
            throw new QuotaException(ErrorCode.INVALID_SUBJECT,
                    "a team's account is held through its members' holds, not directly");
        }
        return subject;
    }

    /** A team id: the rules of a key, at most {@link io.tokenquota.Limits#MAX_TEAM_ID_LENGTH} code points. */
    public static String teamId(String teamId) {
        key(teamId, "team_id");
        if (teamId.codePointCount(0, teamId.length()) > io.tokenquota.Limits.MAX_TEAM_ID_LENGTH) {
            throw new QuotaException(ErrorCode.INVALID_KEY,
                    "team_id is longer than " + io.tokenquota.Limits.MAX_TEAM_ID_LENGTH + " characters");
        }
        return teamId;
    }

    /** A team id that may be {@code null} (a subject leaving its team). */
    public static String optionalTeamId(String teamId) {
        return teamId == null ? null : teamId(teamId);
    }

    /** Same rules as a subject, for idempotency keys and transaction ids. */
    public static String key(String key, String name) {
        return id(key, name, ErrorCode.INVALID_KEY);
    }

    /** Like {@link #key} but {@code null} is allowed (no idempotency requested). */
    public static String optionalKey(String key, String name) {
        return key == null ? null : key(key, name);
    }

    /**
     * The arguments every hold and one-step consume share: subject, a positive token amount, an
     * optional idempotency key and an optional endpoint label. Checked in this order, so the first bad
     * argument names the error.
     */
    public static void holdRequest(String subject, long tokens, String idempotencyKey, String endpoint) {
        userSubject(subject);
        positiveTokens(tokens, "tokens");
        optionalKey(idempotencyKey, "idempotency_key");
        text(endpoint, "endpoint", MAX_ENDPOINT_LENGTH);
    }

    /**
     * The request of a one-step consume: a consume holds nothing, so a TTL on it is a mistake the
     * caller should hear about rather than a setting silently dropped.
     */
    public static HoldRequest consumeRequest(HoldRequest request) {
        Objects.requireNonNull(request, "request");
        if (request.ttl() != null) {
            throw new QuotaException(ErrorCode.INVALID_ARGUMENT, "a consume holds nothing, so it takes no ttl");
        }
        return request;
    }

    /** A hold is taken before the call used anything: a usage on it is a mistake the caller should hear about. */
    public static void holdWithoutUsage(HoldRequest request) {
        if (request.usage() != null) {
            throw new QuotaException(ErrorCode.INVALID_ARGUMENT,
                    "a hold is taken before the call, so it takes no usage (commit or consume with one)");
        }
    }

    /** A token amount that must be positive: a hold, a consume, a credit. */
    public static long positiveTokens(long tokens, String name) {
        if (tokens <= 0 || tokens > MAX_TOKENS) {
            throw new QuotaException(ErrorCode.INVALID_AMOUNT,
                    name + " must be between 1 and " + MAX_TOKENS + ", was " + tokens);
        }
        return tokens;
    }

    /** A token amount that may be zero: the actual usage of a committed request, a plan allocation. */
    public static long nonNegativeTokens(long tokens, String name) {
        if (tokens < 0 || tokens > MAX_TOKENS) {
            throw new QuotaException(ErrorCode.INVALID_AMOUNT,
                    name + " must be between 0 and " + MAX_TOKENS + ", was " + tokens);
        }
        return tokens;
    }

    public static Duration ttl(Duration ttl) {
        if (ttl == null || ttl.compareTo(MIN_TTL) < 0 || ttl.compareTo(MAX_TTL) > 0) {
            throw new QuotaException(ErrorCode.INVALID_ARGUMENT,
                    "hold TTL must be between " + MIN_TTL + " and " + MAX_TTL + ", was " + ttl);
        }
        return ttl;
    }

    /** Non-negative, at most 2 decimal places, at most {@link io.tokenquota.Limits#MAX_MONEY}; {@code null} allowed. */
    public static BigDecimal money(BigDecimal amount) {
        if (amount == null) {
            return null;
        }
        if (amount.signum() < 0 || amount.compareTo(MAX_MONEY) > 0
                || amount.stripTrailingZeros().scale() > 2) {
            throw new QuotaException(ErrorCode.INVALID_MONEY,
                    "amount must be between 0 and " + MAX_MONEY + " with at most 2 decimal places");
        }
        return amount.setScale(2);
    }

    /**
     * Optional free text with a length limit; control characters other than tab and newline, and
     * unpaired UTF-16 surrogates (which no database stores faithfully, so an exact replay could not
     * match), are rejected.
     */
    public static String text(String value, String name, int maxLength) {
        if (value == null) {
            return null;
        }
        if (value.codePointCount(0, value.length()) > maxLength) {
            throw new QuotaException(ErrorCode.INVALID_ARGUMENT, name + " is longer than " + maxLength + " characters");
        }
        for (int i = 0; i < value.length(); i++) {
            char c = value.charAt(i);
            if (Character.isHighSurrogate(c) && i + 1 < value.length() && Character.isLowSurrogate(value.charAt(i + 1))) {
                i++;
            } else if (Character.isSurrogate(c)) {
                throw new QuotaException(ErrorCode.INVALID_ARGUMENT, name + " contains an unpaired surrogate");
            } else if (Character.isISOControl(c) && c != '\t' && c != '\n' && c != '\r') {
                throw new QuotaException(ErrorCode.INVALID_ARGUMENT, name + " contains control characters");
            }
        }
        return value;
    }

    /** Number of months of history asked for: 1..maxMonths. */
    public static int months(int months, int maxMonths) {
        if (months < 1 || months > maxMonths) {
            throw new QuotaException(ErrorCode.INVALID_ARGUMENT,
                    "months must be between 1 and " + maxMonths + ", was " + months);
        }
        return months;
    }

    /** The first and last years of a daily usage range's days: those the ledger's months ('YYYY-MM') name. */
    private static final int MIN_YEAR = 1;
    private static final int MAX_YEAR = 9999;

    /** A day range for daily usage, both ends included; returns how many days it covers (1..{@link io.tokenquota.Limits#MAX_DAYS}), its days in the years 1..9999. */
    public static int dayRange(LocalDate from, LocalDate to) {
        if (from == null || to == null) {
            throw new QuotaException(ErrorCode.INVALID_ARGUMENT, "from and to are required");
        }
        // the days of the years the ledger's months can name ('YYYY-MM'): past them a store could
        // not compute the day after (LocalDate.MAX) or keep the instant (PostgreSQL's timestamptz) (round 349)
        for (LocalDate day : new LocalDate[] {from, to}) {
            if (day.getYear() < MIN_YEAR || day.getYear() > MAX_YEAR) {
                throw new QuotaException(ErrorCode.INVALID_ARGUMENT, "a day must be in the years " + MIN_YEAR
                        + ".." + MAX_YEAR + ", was " + day);
            }
        }
        if (to.isBefore(from)) {
            throw new QuotaException(ErrorCode.INVALID_ARGUMENT, "to " + to + " is before from " + from);
        }
        long days = ChronoUnit.DAYS.between(from, to) + 1;
        if (days > MAX_DAYS) {
            throw new QuotaException(ErrorCode.INVALID_ARGUMENT, "at most " + MAX_DAYS + " days, asked for " + days);
        }
        return (int) days;
    }

    /** How many top consumers to list: 1..{@link io.tokenquota.Limits#MAX_TOP}. */
    public static int topLimit(int limit) {
        if (limit < 1 || limit > MAX_TOP) {
            throw new QuotaException(ErrorCode.INVALID_ARGUMENT, "limit must be between 1 and " + MAX_TOP + ", was " + limit);
        }
        return limit;
    }

    /** A subject filter of the statistics: {@code null} means every subject. */
    public static String optionalSubject(String subject) {
        return subject == null ? null : subject(subject);
    }

    private static String id(String value, String name, ErrorCode code) {
        if (value == null || value.isEmpty()) {
            throw new QuotaException(code, name + " is required");
        }
        int codePoints = 0;
        boolean blank = true;
        for (int i = 0; i < value.length(); i++) {
            char c = value.charAt(i);
            if (Character.isHighSurrogate(c)) {
                if (i + 1 >= value.length() || !Character.isLowSurrogate(value.charAt(i + 1))) {
                    throw new QuotaException(code, name + " contains an unpaired surrogate");
                }
                i++;
                blank = false;
            } else if (Character.isLowSurrogate(c)) {
                throw new QuotaException(code, name + " contains an unpaired surrogate");
            } else if (Character.isISOControl(c) || Character.getType(c) == Character.LINE_SEPARATOR
                    || Character.getType(c) == Character.PARAGRAPH_SEPARATOR) {
                throw new QuotaException(code, name + " contains control characters");
            } else if (!Character.isWhitespace(c)) {
                blank = false;
            }
            codePoints++;
        }
        if (blank) {
            throw new QuotaException(code, name + " is blank");
        }
        if (codePoints > MAX_ID_LENGTH) {
            throw new QuotaException(code, name + " is longer than " + MAX_ID_LENGTH + " characters");
        }
        return value;
    }
}
