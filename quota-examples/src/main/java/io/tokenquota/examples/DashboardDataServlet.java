package io.tokenquota.examples;

import com.fasterxml.jackson.core.JsonFactory;
import com.fasterxml.jackson.core.JsonGenerator;
import io.tokenquota.Currency;
import io.tokenquota.Purchase;
import io.tokenquota.PurchaseStatus;
import io.tokenquota.PurchaseType;
import io.tokenquota.QuotaAccount;
import io.tokenquota.QuotaException;
import io.tokenquota.QuotaPolicy;
import io.tokenquota.QuotaStatistics;
import io.tokenquota.QuotaStatistics.BlockStats;
import io.tokenquota.QuotaStatistics.ConsumerUsage;
import io.tokenquota.QuotaStatistics.DailyUsage;
import io.tokenquota.QuotaStatistics.PurchaseTotal;
import io.tokenquota.QuotaStatistics.UsageForecast;
import io.tokenquota.QuotaStore;
import io.tokenquota.internal.Validation;
import io.tokenquota.servlet.AdminAuthorizer;
import jakarta.servlet.http.HttpServlet;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;

import java.io.IOException;
import java.io.StringWriter;
import java.math.BigDecimal;
import java.time.Duration;
import java.time.Instant;
import java.time.LocalDate;
import java.time.YearMonth;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.Objects;
import java.util.Optional;

/**
 * {@code GET /api/v1/quota-admin/dashboard[?user_id=X]}: everything the dashboard shows for one user,
 * or for all users without {@code user_id}, in one JSON document computed over {@link QuotaStatistics}
 * and the accounts. Admin only: the same {@link AdminAuthorizer} as the quota API's admin endpoints
 * decides (no header: 401, refused: 403). Thread-safe.
 *
 * <p>Reading never creates an account: a user without one this month is reported with
 * {@code "exists": false} and zeros.
 */
final class DashboardDataServlet extends HttpServlet {
    private static final long serialVersionUID = 1L;
    /** Top-consumer rows shown, and the most subjects the all-users gauge adds up. */
    static final int TOP_CONSUMERS = 10;
    static final int MAX_SUBJECTS_SUMMED = 1000;

    private static final JsonFactory JSON = JsonFactory.builder().build();

    private final transient QuotaStore store;
    private final transient AdminAuthorizer admins;

    DashboardDataServlet(QuotaStore store, AdminAuthorizer admins) {
        this.store = Objects.requireNonNull(store, "store");
        this.admins = Objects.requireNonNull(admins, "admins");
    }

    @Override
    protected void doGet(HttpServletRequest req, HttpServletResponse resp) throws IOException {
        if (!admins.allows(req)) {
            if (req.getHeader("Authorization") == null) {
                resp.setHeader("WWW-Authenticate", "Bearer realm=\"token-quota admin\"");
                problem(resp, 401, "unauthenticated", "Unauthorized", "admin credentials are required");
            } else {
                problem(resp, 403, "forbidden", "Forbidden", "these credentials may not read the dashboard");
            }
            return;
        }
        String user = req.getParameter("user_id");
        if (user != null && user.isBlank()) {
            user = null;
        }
        String body;
        try {
            if (user != null) {
                Validation.subject(user);
            }
            body = render(user);
        } catch (QuotaException e) {
            problem(resp, e.code().httpStatus(), e.code().type(), "Bad Request", e.getMessage());
            return;
        }
        resp.setStatus(200);
        resp.setContentType("application/json");
        resp.setCharacterEncoding("UTF-8");
        resp.setHeader("Cache-Control", "no-store");
        resp.getWriter().write(body);
    }

    String render(String user) throws IOException {
        QuotaPolicy policy = store.policy();
        Instant now = policy.now();
        YearMonth month = policy.monthOf(now);
        LocalDate today = policy.dayOf(now);
        Totals totals = user == null ? allUsers(month) : oneUser(user, month);

        StringWriter w = new StringWriter();
        try (JsonGenerator g = JSON.createGenerator(w)) {
            g.writeStartObject();
            g.writeStringField("scope", user == null ? "all" : "user");
            if (user == null) {
                g.writeNullField("user_id");
            } else {
                g.writeStringField("user_id", user);
            }
            g.writeStringField("month", month.toString());
            g.writeStringField("generated_at", now.toString());
            g.writeBooleanField("exists", totals.exists);
            g.writeNumberField("subjects", totals.subjects);

            g.writeObjectFieldStart("quota");
            g.writeNumberField("allocated", totals.allocated);
            g.writeNumberField("purchased", totals.granted);
            g.writeNumberField("carried", totals.carried);
            g.writeNumberField("limit", totals.limit());
            g.writeNumberField("used", totals.used);
            g.writeNumberField("reserved", totals.reserved);
            g.writeNumberField("remaining", totals.remaining);
            g.writeNumberField("usage_percentage", round2(totals.limit() <= 0 ? 0 : totals.used * 100.0 / totals.limit()));
            g.writeEndObject();

            g.writeArrayFieldStart("daily_usage");
            for (DailyUsage d : store.dailyUsage(user, month.atDay(1), today)) {
                g.writeStartObject();
                g.writeStringField("day", d.day().toString());
                g.writeNumberField("used", d.used());
                g.writeNumberField("requests", d.requests());
                g.writeNumberField("rejected", d.rejected());
                g.writeEndObject();
            }
            g.writeEndArray();

            BlockStats blocks = store.blockStats(user, month);
            g.writeObjectFieldStart("blocks");
            g.writeNumberField("granted", blocks.granted());
            g.writeNumberField("rejected", blocks.rejected());
            g.writeNumberField("ratio", blocks.ratio());
            g.writeEndObject();

            Forecast f = user != null && totals.exists ? Forecast.of(store.forecast(user)) : Forecast.of(totals, policy, now, month);
            g.writeObjectFieldStart("forecast");
            g.writeNumberField("tokens_per_day", round2(f.tokensPerDay));
            if (f.exhaustion == null) {
                g.writeNullField("projected_exhaustion");
            } else {
                g.writeStringField("projected_exhaustion", f.exhaustion.toString());
            }
            g.writeStringField("reset_at", policy.resetOf(month).toString());
            g.writeEndObject();

            g.writeArrayFieldStart("top_consumers");
            for (ConsumerUsage c : store.topConsumers(month, TOP_CONSUMERS)) {
                g.writeStartObject();
                g.writeStringField("user_id", c.subject());
                g.writeNumberField("used", c.used());
                g.writeNumberField("limit", c.limit());
                g.writeEndObject();
            }
            g.writeEndArray();

            // charges of the month by the model that answered: raw counts beside the weighted charge
            g.writeArrayFieldStart("models");
            for (QuotaStatistics.ModelUsage m : store.modelUsage(user, month)) {
                g.writeStartObject();
                if (m.model() == null) {
                    g.writeNullField("model");
                } else {
                    g.writeStringField("model", m.model());
                }
                g.writeNumberField("calls", m.calls());
                g.writeNumberField("input_tokens", m.input());
                g.writeNumberField("cached_input_tokens", m.cachedInput());
                g.writeNumberField("output_tokens", m.output());
                g.writeNumberField("reasoning_tokens", m.reasoning());
                g.writeNumberField("charged", m.charged());
                g.writeEndObject();
            }
            g.writeEndArray();

            g.writeArrayFieldStart("purchases");
            for (PurchaseTotal p : purchaseTotals(user, month)) {
                g.writeStartObject();
                g.writeStringField("type", p.type().wireName());
                g.writeStringField("currency", p.currency().name());
                g.writeNumberField("count", p.count());
                g.writeNumberField("tokens", p.tokens());
                g.writeStringField("amount", p.amount().toPlainString());
                g.writeEndObject();
            }
            g.writeEndArray();
            g.writeEndObject();
        }
        return w.toString();
    }

    /**
     * All users: the store's totals. One user: the same grouping over that user's completed and
     * refunded purchases of the month (those credited: one refunded before its completion is left out).
     */
    private List<PurchaseTotal> purchaseTotals(String user, YearMonth month) {
        if (user == null) {
            return store.purchaseTotals(month);
        }
        Map<List<Object>, PurchaseTotal> groups = new TreeMap<>(
                java.util.Comparator.comparing((List<Object> k) -> (PurchaseType) k.get(0))
                        .thenComparing(k -> (Currency) k.get(1)));
        for (Purchase p : store.purchases(user, month)) {
            if (p.status() != PurchaseStatus.COMPLETED && p.status() != PurchaseStatus.REFUNDED || p.month() == null) {
                // a purchase refunded before it was ever credited (round 340) has no month: the store's totals
                // leave it out too
                continue;
            }
            BigDecimal amount = p.amount() == null ? BigDecimal.ZERO.setScale(2) : p.amount();
            groups.merge(List.of(p.type(), p.currency()),
                    new PurchaseTotal(p.type(), p.currency(), 1, p.tokens(), amount),
                    (a, b) -> new PurchaseTotal(a.type(), a.currency(), a.count() + 1, a.tokens() + b.tokens(),
                            a.amount().add(b.amount())));
        }
        return List.copyOf(groups.values());
    }

    private Totals oneUser(String user, YearMonth month) {
        Optional<QuotaAccount> account = store.account(user, month);
        Totals t = new Totals();
        account.ifPresent(t::add);
        return t;
    }

    /** Sums the accounts of the month's consumers (the statistics interface ranks them; the store holds them). */
    private Totals allUsers(YearMonth month) {
        Totals t = new Totals();
        List<ConsumerUsage> consumers = store.topConsumers(month, MAX_SUBJECTS_SUMMED);
        for (ConsumerUsage c : consumers) {
            store.account(c.subject(), month).ifPresent(t::add);
        }
        return t;
    }

    private static double round2(double v) {
        return Math.round(v * 100.0) / 100.0;
    }

    private static void problem(HttpServletResponse resp, int status, String type, String title, String detail)
            throws IOException {
        resp.setStatus(status);
        resp.setContentType("application/problem+json");
        resp.setCharacterEncoding("UTF-8");
        try (JsonGenerator g = JSON.createGenerator(resp.getWriter())) {
            g.writeStartObject();
            g.writeStringField("type", QuotaWiring.PROBLEM_BASE + type);
            g.writeStringField("title", title);
            g.writeNumberField("status", status);
            g.writeStringField("detail", detail);
            g.writeEndObject();
        }
    }

    private static final class Totals {
        boolean exists;
        long subjects;
        long allocated;
        long granted;
        long carried;
        long used;
        long reserved;
        /** {@code max(0, available)} per account, as the quota API reports it; an overrun does not hide another user's tokens. */
        long remaining;

        void add(QuotaAccount a) {
            exists = true;
            subjects++;
            allocated += a.allocated();
            granted += a.granted();
            carried += a.carried();
            used += a.used();
            reserved += a.reserved();
            remaining += Math.max(0, a.available());
        }

        long limit() {
            return allocated + granted + carried;
        }

    }

    private record Forecast(double tokensPerDay, Instant exhaustion) {
        static Forecast of(UsageForecast f) {
            return new Forecast(f.tokensPerDay(), f.projectedExhaustion());
        }

        /** The same rule as the store's per-user forecast, applied to the sum of all accounts. */
        static Forecast of(Totals t, QuotaPolicy policy, Instant now, YearMonth month) {
            Duration elapsed = Duration.between(policy.startOf(month), now);
            double days = Math.max(elapsed.toMillis(), Duration.ofHours(1).toMillis()) / 86_400_000.0;
            double perDay = t.used / days;
            if (!t.exists) {
                return new Forecast(0, null);
            }
            if (t.remaining <= 0) {
                return new Forecast(perDay, now);
            }
            if (perDay == 0) {
                return new Forecast(0, null);
            }
            Instant at = now.plusMillis((long) (t.remaining / perDay * 86_400_000.0));
            return new Forecast(perDay, at.isBefore(policy.resetOf(month)) ? at : null);
        }
    }
}
