package io.tokenquota.servlet.breakit110;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.tokenquota.QuotaAccount;
import io.tokenquota.estimator.DefaultTokenEstimator;
import io.tokenquota.servlet.AdminAuthorizer;
import io.tokenquota.servlet.QuotaApiServlet;
import io.tokenquota.servlet.QuotaFilter;
import io.tokenquota.servlet.SubjectResolver;
import io.tokenquota.servlet.testing.Deployment;
import io.tokenquota.servlet.testing.JsonTree;
import io.tokenquota.servlet.testing.ModelCallRound;
import io.tokenquota.servlet.testing.Prose;
import io.tokenquota.servlet.testing.TestHttp;
import jakarta.servlet.http.HttpServlet;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;
import java.math.BigDecimal;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.ConcurrentHashMap;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;

/**
 * Round 110 of issue 11 ("no model call goes unpaid, nothing that never reached a model is charged"):
 * items 7 to 12 and the "Also" list as a hostile client meets them over HTTP. A Gemini call naming
 * context cached at the provider ({@code cachedContent}), which the model reads as input although the
 * body carries only its name; payment callbacks with the amount in every shape a provider or an
 * attacker may write it; the admin bearer check with odd schemes, spaces and two
 * {@code Authorization} headers; the {@code RateLimit} fields beside {@code X-Quota-*} on a 200 and a
 * 429; a client at an untrusted address naming a trusted proxy as itself in IPv6 and other forms.
 */
abstract class AbstractRound110 extends ModelCallRound {
    static final ObjectMapper JSON = new ObjectMapper();
    static final DefaultTokenEstimator TOKENS = new DefaultTokenEstimator();
    static final String ADMIN_TOKEN = "r110-admin-Token-0123456789abcdef";
    static final byte[] PAYMENT_SECRET = "round-110-payment-webhook-secret-0123".getBytes(StandardCharsets.UTF_8);


    @Override
    protected Deployment deploy(QuotaFilter filter) {
        SubjectResolver trusted = SubjectResolver.trustedHeader("x-user-id", "127.0.0.1", "::1");
        return Deployment.create()
                .filter("quota", filter, "/*")
                .servlet("gemini", new Gemini(), "/ai/gemini/*")
                // the application creates its caches from its backend: no model call, so not under the prefix
                .servlet("caches", new GeminiCaches(), "/backend/gemini/*")
                .servlet("chat", new Chat(), "/ai/v1/*", "/ai/fwd/v1/*")
                .servlet("quota-api", QuotaApiServlet.builder(store)
                        .subjectResolver(trusted)
                        .adminAuthorizer(AdminAuthorizer.bearerToken(ADMIN_TOKEN))
                        .paymentSecret(PAYMENT_SECRET)
                        .build(), "/quota-api/*")
                .forwardedHeaders("/ai/fwd/")
                .onStartup(filter::registerByServletName);
    }

    // ------------------------------------------------------------------ mock endpoints

    /** Gemini context caches by name: the tokens of the contents each holds. */
    static final Map<String, Long> CACHES = new ConcurrentHashMap<>();

    /** Gemini's {@code cachedContents.create}: stores the contents, answers the resource with its size. */
    static class GeminiCaches extends HttpServlet {
        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            JsonNode body = JSON.readTree(req.getInputStream());
            long tokens = TOKENS.estimate(body.path("contents").toString())
                    + TOKENS.estimate(body.path("systemInstruction").toString());
            String name = "cachedContents/" + UUID.randomUUID().toString().replace("-", "");
            CACHES.put(name, tokens);
            resp.setContentType("application/json");
            resp.getWriter().write("{\"name\":\"" + name + "\",\"model\":\"models/gemini-2.5-pro\",\"createTime\":\""
                    + Instant.now() + "\",\"expireTime\":\"" + Instant.now().plus(Duration.ofHours(1))
                    + "\",\"usageMetadata\":{\"totalTokenCount\":" + tokens + "}}");
        }
    }

    /**
     * Gemini's {@code generateContent} as Google counts it: the prompt is the request's contents plus the
     * cached content it names ({@code promptTokenCount} includes {@code cachedContentTokenCount}); the
     * model writes 300 tokens.
     */
    class Gemini extends HttpServlet {
        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            JsonNode body = JSON.readTree(req.getInputStream());
            long cached = 0;
            String cache = body.path("cachedContent").asText(null);
            if (cache != null) {
                Long known = CACHES.get(cache);
                if (known == null) {
                    resp.sendError(404);
                    return;
                }
                cached = known;
            }
            calls.count(req.getHeader("x-user-id"));
            long prompt = TOKENS.estimate(body.path("contents").toString()) + cached;
            long output = 300;
            resp.setContentType("application/json");
            resp.getWriter().write("{\"candidates\":[{\"content\":{\"role\":\"model\",\"parts\":[{\"text\":\""
                    + "word ".repeat((int) output).trim() + "\"}]},\"finishReason\":\"STOP\",\"index\":0}],"
                    + "\"usageMetadata\":{\"promptTokenCount\":" + prompt + ",\"cachedContentTokenCount\":" + cached
                    + ",\"candidatesTokenCount\":" + output + ",\"totalTokenCount\":" + (prompt + output) + "},"
                    + "\"modelVersion\":\"gemini-2.5-pro\"}");
        }
    }

    /** An OpenAI chat endpoint that reports 400 tokens of usage. */
    class Chat extends HttpServlet {
        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            req.getInputStream().readAllBytes();
            calls.count(req.getHeader("x-user-id"));
            resp.setContentType("application/json");
            resp.getWriter().write("{\"id\":\"chatcmpl-110\",\"object\":\"chat.completion\",\"model\":\"gpt-4o\","
                    + "\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\",\"content\":\"Lisbon.\"},"
                    + "\"finish_reason\":\"stop\"}],\"usage\":{\"prompt_tokens\":100,\"completion_tokens\":300,"
                    + "\"total_tokens\":400}}");
        }
    }

    // ------------------------------------------------------------------ 1. Gemini context caching

    /** A system prompt and a reference manual of about 12,000 tokens, cached once by the application. */
    static String manual() {
        return Prose.english(77_000);
    }

    String createCache() {
        String body = "{\"model\":\"models/gemini-2.5-pro\",\"contents\":[{\"role\":\"user\",\"parts\":[{\"text\":"
                + JsonTree.quoted(manual()) + "}]}],\"ttl\":\"3600s\"}";
        HttpResponse<String> r = TestHttp.post(container.uri("/backend/gemini/v1beta/cachedContents"), body,
                "Content-Type", "application/json");
        assertEquals(200, r.statusCode(), r.body());
        return (String) TestHttp.json(r).get("name");
    }

    static final String GEMINI = "/ai/gemini/v1beta/models/gemini-2.5-pro:generateContent";

    HttpResponse<String> gemini(String user, String body) {
        return TestHttp.postJson(container.uri(GEMINI), user, body);
    }

    static final String QUESTION = "Which chapter of the manual explains the warranty terms?";

    /**
     * Break hunt: the application caches a 12,000-token manual at Google (context caching), and every
     * user question names it ({@code "cachedContent": "cachedContents/…"}) with a one-line question:
     * the model reads the manual as input each time, Google bills it (it is in {@code promptTokenCount})
     * and the first answer's usage says so ({@code cachedContentTokenCount: 12,000}). The filter holds
     * each call at its one-line question and 300 output tokens, so with 7,700 tokens left after the
     * first call a second one that reads 12,300 is served: two calls of 12,300 on a 20,000 allowance, the
     * ledger at about 24,700. The same request with the manual inline is refused (the control), and an
     * OpenAI stored Response named by id is held at what it cost: Gemini's cached context is state kept
     * at the provider too.
     */
    @Test
    void aGeminiCallNamingCachedContextIsHeldAtWhatTheModelReads() {
        String cache = createCache();
        long manualTokens = CACHES.get(cache);
        String ask = "{\"cachedContent\":\"" + cache + "\",\"contents\":[{\"role\":\"user\",\"parts\":[{\"text\":\""
                + QUESTION + "\"}]}],\"generationConfig\":{\"maxOutputTokens\":300}}";
        String user = subject();
        assertWithinAllowance(user, "calls naming a " + manualTokens + "-token cached context", postTimes(3, GEMINI, user, ask));
    }

    /** Control: the same questions with the manual sent inline: the second is refused before the model. */
    @Test
    void controlTheSameCallsWithTheManualInlineStopAtTheAllowance() {
        String ask = "{\"contents\":[{\"role\":\"user\",\"parts\":[{\"text\":" + JsonTree.quoted(manual()) + "},{\"text\":\""
                + QUESTION + "\"}]}],\"generationConfig\":{\"maxOutputTokens\":300}}";
        String user = subject();
        List<Integer> statuses = postTimes(3, GEMINI, user, ask);
        QuotaAccount a = settled(user);
        assertEquals(List.of(200, 429, 429), statuses, kind() + ": " + ledger(user));
        assertEquals(1, calls.of(user));
        assertTrue(a.used() <= ALLOWANCE, kind() + ": charged " + a.used() + "; " + ledger(user));
    }

    // ------------------------------------------------------------------ 2. payment callback amounts

    HttpResponse<String> callback(String body) {
        return TestHttp.post(container.uri("/quota-api/payment-callback"), body, "Content-Type", "application/json",
                "X-Signature", TestHttp.signature(PAYMENT_SECRET, body.getBytes(StandardCharsets.UTF_8)));
    }

    /**
     * Break hunt: a provider (or whoever holds the webhook secret's replay of a signed body) sends a
     * completed payment with the amount in every shape: numbers with exponents, negative zero, huge and
     * tiny exponents past what an int scale holds, long digit runs, strings with a leading plus,
     * thousands separators, spaces, an exponent, non-ASCII digits. Each must be 200 with the exact
     * amount (3300.00 for every spelling of it) and the tokens credited, or a 400 with the ledger
     * untouched: never a 500, never tokens credited for a refused body.
     */
    @Test
    void paymentAmountsAreTakenExactlyOrRefusedWithA400() {
        String user = subject();
        // amount as written in the JSON -> the amount expected back, or null for a refusal
        Map<String, String> cases = new LinkedHashMap<>();
        cases.put("3300.00", "3300.00");
        cases.put("3300", "3300.00");
        cases.put("\"3300.00\"", "3300.00");
        cases.put("\"+3300.00\"", "3300.00");
        cases.put("3.3e3", "3300.00");
        cases.put("3.3E+3", "3300.00");
        cases.put("330000e-2", "3300.00");
        cases.put("0.33e4", "3300.00");
        cases.put("-0.0", "0.00");
        cases.put("\"-0\"", "0.00");
        cases.put("0e-999999999", "0.00");
        cases.put("0.001e1", "0.01");
        cases.put("1.005", null);
        cases.put("-1", null);
        cases.put("\"-1.00\"", null);
        cases.put("1e400", null);
        cases.put("1e-400", null);
        cases.put("1e2147483647", null);
        cases.put("1e-2147483647", null);
        cases.put("1e2147483648", null);
        cases.put("1e-2147483648", null);
        cases.put("1e-2147483649", null);
        cases.put("1e99999999999", null);
        cases.put("12345678901234567890123456789", null);
        cases.put("999999999999.99", "999999999999.99");
        cases.put("1000000000000", null);
        cases.put("\"3,300.00\"", null);
        cases.put("\" 3300.00\"", null);
        cases.put("\"3300.00 \"", null);
        cases.put("\"1e3\"", null);
        cases.put("\"3300.\"", null);
        cases.put("\".50\"", null);
        cases.put("\"\u0663\u0663\u0660\u0660\"", null);
        cases.put("\"NaN\"", null);
        cases.put("\"Infinity\"", null);
        cases.put("true", null);
        cases.put("[3300]", null);
        cases.put("{\"value\":3300}", null);
        List<String> wrong = new ArrayList<>();
        long credited = 0;
        int i = 0;
        for (Map.Entry<String, String> c : cases.entrySet()) {
            long before = store.account(user).granted();
            String body = "{\"transaction_id\":\"tx110-" + user + "-" + (i++) + "\",\"user_id\":\"" + user
                    + "\",\"token_amount\":100,\"amount\":" + c.getKey() + ",\"currency\":\"USD\","
                    + "\"payment_method\":\"card\",\"status\":\"completed\"}";
            HttpResponse<String> r = callback(body);
            long after = store.account(user).granted();
            String expected = c.getValue();
            if (expected == null) {
                if (r.statusCode() != 400 || after != before) {
                    wrong.add(c.getKey() + " -> " + r.statusCode() + " credited " + (after - before) + " " + clip(r.body()));
                }
            } else {
                Object amount = r.statusCode() == 200
                        ? ((Map<?, ?>) TestHttp.json(r).get("purchase_record")).get("amount") : null;
                if (r.statusCode() != 200 || after - before != 100 || amount == null
                        || new BigDecimal(String.valueOf(amount)).compareTo(new BigDecimal(expected)) != 0) {
                    wrong.add(c.getKey() + " -> " + r.statusCode() + " amount " + amount + " credited " + (after - before)
                            + " " + clip(r.body()));
                }
                credited += 100;
            }
        }
        assertTrue(wrong.isEmpty(), kind() + ": " + wrong);
        assertEquals(credited, store.account(user).granted(), kind() + ": " + ledger(user));
    }

    static String clip(String s) {
        return s.length() > 200 ? s.substring(0, 200) : s;
    }

    // ------------------------------------------------------------------ 3. the admin bearer check

    HttpResponse<String> addTokens(String user, String... authorization) {
        return addTokensOn(TestHttp.client(), user, authorization);
    }

    /** An admin top-up of 10 tokens for {@code user}, sent on {@code client}'s connection. */
    HttpResponse<String> addTokensOn(java.net.http.HttpClient client, String user, String... authorization) {
        String body = "{\"user_id\":\"" + user + "\",\"token_amount\":10,\"reason\":\"r110\"}";
        HttpRequest.Builder b = TestHttp.request(container.uri("/quota-api/add-tokens"), "Content-Type", "application/json")
                .POST(HttpRequest.BodyPublishers.ofString(body));
        for (String value : authorization) {
            b.header("Authorization", value);
        }
        try {
            try {
                return client.send(b.build(), HttpResponse.BodyHandlers.ofString());
            } catch (IOException closed) {
                // the server may close a kept-alive connection after a refusal just as the client reuses it:
                // the request is sent again (on a new connection), whose answer counts the same
                return client.send(b.build(), HttpResponse.BodyHandlers.ofString());
            }
        } catch (IOException e) {
            throw new java.io.UncheckedIOException(e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException(e);
        }
    }

    /**
     * Break hunt: the admin top-up endpoint with the bearer token in every spelling a client may send,
     * each on a connection of its own: the scheme in any case (RFC 9110: case-insensitive) and extra
     * spaces before the token are the token; the token in another case, one character short or long,
     * another scheme, an empty credential are refused (401 or 403) and grant nothing; two
     * {@code Authorization} headers, one of them right, never grant more than one request's top-up and
     * never answer 500.
     */
    @Test
    void adminBearerTokenIsCheckedWhateverTheSpelling() {
        String user = subject();
        Map<String, Boolean> single = new LinkedHashMap<>();
        single.put("Bearer " + ADMIN_TOKEN, true);
        single.put("bearer " + ADMIN_TOKEN, true);
        single.put("BEARER " + ADMIN_TOKEN, true);
        single.put("Bearer    " + ADMIN_TOKEN, true);
        single.put("Bearer " + ADMIN_TOKEN.toLowerCase(java.util.Locale.ROOT), false);
        single.put("Bearer " + ADMIN_TOKEN.toUpperCase(java.util.Locale.ROOT), false);
        single.put("Bearer " + ADMIN_TOKEN.substring(1), false);
        single.put("Bearer " + ADMIN_TOKEN + "x", false);
        single.put("Bearer " + ADMIN_TOKEN + " x", false);
        single.put("Basic " + java.util.Base64.getEncoder().encodeToString(("admin:" + ADMIN_TOKEN).getBytes()), false);
        single.put("Token " + ADMIN_TOKEN, false);
        single.put("Bearer", false);
        single.put("Bearer ", false);
        single.put("Bearer" + ADMIN_TOKEN, false);
        single.put(ADMIN_TOKEN, false);
        single.put("Bearer \"" + ADMIN_TOKEN + "\"", false);
        List<String> wrong = new ArrayList<>();
        long expected = 0;
        for (Map.Entry<String, Boolean> c : single.entrySet()) {
            long before = store.account(user).granted();
            HttpResponse<String> r = addTokensOn(TestHttp.fresh(), user, c.getKey());
            long added = store.account(user).granted() - before;
            boolean ok = c.getValue() ? r.statusCode() == 200 && added == 10
                    : (r.statusCode() == 401 || r.statusCode() == 403) && added == 0;
            if (!ok) {
                wrong.add("[" + c.getKey().replace(ADMIN_TOKEN, "<token>") + "] -> " + r.statusCode() + " added " + added);
            }
            expected += c.getValue() ? 10 : 0;
        }
        assertTrue(wrong.isEmpty(), kind() + ": " + wrong);
        assertEquals(expected, store.account(user).granted());
        for (String[] pair : List.of(new String[] {"Bearer wrong-token-0123456789", "Bearer " + ADMIN_TOKEN},
                new String[] {"Bearer " + ADMIN_TOKEN, "Bearer wrong-token-0123456789"})) {
            long before = store.account(user).granted();
            HttpResponse<String> r = addTokensOn(TestHttp.fresh(), user, pair);
            long added = store.account(user).granted() - before;
            assertTrue(r.statusCode() != 500 && added <= 10 && (added == 10) == (r.statusCode() == 200),
                    kind() + ": two Authorization headers -> " + r.statusCode() + " added " + added);
        }
    }

    /**
     * Break hunt: the admin's tool (or a reverse proxy pooling its upstream connections, as nginx's
     * {@code keepalive} does) sends a top-up with the right token; a second request on the same
     * keep-alive connection carries the token with its letters in another case. The token is compared
     * exactly, so the second must be refused (403) and grant nothing, as it is on a connection of its
     * own (the control, first). Jetty's per-connection header cache matches {@code Authorization}
     * values ignoring case by default and hands the servlet the cached value, the admin's.
     */
    @Test
    void aTokenInAnotherCaseOnTheAdminsConnectionIsRefused() {
        String user = subject();
        String lower = "Bearer " + ADMIN_TOKEN.toLowerCase(java.util.Locale.ROOT);
        String upper = "Bearer " + ADMIN_TOKEN.toUpperCase(java.util.Locale.ROOT);
        assertEquals(403, addTokensOn(TestHttp.fresh(), user, lower).statusCode(), kind() + ": control, own connection");
        java.net.http.HttpClient shared = TestHttp.fresh();
        assertEquals(200, addTokensOn(shared, user, "Bearer " + ADMIN_TOKEN).statusCode());
        List<Integer> statuses = new ArrayList<>();
        statuses.add(addTokensOn(shared, user, lower).statusCode());
        statuses.add(addTokensOn(shared, user, upper).statusCode());
        long granted = store.account(user).granted();
        assertTrue(statuses.equals(List.of(403, 403)) && granted == 10, kind() + ": the token in lower and upper case"
                + " on the admin's connection answered " + statuses + ", granted " + granted + " (10 expected); "
                + ledger(user));
    }

    // ------------------------------------------------------------------ 4. RateLimit fields

    static final Pattern POLICY = Pattern.compile("\"monthly-tokens\";q=(\\d+);qu=\"tokens\";w=(\\d+)");
    static final Pattern RATELIMIT = Pattern.compile("\"monthly-tokens\";r=(\\d+);t=(\\d+)");

    static long[] fields(Pattern p, HttpResponse<String> r, String name) {
        String v = r.headers().firstValue(name).orElse(null);
        assertNotNull(v, name + " missing: " + r.headers().map());
        Matcher m = p.matcher(v);
        assertTrue(m.matches(), name + ": " + v);
        return new long[] {Long.parseLong(m.group(1)), Long.parseLong(m.group(2))};
    }

    /**
     * Break hunt: the IETF fields must say what the ledger says. On a 200: {@code q} the limit,
     * {@code r} the remaining after this call's hold (the account's available before it less the hold,
     * which covers at least the 2,000-token budget), equal to {@code X-Quota-Remaining}; after a
     * 6,000-token top-up the limit follows. On the 429 of a call whose 22,000-token prompt and budget do not fit: {@code r}
     * what the ledger has left, {@code t} within a second of {@code Retry-After}, {@code w} the
     * month's length (28 to 31 days).
     */
    @Test
    void rateLimitFieldsMatchTheLedgerOn200And429() {
        String user = subject();
        String chat = "{\"model\":\"gpt-4o\",\"max_tokens\":2000,\"messages\":[{\"role\":\"user\",\"content\":\"Hi\"}]}";
        HttpResponse<String> ok = TestHttp.postJson(container.uri("/ai/v1/chat/completions"), user, chat);
        assertEquals(200, ok.statusCode(), ok.body());
        long[] policy = fields(POLICY, ok, "RateLimit-Policy");
        long[] rl = fields(RATELIMIT, ok, "RateLimit");
        assertEquals(ALLOWANCE, policy[0], kind() + ": q on 200");
        assertEquals(Long.parseLong(ok.headers().firstValue("X-Quota-Remaining").orElseThrow()), rl[0]);
        assertEquals(Long.parseLong(ok.headers().firstValue("X-Quota-Limit").orElseThrow()), policy[0]);
        assertTrue(rl[0] <= ALLOWANCE - 2000 && rl[0] >= ALLOWANCE - 2600, kind() + ": r on the first call " + rl[0]);
        assertTrue(policy[1] >= 28L * 86400 && policy[1] <= 31L * 86400, kind() + ": w " + policy[1]);
        QuotaAccount after = settled(user);
        assertEquals(400, after.used(), ledger(user));

        // a budget that does not fit: 429, the fields as the ledger has it
        String big = "{\"model\":\"gpt-4o\",\"max_tokens\":4000,\"messages\":[{\"role\":\"user\",\"content\":"
                + JsonTree.quoted(Prose.english(140_000)) + "}]}";
        HttpResponse<String> refused = TestHttp.postJson(container.uri("/ai/v1/chat/completions"), user, big);
        assertEquals(429, refused.statusCode(), refused.body());
        long[] p429 = fields(POLICY, refused, "RateLimit-Policy");
        long[] r429 = fields(RATELIMIT, refused, "RateLimit");
        QuotaAccount now = settled(user);
        assertEquals(now.limit(), p429[0], kind() + ": q on 429");
        assertEquals(now.available(), r429[0], kind() + ": r on 429 " + refused.headers().map());
        assertEquals(Long.parseLong(refused.headers().firstValue("X-Quota-Remaining").orElseThrow()), r429[0]);
        long retryAfter = Long.parseLong(refused.headers().firstValue("Retry-After").orElseThrow());
        assertTrue(Math.abs(retryAfter - r429[1]) <= 1, kind() + ": t " + r429[1] + " vs Retry-After " + retryAfter);
        assertEquals(policy[1], p429[1], kind() + ": w differs between 200 and 429");
        assertEquals(1, calls.of(user));

        // a top-up moves the limit: the next 200 says so
        assertEquals(200, addTokens(user, "Bearer " + ADMIN_TOKEN).statusCode());
        HttpResponse<String> again = TestHttp.postJson(container.uri("/ai/v1/chat/completions"), user, chat);
        assertEquals(200, again.statusCode(), again.body());
        assertEquals(ALLOWANCE + 10, fields(POLICY, again, "RateLimit-Policy")[0], kind() + ": q after a top-up");
        long r2 = fields(RATELIMIT, again, "RateLimit")[0];
        assertTrue(r2 <= ALLOWANCE + 10 - 400 - 2000 && r2 >= ALLOWANCE + 10 - 400 - 2600, kind() + ": r " + r2);
    }

    // ------------------------------------------------------------------ 5. forwarded identity

    /**
     * Break hunt: a client at 127.0.0.2 (not a trusted proxy) reaches a path where the container takes
     * the client address from forwarded headers, names the trusted proxy as itself in the forms a
     * container reads (IPv4-mapped IPv6, bracketed with a port, a zero-padded octet, upper-case
     * {@code FOR=}, two header lines, a header name in odd case) and sends {@code x-user-id: victim}.
     * Every one must be refused (401) with the model never called and the victim's ledger untouched.
     */
    @Test
    void aClientNamingTheTrustedProxyAsItselfIsNeverTheVictim() throws IOException {
        String victim = subject();
        List<String[]> spoofs = List.of(
                new String[] {"X-Forwarded-For: ::ffff:127.0.0.1"},
                new String[] {"X-Forwarded-For: [::ffff:7f00:1]:8443"},
                new String[] {"X-Forwarded-For: [::1]:443"},
                new String[] {"X-Forwarded-For: 0:0:0:0:0:0:0:1"},
                new String[] {"X-Forwarded-For: 127.0.0.01"},
                new String[] {"X-Forwarded-For: 127.0.0.1:80"},
                new String[] {"x-FORWARDED-for:   127.0.0.1   "},
                new String[] {"X-Forwarded-For: 127.0.0.1", "X-Forwarded-For: 198.51.100.7"},
                new String[] {"X-Forwarded-For: 198.51.100.7", "X-Forwarded-For: 127.0.0.1"},
                new String[] {"X-Forwarded-For: 127.0.0.1,198.51.100.7"},
                new String[] {"Forwarded: FOR=127.0.0.1"},
                new String[] {"Forwarded: for=\"[::1]:80\";proto=http"},
                new String[] {"Forwarded: proto=http;for=\"[::ffff:127.0.0.1]\""},
                new String[] {"Forwarded: for=127.0.0.1", "X-Forwarded-For: 198.51.100.7"});
        List<String> served = new ArrayList<>();
        for (String[] spoof : spoofs) {
            String[] lines = new String[spoof.length + 1];
            System.arraycopy(spoof, 0, lines, 0, spoof.length);
            lines[spoof.length] = "x-user-id: " + victim;
            String answer = TestHttp.rawPostFrom("127.0.0.2", container.port(), "/ai/fwd/v1/chat/completions", lines);
            String status = answer.substring(0, Math.min(answer.length(), 12));
            if (!status.contains(" 401")) {
                served.add(String.join(" | ", spoof) + " -> " + status);
            }
        }
        QuotaAccount v = settled(victim);
        assertTrue(served.isEmpty() && calls.of(victim) == 0 && v.used() == 0, kind() + ": " + served + ", "
                + calls.of(victim) + " model calls as the victim, charged " + v.used() + "; " + ledger(victim));
    }
}
