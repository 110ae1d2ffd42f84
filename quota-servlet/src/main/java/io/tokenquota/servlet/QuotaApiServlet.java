package io.tokenquota.servlet;

import io.tokenquota.Currency;
import io.tokenquota.ErrorCode;
import io.tokenquota.Purchase;
import io.tokenquota.PurchaseRequest;
import io.tokenquota.PurchaseStatus;
import io.tokenquota.PurchaseType;
import io.tokenquota.QuotaAccount;
import io.tokenquota.QuotaException;
import io.tokenquota.QuotaStatistics;
import io.tokenquota.QuotaStore;
import io.tokenquota.Team;
import io.tokenquota.internal.Validation;
import jakarta.servlet.http.HttpServlet;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.security.InvalidKeyException;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.time.LocalDate;
import java.time.YearMonth;
import java.time.format.DateTimeParseException;
import java.util.HexFormat;
import java.util.List;
import java.util.Objects;
import java.util.Set;
import java.util.UUID;
import javax.crypto.Mac;
import javax.crypto.spec.SecretKeySpec;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The quota HTTP API, mounted under a prefix such as {@code /api/v1/user-quota/*}. JSON in snake_case
 * with the original Python/FastAPI service's field names; every error is {@code application/problem+json} with a stable
 * {@code type} and no stack trace.
 *
 * <table>
 *   <caption>Endpoints (relative to the mount prefix)</caption>
 *   <tr><td>GET /quota</td><td>the resolved subject's current month</td></tr>
 *   <tr><td>GET /usage-history?months=N</td><td>1..24 months (default 3), newest first, with a summary</td></tr>
 *   <tr><td>GET /daily-usage?days=N</td><td>1..366 days (default 30) ending today</td></tr>
 *   <tr><td>GET /forecast</td><td>pace and projected exhaustion</td></tr>
 *   <tr><td>POST /add-tokens</td><td>admin: grant tokens (bonus by default)</td></tr>
 *   <tr><td>POST /payment-callback</td><td>HMAC-signed payment events, idempotent on transaction_id</td></tr>
 *   <tr><td>PUT /users/{user_id}/plan</td><td>admin: set the monthly allocation</td></tr>
 *   <tr><td>GET /admin/overview?month=yyyy-MM</td><td>admin: top consumers, blocks, purchases, daily usage</td></tr>
 *   <tr><td>GET /admin/users/{user_id}/quota</td><td>admin: any subject's current month</td></tr>
 * </table>
 *
 * <p>Request bodies (POST and PUT) must be labelled {@code application/json} or a {@code +json} type,
 * else 415 unsupported-media-type (round 340: a cross-site {@code text/plain} form needs no CORS preflight).
 * They are read strictly (at most 64 KiB): malformed JSON, duplicate keys, wrong types
 * and integers beyond 64 bits get 400 before the ledger is touched. Unknown fields are refused on the
 * admin endpoints and ignored on the payment callback (payment systems add fields; the signature
 * covers them). Immutable and thread-safe.
 */
public final class QuotaApiServlet extends HttpServlet {
    private static final long serialVersionUID = 1L;
    private static final Logger LOG = LoggerFactory.getLogger(QuotaApiServlet.class);

    static final int MAX_BODY_BYTES = 64 * 1024;
    static final int MAX_HISTORY_MONTHS = 24;
    static final String SIGNATURE_HEADER = "X-Signature";
    private static final java.util.regex.Pattern ASCII_DIGITS = java.util.regex.Pattern.compile("[0-9]+");
    private static final Set<String> ADD_TOKENS_FIELDS =
            Set.of("user_id", "token_amount", "purchase_type", "reason", "idempotency_key");
    private static final Set<String> PLAN_FIELDS = Set.of("monthly_allocation");
    private static final Set<String> TEAM_FIELDS = Set.of("team_id");

    private final transient QuotaStore store;
    private final transient SubjectResolver subjects;
    private final transient AdminAuthorizer admins;
    private final transient SecretKeySpec paymentKey;

    private QuotaApiServlet(Builder b) {
        this.store = b.store;
        this.subjects = b.subjects;
        this.admins = b.admins;
        this.paymentKey = b.paymentSecret == null ? null : new SecretKeySpec(b.paymentSecret, "HmacSHA256");
    }

    public static Builder builder(QuotaStore store) {
        return new Builder(store);
    }

    @Override
    protected void service(HttpServletRequest request, HttpServletResponse response) throws IOException {
        String path = request.getPathInfo() == null ? "/" : request.getPathInfo();
        String method = request.getMethod();
        try {
            route(method, path, request, response);
        } catch (QuotaException e) {
            Problems.send(response, e);
        } catch (JsonRequest.MalformedJson e) {
            Problems.send(response, 400, Problems.MALFORMED_JSON, e.getMessage());
        } catch (ApiError e) {
            if (e.header != null && !response.isCommitted()) {
                response.setHeader(e.header, e.headerValue);
            }
            if (e.status == 413) {
                Problems.bodyTooLarge(request, response, MAX_BODY_BYTES);
            } else {
                Problems.send(response, e.status, e.slug, e.getMessage());
            }
        } catch (RuntimeException e) {
            LOG.error("quota API {} {} failed", method, path, e);
            Problems.send(response, 500, Problems.INTERNAL_ERROR, "the request could not be processed");
        }
    }

    private void route(String method, String path, HttpServletRequest request, HttpServletResponse response)
            throws IOException, JsonRequest.MalformedJson {
        switch (path) {
            case "/quota" -> {
                allow(method, "GET");
                String subject = subject(request);
                QuotaAccount account = store.account(subject);
                QuotaAccount team = store.team(subject).map(id -> store.account(Team.subject(id))).orElse(null);
                Json.send(response, 200, Json.JSON, g -> Json.quota(g, account, team));
            }
            case "/usage-history" -> {
                allow(method, "GET");
                usageHistory(request, response);
            }
            case "/daily-usage" -> {
                allow(method, "GET");
                dailyUsage(request, response);
            }
            case "/forecast" -> {
                allow(method, "GET");
                forecast(request, response);
            }
            case "/add-tokens" -> {
                allow(method, "POST");
                requireAdmin(request);
                addTokens(request, response);
            }
            case "/payment-callback" -> {
                allow(method, "POST");
                paymentCallback(request, response);
            }
            case "/admin/overview" -> {
                allow(method, "GET");
                requireAdmin(request);
                overview(request, response);
            }
            default -> {
                String user = between(path, "/users/", "/plan");
                String team = between(path, "/teams/", "/plan");
                if (user != null || team != null) {
                    allow(method, "PUT");
                    requireAdmin(request);
                    JsonRequest body = JsonRequest.parse(readBody(request)).onlyFields(PLAN_FIELDS);
                    long allocation = body.requiredLong("monthly_allocation", ErrorCode.INVALID_AMOUNT);
                    quota(response, store.setPlan(user != null ? Validation.userSubject(user) : Team.subject(team), allocation));
                    return;
                }
                user = between(path, "/users/", "/team");
                if (user != null) {
                    allow(method, "PUT");
                    requireAdmin(request);
                    JsonRequest body = JsonRequest.parse(readBody(request)).onlyFields(TEAM_FIELDS);
                    if (!body.has("team_id")) {
                        throw new QuotaException(ErrorCode.INVALID_ARGUMENT, "team_id is required (null leaves the team)");
                    }
                    String teamId = body.optionalString("team_id", ErrorCode.INVALID_KEY);
                    String member = Validation.userSubject(user);
                    store.setTeam(member, teamId);
                    Json.send(response, 200, Json.JSON, g -> {
                        g.writeStartObject();
                        g.writeStringField("user_id", member);
                        if (teamId == null) {
                            g.writeNullField("team_id");
                        } else {
                            g.writeStringField("team_id", teamId);
                        }
                        g.writeEndObject();
                    });
                    return;
                }
                team = between(path, "/admin/teams/", "/quota");
                if (team != null) {
                    allow(method, "GET");
                    requireAdmin(request);
                    quota(response, store.account(Team.subject(team)));
                    return;
                }
                user = between(path, "/admin/users/", "/quota");
                if (user != null) {
                    allow(method, "GET");
                    requireAdmin(request);
                    quota(response, store.account(Validation.userSubject(user)));
                    return;
                }
                throw new ApiError(404, Problems.NOT_FOUND, "no quota API endpoint at " + clip(path));
            }
        }
    }

    private void usageHistory(HttpServletRequest request, HttpServletResponse response) throws IOException {
        int months = intParameter(request, "months", 3, 1, MAX_HISTORY_MONTHS);
        String subject = subject(request);
        List<QuotaAccount> history = store.history(subject, months);
        long allocated = 0;
        long used = 0;
        long purchased = 0;
        double percentages = 0;
        for (QuotaAccount a : history) {
            allocated += a.allocated();
            used += a.used();
            purchased += a.granted();
            percentages += a.usagePercentage();
        }
        double average = history.isEmpty() ? 0 : percentages / history.size();
        long totalAllocated = allocated;
        long totalUsed = used;
        long totalPurchased = purchased;
        Json.send(response, 200, Json.JSON, g -> {
            g.writeStartObject();
            g.writeStringField("user_id", subject);
            g.writeNumberField("total_months", history.size());
            g.writeArrayFieldStart("usage_history");
            for (QuotaAccount a : history) {
                Json.quota(g, a);
            }
            g.writeEndArray();
            g.writeObjectFieldStart("summary");
            g.writeNumberField("total_allocated", totalAllocated);
            g.writeNumberField("total_used", totalUsed);
            g.writeNumberField("total_purchased", totalPurchased);
            g.writeNumberField("average_usage_percentage", Json.twoDecimals(average));
            g.writeEndObject();
            g.writeEndObject();
        });
    }

    private void dailyUsage(HttpServletRequest request, HttpServletResponse response) throws IOException {
        int days = intParameter(request, "days", 30, 1, 366);
        String subject = subject(request);
        LocalDate to = store.policy().dayOf(store.policy().now());
        LocalDate from = to.minusDays(days - 1L);
        List<QuotaStatistics.DailyUsage> series = store.dailyUsage(subject, from, to);
        long total = series.stream().mapToLong(QuotaStatistics.DailyUsage::used).sum();
        Json.send(response, 200, Json.JSON, g -> {
            g.writeStartObject();
            g.writeStringField("user_id", subject);
            g.writeNumberField("days", days);
            g.writeStringField("from", from.toString());
            g.writeStringField("to", to.toString());
            g.writeNumberField("total_used", total);
            g.writeFieldName("daily_usage");
            daily(g, series);
            g.writeEndObject();
        });
    }

    private static void daily(com.fasterxml.jackson.core.JsonGenerator g, List<QuotaStatistics.DailyUsage> series)
            throws IOException {
        g.writeStartArray();
        for (QuotaStatistics.DailyUsage d : series) {
            g.writeStartObject();
            g.writeStringField("date", d.day().toString());
            g.writeNumberField("used_tokens", d.used());
            g.writeNumberField("requests", d.requests());
            g.writeNumberField("rejected", d.rejected());
            g.writeEndObject();
        }
        g.writeEndArray();
    }

    private void forecast(HttpServletRequest request, HttpServletResponse response) throws IOException {
        QuotaStatistics.UsageForecast f = store.forecast(subject(request));
        Json.send(response, 200, Json.JSON, g -> {
            g.writeStartObject();
            g.writeStringField("user_id", f.subject());
            g.writeStringField("plan_month", Json.planMonth(f.month()));
            g.writeNumberField("used_tokens", f.used());
            g.writeNumberField("remaining_tokens", Math.max(0, f.available()));
            g.writeNumberField("tokens_per_day", Json.twoDecimals(f.tokensPerDay()));
            Json.stringOrNull(g, "projected_exhaustion", Json.instant(f.projectedExhaustion()));
            Json.stringOrNull(g, "reset_at", Json.instant(f.resetAt()));
            g.writeEndObject();
        });
    }

    private void addTokens(HttpServletRequest request, HttpServletResponse response)
            throws IOException, JsonRequest.MalformedJson {
        JsonRequest body = JsonRequest.parse(readBody(request)).onlyFields(ADD_TOKENS_FIELDS);
        String subject = body.subject("user_id");
        long tokens = body.requiredLong("token_amount", ErrorCode.INVALID_AMOUNT);
        String typeName = body.optionalString("purchase_type", ErrorCode.INVALID_PURCHASE_TYPE);
        PurchaseType type = typeName == null ? PurchaseType.BONUS : PurchaseType.parse(typeName);
        String reason = body.optionalString("reason", ErrorCode.INVALID_ARGUMENT);
        String key = body.optionalString("idempotency_key", ErrorCode.INVALID_KEY);
        String transactionId = key != null ? key : "add-tokens-" + UUID.randomUUID();
        Purchase purchase = store.grant(PurchaseRequest.grant(transactionId, subject, tokens, type, reason));
        if (purchase.status() != PurchaseStatus.COMPLETED) {
            // the key is a payment's transaction id (recorded by its callback with the same fields) or a
            // refunded record's: the store hands that record back and nothing was credited now, so "added"
            // would be false (round 295: under a refunded payment's id)
            throw new QuotaException(ErrorCode.PURCHASE_STATE_CONFLICT, "idempotency_key names a purchase that is "
                    + purchase.status().name().toLowerCase(java.util.Locale.ROOT) + ": nothing was added");
        }
        QuotaAccount account = store.account(purchase.subject());
        Json.send(response, 200, Json.JSON, g -> {
            g.writeStartObject();
            g.writeBooleanField("success", true);
            g.writeStringField("message", "Tokens added successfully");
            g.writeFieldName("user_quota");
            Json.quota(g, account);
            g.writeFieldName("purchase_record");
            Json.purchase(g, purchase);
            g.writeEndObject();
        });
    }

    private void paymentCallback(HttpServletRequest request, HttpServletResponse response)
            throws IOException, JsonRequest.MalformedJson {
        if (paymentKey == null) {
            throw new ApiError(404, Problems.NOT_FOUND, "payment callbacks are not configured");
        }
        byte[] raw = readBody(request);
        verifySignature(request.getHeader(SIGNATURE_HEADER), raw);
        JsonRequest body = JsonRequest.parse(raw);
        PurchaseStatus status = PurchaseStatus.parse(body.requiredString("status", ErrorCode.INVALID_STATUS));
        String typeName = body.optionalString("purchase_type", ErrorCode.INVALID_PURCHASE_TYPE);
        String currency = body.optionalString("currency", ErrorCode.INVALID_CURRENCY);
        PurchaseRequest purchaseRequest = new PurchaseRequest(
                body.requiredString("transaction_id", ErrorCode.INVALID_KEY),
                body.subject("user_id"),
                body.requiredLong("token_amount", ErrorCode.INVALID_AMOUNT),
                typeName == null ? PurchaseType.PURCHASE : PurchaseType.parse(typeName),
                body.optionalString("payment_method", ErrorCode.INVALID_ARGUMENT),
                body.optionalDecimal("amount", ErrorCode.INVALID_MONEY),
                currency == null ? null : currency(currency),
                body.optionalString("reason", ErrorCode.INVALID_ARGUMENT));
        String tx = purchaseRequest.transactionId();
        Purchase purchase;
        String message;
        switch (status) {
            case PENDING -> {
                purchase = store.recordPending(purchaseRequest);
                message = "Payment recorded as pending";
            }
            case COMPLETED -> {
                purchase = completed(purchaseRequest, currency == null ? null : purchaseRequest.currency());
                message = "Tokens credited";
            }
            case FAILED -> {
                recordedOrNew(purchaseRequest);
                purchase = store.fail(tx);
                message = "Payment marked as failed";
            }
            case REFUNDED -> {
                // a refund may come before the completion it reverses (providers deliver events out of
                // order): one never recorded is recorded from the event, then refunded like a pending one,
                // with nothing credited or debited, and its completion is refused (round 340)
                recordedOrNew(purchaseRequest);
                purchase = store.refund(tx);
                message = "Purchase refunded";
            }
            default -> throw new IllegalStateException("unhandled status " + status);
        }
        QuotaAccount account = store.account(purchase.subject());
        Json.send(response, 200, Json.JSON, g -> {
            g.writeStartObject();
            g.writeBooleanField("success", true);
            g.writeStringField("message", message);
            g.writeFieldName("purchase_record");
            Json.purchase(g, purchase);
            g.writeFieldName("user_quota");
            Json.quota(g, account);
            g.writeEndObject();
        });
    }

    /**
     * An ISO 4217 code in any ASCII letter case, as providers send it (round 414: Stripe's {@code "usd"} was
     * {@code 400 invalid-currency}); only ASCII letters are folded, so {@code "uſd"} (long s) stays refused.
     */
    private static Currency currency(String code) {
        char[] letters = code.toCharArray();
        for (int i = 0; i < letters.length; i++) {
            if (letters[i] >= 'a' && letters[i] <= 'z') {
                letters[i] = (char) (letters[i] - ('a' - 'A'));
            }
        }
        return Currency.parse(new String(letters));
    }

    /**
     * Completes a purchase its provider reports captured. One it never saw is recorded and credited in
     * one step ({@code grant}, one transaction in every store), so a credit the ledger refuses
     * ({@code MAX_QUOTA_EXCEEDED}) leaves no purchase behind: recording it pending first would, and the
     * refused callback would have changed the ledger. One recorded before (pending) is completed, as
     * {@link #recordedOrNew} accepts it: the user and the tokens must match; the money the completion
     * names ({@code currency} as the event gave it, {@code null} when left out) is recorded, the captured
     * money (round 414: a pending event without a currency, then {@code "33.00" USD} at completion, was stored
     * as 33.00 KRW, the default the pending record took).
     */
    private Purchase completed(PurchaseRequest request, Currency currency) {
        String tx = request.transactionId();
        if (store.purchase(tx).isEmpty()) {
            try {
                Purchase granted = store.grant(request);
                if (granted.status() == PurchaseStatus.COMPLETED) {
                    return granted;
                }
                // an equal pending (or failed) record of another callback came first: completed below
            } catch (QuotaException e) {
                if (e.code() != ErrorCode.IDEMPOTENCY_CONFLICT) {
                    throw e;
                }
                // another callback of this purchase recorded it first, with other details: completed below
            }
        }
        recordedOrNew(request);
        return store.complete(tx, request.amount(), currency);
    }

    /**
     * Records a purchase its provider reports finished (failed, or refunded before its completion came),
     * unless it was recorded before: then only the user and the tokens must match. Providers fill in or
     * change the payment method, money and description at capture; those do not make the completion a
     * different purchase (which would leave the paid tokens uncredited, every retry refused); a completion's
     * money is recorded ({@link #completed}), the rest stays the pending record's. A purchase another
     * callback recorded between the look-up and {@code recordPending} (a completion racing the refund) is
     * read the same way, from the conflict that insert meets (round 358: a refund racing its completion
     * answered 409 idempotency-conflict and debited none of the 5,000 tokens the completion credited).
     */
    private void recordedOrNew(PurchaseRequest request) {
        java.util.Optional<Purchase> existing = store.purchase(request.transactionId());
        if (existing.isPresent()) {
            matchesRecorded(existing.get(), request);
            return;
        }
        try {
            store.recordPending(request);
        } catch (QuotaException e) {
            if (e.code() != ErrorCode.IDEMPOTENCY_CONFLICT) {
                throw e;
            }
            // recorded meanwhile by another callback of this purchase, with other details: read as recorded
            matchesRecorded(store.purchase(request.transactionId()).orElseThrow(() -> e), request);
        }
    }

    /** A later event of a recorded purchase must name its user and tokens: else 409. */
    private static void matchesRecorded(Purchase existing, PurchaseRequest request) {
        if (!existing.subject().equals(request.subject()) || existing.tokens() != request.tokens()) {
            throw new QuotaException(ErrorCode.IDEMPOTENCY_CONFLICT,
                    "the event does not match the recorded purchase's user_id and token_amount");
        }
    }

    /** {@code X-Signature: sha256=<hex HMAC-SHA256 of the raw body>}, compared in constant time. */
    private void verifySignature(String header, byte[] raw) {
        String prefix = "sha256=";
        if (header == null || !header.regionMatches(true, 0, prefix, 0, prefix.length())) {
            throw new ApiError(401, Problems.BAD_SIGNATURE, "missing or malformed " + SIGNATURE_HEADER + " header");
        }
        byte[] presented;
        try {
            presented = HexFormat.of().parseHex(header.substring(prefix.length()).trim());
        } catch (IllegalArgumentException e) {
            throw new ApiError(401, Problems.BAD_SIGNATURE, SIGNATURE_HEADER + " is not hexadecimal");
        }
        byte[] expected;
        try {
            Mac mac = Mac.getInstance("HmacSHA256");
            mac.init(paymentKey);
            expected = mac.doFinal(raw);
        } catch (NoSuchAlgorithmException | InvalidKeyException e) {
            throw new IllegalStateException("HmacSHA256 is required by every Java platform", e);
        }
        if (!MessageDigest.isEqual(expected, presented)) {
            throw new ApiError(401, Problems.BAD_SIGNATURE, "the signature does not match the body");
        }
    }

    private void overview(HttpServletRequest request, HttpServletResponse response) throws IOException {
        YearMonth current = store.policy().currentMonth();
        String monthText = request.getParameter("month");
        YearMonth month;
        try {
            month = monthText == null ? current : YearMonth.parse(monthText);
        } catch (DateTimeParseException e) {
            throw new QuotaException(ErrorCode.INVALID_ARGUMENT, "month must look like 2026-11");
        }
        store.policy().checkReadableMonth(month);
        int limit = intParameter(request, "limit", 10, 1, 1000);
        List<QuotaStatistics.ConsumerUsage> top = store.topConsumers(month, limit);
        QuotaStatistics.BlockStats blocks = store.blockStats(null, month);
        List<QuotaStatistics.PurchaseTotal> purchases = store.purchaseTotals(month);
        LocalDate today = store.policy().dayOf(store.policy().now());
        LocalDate last = month.equals(current) ? today : month.atEndOfMonth();
        List<QuotaStatistics.DailyUsage> series = store.dailyUsage(null, month.atDay(1), last);
        Json.send(response, 200, Json.JSON, g -> {
            g.writeStartObject();
            g.writeStringField("month", month.toString());
            g.writeArrayFieldStart("top_consumers");
            for (QuotaStatistics.ConsumerUsage c : top) {
                g.writeStartObject();
                g.writeStringField("user_id", c.subject());
                g.writeNumberField("used_tokens", c.used());
                g.writeNumberField("total_quota", c.limit());
                g.writeEndObject();
            }
            g.writeEndArray();
            g.writeObjectFieldStart("block_stats");
            g.writeNumberField("granted", blocks.granted());
            g.writeNumberField("rejected", blocks.rejected());
            g.writeNumberField("ratio", blocks.ratio());
            g.writeEndObject();
            g.writeArrayFieldStart("purchase_totals");
            for (QuotaStatistics.PurchaseTotal t : purchases) {
                g.writeStartObject();
                g.writeStringField("purchase_type", t.type().wireName());
                g.writeStringField("currency", t.currency().name());
                g.writeNumberField("count", t.count());
                g.writeNumberField("token_amount", t.tokens());
                g.writeNumberField("amount", t.amount());
                g.writeEndObject();
            }
            g.writeEndArray();
            g.writeFieldName("daily_usage");
            daily(g, series);
            g.writeEndObject();
        });
    }

    private static void quota(HttpServletResponse response, QuotaAccount account) throws IOException {
        Json.send(response, 200, Json.JSON, g -> Json.quota(g, account));
    }

    private String subject(HttpServletRequest request) {
        String subject = subjects.resolve(request);
        if (subject == null) {
            throw new ApiError(401, Problems.UNAUTHENTICATED, "the request carries no authenticated subject");
        }
        return Validation.userSubject(subject);
    }

    private void requireAdmin(HttpServletRequest request) {
        if (admins.allows(request)) {
            return;
        }
        if (request.getHeader("Authorization") == null) {
            throw new ApiError(401, Problems.UNAUTHENTICATED, "admin credentials are required")
                    .with("WWW-Authenticate", "Bearer");
        }
        throw new ApiError(403, Problems.FORBIDDEN, "these credentials may not use the admin endpoints");
    }

    private static void allow(String method, String allowed) {
        if (!allowed.equals(method)) {
            throw new ApiError(405, Problems.METHOD_NOT_ALLOWED, method + " is not allowed here; use " + allowed)
                    .with("Allow", allowed);
        }
    }

    /**
     * A query parameter's integer, in ASCII digits only ({@code [0-9]+}: no sign, no spaces). {@code
     * Integer.parseInt} reads every script's decimal digits (round 358: {@code months=%D9%A3}, an Arabic-Indic
     * three, was answered as 3 months, and {@code days} in fullwidth digits as 10 days).
     */
    private static int intParameter(HttpServletRequest request, String name, int otherwise, int min, int max) {
        String text = request.getParameter(name);
        if (text == null) {
            return otherwise;
        }
        if (!ASCII_DIGITS.matcher(text).matches()) {
            throw new QuotaException(ErrorCode.INVALID_ARGUMENT, name + " must be an integer between " + min + " and " + max);
        }
        int value = text.length() > 9 ? Integer.MAX_VALUE : Integer.parseInt(text);
        if (value < min || value > max) {
            throw new QuotaException(ErrorCode.INVALID_ARGUMENT, name + " must be between " + min + " and " + max);
        }
        return value;
    }

    /**
     * A request body, read only when it is labelled JSON ({@link #requireJson}) and at most
     * {@link #MAX_BODY_BYTES}; the caller has checked the method and the credentials first.
     */
    private static byte[] readBody(HttpServletRequest request) throws IOException {
        requireJson(request.getContentType());
        if (request.getContentLengthLong() > MAX_BODY_BYTES) {
            throw new ApiError(413, Problems.BODY_TOO_LARGE, "the request body is larger than " + MAX_BODY_BYTES + " bytes");
        }
        ByteArrayOutputStream out = new ByteArrayOutputStream(1024);
        byte[] buffer = new byte[8192];
        // not closed here: an over-limit body is drained from the same stream before the 413 goes out
        InputStream in = request.getInputStream();
        int n;
        while ((n = in.read(buffer)) != -1) {
            if (out.size() + n > MAX_BODY_BYTES) {
                throw new ApiError(413, Problems.BODY_TOO_LARGE, "the request body is larger than " + MAX_BODY_BYTES + " bytes");
            }
            out.write(buffer, 0, n);
        }
        return out.toByteArray();
    }

    /**
     * Refuses a body not labelled {@code application/json} or a {@code +json} type ({@code type/subtype+json})
     * with 415 unsupported-media-type, before it is read and before the ledger is touched (round 340).
     * Parameters ({@code charset=utf-8}) are allowed and do not matter: RFC 8259 defines none for JSON, and
     * the parser detects the encoding JSON allows. A cross-site page can send a body without a CORS preflight
     * only as {@code text/plain}, {@code application/x-www-form-urlencoded} or {@code multipart/form-data}
     * (a {@code <form>}; the Fetch standard's CORS-safelisted {@code Content-Type}s): read whatever its type,
     * a {@code <form enctype="text/plain">} posted JSON under an administrator's session cookie when the
     * host's {@link AdminAuthorizer} checks a session.
     */
    private static void requireJson(String contentType) {
        String essence = contentType == null ? ""
                : contentType.split(";", 2)[0].trim().toLowerCase(java.util.Locale.ROOT);
        int slash = essence.indexOf('/');
        boolean wellFormed = slash > 0 && slash == essence.lastIndexOf('/')
                && essence.chars().allMatch(QuotaApiServlet::tokenChar);
        // a +json subtype needs a name before its suffix: application/+json is none
        boolean json = wellFormed && (essence.equals("application/json")
                || essence.endsWith("+json") && essence.length() - slash - 1 > "+json".length());
        if (!json) {
            throw new ApiError(415, Problems.UNSUPPORTED_MEDIA_TYPE, contentType == null
                    ? "the request body must be JSON: send Content-Type: application/json"
                    : "the request body must be JSON (application/json or a +json type), not " + clip(contentType));
        }
    }

    /** A character of an RFC 9110 token, or the type/subtype separator. */
    private static boolean tokenChar(int c) {
        return c == '/' || c > 32 && c < 127 && "()<>@,;:\\\"[]?={}".indexOf(c) < 0;
    }

    /** The segment between {@code head} and {@code tail}, e.g. the id of {@code /users/42/plan}. */
    private static String between(String path, String head, String tail) {
        if (path.length() > head.length() + tail.length() && path.startsWith(head) && path.endsWith(tail)) {
            return path.substring(head.length(), path.length() - tail.length());
        }
        return null;
    }

    /** Echoes client text into an error detail only short and without control characters. */
    private static String clip(String s) {
        String cut = s.length() > 100 ? s.substring(0, 100) : s;
        return cut.replaceAll("\\p{Cntrl}", "?");
    }

    /** A servlet-level problem (not a ledger error code). */
    private static final class ApiError extends RuntimeException {
        private static final long serialVersionUID = 1L;
        final int status;
        final String slug;
        String header;
        String headerValue;

        ApiError(int status, String slug, String detail) {
            super(detail, null, false, false);
            this.status = status;
            this.slug = slug;
        }

        ApiError with(String name, String value) {
            this.header = name;
            this.headerValue = value;
            return this;
        }
    }

    /** Configures a {@link QuotaApiServlet}; not thread-safe, the servlet it builds is immutable. */
    public static final class Builder {
        private final QuotaStore store;
        private SubjectResolver subjects;
        private AdminAuthorizer admins = AdminAuthorizer.denyAll();
        private byte[] paymentSecret;

        private Builder(QuotaStore store) {
            this.store = Objects.requireNonNull(store, "store");
        }

        /** Required: whose quota {@code /quota}, {@code /usage-history}, {@code /daily-usage} and {@code /forecast} show. */
        public Builder subjectResolver(SubjectResolver resolver) {
            this.subjects = Objects.requireNonNull(resolver, "resolver");
            return this;
        }

        /** Who may use the admin endpoints; default {@link AdminAuthorizer#denyAll()}. */
        public Builder adminAuthorizer(AdminAuthorizer authorizer) {
            this.admins = Objects.requireNonNull(authorizer, "authorizer");
            return this;
        }

        /**
         * The shared secret of payment callbacks (HMAC-SHA256, at least 16 bytes), exactly these bytes (a binary
         * key may begin or end with any byte). Without one, {@code /payment-callback} answers 404. A secret
         * issued as text goes to {@link #paymentSecret(String)}, which trims it.
         *
         * @throws IllegalArgumentException for a secret shorter than 16 bytes
         */
        public Builder paymentSecret(byte[] secret) {
            Objects.requireNonNull(secret, "secret");
            if (secret.length < 16) {
                throw new IllegalArgumentException("payment secret must have at least 16 bytes");
            }
            this.paymentSecret = secret.clone();
            return this;
        }

        /**
         * The shared secret of payment callbacks as text, as payment providers issue it, used as its UTF-8
         * bytes: trimmed as {@link AdminAuthorizer#bearerToken} trims its token ({@link String#trim()}). A secret read from a secret
         * file or an environment file usually ends with a newline, which the provider's secret does not have, so
         * kept as given no callback would verify (round 358: every genuine callback 401, 5,000 paid tokens never
         * credited).
         *
         * @throws IllegalArgumentException for a secret that is blank, or shorter than 16 bytes, once trimmed
         */
        public Builder paymentSecret(String secret) {
            String trimmed = Objects.requireNonNull(secret, "secret").trim();
            if (trimmed.isEmpty()) {
                throw new IllegalArgumentException("payment secret is blank");
            }
            byte[] bytes = trimmed.getBytes(java.nio.charset.StandardCharsets.UTF_8);
            if (bytes.length < 16) {
                throw new IllegalArgumentException("payment secret must have at least 16 bytes"
                        + " (leading and trailing white space not counted)");
            }
            return paymentSecret(bytes);
        }

        /** @throws IllegalStateException without a subject resolver */
        public QuotaApiServlet build() {
            if (subjects == null) {
                throw new IllegalStateException("a subject resolver is required");
            }
            return new QuotaApiServlet(this);
        }
    }
}
