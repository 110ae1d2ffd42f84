package io.tokenquota.servlet;

import io.tokenquota.QuotaAccount;
import io.tokenquota.QuotaPolicy;
import jakarta.servlet.http.HttpServletResponse;
import java.time.Instant;
import java.util.Locale;

/** The {@code X-Quota-*} response headers. Stateless. */
final class QuotaHeaders {
    static final String LIMIT = "X-Quota-Limit";
    static final String REMAINING = "X-Quota-Remaining";
    static final String RESET = "X-Quota-Reset";
    static final String WARNING = "X-Quota-Warning";

    private QuotaHeaders() {
    }

    /** Sets the headers from an account snapshot; the warning once {@code used + reserved} passes the threshold. */
    static void set(HttpServletResponse response, QuotaAccount account, QuotaPolicy policy) {
        String warning = null;
        long limit = account.limit();
        double fraction = limit <= 0 ? 1.0 : (double) (account.used() + account.reserved()) / limit;
        if (fraction >= policy.warningThreshold()) {
            warning = String.format(Locale.ROOT, "%.1f%% of the monthly token quota is used or held",
                    Math.min(fraction, 9.99) * 100);
        }
        set(response, limit, Math.max(0, account.available()), policy.resetOf(account.month()), warning);
    }

    static void set(HttpServletResponse response, long limit, long remaining, Instant reset, String warning) {
        response.setHeader(LIMIT, Long.toString(limit));
        response.setHeader(REMAINING, Long.toString(remaining));
        response.setHeader(RESET, reset.toString());
        if (warning != null) {
            response.setHeader(WARNING, warning);
        }
    }
}
