package io.tokenquota.servlet.breakit87;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static io.tokenquota.servlet.testing.TestHttp.fresh;
import static io.tokenquota.servlet.testing.TestHttp.readToDone;

import io.tokenquota.ErrorCode;
import io.tokenquota.QuotaAccount;
import io.tokenquota.QuotaException;
import io.tokenquota.servlet.QuotaFilter;
import io.tokenquota.servlet.testing.ChatCompletions;
import io.tokenquota.servlet.testing.ClockedStore;
import io.tokenquota.testkit.MutableClock;
import java.time.Instant;
import java.time.YearMonth;
import org.junit.jupiter.api.AfterAll;
import io.tokenquota.servlet.testing.Deployment;
import io.tokenquota.servlet.testing.FailingLedger;
import io.tokenquota.servlet.testing.Ledgers;
import io.tokenquota.servlet.testing.ModelCallRound;
import io.tokenquota.servlet.testing.TestHttp;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;
import java.net.http.HttpClient;
import java.net.http.HttpResponse;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import static org.junit.jupiter.api.Assertions.assertThrows;
import org.junit.jupiter.api.Test;

/**
 * Round 87 of issue 11 ("no model call goes unpaid, nothing that never reached a model is charged"):
 * races between one user's calls and the settlement of the previous ones. A client that sends its next
 * call the instant it has the previous answer (on another connection, or through another instance) must
 * be reserved against a ledger that has the finished call's charge, not its hold. Attacked with a store
 * that is slow (not failing) to commit, gated by a latch, with a commit that blips once, and with many
 * users at once on a store of real speed; users at the edge of the
 * allowance. The mock model answers a chat completion whose usage the request's {@code x-prompt} and
 * {@code x-completion} headers name (an input the estimate cannot see: a file, an image, a stored thread).
 */
abstract class AbstractRound87 extends ModelCallRound {
    /** Commits of a gated subject's holds wait here until the test opens the gate (a row lock held elsewhere). */
    final Map<String, CountDownLatch> gates = new ConcurrentHashMap<>();
    /** Counted down when a gated subject's commit has reached the store and waits. */
    final Map<String, CountDownLatch> waiting = new ConcurrentHashMap<>();

    /** The {@code /tc/} filter's store reads this clock: 2031-01-31 23:59:50 until a call turns the month. */
    final MutableClock clock = new MutableClock(Instant.parse("2031-01-31T23:59:50Z"));
    ClockedStore clocked;

    ClockedStore clocked() {
        clocked = new ClockedStore(clock, ALLOWANCE);
        return clocked;
    }

    @AfterAll
    void stopClocked() {
        if (clocked != null) clocked.close();
    }

    /** A subject's next commit through the /blip/ filter fails once (STORE_UNAVAILABLE), counting this down. */
    final Map<String, CountDownLatch> blips = new ConcurrentHashMap<>();

    @Override
    protected Deployment deploy(QuotaFilter filter) {
        QuotaFilter slowFilter = filterFor(FailingLedger.onCommit(store, s -> {
            CountDownLatch gate = gates.get(s);
            if (gate == null) {
                return;
            }
            CountDownLatch w = waiting.get(s);
            if (w != null) {
                w.countDown();
            }
            try {
                gate.await(20, TimeUnit.SECONDS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }), "/slow/").build();
        QuotaFilter blipFilter = filterFor(FailingLedger.onCommit(store, s -> {
            CountDownLatch blip = blips.remove(s);
            if (blip != null) {
                blip.countDown();
                throw new QuotaException(ErrorCode.STORE_UNAVAILABLE, "connection is not available, request timed out");
            }
        }), "/blip/").build();
        return Deployment.create()
                .filter("quota", filter, "/ai/*")
                .filter("slow-quota", slowFilter, "/slow/*")
                .filter("blip-quota", blipFilter, "/blip/*")
                .servlet("model", new Model(), "/ai/*")
                .servlet("slow-model", new Model(), "/slow/*")
                .servlet("blip-model", new Model(), "/blip/*")
                .filter("clocked-quota", clocked().filter("/tc/"), "/tc/*")
                .servlet("turning-model", new Model() {
                    @Override
                    protected void doPost(HttpServletRequest req, HttpServletResponse resp)
                            throws IOException, jakarta.servlet.ServletException {
                        // the call runs across midnight of the month's last day
                        clock.set(Instant.parse("2031-02-01T00:00:05Z"));
                        super.doPost(req, resp);
                    }
                }, "/tc/*");
    }

    /** A chat model: counts the call, answers with the usage the request's headers name. */
    class Model extends CountedModel {
        @Override
        protected void answer(Call call) throws IOException {
            HttpServletRequest req = call.req();
            HttpServletResponse resp = call.resp();
            long prompt = call.prompt();
            long completion = call.completion();
            if ("1".equals(req.getHeader("x-stream"))) {
                // streamed: the usage rides in the last chunk before [DONE]
                resp.setContentType("text/event-stream");
                java.io.PrintWriter w = resp.getWriter();
                for (int i = 0; i < 3; i++) {
                    w.write(ChatCompletions.wordEvent("chatcmpl-87"));
                    w.flush();
                }
                w.write(ChatCompletions.usageEvent("chatcmpl-87", prompt, completion) + ChatCompletions.DONE);
                // as an event emitter does: every event goes out when written
                w.flush();
                return;
            }
            resp.setContentType("application/json");
            String answer = call.completionJson("chatcmpl-87");
            String style = req.getHeader("x-write");
            if ("length".equals(style)) {
                // a declared length: the container sends the body the moment it is complete
                ChatCompletions.writeWithLength(resp, answer.getBytes(java.nio.charset.StandardCharsets.UTF_8));
            } else if ("close".equals(style)) {
                resp.getWriter().write(answer);
                resp.getWriter().close();
            } else if ("flush".equals(style)) {
                // as a framework's message converter does: written and flushed, chunked
                resp.getOutputStream().write(answer.getBytes(java.nio.charset.StandardCharsets.UTF_8));
                resp.getOutputStream().flush();
            } else {
                resp.getWriter().write(answer);
            }
        }
    }

    static String chat(long maxTokens) {
        return "{\"model\":\"gpt-4o-mini\",\"messages\":[{\"role\":\"user\",\"content\":\"summarise the attached file\"}],"
                + "\"max_tokens\":" + maxTokens + "}";
    }

    HttpResponse<String> call(HttpClient client, String prefix, String s, long maxTokens, long prompt, long completion) {
        return call(client, prefix, s, maxTokens, prompt, completion, false);
    }

    HttpResponse<String> call(HttpClient client, String prefix, String s, long maxTokens, long prompt, long completion,
            boolean stream) {
        try {
            return client.send(request(prefix, s, maxTokens, prompt, completion, stream, "writer"),
                    HttpResponse.BodyHandlers.ofString());
        } catch (IOException e) {
            throw new AssertionError(e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new AssertionError(e);
        }
    }

    java.net.http.HttpRequest request(String prefix, String s, long maxTokens, long prompt, long completion,
            boolean stream, String writeStyle) {
        {
            String body = stream ? chat(maxTokens).replace("\"max_tokens\"", "\"stream\":true,\"stream_options\":"
                    + "{\"include_usage\":true},\"max_tokens\"") : chat(maxTokens);
            return TestHttp.jsonPost(container.uri(prefix + "chat/completions"), s, body,
                    "x-prompt", Long.toString(prompt), "x-completion", Long.toString(completion),
                    "x-stream", stream ? "1" : "0", "x-write", writeStyle);
        }
    }

    /**
     * Control: with the first call's charge landed, a user whose first call used 19,500 of 20,000 tokens is
     * refused a second call holding ~1,000.
     */
    @Test
    void controlWithTheChargeLandedTheSecondCallIsRefused() throws Exception {
        String s = subject();
        HttpResponse<String> first = call(fresh(), "/slow/", s, 1_000, 18_500, 1_000);
        assertEquals(200, first.statusCode(), first.body());
        chargedAtLeast(s, 19_500);
        HttpResponse<String> second = call(fresh(), "/slow/", s, 1_000, 10, 10);
        assertEquals(429, second.statusCode(), kind() + ": second call after 19,500 of 20,000 charged answered "
                + second.statusCode() + "; " + ledger(s));
    }

    /**
     * The store takes its time over the first call's commit (19,500 tokens of a 20,000 allowance, the model's
     * own usage; ~1,000 held): the client must not have the end of the answer before the charge has landed,
     * or its next call, sent on another connection (or through another instance) the instant it has the
     * answer, is reserved against a ledger that shows only the hold. Written four ways: through the writer,
     * through the stream with a declared Content-Length (which a container sends the moment it is complete),
     * closed by the endpoint, and written and flushed as a framework's message converter does.
     */
    @ParameterizedTest
    @ValueSource(strings = {"writer", "length", "close", "flush"})
    void theAnswerEndsOnlyOnceItsChargeHasLandedAndTheNextCallSeesIt(String writeStyle) throws Exception {
        String s = subject();
        CountDownLatch gate = new CountDownLatch(1);
        CountDownLatch w = new CountDownLatch(1);
        gates.put(s, gate);
        waiting.put(s, w);
        java.util.concurrent.CompletableFuture<HttpResponse<String>> first;
        try {
            first = fresh().sendAsync(request("/slow/", s, 1_000, 18_500, 1_000, false, writeStyle),
                    HttpResponse.BodyHandlers.ofString());
            assertTrue(w.await(10, TimeUnit.SECONDS), "the first call's commit never reached the store");
            // were the end sent before the charge, the client would have it within this bound
            assertThrows(java.util.concurrent.TimeoutException.class, () -> first.get(500, TimeUnit.MILLISECONDS),
                    () -> kind() + " (" + writeStyle + "): the client had the whole answer while its charge was still"
                            + " on its way to the store; " + ledger(s));
        } finally {
            gate.countDown();
            gates.remove(s);
        }
        HttpResponse<String> answer = first.get(10, TimeUnit.SECONDS);
        assertEquals(200, answer.statusCode(), answer.body());
        assertTrue(answer.body().contains("\"total_tokens\":19500"), answer.body());
        HttpResponse<String> second = call(fresh(), "/slow/", s, 1_000, 500, 500);
        assertNextCallRefusedUnserved(s, 19_500, " (" + writeStyle + "): a second call sent the instant the first"
                + " answer (19,500 of 20,000) was in", second);
    }

    /**
     * The first call held ~15,000 tokens for its budget and used 100, and its commit takes its time: the
     * client has the answer only once the commit has landed, and its next call (holding ~10,000) is served,
     * not refused for the finished call's hold.
     */
    @Test
    void theNextCallIsNotRefusedForTheFinishedCallsHold() throws Exception {
        String s = subject();
        CountDownLatch gate = new CountDownLatch(1);
        CountDownLatch w = new CountDownLatch(1);
        gates.put(s, gate);
        waiting.put(s, w);
        java.util.concurrent.CompletableFuture<HttpResponse<String>> first;
        try {
            first = fresh().sendAsync(request("/slow/", s, 15_000, 40, 60, false, "writer"),
                    HttpResponse.BodyHandlers.ofString());
            assertTrue(w.await(10, TimeUnit.SECONDS), "the first call's commit never reached the store");
        } finally {
            gate.countDown();
            gates.remove(s);
        }
        assertEquals(200, first.get(10, TimeUnit.SECONDS).statusCode());
        HttpResponse<String> second = call(fresh(), "/slow/", s, 10_000, 40, 60);
        QuotaAccount a = chargedAtLeast(s, 100);
        assertEquals(200, second.statusCode(), kind() + ": a second call (~10,000 held) sent when the first answer"
                + " (100 tokens used of a ~15,000 hold) was in answered " + second.statusCode() + " " + second.body()
                + "; ledger used " + a.used() + " of " + a.limit() + " " + ledger(s));
    }

    /**
     * The store at real speed, batches of 48 users at once (up to 6 batches), each at the edge: the first call used 19,500 tokens; its
     * client sends the next call (on a connection of its own) the instant it has the answer. Counted: how
     * many second calls reached the model, and how many users ended past their allowance.
     */
    @Test
    void manyUsersSendingTheNextCallTheInstantTheyHaveTheAnswerGetNoUnpaidCall() throws Exception {
        // batches of 48 users at once, up to 6, until one user is served past the allowance
        int users = 0;
        int served = 0;
        int over = 0;
        StringBuilder figures = new StringBuilder();
        ExecutorService pool = Executors.newFixedThreadPool(48);
        try {
            for (int batch = 0; batch < 6 && served == 0; batch++) {
                List<String> subjects = new ArrayList<>();
                List<Future<Integer>> seconds = new ArrayList<>();
                CountDownLatch go = new CountDownLatch(1);
                for (int i = 0; i < 48; i++) {
                    String s = subject();
                    subjects.add(s);
                    store.account(s);
                    HttpClient a = fresh();
                    HttpClient b = fresh();
                    seconds.add(pool.submit(() -> {
                        go.await();
                        HttpResponse<String> first = call(a, "/ai/", s, 1_000, 18_500, 1_000);
                        if (first.statusCode() != 200) {
                            return -first.statusCode();
                        }
                        // on its own connection, the instant the first answer is in
                        return call(b, "/ai/", s, 1_000, 500, 500).statusCode();
                    }));
                }
                go.countDown();
                for (int i = 0; i < subjects.size(); i++) {
                    int status = seconds.get(i).get(60, TimeUnit.SECONDS);
                    QuotaAccount acc = chargedAtLeast(subjects.get(i), 19_500);
                    users++;
                    if (status == 200) {
                        served++;
                        figures.append(status).append(':').append(acc.used()).append('/').append(acc.limit())
                                .append(" calls ").append(calls.of(subjects.get(i))).append("; ");
                    }
                    if (acc.used() > acc.limit()) {
                        over++;
                    }
                }
            }
            assertEquals(0, served, kind() + ": " + served + " of " + users + " users at 19,500 of 20,000 got a"
                    + " second model call sent the instant the first answer was in; " + over
                    + " ended past their allowance (second status:used/limit) " + figures);
        } finally {
            pool.shutdownNow();
        }
    }

    /**
     * Control: one filter instance. The first call's commit (19,500 tokens) hits a blip; the same user's
     * next call, sent at once through the same instance, first retries it (beforeReserve) and is refused.
     */
    @Test
    void controlOneInstanceRetriesTheBlippedCommitBeforeTheNextReserve() throws Exception {
        String s = subject();
        CountDownLatch blip = new CountDownLatch(1);
        blips.put(s, blip);
        HttpResponse<String> first = call(fresh(), "/blip/", s, 1_000, 18_500, 1_000);
        assertEquals(200, first.statusCode(), first.body());
        assertTrue(blip.await(10, TimeUnit.SECONDS), "the commit never blipped");
        HttpResponse<String> second = call(fresh(), "/blip/", s, 1_000, 500, 500);
        QuotaAccount a = chargedAtLeast(s, 19_500);
        assertEquals(429, second.statusCode(), kind() + ": second call after a blipped 19,500 commit answered "
                + second.statusCode() + "; model calls " + calls.of(s) + ", used " + a.used() + " " + ledger(s));
    }

    /**
     * Two filter instances on one store (two pods behind a load balancer). The first call's commit
     * (19,500 of 20,000) hits a blip on instance A, which schedules its retry 100 ms later and keeps the
     * ~1,000-token hold alive; the user's next call, sent the instant the first answer is in, lands on
     * instance B, whose reserve knows nothing of A's unsettled charge, and reaches the model.
     */
    @Test
    void aCommitBlippedOnOneInstanceDoesNotLetTheNextCallThroughAnother() throws Exception {
        String s = subject();
        CountDownLatch blip = new CountDownLatch(1);
        blips.put(s, blip);
        HttpResponse<String> first = call(fresh(), "/blip/", s, 1_000, 18_500, 1_000);
        assertEquals(200, first.statusCode(), first.body());
        assertTrue(blip.await(10, TimeUnit.SECONDS), "the commit never blipped");
        HttpResponse<String> second = call(fresh(), "/ai/", s, 1_000, 500, 500);
        assertNextCallRefusedUnserved(s, 19_500, ": a second call through instance B, sent as the first call's"
                + " 19,500-token commit blipped on instance A,", second);
    }

    /**
     * Streamed: the usage (19,500 of 20,000) rides in the stream's last chunk, and a client reading the
     * events has the whole answer at {@code [DONE]}, before the stream's own end, while the store is still
     * taking the commit (the store holds it for as long as the test needs). Its next call, sent at once on
     * another connection to the same instance, waits for that settlement and, as it has not landed, holds
     * what the finished call owes beyond its hold too: refused, not served past the allowance.
     */
    @Test
    void aStreamedAnswerWhoseLastChunkCarriesTheUsageDoesNotLetTheNextCallPastTheAllowance() throws Exception {
        String s = subject();
        CountDownLatch gate = new CountDownLatch(1);
        CountDownLatch w = new CountDownLatch(1);
        gates.put(s, gate);
        waiting.put(s, w);
        HttpResponse<String> second;
        try {
            HttpResponse<java.util.stream.Stream<String>> first = fresh().send(
                    request("/slow/", s, 1_000, 18_500, 1_000, true, "writer"), HttpResponse.BodyHandlers.ofLines());
            readToDone(first);
            assertTrue(w.await(10, TimeUnit.SECONDS), "the first call's commit never reached the store");
            second = call(fresh(), "/slow/", s, 1_000, 500, 500, true);
        } finally {
            gate.countDown();
            gates.remove(s);
        }
        assertNextCallRefused(s, 19_500, ": a second streamed call sent when the first stream (usage 19,500 of"
                + " 20,000 in its last chunk) was in, before its commit landed,", second);
    }

    /**
     * A month end between a call's hold (2031-01-31 23:59:50, ~1,004 held) and its commit (the model answers
     * at 2031-02-01 00:00:05 with 19,500 tokens): the call is charged its usage exactly once, in one month,
     * nothing left held; the user's next call (February, ~1,004) is served only if that month's account
     * has room after the charge.
     */
    @Test
    void aCallAcrossTheMonthEndIsChargedItsUsageOnceAndTheNextCallSeesIt() throws Exception {
        clock.set(Instant.parse("2031-01-31T23:59:50Z"));
        String s = subject();
        HttpResponse<String> first = call(fresh(), "/tc/", s, 1_000, 18_500, 1_000);
        assertEquals(200, first.statusCode(), first.body());
        HttpResponse<String> second = call(fresh(), "/tc/", s, 1_000, 500, 500);
        // the clock reads February now: settled waits for that month's holds
        Ledgers.settled(clocked.store(), s);
        QuotaAccount jan = clocked.store().account(s, YearMonth.of(2031, 1)).orElse(null);
        QuotaAccount feb = clocked.store().account(s, YearMonth.of(2031, 2)).orElse(null);
        long janUsed = jan == null ? 0 : jan.used();
        long janHeld = jan == null ? 0 : jan.reserved();
        long febUsed = feb == null ? 0 : feb.used();
        String figures = kind() + ": January used " + janUsed + " held " + janHeld + ", February used " + febUsed
                + "; second call " + second.statusCode() + "; Jan " + Ledgers.events(clocked.store(), s, YearMonth.of(2031, 1))
                + " Feb " + Ledgers.events(clocked.store(), s, YearMonth.of(2031, 2));
        assertEquals(0, janHeld, figures);
        long expectedSecond = febUsed >= 19_500 ? 429 : 200;
        assertEquals(expectedSecond, second.statusCode(), figures);
        assertEquals(19_500 + (second.statusCode() == 200 ? 1_000 : 0), janUsed + febUsed, figures);
    }

    static String raw(String s, long maxTokens, long prompt, long completion) {
        String body = chat(maxTokens);
        return "POST /ai/chat/completions HTTP/1.1\r\nHost: localhost\r\nx-user-id: " + s + "\r\nContent-Type: application/json"
                + "\r\nx-prompt: " + prompt + "\r\nx-completion: " + completion + "\r\nContent-Length: "
                + body.getBytes(java.nio.charset.StandardCharsets.UTF_8).length + "\r\n\r\n" + body;
    }

    /**
     * Control: HTTP/1.1 pipelining, 24 users at once, each writing both calls on one connection in one
     * write (19,500 then ~1,004): the container reads the second only after the first's filter returned,
     * so no second call reaches the model.
     */
    @Test
    void controlPipelinedCallsOnOneConnectionWaitForTheCommit() throws Exception {
        int users = 24;
        ExecutorService pool = Executors.newFixedThreadPool(users);
        List<String> subjects = new ArrayList<>();
        List<Future<String>> answers = new ArrayList<>();
        CountDownLatch go = new CountDownLatch(1);
        try {
            for (int i = 0; i < users; i++) {
                String s = subject();
                subjects.add(s);
                store.account(s);
                answers.add(pool.submit(() -> {
                    go.await();
                    try (java.net.Socket socket = new java.net.Socket("127.0.0.1", container.uri("/").getPort())) {
                        socket.setSoTimeout(20_000);
                        socket.getOutputStream().write((raw(s, 1_000, 18_500, 1_000) + raw(s, 1_000, 500, 500))
                                .getBytes(java.nio.charset.StandardCharsets.UTF_8));
                        socket.getOutputStream().flush();
                        java.io.InputStream in = socket.getInputStream();
                        StringBuilder got = new StringBuilder();
                        byte[] buf = new byte[8192];
                        int n;
                        while (countOf(got, "HTTP/1.1 ") < 2 || !got.toString().endsWith("}")) {
                            n = in.read(buf);
                            if (n < 0) {
                                break;
                            }
                            got.append(new String(buf, 0, n, java.nio.charset.StandardCharsets.UTF_8));
                        }
                        return got.toString();
                    }
                }));
            }
            go.countDown();
            int served = 0;
            StringBuilder figures = new StringBuilder();
            for (int i = 0; i < users; i++) {
                String got = answers.get(i).get(60, TimeUnit.SECONDS);
                QuotaAccount acc = chargedAtLeast(subjects.get(i), 19_500);
                int second = got.lastIndexOf("HTTP/1.1 ");
                String status = second < 0 ? "?" : got.substring(second + 9, second + 12);
                if (calls.of(subjects.get(i)) > 1) {
                    served++;
                }
                figures.append(status).append(':').append(acc.used()).append(' ');
            }
            assertEquals(0, served, kind() + ": " + served + " of " + users + " pipelined second calls reached the model"
                    + " (second status:used) " + figures);
        } finally {
            pool.shutdownNow();
        }
    }

    private static int countOf(StringBuilder s, String what) {
        int n = 0;
        for (int i = s.indexOf(what); i >= 0; i = s.indexOf(what, i + 1)) {
            n++;
        }
        return n;
    }
}
