package io.tokenquota.servlet.breakit3;

import io.tokenquota.servlet.testing.Ledgers;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.tokenquota.QuotaAccount;
import io.tokenquota.QuotaPolicy;
import io.tokenquota.jdbi.JdbiQuotaStore;
import io.tokenquota.jdbi.testing.TestDatabase;
import io.tokenquota.jdbi.testing.TestDatabases;
import io.tokenquota.servlet.QuotaFilter;
import io.tokenquota.servlet.SubjectResolver;
import io.tokenquota.servlet.testing.ContainerKind;
import io.tokenquota.servlet.testing.Deployment;
import io.tokenquota.servlet.testing.EmbeddedContainer;
import io.tokenquota.servlet.testing.TestHttp;
import jakarta.servlet.MultipartConfigElement;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.net.URLEncoder;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.UUID;
import java.util.zip.GZIPOutputStream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;

/**
 * Hostile-client tests of what the filter estimates and charges for request bodies the endpoint reads
 * differently than the filter does: the setup of docs/servlet.md (filter on "/*", REQUEST, async;
 * protect("/ai/"); trusted x-user-id from loopback; default 1 MiB limit, estimator, budgets; JDBI on H2).
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
abstract class AbstractRequestBodyBreakIt {
    QuotaPolicy policy = QuotaPolicy.builder().defaultAllocation(10_000_000).build();
    TestDatabase db;
    JdbiQuotaStore store;
    EmbeddedContainer container;

    abstract ContainerKind kind();

    @BeforeAll
    void start() {
        db = TestDatabases.h2();
        store = JdbiQuotaStore.builder().dataSource(db.dataSource()).policy(policy).installSchema(true).build();
        QuotaFilter filter = QuotaFilter.builder(store).protect("/ai/")
                .subjectResolver(SubjectResolver.trustedHeader("x-user-id", "127.0.0.1", "::1")).build();
        container = kind().start(Deployment.create()
                .filter("quota", filter, "/*")
                .multipartServlet("model", new Breakit3ModelServlet(), new MultipartConfigElement(""), "/ai/*"));
    }

    @AfterAll
    void stop() {
        if (container != null) {
            container.close();
        }
        if (store != null) {
            store.close();
        }
        if (db != null) {
            db.close();
        }
    }

    static String subject() {
        return "u3-" + UUID.randomUUID().toString().substring(0, 12);
    }

    /** Ordinary English-ish prose of about {@code chars} characters. */
    static String prose(int chars) {
        String[] words = {"the", "model", "should", "summarise", "this", "quarterly", "report", "carefully",
                "including", "revenue", "figures", "and", "regional", "breakdowns", "for", "every", "market"};
        StringBuilder sb = new StringBuilder(chars + 16);
        int i = 0;
        while (sb.length() < chars) {
            sb.append(words[(i * 7 + i / 3) % words.length]).append(i % 11 == 10 ? ". " : " ");
            i++;
        }
        return sb.toString();
    }

    static String chat(String prompt) {
        return "{\"model\":\"gpt-4o\",\"messages\":[{\"role\":\"user\",\"content\":\"" + prompt + "\"}]}";
    }

    static byte[] gzip(byte[] data) {
        try {
            ByteArrayOutputStream out = new ByteArrayOutputStream();
            try (GZIPOutputStream gz = new GZIPOutputStream(out)) {
                gz.write(data);
            }
            return out.toByteArray();
        } catch (IOException e) {
            throw new IllegalStateException(e);
        }
    }

    QuotaAccount settled(String subject) {
        return Ledgers.settled(store, subject);
    }

    List<String> ledger(String subject) {
        return Ledgers.events(store, subject, policy.currentMonth());
    }

    long charged(String subject) {
        return settled(subject).used();
    }

    HttpResponse<String> post(String path, String subject, byte[] body, String... extra) {
        String[] h = new String[extra.length + 2];
        h[0] = "x-user-id";
        h[1] = subject;
        System.arraycopy(extra, 0, h, 2, extra.length);
        return TestHttp.post(container.uri(path), body, h);
    }

    // ---- gzip request bodies ----

    /**
     * The same chat request, once plain and once with Content-Encoding: gzip, to an endpoint that
     * inflates gzip request bodies (as most HTTP stacks and proxies in front of models do) and
     * reports no usage (rule 7: the estimate is charged). The model got the same ~200 KB prompt both
     * times, so the compressed one must cost at least as much.
     */
    @Test
    void gzipRequestBodyIsEstimatedLikeThePlainOne() {
        byte[] json = chat(prose(200_000)).getBytes(StandardCharsets.UTF_8);
        String plain = subject();
        assertEquals(200, post("/ai/v1/chat/inflate", plain, json, "Content-Type", "application/json").statusCode());
        long plainCharge = charged(plain);
        long plainChars = Breakit3ModelServlet.lastPromptChars;

        String zipped = subject();
        HttpResponse<String> r = post("/ai/v1/chat/inflate", zipped, gzip(json),
                "Content-Type", "application/json", "Content-Encoding", "gzip");
        assertEquals(200, r.statusCode());
        assertEquals(plainChars, Breakit3ModelServlet.lastPromptChars, "the model got the same prompt");
        long zippedCharge = charged(zipped);
        assertTrue(zippedCharge >= plainCharge, "gzip request charged " + zippedCharge + " but the same request "
                + "uncompressed is charged " + plainCharge + "; ledger: " + ledger(zipped));
    }

    /**
     * A 40 KB gzip body that inflates to 8 MB of prompt, against the default 1 MiB body limit ("the 413
     * limit applies to any body"): it must be refused before the endpoint (and the model) sees it.
     */
    @Test
    void gzipBombOverTheBodyLimitIsRefused() {
        byte[] json = chat(prose(8 << 20)).getBytes(StandardCharsets.UTF_8);
        byte[] zipped = gzip(json);
        assertTrue(zipped.length < (1 << 20), "compressed " + zipped.length);
        String s = subject();
        Breakit3ModelServlet.lastPromptChars = -1;
        HttpResponse<String> r = post("/ai/v1/chat/inflate", s, zipped,
                "Content-Type", "application/json", "Content-Encoding", "gzip");
        long charge = charged(s);
        assertEquals(413, r.statusCode(), "the endpoint handed the model " + Breakit3ModelServlet.lastPromptChars
                + " characters (limit 1 MiB) and was charged " + charge);
    }

    // ---- compressed answers, chosen by the client ----

    /** Control: the proxy endpoint's usage (50,000) is charged when the client asks for no compression. */
    @Test
    void controlUncompressedProxyAnswerIsChargedItsUsage() {
        String s = subject();
        assertEquals(200, post("/ai/v1/chat/proxy-gzip", s, chat("hi").getBytes(StandardCharsets.UTF_8),
                "Content-Type", "application/json").statusCode());
        assertEquals(50_000, charged(s), "ledger: " + ledger(s));
    }

    /**
     * The same model call, the client adding Accept-Encoding: gzip, which a proxy endpoint forwards
     * upstream and whose gzip answer it copies through. The model reported 50,000 tokens; the client
     * alone decided the response is compressed, so it must not change the charge.
     */
    @Test
    void clientChosenGzipAnswerIsStillChargedItsUsage() {
        String s = subject();
        HttpRequest req = TestHttp.request(container.uri("/ai/v1/chat/proxy-gzip"), "x-user-id", s,
                        "Content-Type", "application/json", "Accept-Encoding", "gzip")
                .POST(HttpRequest.BodyPublishers.ofString(chat("hi"))).build();
        HttpResponse<String> r = TestHttp.send(req);
        assertEquals(200, r.statusCode());
        // the filter hides Accept-Encoding from the endpoint, so the proxied answer comes back readable
        assertEquals(null, r.headers().firstValue("Content-Encoding").orElse(null));
        assertEquals(50_000, charged(s), "model reported 50,000; ledger: " + ledger(s));
    }

    // ---- multipart ----

    /**
     * A multipart request whose prompt travels as a text file part ("summarise this document"): the
     * endpoint reads every part and hands the model 200 KB of text, reporting no usage (estimate
     * charged). It must cost at least what the same text costs as a plain body.
     */
    @Test
    void multipartTextFilePartIsEstimatedLikeTheSameTextBody() {
        String text = prose(200_000);
        String plain = subject();
        assertEquals(200, post("/ai/v1/chat/inflate", plain, text.getBytes(StandardCharsets.UTF_8),
                "Content-Type", "text/plain; charset=utf-8").statusCode());
        long plainCharge = charged(plain);

        String boundary = "----b3" + UUID.randomUUID();
        String body = "--" + boundary + "\r\n"
                + "Content-Disposition: form-data; name=\"model\"\r\n\r\ngpt-4o\r\n"
                + "--" + boundary + "\r\n"
                + "Content-Disposition: form-data; name=\"document\"; filename=\"report.txt\"\r\n"
                + "Content-Type: text/plain; charset=utf-8\r\n\r\n" + text + "\r\n"
                + "--" + boundary + "--\r\n";
        String mp = subject();
        HttpResponse<String> r = post("/ai/v1/chat/multipart-file", mp, body.getBytes(StandardCharsets.UTF_8),
                "Content-Type", "multipart/form-data; boundary=" + boundary);
        assertEquals(200, r.statusCode(), r.body());
        assertTrue(Breakit3ModelServlet.lastPromptChars >= 200_000, "model got " + Breakit3ModelServlet.lastPromptChars);
        long mpCharge = charged(mp);
        assertTrue(mpCharge >= plainCharge, "multipart text file charged " + mpCharge + ", the same text as a body "
                + plainCharge + "; ledger: " + ledger(mp));
    }

    // ---- GET ?prompt= ----

    /**
     * GET /ai/...?prompt=<6,000 chars> to an endpoint reading the prompt parameter, no usage reported:
     * charged the estimate, which should count the prompt like the same text POSTed as a form body.
     */
    @Test
    void getWithPromptQueryIsEstimatedLikeTheSameFormPost() {
        String prompt = prose(6_000);
        String form = "prompt=" + URLEncoder.encode(prompt, StandardCharsets.UTF_8);
        String posted = subject();
        assertEquals(200, post("/ai/v1/chat/query", posted, form.getBytes(StandardCharsets.UTF_8),
                "Content-Type", "application/x-www-form-urlencoded").statusCode());
        long postCharge = charged(posted);
        assertEquals(prompt.length(), Breakit3ModelServlet.lastPromptChars);

        String got = subject();
        HttpResponse<String> r = TestHttp.get(container.uri("/ai/v1/chat/query?" + form), "x-user-id", got);
        assertEquals(200, r.statusCode());
        assertEquals(prompt.length(), Breakit3ModelServlet.lastPromptChars, "model got the same prompt");
        long getCharge = charged(got);
        // the holds compare: the POST is charged its answer's text besides (a GET's raw text is not counted)
        assertTrue(held(got) >= held(posted), "GET ?prompt= held " + held(got) + ", the same prompt POSTed "
                + held(posted) + " (charged " + getCharge + " and " + postCharge + "); ledger: " + ledger(got));
    }

    /** What the subject's one call held, from its ledger's reserve. */
    private long held(String subject) {
        java.util.regex.Matcher m = java.util.regex.Pattern.compile("RESERVED:(\\d+)").matcher(String.valueOf(ledger(subject)));
        assertTrue(m.find(), String.valueOf(ledger(subject)));
        return Long.parseLong(m.group(1));
    }

    // ---- chunked request bodies over the limit ----

    /** A 2 MiB chunked body (no Content-Length) against the 1 MiB limit: 413, nothing charged. */
    @Test
    void chunkedBodyOverTheLimitIsRefused() {
        byte[] json = chat(prose(2 << 20)).getBytes(StandardCharsets.UTF_8);
        String s = subject();
        HttpRequest req = TestHttp.request(container.uri("/ai/v1/chat/read"), "x-user-id", s,
                        "Content-Type", "application/json")
                .POST(HttpRequest.BodyPublishers.ofInputStream(() -> new ByteArrayInputStream(json))).build();
        HttpResponse<String> r;
        try {
            r = TestHttp.send(req);
        } catch (RuntimeException e) {
            // the server may close the connection while the client still sends; then nothing was charged
            assertEquals(0, charged(s), "ledger: " + ledger(s));
            return;
        }
        assertEquals(413, r.statusCode());
        assertEquals(0, charged(s), "ledger: " + ledger(s));
    }

    /** Expect: 100-continue with a Content-Length over the limit: 413 before the body, nothing charged. */
    @Test
    void expectContinueOverTheLimitIsRefused() {
        byte[] json = chat(prose(2 << 20)).getBytes(StandardCharsets.UTF_8);
        String s = subject();
        HttpRequest req = TestHttp.request(container.uri("/ai/v1/chat/read"), "x-user-id", s,
                        "Content-Type", "application/json").expectContinue(true)
                .POST(HttpRequest.BodyPublishers.ofByteArray(json)).build();
        HttpResponse<String> r = TestHttp.send(req);
        assertEquals(413, r.statusCode());
        assertEquals(0, charged(s), "ledger: " + ledger(s));
    }

    // ---- idempotency ----

    /** A key replayed after the first request completed buys no second model call and no second charge. */
    @Test
    void idempotencyKeyReplayAfterCompletionIs409AndChargedOnce() {
        String s = subject();
        byte[] body = chat("hi").getBytes(StandardCharsets.UTF_8);
        String key = "k-" + UUID.randomUUID();
        assertEquals(200, post("/ai/v1/chat/read", s, body, "Content-Type", "application/json",
                "Idempotency-Key", key).statusCode());
        assertEquals(50_000, charged(s));
        HttpResponse<String> again = post("/ai/v1/chat/read", s, body, "Content-Type", "application/json",
                "Idempotency-Key", key);
        assertEquals(409, again.statusCode());
        assertEquals(50_000, charged(s), "ledger: " + ledger(s));
    }
}
