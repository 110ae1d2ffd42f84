package io.tokenquota.servlet;

import io.tokenquota.QuotaAccount;
import io.tokenquota.QuotaPolicy;
import jakarta.servlet.http.HttpServletResponse;
import java.time.Duration;
import java.time.Instant;
import java.time.YearMonth;
import java.util.Locale;

/**
 * The {@code X-Quota-*} response headers, and the same numbers as the IETF {@code RateLimit-Policy}
 * and {@code RateLimit} fields (draft-ietf-httpapi-ratelimit-headers-10), which generic HTTP clients
 * and gateways read: one policy named {@value #POLICY} whose quota {@code q} is the month's limit in
 * the unit {@code qu="tokens"} over a window {@code w} of the month's length in seconds, and the
 * remaining {@code r} with {@code t} seconds until the month resets. Stateless.
 */
final class QuotaHeaders {
    static final String LIMIT = "X-Quota-Limit";
    static final String REMAINING = "X-Quota-Remaining";
    static final String RESET = "X-Quota-Reset";
    static final String WARNING = "X-Quota-Warning";
    static final String RATELIMIT_POLICY = "RateLimit-Policy";
    static final String RATELIMIT = "RateLimit";
    static final String POLICY = "monthly-tokens";

    private QuotaHeaders() {
    }

    /** Sets the headers from an account snapshot; the warning once {@code used + reserved} passes the threshold. */
    static void set(HttpServletResponse response, QuotaAccount account, QuotaPolicy policy) {
        set(response, account, Math.max(0, account.available()), policy);
    }

    /**
     * Sets the headers from an account snapshot with {@code remaining} for what it has left: a served call's
     * remaining counts what the subject's unlanded calls owe beyond their holds, which the account does not.
     */
    static void set(HttpServletResponse response, QuotaAccount account, long remaining, QuotaPolicy policy) {
        String warning = null;
        long limit = account.limit();
        double fraction = limit <= 0 ? 1.0 : (double) (account.used() + account.reserved()) / limit;
        if (fraction >= policy.warningThreshold()) {
            warning = String.format(Locale.ROOT, "%.1f%% of the monthly token quota is used or held",
                    Math.min(fraction, 9.99) * 100);
        }
        set(response, limit, remaining, account.month(), policy, warning);
    }

    static void set(HttpServletResponse response, long limit, long remaining, YearMonth month, QuotaPolicy policy,
                    String warning) {
        MonthFields fields = MonthFields.of(policy, month);
        response.setHeader(LIMIT, Long.toString(limit));
        response.setHeader(REMAINING, Long.toString(remaining));
        response.setHeader(RESET, fields.resetText());
        if (warning != null) {
            response.setHeader(WARNING, warning);
        }
        long untilReset = Math.max(0, (Duration.between(policy.now(), fields.reset()).toMillis() + 999) / 1000);
        response.setHeader(RATELIMIT_POLICY, "\"" + POLICY + "\";q=" + limit + ";qu=\"tokens\";w=" + fields.window());
        response.setHeader(RATELIMIT, "\"" + POLICY + "\";r=" + remaining + ";t=" + untilReset);
    }

    /**
     * A month's fixed header parts, worked out (time zone rules, ISO formatting) once rather than on
     * every response: nearly all responses fall in the same month of the same policy.
     *
     * @param window the month's length in seconds
     */
    private record MonthFields(QuotaPolicy policy, YearMonth month, Instant reset, String resetText, long window) {
        private static volatile MonthFields last;

        static MonthFields of(QuotaPolicy policy, YearMonth month) {
            MonthFields p = last;
            if (p == null || p.policy != policy || !p.month.equals(month)) {
                Instant reset = policy.resetOf(month);
                p = new MonthFields(policy, month, reset, reset.toString(),
                        Duration.between(policy.startOf(month), reset).getSeconds());
                last = p;
            }
            return p;
        }
    }
}
