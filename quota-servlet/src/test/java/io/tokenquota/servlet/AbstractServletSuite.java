package io.tokenquota.servlet;

import static io.tokenquota.servlet.Fixture.API;
import static io.tokenquota.servlet.Fixture.newSubject;
import static io.tokenquota.servlet.testing.TestHttp.get;
import static io.tokenquota.servlet.testing.TestHttp.json;
import static io.tokenquota.servlet.testing.TestHttp.post;
import static io.tokenquota.servlet.testing.TestHttp.put;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.tokenquota.EventKind;
import io.tokenquota.LedgerEvent;
import io.tokenquota.Purchase;
import io.tokenquota.PurchaseStatus;
import io.tokenquota.QuotaAccount;
import io.tokenquota.servlet.testing.ContainerKind;
import io.tokenquota.servlet.testing.TestHttp;
import java.io.BufferedReader;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.io.OutputStream;
import java.net.Socket;
import java.net.URI;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;

/**
 * The servlet module's behaviour over real HTTP, run once per embedded container (subclasses pick
 * Jetty 12 or Tomcat 11). Every test works on its own subject, so tests share one container and store.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
abstract class AbstractServletSuite {
    /** What the one message of {@code chat(...)} adds to its estimate (the server's framing and its role). */
    static final long FRAME = RequestEstimator.MESSAGE_FRAMING_TOKENS;

    Fixture fx;

    protected abstract ContainerKind container();

    @BeforeAll
    void start() {
        fx = new Fixture(container());
    }

    @AfterAll
    void stop() {
        if (fx != null) {
            fx.close();
        }
    }

    java.net.URI uri(String path) {
        return fx.container.uri(path);
    }

    HttpResponse<String> ai(String path, String subject, String body, String... headers) {
        return TestHttp.postJson(uri(path), subject, body, headers);
    }

    static String chat(String userText, int maxTokens) {
        return "{\"model\":\"gpt-4o\",\"messages\":[{\"role\":\"user\",\"content\":\"" + userText + "\"}],\"max_tokens\":" + maxTokens + "}";
    }

    // ---------------------------------------------------------------- the filter

    @Test
    void reservesTheEstimateAndChargesTheOpenAiUsage() {
        String subject = newSubject();
        String text = "a".repeat(40); // 10 tokens with the quarter estimator
        HttpResponse<String> r = ai("/ai/openai", subject, chat(text, 50));
        assertEquals(200, r.statusCode());
        assertEquals(FakeModelServlet.OPENAI_BODY, r.body(), "the response passes through byte for byte");
        assertEquals("10000", header(r, "X-Quota-Limit"));
        assertEquals(Long.toString(10_000 - 60 - FRAME), header(r, "X-Quota-Remaining"), "remaining reflects the hold");
        assertEquals(fx.policy.resetOf(fx.policy.currentMonth()).toString(), header(r, "X-Quota-Reset"));
        assertNull(header(r, "X-Quota-Warning"));
        QuotaAccount a = fx.awaitSettled(subject);
        assertEquals(42, a.used());
        List<LedgerEvent> events = fx.events(subject);
        assertEquals(List.of(EventKind.RESERVED, EventKind.COMMITTED), events.stream().map(LedgerEvent::kind).toList());
        assertEquals(60 + FRAME, events.get(0).tokens());
        assertEquals("/ai/openai", events.get(0).detail());
        assertEquals(42, events.get(1).tokens());
    }

    /**
     * The end of the answer waits for its charge: a client that sends its next call the instant it has
     * this one, on any connection or instance, is reserved against a ledger that has it.
     */
    @Test
    void theClientHasTheEndOfTheAnswerOnlyOnceItsChargeHasLanded() throws Exception {
        String subject = newSubject();
        java.util.concurrent.CompletableFuture<HttpResponse<String>> pending = TestHttp.client().sendAsync(
                TestHttp.jsonPost(fx.container.uri("/slowcommit/openai"), subject, chat("a".repeat(40), 50)),
                HttpResponse.BodyHandlers.ofString());
        // the commit waits at the gate: were the end sent before it, the client would have it within this bound
        org.junit.jupiter.api.Assertions.assertThrows(java.util.concurrent.TimeoutException.class,
                () -> pending.get(500, java.util.concurrent.TimeUnit.MILLISECONDS));
        assertEquals(60 + FRAME, fx.account(subject).reserved(), "still held: the charge has not landed yet");
        fx.commitGate.countDown();
        HttpResponse<String> r = pending.get(10, java.util.concurrent.TimeUnit.SECONDS);
        assertEquals(200, r.statusCode());
        assertEquals(FakeModelServlet.OPENAI_BODY, r.body());
        QuotaAccount a = fx.account(subject);
        assertEquals(42, a.used(), "charged by the time the client has the answer");
        assertEquals(0, a.reserved());
    }

    @Test
    void chargesAnthropicUsageWrittenThroughTheWriter() {
        String subject = newSubject();
        assertEquals(200, ai("/ai/anthropic", subject, chat("hi", 10)).statusCode());
        assertEquals(42, fx.awaitSettled(subject).used());
    }

    @Test
    void chargesPromptPlusCompletionWithoutATotal() {
        String subject = newSubject();
        assertEquals(200, ai("/ai/openai-split", subject, chat("hi", 10)).statusCode());
        assertEquals(11, fx.awaitSettled(subject).used());
    }

    @Test
    void theHandlersHeaderWinsAndIsNotSentToTheClient() {
        String subject = newSubject();
        HttpResponse<String> r = ai("/ai/header", subject, chat("hi", 10));
        assertEquals(200, r.statusCode());
        assertNull(header(r, QuotaFilter.ACTUAL_TOKENS_HEADER));
        assertEquals(77, fx.awaitSettled(subject).used());
    }

    @Test
    void theHandlersAttributeWinsOverTheResponseUsage() {
        String subject = newSubject();
        assertEquals(200, ai("/ai/attribute", subject, chat("hi", 10)).statusCode());
        assertEquals(88, fx.awaitSettled(subject).used());
    }

    @Test
    void withoutReportedUsageTheEstimateIsCharged() {
        String subject = newSubject();
        String text = "b".repeat(80); // 20 tokens
        assertEquals(200, ai("/ai/plain", subject, chat(text, 30)).statusCode());
        assertEquals(50 + FRAME, fx.awaitSettled(subject).used());
        // no output budget in the body: the endpoint default is added
        String other = newSubject();
        assertEquals(200, ai("/ai/plain", other, "{\"prompt\":\"" + text + "\"}").statusCode());
        assertEquals(20 + Fixture.OUTPUT_DEFAULT, fx.awaitSettled(other).used());
    }

    @Test
    void theRequestedOutputBudgetIsCapped() {
        String subject = newSubject();
        String body = "{\"input\":[\"abcd\",\"efgh\"],\"max_output_tokens\":999999999999999999999}";
        assertEquals(200, ai("/ai/plain", subject, body).statusCode());
        assertEquals(2 + Fixture.OUTPUT_CAP, fx.awaitSettled(subject).used());
    }

    @Test
    void brokenOrNonJsonBodiesCostTheFallbackEstimate() {
        String broken = newSubject();
        assertEquals(200, ai("/ai/plain", broken, "{\"messages\":[{\"content\":\"unterminated").statusCode());
        assertEquals(Fixture.FALLBACK, fx.awaitSettled(broken).used());
        String text = newSubject();
        HttpResponse<String> r = post(uri("/ai/plain"), "just words", "x-user-id", text, "Content-Type", "text/plain");
        assertEquals(200, r.statusCode());
        assertEquals(Fixture.FALLBACK, fx.awaitSettled(text).used());
    }

    @Test
    void theBodyIsReplayedIntactToTheStreamAndTheReader() {
        String body = "{\"prompt\":\"h\u00e9llo w\u00f6rld \u4f60\u597d \ud83d\ude00\",\"n\":1," + "\"pad\":\"" + "z".repeat(20_000) + "\"}";
        for (String via : List.of("stream", "reader")) {
            String subject = newSubject();
            HttpResponse<String> r = ai("/ai/echo?via=" + via, subject, body);
            assertEquals(200, r.statusCode(), via);
            assertEquals(body, r.body(), "downstream read the whole body through the " + via);
            fx.awaitSettled(subject);
        }
    }

    @Test
    void aServerErrorReleasesTheHold() {
        String subject = newSubject();
        assertEquals(502, ai("/ai/fail", subject, chat("hi", 10)).statusCode());
        QuotaAccount a = fx.awaitSettled(subject);
        assertEquals(0, a.used());
        assertEquals(List.of(EventKind.RESERVED, EventKind.RELEASED), fx.kinds(subject));
    }

    @Test
    void anExceptionReleasesTheHold() {
        String subject = newSubject();
        assertEquals(500, ai("/ai/throw", subject, chat("hi", 10)).statusCode());
        assertEquals(0, fx.awaitSettled(subject).used());
        assertEquals(List.of(EventKind.RESERVED, EventKind.RELEASED), fx.kinds(subject));
    }

    @Test
    void serverSentEventsStreamThroughAndTheFinalUsageIsChargedOnce() throws Exception {
        String subject = newSubject();
        String testId = "sse-" + subject;
        CountDownLatch firstRead = new CountDownLatch(1);
        FakeModelServlet.FIRST_EVENT_READ.put(testId, firstRead);
        HttpRequest request = TestHttp.request(uri("/ai/sse"), "x-user-id", subject, "X-Test-Id", testId,
                        "Content-Type", "application/json")
                .POST(HttpRequest.BodyPublishers.ofString("{\"stream\":true,\"messages\":[{\"content\":\"hey\"}]}")).build();
        HttpResponse<InputStream> r = TestHttp.client().send(request, HttpResponse.BodyHandlers.ofInputStream());
        assertEquals(200, r.statusCode());
        assertTrue(r.headers().firstValue("Content-Type").orElse("").startsWith("text/event-stream"));
        assertTrue(r.headers().firstValue("X-Quota-Remaining").isPresent());
        try (BufferedReader in = new BufferedReader(new InputStreamReader(r.body(), StandardCharsets.UTF_8))) {
            String first = in.readLine();
            assertTrue(first.contains("Hel"), first);
            // the servlet is blocked until now: this line arrived before the stream ended
            firstRead.countDown();
            StringBuilder rest = new StringBuilder();
            String line;
            while ((line = in.readLine()) != null) {
                rest.append(line).append('\n');
            }
            assertTrue(rest.toString().contains("first-event-read"), rest.toString());
            assertTrue(rest.toString().contains("[DONE]"));
        }
        assertEquals(23, fx.awaitSettled(subject).used());
        assertEquals(1, fx.kinds(subject).stream().filter(k -> k == EventKind.COMMITTED).count());
    }

    @Test
    void anAsyncServletIsSettledOnceWhenItCompletes() {
        String subject = newSubject();
        HttpResponse<String> r = ai("/ai/async", subject, chat("hi", 10));
        assertEquals(200, r.statusCode());
        assertEquals(33, fx.awaitSettled(subject).used());
        assertEquals(List.of(EventKind.RESERVED, EventKind.COMMITTED), fx.kinds(subject));
    }

    @Test
    void anAsyncStreamIsSettledOnceWhenTheClientDisconnects() throws Exception {
        String subject = newSubject();
        String testId = "gone-" + subject;
        CountDownLatch closed = new CountDownLatch(1);
        FakeModelServlet.FIRST_EVENT_READ.put(testId, closed);
        CountDownLatch seen = new CountDownLatch(1);
        FakeModelServlet.DISCONNECT_SEEN.put(testId, seen);
        byte[] body = chat("c".repeat(40), 50).getBytes(StandardCharsets.UTF_8);
        try (Socket socket = new Socket("127.0.0.1", fx.container.port())) {
            OutputStream out = socket.getOutputStream();
            out.write(("POST /ai/async-disconnect HTTP/1.1\r\nHost: 127.0.0.1\r\nx-user-id: " + subject
                    + "\r\nX-Test-Id: " + testId + "\r\nContent-Type: application/json\r\nContent-Length: " + body.length
                    + "\r\n\r\n").getBytes(StandardCharsets.US_ASCII));
            out.write(body);
            out.flush();
            InputStream in = socket.getInputStream();
            String received = readUntil(in, "first");
            assertTrue(received.startsWith("HTTP/1.1 200"), received);
            socket.setSoLinger(true, 0); // reset, as a client killed mid-stream does
        }
        closed.countDown();
        assertTrue(seen.await(30, TimeUnit.SECONDS), "the servlet saw the broken connection");
        QuotaAccount a = fx.awaitSettled(subject);
        List<EventKind> kinds = fx.kinds(subject);
        assertEquals(EventKind.RESERVED, kinds.get(0));
        assertEquals(2, kinds.size(), "settled exactly once: " + kinds);
        // hanging up mid-stream does not make the call free: the hold (the estimate) is charged, or the text
        // the endpoint streamed when it is far past the budget (this one writes 8,000 characters a chunk
        // until a write fails, whatever max_tokens says)
        assertEquals(EventKind.COMMITTED, kinds.get(1));
        assertTrue(a.used() >= 60, "charged " + a.used());
    }

    private static String readUntil(InputStream in, String marker) throws IOException {
        StringBuilder sb = new StringBuilder();
        byte[] buffer = new byte[1024];
        while (!sb.toString().contains(marker)) {
            int n = in.read(buffer);
            if (n < 0) {
                break;
            }
            sb.append(new String(buffer, 0, n, StandardCharsets.ISO_8859_1));
        }
        return sb.toString();
    }

    @Test
    void anOversizedBodyGets413BeforeAnythingIsHeld() {
        String subject = newSubject();
        String big = "{\"prompt\":\"" + "x".repeat(Fixture.SMALL_BODY_LIMIT) + "\"}";
        HttpResponse<String> r = post(uri("/small/plain"), big, "x-user-id", subject, "Content-Type", "application/json");
        assertProblem(r, 413, "body-too-large");
        // without Content-Length (chunked): counted while reading
        HttpRequest chunked = TestHttp.request(uri("/small/plain"), "x-user-id", subject, "Content-Type", "application/json")
                .POST(HttpRequest.BodyPublishers.ofInputStream(() -> new ByteArrayInputStream(big.getBytes(StandardCharsets.UTF_8))))
                .build();
        assertProblem(TestHttp.send(chunked), 413, "body-too-large");
        assertEquals(List.of(), fx.events(subject));
        // just under the limit passes
        String fits = "{\"prompt\":\"" + "x".repeat(Fixture.SMALL_BODY_LIMIT - 20) + "\"}";
        assertEquals(200, post(uri("/small/plain"), fits, "x-user-id", subject, "Content-Type", "application/json").statusCode());
    }

    @Test
    void noSubjectGets401() {
        HttpResponse<String> r = post(uri("/ai/openai"), chat("hi", 10), "Content-Type", "application/json");
        assertProblem(r, 401, "unauthenticated");
    }

    @Test
    void aForgedIdentityHeaderFromAnUntrustedAddressIsNeverBelieved() {
        String victim = newSubject();
        HttpResponse<String> r = post(uri("/untrusted/openai"), chat("hi", 10), "x-user-id", victim,
                "Content-Type", "application/json");
        assertProblem(r, 401, "unauthenticated");
        assertEquals(List.of(), fx.events(victim));
        r = get(uri(API + "/quota"), "x-user-id", victim);
        assertEquals(200, r.statusCode(), "the same header is believed from the trusted loopback proxy");
    }

    @Test
    void anExhaustedSubjectGets429WithRetryAfterAndTheNumbers() {
        String subject = newSubject();
        fx.store.setPlan(subject, 100);
        HttpResponse<String> r = ai("/ai/openai", subject, chat("d".repeat(400), 200));
        assertProblem(r, 429, "quota-exceeded");
        Map<String, Object> p = json(r);
        assertEquals(100L, p.get("limit"));
        assertEquals(100L, p.get("available"));
        assertEquals(300L + FRAME, p.get("requested"));
        Instant reset = fx.policy.resetOf(fx.policy.currentMonth());
        assertEquals(reset.toString(), p.get("reset"));
        long retryAfter = Long.parseLong(header(r, "Retry-After"));
        long expected = Duration.between(Instant.now(), reset).getSeconds();
        assertTrue(Math.abs(retryAfter - expected) <= 5, retryAfter + " vs " + expected);
        assertEquals("100", header(r, "X-Quota-Limit"));
        assertEquals("100", header(r, "X-Quota-Remaining"));
        assertEquals(reset.toString(), header(r, "X-Quota-Reset"));
        assertEquals(List.of(EventKind.PLAN_CHANGED, EventKind.REJECTED), fx.kinds(subject));
        assertEquals(0, fx.account(subject).used());
    }

    @Test
    void aTeamMemberGets429NamingTheTeamWithTheTeamsNumbers() {
        String subject = newSubject();
        String team = "team-" + subject;
        fx.store.setPlan(io.tokenquota.Team.subject(team), 500);
        fx.store.setTeam(subject, team);
        HttpResponse<String> ok = ai("/ai/plain", subject, chat("t".repeat(40), 90)); // 100 held of the team's 500
        assertEquals(200, ok.statusCode());
        // the member has its default allocation; the team's 500 is the stricter limit, so the headers show it
        assertEquals("500", header(ok, "X-Quota-Limit"));
        fx.awaitSettled(subject);
        HttpResponse<String> r = ai("/ai/openai", subject, chat("d".repeat(400), 500));
        assertProblem(r, 429, "quota-exceeded");
        Map<String, Object> p = json(r);
        assertEquals("team", p.get("scope"));
        assertEquals(team, p.get("team_id"));
        assertEquals(500L, p.get("limit"));
        assertEquals(500L - fx.store.account(io.tokenquota.Team.subject(team)).used(), p.get("available"));
        assertEquals(fx.policy.resetOf(fx.policy.currentMonth()).toString(), p.get("reset"));
        assertEquals("500", header(r, "X-Quota-Limit"));
        assertEquals(0, fx.account(subject).reserved());
    }

    @Test
    void aUserWithoutTeamGets429NamingItsOwnScope() {
        String subject = newSubject();
        fx.store.setPlan(subject, 100);
        Map<String, Object> p = json(ai("/ai/openai", subject, chat("d".repeat(400), 200)));
        assertEquals("user", p.get("scope"));
        assertFalse(p.containsKey("team_id"));
    }

    @Test
    void theWarningHeaderAppearsPastTheThreshold() {
        String subject = newSubject();
        fx.store.setPlan(subject, 1_000);
        HttpResponse<String> low = ai("/ai/plain", subject, chat("e".repeat(40), (int) (90 - FRAME))); // 100 held: 10 %
        assertNull(header(low, "X-Quota-Warning"));
        fx.awaitSettled(subject);
        HttpResponse<String> high = ai("/ai/plain", subject, chat("e".repeat(40), (int) (740 - FRAME))); // 100 used + 750 held
        assertEquals(200, high.statusCode());
        assertTrue(header(high, "X-Quota-Warning").startsWith("85.0%"), header(high, "X-Quota-Warning"));
    }

    @Test
    void aReplayedIdempotencyKeyIsChargedOnceAndRefusedAfterwards() {
        String subject = newSubject();
        assertEquals(200, ai("/ai/openai", subject, chat("hi", 10), "Idempotency-Key", "req-1").statusCode());
        fx.awaitSettled(subject);
        HttpResponse<String> replay = ai("/ai/openai", subject, chat("hi", 10), "Idempotency-Key", "req-1");
        assertProblem(replay, 409, "idempotency-conflict");
        assertEquals(42, fx.account(subject).used());
        HttpResponse<String> changed = ai("/ai/openai", subject, chat("a longer question now", 10), "Idempotency-Key", "req-1");
        assertProblem(changed, 409, "idempotency-conflict");
    }

    @Test
    void anUnreachableLedgerFailsClosedWith503() {
        HttpResponse<String> r = ai("/closed/openai", newSubject(), chat("hi", 10));
        assertProblem(r, 503, "store-unavailable");
    }

    @Test
    void failOpenLetsTheRequestThroughUnchargedAndCountsIt() {
        long before = fx.openFilter.failOpenCount();
        HttpResponse<String> r = ai("/open/echo", newSubject(), "{\"prompt\":\"still served\"}");
        assertEquals(200, r.statusCode());
        assertEquals("{\"prompt\":\"still served\"}", r.body());
        assertNull(header(r, "X-Quota-Limit"));
        assertEquals(before + 1, fx.openFilter.failOpenCount());
    }

    @Test
    void aSettlementTheLedgerRefusesIsCountedForMonitoring() {
        long before = fx.failingSettlements.settleFailureCount();
        HttpResponse<String> r = ai("/unsettled/openai", newSubject(), chat("hi", 10));
        assertEquals(200, r.statusCode(), "the client already has its answer when the charge fails");
        Fixture.await(() -> fx.failingSettlements.settleFailureCount() == before + 1, "the failed settlement counted");
    }

    /**
     * A preflight asks for no model: held as the call would be, and released without usage (the
     * servlet's own {@code doOptions} answers it). One without credentials, as browsers send them,
     * passes uncharged rather than 401, which would fail the browser's CORS check.
     */
    @Test
    void preflightsAreNotChargedAndNeedNoCredentials() {
        String subject = newSubject();
        URI endpoint = uri("/ai/sdk/chat/completions");
        HttpResponse<String> r = TestHttp.send(TestHttp.request(endpoint, "x-user-id", subject, "Origin", "https://app.example",
                "Access-Control-Request-Method", "POST").method("OPTIONS", HttpRequest.BodyPublishers.noBody()).build());
        assertEquals(200, r.statusCode());
        QuotaAccount a = fx.awaitSettled(subject);
        assertEquals(0, a.used(), fx.events(subject).toString());
        HttpRequest anonymous = TestHttp.request(endpoint, "Origin", "https://app.example",
                "Access-Control-Request-Method", "POST").method("OPTIONS", HttpRequest.BodyPublishers.noBody()).build();
        assertEquals(200, TestHttp.send(anonymous).statusCode());
        HttpRequest bare = TestHttp.request(endpoint).method("OPTIONS", HttpRequest.BodyPublishers.noBody()).build();
        assertEquals(401, TestHttp.send(bare).statusCode(), "an OPTIONS that is no preflight needs a subject");
    }

    /** An endpoint that answers every method with a model call (the fixture's) is charged its usage on OPTIONS too. */
    @Test
    void anOptionsAnsweredWithAModelCallIsChargedItsUsage() {
        String subject = newSubject();
        HttpResponse<String> r = TestHttp.send(TestHttp.request(uri("/ai/openai"), "x-user-id", subject)
                .method("OPTIONS", HttpRequest.BodyPublishers.noBody()).build());
        assertEquals(200, r.statusCode());
        assertEquals(42, fx.awaitSettled(subject).used(), fx.events(subject).toString());
    }

    // ---------------------------------------------------------------- issue 11: no call unpaid, nothing uncalled charged

    @Test
    void aJsonBodyLabelledTextPlainIsEstimatedAsJson() {
        String subject = newSubject();
        String body = chat("a".repeat(4_000), 50); // 1,000 text tokens with the quarter estimator + 50
        HttpResponse<String> r = post(uri("/ai/plain"), body, "x-user-id", subject, "Content-Type", "text/plain");
        assertEquals(200, r.statusCode());
        assertEquals(1_050 + FRAME, fx.awaitSettled(subject).used(), "the label does not shrink the estimate to the fallback");
        String other = newSubject();
        assertEquals(200, post(uri("/ai/plain"), body, "x-user-id", other, "Content-Type", "application/octet-stream").statusCode());
        assertEquals(1_050 + FRAME, fx.awaitSettled(other).used());
    }

    @Test
    void theBodyLimitAppliesWhateverTheContentType() {
        String subject = newSubject();
        String big = "{\"prompt\":\"" + "x".repeat(Fixture.SMALL_BODY_LIMIT) + "\"}";
        for (String type : List.of("text/plain", "application/octet-stream", "image/png")) {
            assertProblem(post(uri("/small/plain"), big, "x-user-id", subject, "Content-Type", type), 413, "body-too-large", type);
        }
        HttpRequest untyped = TestHttp.request(uri("/small/plain"), "x-user-id", subject)
                .POST(HttpRequest.BodyPublishers.ofInputStream(() -> new ByteArrayInputStream(big.getBytes(StandardCharsets.UTF_8))))
                .build();
        assertProblem(TestHttp.send(untyped), 413, "body-too-large");
        assertEquals(List.of(), fx.events(subject));
    }

    @Test
    void plainTextIsEstimatedByItsCharactersAndAFormIsStillReadable() {
        String subject = newSubject();
        String prose = "word ".repeat(800); // 1,000 quarter tokens: more than the fallback
        assertEquals(200, post(uri("/ai/plain"), prose, "x-user-id", subject, "Content-Type", "text/plain").statusCode());
        // the estimate, and the answer's own text ("no usage here", 4 tokens) written raw
        assertEquals(1_004, fx.awaitSettled(subject).used());
        String form = newSubject();
        HttpResponse<String> r = post(uri("/ai/form?x=1"), "prompt=hello+there&n=2&n=3", "x-user-id", form,
                "Content-Type", "application/x-www-form-urlencoded");
        assertEquals(200, r.statusCode());
        assertEquals("prompt=hello there;n=2,3;x=1", r.body(), "the endpoint still sees the form parameters");
    }

    @Test
    void aCallThatOutlivesItsHoldIsStillChargedItsUsage() throws Exception {
        // the store charges a commit after expiry as a late commit; the filter just commits what it saw
        String subject = newSubject();
        String id = "late-" + subject;
        CountDownLatch started = FakeModelServlet.STARTED.computeIfAbsent(id, k -> new CountDownLatch(1));
        CountDownLatch gate = FakeModelServlet.GATE.computeIfAbsent(id, k -> new CountDownLatch(1));
        java.util.concurrent.CompletableFuture<HttpResponse<String>> call = TestHttp.client().sendAsync(
                TestHttp.request(uri("/clocked/gated"), "x-user-id", subject, "X-Test-Id", id, "Content-Type", "application/json")
                        .POST(HttpRequest.BodyPublishers.ofString(chat("hi", 10))).build(),
                HttpResponse.BodyHandlers.ofString());
        assertTrue(started.await(30, TimeUnit.SECONDS), "the model call started");
        fx.clock.advance(Fixture.CLOCKED_TTL.plusMinutes(1));
        assertEquals(1, fx.clockedStore.expireStale(), "the hold expired while the model was still answering");
        gate.countDown();
        assertEquals(200, call.get(30, TimeUnit.SECONDS).statusCode());
        Fixture.await(() -> fx.clockedStore.account(subject).used() == 42, "the late usage of " + subject + " charged");
        assertEquals(0, fx.clockedStore.account(subject).reserved());
    }

    @Test
    void anAsyncTimeoutAfterTheAnswerWasWrittenChargesTheUsage() throws Exception {
        String subject = newSubject();
        HttpRequest request = TestHttp.request(uri("/ai/async-timeout"), "x-user-id", subject, "Content-Type", "application/json")
                .POST(HttpRequest.BodyPublishers.ofString(chat("hi", 10))).build();
        HttpResponse<InputStream> r = TestHttp.client().send(request, HttpResponse.BodyHandlers.ofInputStream());
        assertEquals(200, r.statusCode());
        try (InputStream in = r.body()) {
            assertTrue(readUntil(in, "[DONE]").contains("total_tokens"));
        }
        Fixture.await(() -> fx.account(subject).reserved() == 0, "settled after the container's timeout");
        assertEquals(5_000, fx.account(subject).used());
    }

    @Test
    void oneIdempotencyKeySentConcurrentlyBuysExactlyOneModelCall() throws Exception {
        String subject = newSubject();
        String id = "idem-" + subject;
        int clients = 8;
        CountDownLatch gate = FakeModelServlet.GATE.computeIfAbsent(id, k -> new CountDownLatch(1));
        List<java.util.concurrent.CompletableFuture<HttpResponse<String>>> calls = new java.util.ArrayList<>();
        for (int i = 0; i < clients; i++) {
            calls.add(TestHttp.client().sendAsync(TestHttp.request(uri("/ai/gated"), "x-user-id", subject, "X-Test-Id", id,
                            "Idempotency-Key", "same-key", "Content-Type", "application/json")
                    .POST(HttpRequest.BodyPublishers.ofString(chat("hi", 10))).build(), HttpResponse.BodyHandlers.ofString()));
        }
        // every request but the owner is answered while the owner's model call is still running
        Fixture.await(() -> calls.stream().filter(java.util.concurrent.CompletableFuture::isDone).count() >= clients - 1,
                "the other requests answered");
        gate.countDown();
        List<Integer> statuses = new java.util.ArrayList<>();
        for (var c : calls) {
            statuses.add(c.get(30, TimeUnit.SECONDS).statusCode());
        }
        assertEquals(1, statuses.stream().filter(s -> s == 200).count(), statuses.toString());
        assertEquals(clients - 1, statuses.stream().filter(s -> s == 409).count(), statuses.toString());
        assertEquals(1, FakeModelServlet.CALLS.get(id).get(), "one model call");
        assertEquals(42, fx.awaitSettled(subject).used());
        // and again after it finished: still no second call
        assertProblem(ai("/ai/gated", subject, chat("hi", 10), "Idempotency-Key", "same-key", "X-Test-Id", id), 409,
                "idempotency-conflict");
        assertEquals(1, FakeModelServlet.CALLS.get(id).get());
    }

    @Test
    void usageIsReadOnlyWhereEachProviderPutsIt() {
        Map<String, Long> expected = Map.of(
                "/ai/anthropic-tool", 124L,
                "/ai/anthropic-cache", 91_312L,
                "/ai/gemini-tool", 57L,
                "/ai/anthropic-stream", 55L);
        expected.forEach((path, tokens) -> {
            String subject = newSubject();
            fx.store.setPlan(subject, 1_000_000);
            assertEquals(200, ai(path, subject, chat("hi", 10)).statusCode(), path);
            assertEquals(tokens, fx.awaitSettled(subject).used(), path);
        });
    }

    @Test
    void aHugeBase64AnswerIsScannedWithoutKeepingIt() {
        String subject = newSubject();
        HttpResponse<String> r = ai("/ai/image", subject, "{\"prompt\":\"a cat\",\"n\":1}");
        assertEquals(200, r.statusCode());
        assertTrue(r.body().length() > FakeModelServlet.IMAGE_BYTES);
        assertEquals(4_050, fx.awaitSettled(subject).used(), "the usage after a 9 MB string is found");
    }

    @Test
    void aRefusalWithoutUsageIsNotCharged() {
        for (int code : List.of(400, 404, 405, 409, 413, 415, 422, 429)) {
            String subject = newSubject();
            HttpResponse<String> r = ai("/ai/status?code=" + code, subject, chat("hi", 8_000));
            assertEquals(code, r.statusCode());
            QuotaAccount a = fx.awaitSettled(subject);
            assertEquals(0, a.used(), "status " + code);
            assertEquals(List.of(EventKind.RESERVED, EventKind.RELEASED), fx.kinds(subject), "status " + code);
        }
        String put = newSubject();
        HttpRequest wrongMethod = TestHttp.request(uri("/ai/not-a-model-path"), "x-user-id", put, "Content-Type", "application/json")
                .PUT(HttpRequest.BodyPublishers.ofString(chat("hi", 8_000))).build();
        assertEquals(404, TestHttp.send(wrongMethod).statusCode());
        assertEquals(0, fx.awaitSettled(put).used());
        String get = newSubject();
        assertEquals(404, get(uri("/ai/nothing"), "x-user-id", get).statusCode());
        assertEquals(0, fx.awaitSettled(get).used());
    }

    @Test
    void forwardedHeadersCannotMakeAClientATrustedProxy() {
        String victim = newSubject();
        // the container takes the client address from these headers; /untrusted/ trusts 203.0.113.7 only
        HttpResponse<String> xff = post(uri("/untrusted/openai"), chat("hi", 10), "x-user-id", victim,
                "X-Forwarded-For", "203.0.113.7", "Content-Type", "application/json");
        assertProblem(xff, 401, "unauthenticated");
        HttpResponse<String> forwarded = post(uri("/untrusted/openai"), chat("hi", 10), "x-user-id", victim,
                "Forwarded", "for=203.0.113.7;proto=http", "X-Forwarded-For", "203.0.113.7", "Content-Type", "application/json");
        assertProblem(forwarded, 401, "unauthenticated");
        assertEquals(List.of(), fx.events(victim));
    }

    @Test
    void prefixesMatchWholePathSegments() {
        String admin = newSubject();
        assertEquals(200, ai("/seg/ai-admin/plain", admin, chat("hi", 10)).statusCode());
        assertEquals(List.of(), fx.events(admin), "/seg/ai does not cover /seg/ai-admin");
        String bare = newSubject();
        ai("/seg/v2", bare, chat("hi", 10));
        assertEquals(EventKind.RESERVED, fx.kinds(bare).get(0), "/seg/v2/ covers the bare /seg/v2");
        String exact = newSubject();
        ai("/seg/ai", exact, chat("hi", 10));
        assertEquals(EventKind.RESERVED, fx.kinds(exact).get(0), "/seg/ai covers itself");
        String below = newSubject();
        assertEquals(200, ai("/seg/ai/plain", below, chat("hi", 10)).statusCode());
        fx.awaitSettled(below);
        assertEquals(List.of(EventKind.RESERVED, EventKind.COMMITTED), fx.kinds(below));
    }

    @Test
    void anUnknownCharsetGets415AndNothingIsHeld() {
        String subject = newSubject();
        for (String type : List.of("application/json; charset=x-no-such-charset", "text/plain; charset=\"utf-\u00e9\"")) {
            HttpResponse<String> r = post(uri("/ai/echo?via=reader"), chat("hi", 10), "x-user-id", subject, "Content-Type", type);
            assertProblem(r, 415, "unsupported-media-type", type);
        }
        assertEquals(List.of(), fx.events(subject));
        String latin = newSubject();
        HttpResponse<String> ok = post(uri("/ai/echo?via=reader"), chat("hi", 10), "x-user-id", latin,
                "Content-Type", "application/json; charset=ISO-8859-1");
        assertEquals(200, ok.statusCode(), "a known charset passes");
    }

    @Test
    void theIetfRateLimitFieldsAccompanyTheQuotaHeaders() {
        String subject = newSubject();
        HttpResponse<String> r = ai("/ai/openai", subject, chat("a".repeat(40), 50));
        assertEquals(200, r.statusCode());
        java.time.YearMonth month = fx.policy.currentMonth();
        long window = Duration.between(fx.policy.startOf(month), fx.policy.resetOf(month)).getSeconds();
        assertEquals("\"monthly-tokens\";q=10000;qu=\"tokens\";w=" + window, header(r, "RateLimit-Policy"));
        String rateLimit = header(r, "RateLimit");
        assertTrue(rateLimit.startsWith("\"monthly-tokens\";r=" + (9940 - FRAME) + ";t="), rateLimit);
        long t = Long.parseLong(rateLimit.substring(rateLimit.indexOf(";t=") + 3));
        long expected = Duration.between(Instant.now(), fx.policy.resetOf(month)).getSeconds();
        assertTrue(Math.abs(t - expected) <= 5, t + " vs " + expected);

        String exhausted = newSubject();
        fx.store.setPlan(exhausted, 10);
        HttpResponse<String> refused = ai("/ai/openai", exhausted, chat("hi", 100));
        assertEquals(429, refused.statusCode());
        assertTrue(header(refused, "RateLimit").startsWith("\"monthly-tokens\";r=10;t="), header(refused, "RateLimit"));
        assertTrue(header(refused, "RateLimit-Policy").startsWith("\"monthly-tokens\";q=10;"));
    }

    @Test
    void aPaymentAmountSentAsADecimalStringIsTakenExactly() {
        String subject = newSubject();
        String tx = "str-" + subject;
        byte[] body = ("{\"transaction_id\":\"" + tx + "\",\"user_id\":\"" + subject + "\",\"token_amount\":3000,"
                + "\"amount\":\"3300.00\",\"currency\":\"KRW\",\"status\":\"completed\"}").getBytes(StandardCharsets.UTF_8);
        HttpResponse<String> r = signedCallback(body);
        assertEquals(200, r.statusCode(), r.body());
        assertEquals(new java.math.BigDecimal("3300.00"), fx.store.purchase(tx).orElseThrow().amount());
        String precise = "num-" + subject;
        byte[] number = ("{\"transaction_id\":\"" + precise + "\",\"user_id\":\"" + subject + "\",\"token_amount\":10,"
                + "\"amount\":0.10,\"currency\":\"USD\",\"status\":\"completed\"}").getBytes(StandardCharsets.UTF_8);
        assertEquals(200, signedCallback(number).statusCode());
        assertEquals(new java.math.BigDecimal("0.10"), fx.store.purchase(precise).orElseThrow().amount());
    }

    @Test
    void aMultipartUploadStillHasItsPartsAndItsTextFieldsCount() {
        String subject = newSubject();
        String boundary = "----tq" + subject;
        byte[] audio = new byte[3_000];
        for (int i = 0; i < audio.length; i++) {
            audio[i] = (byte) (i * 31);
        }
        java.io.ByteArrayOutputStream body = new java.io.ByteArrayOutputStream();
        body.writeBytes(("--" + boundary + "\r\nContent-Disposition: form-data; name=\"prompt\"\r\n\r\n" + "x".repeat(4_000)
                + "\r\n--" + boundary + "\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.wav\"\r\n"
                + "Content-Type: audio/wav\r\n\r\n").getBytes(StandardCharsets.UTF_8));
        body.writeBytes(audio);
        body.writeBytes(("\r\n--" + boundary + "--\r\n").getBytes(StandardCharsets.UTF_8));
        HttpResponse<String> r = post(uri("/ai/upload/transcribe"), body.toByteArray(), "x-user-id", subject,
                "Content-Type", "multipart/form-data; boundary=" + boundary);
        assertEquals(200, r.statusCode(), r.body());
        assertEquals("prompt=4000;file=3000 file;", r.body(), "the endpoint still gets its parts");
        // the text field counts (4,000 characters and a newline: 1,001), the audio by its duration (3,000 bytes
        // that are no WAV count at 16 kbit/s: 1.5 s, 26 audio tokens), plus the default output budget a JSON
        // body of the same fields gets (100 here): not a transcription path, so the answer may be long
        assertEquals(1_127, fx.awaitSettled(subject).used(), "the text field, the audio and the default budget count");
        String big = newSubject();
        byte[] tooLarge = ("--" + boundary + "\r\nContent-Disposition: form-data; name=\"prompt\"\r\n\r\n"
                + "y".repeat(Fixture.SMALL_BODY_LIMIT * 300) + "\r\n--" + boundary + "--\r\n").getBytes(StandardCharsets.UTF_8);
        assertProblem(post(uri("/ai/upload/transcribe"), tooLarge, "x-user-id", big,
                "Content-Type", "multipart/form-data; boundary=" + boundary), 413, "body-too-large");
        assertEquals(List.of(), fx.events(big));
    }

    // ---------------------------------------------------------------- the providers' own clients

    @Test
    void theOfficialOpenAiClientIsChargedWhatItParsed() {
        for (boolean stream : List.of(false, true)) {
            String subject = newSubject();
            long parsed = ProviderSdkClients.openAi(uri("/ai/sdk/openai/v1"), subject, stream);
            assertEquals(stream ? 33 : 26, parsed, "the SDK's own reading");
            assertEquals(parsed, fx.awaitSettled(subject).used(), "stream=" + stream);
        }
    }

    @Test
    void theOfficialAnthropicClientIsChargedWhatItParsedCacheTokensIncluded() {
        for (boolean stream : List.of(false, true)) {
            String subject = newSubject();
            long parsed = ProviderSdkClients.anthropic(uri("/ai/sdk/anthropic"), subject, stream);
            assertEquals(21 + 13 + 100 + 2_000, parsed, "the SDK's own reading");
            assertEquals(parsed, fx.awaitSettled(subject).used(), "stream=" + stream);
        }
    }

    // ---------------------------------------------------------------- the API

    @Test
    void quotaShowsTheOriginalServiceFieldsForTheResolvedSubject() {
        String subject = newSubject();
        fx.store.consume(subject, 1_500, null);
        HttpResponse<String> r = get(uri(API + "/quota"), "x-user-id", subject);
        assertEquals(200, r.statusCode());
        assertTrue(header(r, "Content-Type").startsWith("application/json"));
        Map<String, Object> q = json(r);
        assertEquals(List.of("user_id", "plan_month", "allocated_quota", "used_tokens", "remaining_tokens",
                "purchased_tokens", "reserved_tokens", "carried_tokens", "total_quota", "usage_percentage",
                "is_quota_exceeded", "created_at", "updated_at"), List.copyOf(q.keySet()));
        assertEquals(subject, q.get("user_id"));
        assertEquals(fx.policy.currentMonth().atDay(1).toString(), q.get("plan_month"));
        assertEquals(10_000L, q.get("allocated_quota"));
        assertEquals(1_500L, q.get("used_tokens"));
        assertEquals(8_500L, q.get("remaining_tokens"));
        assertEquals(15.0, q.get("usage_percentage"));
        assertEquals(false, q.get("is_quota_exceeded"));
        Instant.parse((String) q.get("created_at"));
        assertProblem(get(uri(API + "/quota")), 401, "unauthenticated");
    }

    @Test
    void usageHistoryChecksItsBoundsAndSummarises() {
        String subject = newSubject();
        fx.store.consume(subject, 2_500, null);
        for (String bad : List.of("0", "25", "-1", "abc", "99999999999")) {
            assertProblem(get(uri(API + "/usage-history?months=" + bad), "x-user-id", subject), 400, "invalid-argument");
        }
        Map<String, Object> h = json(get(uri(API + "/usage-history?months=24"), "x-user-id", subject));
        assertEquals(subject, h.get("user_id"));
        assertEquals(1L, h.get("total_months"));
        assertEquals(1, ((List<?>) h.get("usage_history")).size());
        @SuppressWarnings("unchecked")
        Map<String, Object> summary = (Map<String, Object>) h.get("summary");
        assertEquals(10_000L, summary.get("total_allocated"));
        assertEquals(2_500L, summary.get("total_used"));
        assertEquals(0L, summary.get("total_purchased"));
        assertEquals(25.0, summary.get("average_usage_percentage"));
        assertEquals(200, get(uri(API + "/usage-history"), "x-user-id", subject).statusCode());
    }

    @Test
    void dailyUsageListsEveryDayEndingToday() {
        String subject = newSubject();
        fx.store.consume(subject, 700, null);
        assertProblem(get(uri(API + "/daily-usage?days=0"), "x-user-id", subject), 400, "invalid-argument");
        assertProblem(get(uri(API + "/daily-usage?days=367"), "x-user-id", subject), 400, "invalid-argument");
        Map<String, Object> d = json(get(uri(API + "/daily-usage?days=7"), "x-user-id", subject));
        List<?> days = (List<?>) d.get("daily_usage");
        assertEquals(7, days.size());
        @SuppressWarnings("unchecked")
        Map<String, Object> today = (Map<String, Object>) days.get(6);
        assertEquals(fx.policy.dayOf(fx.policy.now()).toString(), today.get("date"));
        assertEquals(700L, today.get("used_tokens"));
        assertEquals(1L, today.get("requests"));
        assertEquals(700L, d.get("total_used"));
    }

    @Test
    void addTokensIsDeniedByDefault() {
        String subject = newSubject();
        String body = "{\"user_id\":\"" + subject + "\",\"token_amount\":5000,\"purchase_type\":\"bonus\"}";
        HttpResponse<String> anonymous = post(uri(Fixture.DEFAULT_API + "/add-tokens"), body,
                "Content-Type", "application/json", "x-user-id", subject);
        assertProblem(anonymous, 401, "unauthenticated");
        HttpResponse<String> withToken = post(uri(Fixture.DEFAULT_API + "/add-tokens"), body,
                "Content-Type", "application/json", "Authorization", "Bearer " + Fixture.ADMIN_TOKEN);
        assertProblem(withToken, 403, "forbidden");
        HttpResponse<String> wrongToken = post(uri(API + "/add-tokens"), body, "Content-Type", "application/json",
                "Authorization", "Bearer not-the-token");
        assertProblem(wrongToken, 403, "forbidden");
        assertEquals(0, fx.account(subject).granted());
    }

    @Test
    void addTokensWithTheAdminTokenCreditsOncePerIdempotencyKey() {
        String subject = newSubject();
        String body = "{\"user_id\":\"" + subject + "\",\"token_amount\":5000,\"purchase_type\":\"bonus\","
                + "\"reason\":\"Customer service compensation\",\"idempotency_key\":\"cs-" + subject + "\"}";
        for (int i = 0; i < 3; i++) {
            HttpResponse<String> r = post(uri(API + "/add-tokens"), body, "Content-Type", "application/json",
                    "Authorization", "Bearer " + Fixture.ADMIN_TOKEN);
            assertEquals(200, r.statusCode(), r.body());
            Map<String, Object> j = json(r);
            assertEquals(true, j.get("success"));
            assertEquals("Tokens added successfully", j.get("message"));
            @SuppressWarnings("unchecked")
            Map<String, Object> quota = (Map<String, Object>) j.get("user_quota");
            assertEquals(5_000L, quota.get("purchased_tokens"));
            @SuppressWarnings("unchecked")
            Map<String, Object> purchase = (Map<String, Object>) j.get("purchase_record");
            assertEquals("completed", purchase.get("status"));
            assertEquals("bonus", purchase.get("purchase_type"));
        }
        assertEquals(5_000, fx.account(subject).granted());
        assertEquals(1, fx.kinds(subject).stream().filter(k -> k == EventKind.CREDITED).count());
    }

    @Test
    void replayedPaymentCallbacksCreditOnceAndRefundsDebit() {
        String subject = newSubject();
        String tx = "pay-" + subject;
        byte[] completed = payment(tx, subject, 3_000, "completed");
        for (int i = 0; i < 4; i++) {
            HttpResponse<String> r = signedCallback(completed);
            assertEquals(200, r.statusCode(), r.body());
        }
        assertEquals(3_000, fx.account(subject).granted());
        assertEquals(1, fx.kinds(subject).stream().filter(k -> k == EventKind.CREDITED).count());
        Purchase p = fx.store.purchase(tx).orElseThrow();
        assertEquals(PurchaseStatus.COMPLETED, p.status());
        assertEquals(new java.math.BigDecimal("9900.00"), p.amount());

        HttpResponse<String> refund = signedCallback(payment(tx, subject, 3_000, "refunded"));
        assertEquals(200, refund.statusCode(), refund.body());
        assertEquals(0, fx.account(subject).granted());
        assertEquals(PurchaseStatus.REFUNDED, fx.store.purchase(tx).orElseThrow().status());
        assertEquals(200, signedCallback(payment(tx, subject, 3_000, "refunded")).statusCode(), "a replayed refund is harmless");
        assertEquals(0, fx.account(subject).granted());

        String failedTx = "fail-" + subject;
        assertEquals(200, signedCallback(payment(failedTx, subject, 1_000, "failed")).statusCode());
        assertEquals(PurchaseStatus.FAILED, fx.store.purchase(failedTx).orElseThrow().status());
        // round 340: a refund of a purchase never seen (delivered before its completion) records it refunded,
        // nothing credited or debited, and its completion is refused
        String earlyTx = "nope-" + subject;
        HttpResponse<String> early = signedCallback(payment(earlyTx, subject, 1_000, "refunded"));
        assertEquals(200, early.statusCode(), early.body());
        assertEquals(PurchaseStatus.REFUNDED, fx.store.purchase(earlyTx).orElseThrow().status());
        assertProblem(signedCallback(payment(earlyTx, subject, 1_000, "completed")), 409, "purchase-state-conflict");
        assertEquals(0, fx.account(subject).granted());
    }

    @Test
    void aPaymentCallbackWithABadOrMissingSignatureChangesNothing() {
        String subject = newSubject();
        byte[] body = payment("sig-" + subject, subject, 3_000, "completed");
        assertProblem(post(uri(API + "/payment-callback"), body, "Content-Type", "application/json"), 401, "bad-signature");
        assertProblem(post(uri(API + "/payment-callback"), body, "Content-Type", "application/json",
                "X-Signature", "sha256=zz"), 401, "bad-signature");
        byte[] tampered = payment("sig-" + subject, subject, 300_000, "completed");
        assertProblem(post(uri(API + "/payment-callback"), tampered, "Content-Type", "application/json",
                "X-Signature", TestHttp.signature(Fixture.PAYMENT_SECRET, body)),
                401, "bad-signature");
        assertProblem(post(uri(API + "/payment-callback"), body, "Content-Type", "application/json",
                "X-Signature", TestHttp.signature("another-secret-entirely".getBytes(StandardCharsets.UTF_8), body)), 401, "bad-signature");
        assertTrue(fx.store.purchase("sig-" + subject).isEmpty());
        assertEquals(List.of(), fx.events(subject));
    }

    @Test
    void theTeamEndpointsSetThePlanAndMembershipAndShowTheTeam() {
        String subject = newSubject();
        String team = "crew-" + subject;
        String admin = "Bearer " + Fixture.ADMIN_TOKEN;
        HttpResponse<String> plan = put(uri(API + "/teams/" + team + "/plan"), "{\"monthly_allocation\":7000}",
                "Content-Type", "application/json", "Authorization", admin);
        assertEquals(200, plan.statusCode(), plan.body());
        assertEquals(team, json(plan).get("team_id"));
        assertEquals(7_000L, json(plan).get("allocated_quota"));
        assertProblem(put(uri(API + "/teams/" + team + "/plan"), "{\"monthly_allocation\":1}",
                "Content-Type", "application/json"), 401, "unauthenticated");

        HttpResponse<String> join = put(uri(API + "/users/" + subject + "/team"), "{\"team_id\":\"" + team + "\"}",
                "Content-Type", "application/json", "Authorization", admin);
        assertEquals(200, join.statusCode(), join.body());
        assertEquals(team, json(join).get("team_id"));
        assertEquals(java.util.Optional.of(team), fx.store.team(subject));
        ai("/ai/plain", subject, chat("t".repeat(40), 90));
        fx.awaitSettled(subject);

        Map<String, Object> mine = json(get(uri(API + "/quota"), "x-user-id", subject));
        assertEquals(subject, mine.get("user_id"));
        assertEquals(team, mine.get("team_id"));
        long teamUsed = fx.store.account(io.tokenquota.Team.subject(team)).used();
        assertTrue(teamUsed > 0);
        assertEquals(7_000L - teamUsed, mine.get("team_remaining_tokens"));
        Map<String, Object> teamQuota = json(get(uri(API + "/admin/teams/" + team + "/quota"), "Authorization", admin));
        assertEquals(team, teamQuota.get("team_id"));
        assertEquals(teamUsed, teamQuota.get("used_tokens"));
        assertProblem(get(uri(API + "/admin/teams/" + team + "/quota")), 401, "unauthenticated");

        HttpResponse<String> leave = put(uri(API + "/users/" + subject + "/team"), "{\"team_id\":null}",
                "Content-Type", "application/json", "Authorization", admin);
        assertEquals(200, leave.statusCode(), leave.body());
        assertEquals(java.util.Optional.empty(), fx.store.team(subject));
        Map<String, Object> alone = json(get(uri(API + "/quota"), "x-user-id", subject));
        assertFalse(alone.containsKey("team_id"));
        assertFalse(alone.containsKey("team_remaining_tokens"));
        assertProblem(put(uri(API + "/users/" + subject + "/team"), "{}", "Content-Type", "application/json",
                "Authorization", admin), 400, "invalid-argument");
    }

    @Test
    void thePlanEndpointSetsTheMonthlyAllocation() {
        String subject = newSubject();
        HttpResponse<String> r = put(uri(API + "/users/" + subject + "/plan"), "{\"monthly_allocation\":25000}",
                "Content-Type", "application/json", "Authorization", "Bearer " + Fixture.ADMIN_TOKEN);
        assertEquals(200, r.statusCode(), r.body());
        assertEquals(25_000L, json(r).get("allocated_quota"));
        assertEquals(25_000, fx.account(subject).allocated());
        assertProblem(put(uri(API + "/users/" + subject + "/plan"), "{\"monthly_allocation\":1}",
                "Content-Type", "application/json"), 401, "unauthenticated");
        assertEquals(25_000, fx.account(subject).allocated());
    }

    @Test
    void adminOverviewAndUserQuota() {
        String subject = newSubject();
        fx.store.consume(subject, 9_999, null);
        HttpResponse<String> r = get(uri(API + "/admin/overview?limit=1000"), "Authorization", "Bearer " + Fixture.ADMIN_TOKEN);
        assertEquals(200, r.statusCode(), r.body());
        Map<String, Object> o = json(r);
        assertEquals(fx.policy.currentMonth().toString(), o.get("month"));
        assertTrue(((List<?>) o.get("top_consumers")).stream().anyMatch(c -> subject.equals(((Map<?, ?>) c).get("user_id"))));
        assertProblem(get(uri(API + "/admin/overview")), 401, "unauthenticated");
        assertProblem(get(uri(API + "/admin/overview?month=2999-01"), "Authorization", "Bearer " + Fixture.ADMIN_TOKEN),
                400, "month-out-of-range");
        HttpResponse<String> q = get(uri(API + "/admin/users/" + subject + "/quota"), "Authorization", "Bearer " + Fixture.ADMIN_TOKEN);
        assertEquals(9_999L, json(q).get("used_tokens"));
    }

    @Test
    void unknownPathsAndWrongMethodsAreProblems() {
        assertProblem(get(uri(API + "/nothing-here"), "x-user-id", "u1"), 404, "not-found");
        HttpResponse<String> r = post(uri(API + "/quota"), "{}", "x-user-id", "u1");
        assertProblem(r, 405, "method-not-allowed");
        assertEquals("GET", header(r, "Allow"));
    }

    @Test
    void badBodiesGet400AndLeaveTheLedgerUnchanged() {
        String subject = newSubject();
        fx.store.consume(subject, 10, null);
        QuotaAccount before = fx.account(subject);
        int eventsBefore = fx.events(subject).size();
        String admin = "Bearer " + Fixture.ADMIN_TOKEN;
        String u = "\"user_id\":\"" + subject + "\"";
        Map<String, String> addTokens = new java.util.LinkedHashMap<>();
        addTokens.put("", "malformed-json");
        addTokens.put("{", "malformed-json");
        addTokens.put("[]", "malformed-json");
        addTokens.put("{" + u + ",\"token_amount\":5}{}", "malformed-json");
        addTokens.put("{" + u + ",\"token_amount\":5,\"token_amount\":6}", "malformed-json");
        addTokens.put("{" + u + ",\"token_amount\":\"5000\"}", "invalid-amount");
        addTokens.put("{" + u + ",\"token_amount\":50.5}", "invalid-amount");
        addTokens.put("{" + u + ",\"token_amount\":99999999999999999999}", "invalid-amount");
        addTokens.put("{" + u + ",\"token_amount\":" + "9".repeat(100) + "}", "malformed-json");
        addTokens.put("{" + u + ",\"token_amount\":-5}", "invalid-amount");
        addTokens.put("{" + u + ",\"token_amount\":0}", "invalid-amount");
        addTokens.put("{" + u + "}", "invalid-amount");
        addTokens.put("{" + u + ",\"token_amount\":{\"n\":5}}", "invalid-amount");
        addTokens.put("{" + u + ",\"token_amount\":5,\"purchase_type\":\"gift\"}", "invalid-purchase-type");
        addTokens.put("{" + u + ",\"token_amount\":5,\"purchase_type\":7}", "invalid-purchase-type");
        addTokens.put("{" + u + ",\"token_amount\":5,\"tokens\":5}", "invalid-argument");
        addTokens.put("{\"user_id\":true,\"token_amount\":5}", "invalid-subject");
        addTokens.put("{\"user_id\":\"a'; DROP TABLE quota_account;--\\u0000\",\"token_amount\":5}", "invalid-subject");
        addTokens.put("{" + u + ",\"token_amount\":5,\"idempotency_key\":\"\"}", "invalid-key");
        addTokens.forEach((body, type) -> assertProblem(
                post(uri(API + "/add-tokens"), body, "Content-Type", "application/json",
                        "Authorization", admin), 400, type, body));

        Map<String, String> plans = Map.of(
                "{\"monthly_allocation\":\"100\"}", "invalid-amount",
                "{\"monthly_allocation\":1e3}", "invalid-amount",
                "{\"monthly_allocation\":18446744073709551616}", "invalid-amount",
                "{\"monthly_allocation\":-1}", "invalid-amount",
                "{\"monthly_allocation\":100,\"email\":\"x@y\"}", "invalid-argument",
                "not json", "malformed-json");
        plans.forEach((body, type) -> assertProblem(
                put(uri(API + "/users/" + subject + "/plan"), body, "Content-Type", "application/json",
                        "Authorization", admin), 400, type, body));

        String tx = "\"transaction_id\":\"bad-" + subject + "\"";
        Map<String, String> callbacks = new java.util.LinkedHashMap<>();
        callbacks.put("{" + tx + "," + u + ",\"token_amount\":9223372036854775808,\"status\":\"completed\"}", "invalid-amount");
        callbacks.put("{" + tx + "," + u + ",\"token_amount\":100,\"status\":\"done\"}", "invalid-status");
        callbacks.put("{" + tx + "," + u + ",\"token_amount\":100,\"status\":\"completed\",\"currency\":\"GBP\"}", "invalid-currency");
        callbacks.put("{" + tx + "," + u + ",\"token_amount\":100,\"status\":\"completed\",\"amount\":12.345}", "invalid-money");
        callbacks.put("{" + tx + "," + u + ",\"token_amount\":100,\"status\":\"completed\",\"amount\":\"1e3\"}", "invalid-money");
        callbacks.put("{" + tx + "," + u + ",\"token_amount\":100,\"status\":\"completed\",\"amount\":\"3,300.00\"}", "invalid-money");
        callbacks.put("{" + tx + "," + u + ",\"token_amount\":100,\"status\":\"completed\",\"amount\":\" 12\"}", "invalid-money");
        callbacks.put("{" + tx + "," + u + ",\"token_amount\":100,\"status\":\"completed\",\"amount\":\"12.345\"}", "invalid-money");
        callbacks.put("{" + tx + "," + u + ",\"token_amount\":100,\"status\":\"completed\",\"amount\":1e400}", "invalid-money");
        callbacks.put("{" + u + ",\"token_amount\":100,\"status\":\"completed\"}", "invalid-key");
        callbacks.put("{" + tx + "," + u + ",\"token_amount\":100,\"status\":\"completed\",\"status\":\"completed\"}", "malformed-json");
        callbacks.put("{" + tx + "," + u + ",\"token_amount\":100,\"status\":[\"completed\"]}", "invalid-status");
        callbacks.forEach((body, type) -> {
            byte[] raw = body.getBytes(StandardCharsets.UTF_8);
            assertProblem(post(uri(API + "/payment-callback"), raw, "Content-Type", "application/json",
                    "X-Signature", TestHttp.signature(Fixture.PAYMENT_SECRET, raw)),
                    400, type, body);
        });

        assertEquals(before, fx.account(subject));
        assertEquals(eventsBefore, fx.events(subject).size());
        assertTrue(fx.store.purchase("bad-" + subject).isEmpty());
    }

    @Test
    void anOversizedApiBodyGets413() {
        String body = "{\"reason\":\"" + "r".repeat(QuotaApiServlet.MAX_BODY_BYTES) + "\"}";
        assertProblem(post(uri(API + "/add-tokens"), body, "Content-Type", "application/json",
                "Authorization", "Bearer " + Fixture.ADMIN_TOKEN), 413, "body-too-large");
    }

    /**
     * Round 340: every API body must be labelled JSON ({@code application/json} or a {@code +json} type, any
     * charset); anything else, or no type, is 415 before the ledger is touched, credentials checked first. A
     * cross-site {@code <form enctype="text/plain">} needs no CORS preflight and would carry an admin's session.
     */
    @Test
    void apiBodiesNotLabelledJsonGet415AndChangeNothing() {
        String subject = newSubject();
        String admin = "Bearer " + Fixture.ADMIN_TOKEN;
        String grant = "{\"user_id\":\"" + subject + "\",\"token_amount\":5000,\"idempotency_key\":\"ct-" + subject + "\"}";
        List<String> refused = List.of("text/plain", "text/plain; charset=utf-8", "application/x-www-form-urlencoded",
                "multipart/form-data; boundary=x", "application/jsonp", "application/json-seq", "text/json+",
                "application/+json", "application", "json", "application/json/x", "*/*", "");
        for (String type : refused) {
            assertProblem(post(uri(API + "/add-tokens"), grant, "Content-Type", type, "Authorization", admin), 415,
                    "unsupported-media-type");
            assertProblem(put(uri(API + "/users/" + subject + "/plan"), "{\"monthly_allocation\":50000}",
                    "Content-Type", type, "Authorization", admin), 415, "unsupported-media-type");
            byte[] callback = payment("ct-pay-" + subject, subject, 3_000, "completed");
            assertProblem(post(uri(API + "/payment-callback"), callback, "Content-Type", type,
                    "X-Signature", TestHttp.signature(Fixture.PAYMENT_SECRET, callback)), 415, "unsupported-media-type");
        }
        assertProblem(post(uri(API + "/add-tokens"), grant, "Authorization", admin), 415, "unsupported-media-type");
        assertProblem(put(uri(API + "/users/" + subject + "/team"), "{\"team_id\":\"t-" + subject + "\"}",
                "Authorization", admin), 415, "unsupported-media-type");
        // credentials come first: without them, 401 whatever the type
        assertProblem(post(uri(API + "/add-tokens"), grant, "Content-Type", "text/plain"), 401, "unauthenticated");
        assertEquals(List.of(), fx.events(subject));
        assertTrue(fx.store.purchase("ct-" + subject).isEmpty());
        assertTrue(fx.store.purchase("ct-pay-" + subject).isEmpty());
        // a JSON type with any charset, in any case, and a +json type are read
        for (String type : List.of("application/json; charset=utf-8", "Application/JSON;charset=\"UTF-8\"",
                "application/vnd.api+json")) {
            HttpResponse<String> r = post(uri(API + "/add-tokens"), grant, "Content-Type", type, "Authorization", admin);
            assertEquals(200, r.statusCode(), type + ": " + r.body());
        }
        assertEquals(5_000, fx.account(subject).granted());
    }

    // ---------------------------------------------------------------- helpers

    byte[] payment(String tx, String subject, long tokens, String status) {
        return ("{\"transaction_id\":\"" + tx + "\",\"user_id\":\"" + subject + "\",\"token_amount\":" + tokens
                + ",\"amount\":9900.00,\"currency\":\"KRW\",\"payment_method\":\"card\",\"status\":\"" + status
                + "\",\"provider_event\":\"evt_1\"}").getBytes(StandardCharsets.UTF_8);
    }

    HttpResponse<String> signedCallback(byte[] body) {
        return post(uri(API + "/payment-callback"), body, "Content-Type", "application/json",
                "X-Signature", TestHttp.signature(Fixture.PAYMENT_SECRET, body));
    }

    static String header(HttpResponse<?> r, String name) {
        return r.headers().firstValue(name).orElse(null);
    }

    static void assertProblem(HttpResponse<String> r, int status, String slug) {
        assertProblem(r, status, slug, "");
    }

    static void assertProblem(HttpResponse<String> r, int status, String slug, String context) {
        assertEquals(status, r.statusCode(), context + " -> " + r.body());
        assertTrue(header(r, "Content-Type").startsWith("application/problem+json"), context + " " + header(r, "Content-Type"));
        Map<String, Object> p = json(r);
        assertEquals("https://tokenquota.io/problems/" + slug, p.get("type"), context + " -> " + r.body());
        assertEquals((long) status, p.get("status"));
        assertTrue(p.get("title") instanceof String);
        assertTrue(p.get("detail") instanceof String);
        assertFalse(r.body().contains("Exception") || r.body().contains("\tat "), "no stack trace: " + r.body());
    }
}
