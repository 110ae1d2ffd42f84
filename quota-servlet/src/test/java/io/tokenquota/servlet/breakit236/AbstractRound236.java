package io.tokenquota.servlet.breakit236;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.tokenquota.servlet.QuotaFilter;
import io.tokenquota.servlet.testing.AsyncTimeouts;
import io.tokenquota.servlet.testing.ChatCompletions;
import io.tokenquota.servlet.testing.Deployment;
import io.tokenquota.servlet.testing.H2FilterRound;
import io.tokenquota.servlet.testing.ModelCalls;
import io.tokenquota.servlet.testing.TestHttp;
import jakarta.servlet.AsyncContext;
import jakarta.servlet.Filter;
import jakarta.servlet.FilterChain;
import jakarta.servlet.ServletException;
import jakarta.servlet.ServletRequest;
import jakarta.servlet.ServletResponse;
import jakarta.servlet.http.HttpServlet;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;
import java.io.PrintWriter;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;

/**
 * Round 236 of issue 11: items 2, 3, 4 and 6 through real HTTP with real concurrency. One
 * Idempotency-Key sent by many clients at once (same body, different bodies, across two filters on one
 * store), calls that outlive a 1 s hold, async answers whose container timeout fires after, during or
 * before the answer, and 4xx answers after or without a model call.
 */
abstract class AbstractRound236 extends H2FilterRound {
    final ModelCalls calls = new ModelCalls();
    final ExecutorService workers = Executors.newCachedThreadPool();

    static String subject() {
        return "u236-" + UUID.randomUUID().toString().substring(0, 12);
    }

    static final String ANSWER = ChatCompletions.completion("chatcmpl-236", "gpt-4o", "A long answer.", 900, 4_000);

    @AfterAll
    void stopWorkers() {
        workers.shutdownNow();
    }

    @Override
    protected Deployment deploy(QuotaFilter filter) {
        QuotaFilter second = filterFor("/ai2/").holdTtl(Duration.ofSeconds(1)).build();
        return Deployment.create()
                .filter("quota", filter, "/*")
                .filter("quota2", second, "/*")
                .filter("errors", new ExceptionHandler(), "/*")
                .servlet("chat", new Chat(), "/ai/chat", "/ai2/chat")
                .servlet("slow", new Slow(), "/ai2/slow")
                .servlet("slowAsync", new SlowAsync(), "/ai2/slow-async")
                .servlet("timeoutAfter", new TimeoutAfter(), "/ai/timeout-after")
                .servlet("timeoutDuring", new TimeoutDuring(), "/ai/timeout-during")
                .servlet("timeoutBefore", new TimeoutBefore(), "/ai/timeout-before")
                .servlet("upstream429", new Upstream429(), "/ai/upstream-429")
                .servlet("throwsAfter", new ThrowsAfter(), "/ai/throws-after")
                .servlet("validation", new Validation(), "/ai/validate")
                .servlet("bufferedTimeout", new BufferedTimeout(false), "/ai/buffered-timeout")
                .servlet("flushedTimeout", new BufferedTimeout(true), "/ai/flushed-timeout")
                .servlet("sendErrorAfter", new SendErrorAfter(), "/ai/send-error-after")
                .servlet("ask", new Ask(), "/ai/ask")
                .servlet("lengthAsync", new LengthAsync(), "/ai/length-async")
                .servlet("noArgAsync", new NoArgAsync(), "/ai/no-arg-async")
                .servlet("preambleThen429", new PreambleThen429(), "/ai/preamble-429")
                .onStartup(filter::registerByServletName)
                .onStartup(second::registerByServletName);
    }

    /** A Spring-style exception handler inside the quota filter: resets and answers a problem. */
    static class ExceptionHandler implements Filter {
        @Override
        public void doFilter(ServletRequest req, ServletResponse res, FilterChain chain) throws IOException, ServletException {
            try {
                chain.doFilter(req, res);
            } catch (IllegalStateException e) {
                HttpServletResponse r = (HttpServletResponse) res;
                if (!r.isCommitted()) {
                    r.reset();
                    r.setStatus(Integer.parseInt(e.getMessage()));
                    r.setContentType("application/problem+json");
                    r.getWriter().write("{\"title\":\"failed\",\"status\":" + e.getMessage() + "}");
                }
            }
        }
    }

    /** A chat endpoint: counts the call and answers 4,900 tokens of usage. */
    class Chat extends HttpServlet {
        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            req.getInputStream().readAllBytes();
            calls.count(req.getHeader("x-user-id"));
            ChatCompletions.writeWithLength(resp, ANSWER.getBytes(StandardCharsets.UTF_8));
        }
    }

    /** Waits until the hold's first TTL (1 s) is long past: the model answers after 2.5 s. */
    static void outliveHold(long start) {
        while (System.nanoTime() - start < TimeUnit.MILLISECONDS.toNanos(2_500)) {
            try {
                Thread.sleep(50);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                return;
            }
        }
    }

    class Slow extends HttpServlet {
        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            long start = System.nanoTime();
            req.getInputStream().readAllBytes();
            calls.count(req.getHeader("x-user-id"));
            outliveHold(start);
            ChatCompletions.writeWithLength(resp, ANSWER.getBytes(StandardCharsets.UTF_8));
        }
    }

    class SlowAsync extends HttpServlet {
        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            long start = System.nanoTime();
            req.getInputStream().readAllBytes();
            calls.count(req.getHeader("x-user-id"));
            AsyncContext ctx = req.startAsync(req, resp);
            ctx.setTimeout(30_000);
            workers.submit(() -> {
                outliveHold(start);
                try {
                    resp.setContentType("text/event-stream");
                    PrintWriter w = resp.getWriter();
                    for (int i = 0; i < 5; i++) {
                        w.write(ChatCompletions.wordEvent("chatcmpl-236"));
                        w.flush();
                    }
                    w.write(ChatCompletions.usageEvent("chatcmpl-236", 900, 4_000));
                    w.write(ChatCompletions.DONE);
                    w.flush();
                } catch (IOException e) {
                    // the client went
                } finally {
                    ctx.complete();
                }
            });
        }
    }

    /** An SseEmitter that sent the whole answer but was never completed: the container's timeout ends it. */
    class TimeoutAfter extends HttpServlet {
        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            req.getInputStream().readAllBytes();
            calls.count(req.getHeader("x-user-id"));
            AsyncContext ctx = req.startAsync(req, resp);
            AsyncTimeouts.completeOnTimeout(ctx, 500);
            workers.submit(() -> {
                try {
                    resp.setContentType("text/event-stream");
                    PrintWriter w = resp.getWriter();
                    for (int i = 0; i < 5; i++) {
                        w.write(ChatCompletions.wordEvent("chatcmpl-236"));
                    }
                    w.write(ChatCompletions.usageEvent("chatcmpl-236", 900, 4_000));
                    w.write(ChatCompletions.DONE);
                    w.flush();
                } catch (IOException e) {
                    // the client went
                }
            });
        }
    }

    /** The timeout fires while the answer is on its way (its usage never comes). */
    class TimeoutDuring extends HttpServlet {
        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            req.getInputStream().readAllBytes();
            calls.count(req.getHeader("x-user-id"));
            AsyncContext ctx = req.startAsync(req, resp);
            CountDownLatch timedOut = new CountDownLatch(1);
            ctx.setTimeout(500);
            ctx.addListener(new jakarta.servlet.AsyncListener() {
                public void onComplete(jakarta.servlet.AsyncEvent e) { }
                public void onTimeout(jakarta.servlet.AsyncEvent e) {
                    timedOut.countDown();
                    e.getAsyncContext().complete();
                }
                public void onError(jakarta.servlet.AsyncEvent e) { }
                public void onStartAsync(jakarta.servlet.AsyncEvent e) { }
            });
            resp.setContentType("text/event-stream");
            PrintWriter w = resp.getWriter();
            for (int i = 0; i < 300; i++) {
                w.write("data: " + ChatCompletions.chunkHead("chatcmpl-236")
                        + "\"choices\":[{\"index\":0,\"delta\":{\"content\":\"The supplier may terminate with thirty days notice. \"}}]}\n\n");
            }
            w.flush();
        }
    }

    /** DeferredResult: the timeout fires first, the answer (with usage) is written by the timeout's dispatch. */
    class TimeoutBefore extends HttpServlet {
        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            if (req.getDispatcherType() == jakarta.servlet.DispatcherType.ASYNC) {
                ChatCompletions.writeWithLength(resp, ANSWER.getBytes(StandardCharsets.UTF_8));
                return;
            }
            req.getInputStream().readAllBytes();
            calls.count(req.getHeader("x-user-id"));
            AsyncContext ctx = req.startAsync(req, resp);
            ctx.setTimeout(300);
            ctx.addListener(new jakarta.servlet.AsyncListener() {
                public void onComplete(jakarta.servlet.AsyncEvent e) { }
                public void onTimeout(jakarta.servlet.AsyncEvent e) {
                    e.getAsyncContext().dispatch();
                }
                public void onError(jakarta.servlet.AsyncEvent e) { }
                public void onStartAsync(jakarta.servlet.AsyncEvent e) { }
            });
        }
    }

    /** A relay whose provider answered 429 (the model never ran): passed through. */
    static class Upstream429 extends HttpServlet {
        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            req.getInputStream().readAllBytes();
            resp.setStatus(429);
            resp.setHeader("Retry-After", "20");
            resp.setContentType("application/json");
            resp.getWriter().write("{\"error\":{\"message\":\"Rate limit reached for gpt-4o in organization org-x on tokens per min"
                    + " (TPM): Limit 30000, Used 29000, Requested 8000.\",\"type\":\"tokens\",\"param\":null,\"code\":\"rate_limit_exceeded\"}}");
        }
    }

    /** A handler that wrote the model's answer (with usage) into the buffer, then failed: a 500 problem replaces it. */
    class ThrowsAfter extends HttpServlet {
        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            req.getInputStream().readAllBytes();
            calls.count(req.getHeader("x-user-id"));
            resp.setContentType("application/json");
            resp.getWriter().write(ChatCompletions.completion("chatcmpl-236", "gpt-4o", "x".repeat(100), 900, 9_000));
            throw new IllegalStateException("500");
        }
    }

    /** Bean validation before the call: 400, no model. */
    static class Validation extends HttpServlet {
        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            req.getInputStream().readAllBytes();
            throw new IllegalStateException("400");
        }
    }

    static final String BODY = "{\"model\":\"gpt-4o\",\"messages\":[{\"role\":\"user\",\"content\":\"Summarise the contract.\"}],\"max_tokens\":%d}";

    List<HttpResponse<String>> together(int n, java.util.function.IntFunction<java.net.http.HttpRequest> request) {
        CountDownLatch go = new CountDownLatch(1);
        List<CompletableFuture<HttpResponse<String>>> all = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            int k = i;
            all.add(CompletableFuture.supplyAsync(() -> {
                try {
                    go.await();
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
                return TestHttp.send(request.apply(k));
            }, workers));
        }
        go.countDown();
        return all.stream().map(CompletableFuture::join).toList();
    }

    static long count(List<HttpResponse<String>> rs, int status) {
        return rs.stream().filter(r -> r.statusCode() == status).count();
    }

    @Test
    void fortyClientsOneKeySameBodyGetOneModelCall() {
        String s = subject();
        String key = UUID.randomUUID().toString();
        List<HttpResponse<String>> rs = together(40, i -> TestHttp.jsonPost(container.uri("/ai/chat"), s,
                String.format(BODY, 500), "Idempotency-Key", key));
        assertEquals(1, calls.of(s), "one key, one model call");
        assertEquals(1, count(rs, 200));
        assertEquals(39, count(rs, 409));
        assertEquals(4_900, settled(s).used(), ledger(s));
    }

    @Test
    void fortyClientsOneKeyDifferentBodiesGetOneModelCall() {
        String s = subject();
        String key = UUID.randomUUID().toString();
        List<HttpResponse<String>> rs = together(40, i -> TestHttp.jsonPost(container.uri("/ai/chat"), s,
                String.format(BODY, 100 + i * 37), "Idempotency-Key", key));
        assertEquals(1, calls.of(s), "one key, one model call");
        assertEquals(1, count(rs, 200));
        assertEquals(4_900, settled(s).used(), ledger(s));
    }

    @Test
    void oneKeyAcrossTwoFiltersOnOneStoreGetsOneModelCall() {
        String s = subject();
        String key = UUID.randomUUID().toString();
        List<HttpResponse<String>> rs = together(40, i -> TestHttp.jsonPost(container.uri(i % 2 == 0 ? "/ai/chat" : "/ai2/chat"), s,
                String.format(BODY, 500), "Idempotency-Key", key));
        assertEquals(1, calls.of(s), "one key, one model call");
        assertEquals(1, count(rs, 200));
        assertEquals(4_900, settled(s).used(), ledger(s));
    }

    @Test
    void aSyncCallOutlivingItsHoldIsChargedAndItsKeyIsNotReusable() throws Exception {
        String s = subject();
        String key = UUID.randomUUID().toString();
        CompletableFuture<HttpResponse<String>> first = CompletableFuture.supplyAsync(() ->
                TestHttp.postJson(container.uri("/ai2/slow"), s, String.format(BODY, 500), "Idempotency-Key", key), workers);
        // wait until the first call reached the model, then past its first hold's TTL
        long t0 = System.nanoTime();
        while (calls.of(s) == 0 && System.nanoTime() - t0 < TimeUnit.SECONDS.toNanos(10)) {
            Thread.onSpinWait();
        }
        outliveHold(System.nanoTime() - TimeUnit.MILLISECONDS.toNanos(1_000));
        HttpResponse<String> second = TestHttp.postJson(container.uri("/ai2/slow"), s, String.format(BODY, 500), "Idempotency-Key", key);
        assertEquals(409, second.statusCode(), second.body());
        assertEquals(200, first.join().statusCode());
        assertEquals(1, calls.of(s));
        assertEquals(4_900, settled(s).used(), ledger(s));
    }

    @Test
    void anAsyncCallOutlivingItsHoldIsCharged() {
        String s = subject();
        HttpResponse<String> r = TestHttp.postJson(container.uri("/ai2/slow-async"), s, String.format(BODY, 500));
        assertEquals(200, r.statusCode(), r.body());
        assertEquals(4_900, settled(s).used(), ledger(s));
    }

    @Test
    void aTimeoutAfterTheWholeAnswerChargesItsUsage() {
        String s = subject();
        HttpResponse<String> r = TestHttp.postJson(container.uri("/ai/timeout-after"), s, String.format(BODY, 500));
        assertTrue(r.body().contains("[DONE]"), r.body());
        assertEquals(4_900, settled(s).used(), ledger(s));
    }

    @Test
    void aTimeoutDuringTheAnswerChargesAtLeastItsText() {
        String s = subject();
        HttpResponse<String> r = TestHttp.postJson(container.uri("/ai/timeout-during"), s, String.format(BODY, 500));
        long used = settled(s).used();
        assertTrue(used >= 1_500, "300 deltas of ~8 tokens carried, charged " + used + " (" + r.statusCode() + "): " + ledger(s));
    }

    @Test
    void aTimeoutBeforeTheAnswerWithTheAnswerDispatchedChargesItsUsage() {
        String s = subject();
        HttpResponse<String> r = TestHttp.postJson(container.uri("/ai/timeout-before"), s, String.format(BODY, 500));
        assertEquals(200, r.statusCode(), r.body());
        assertEquals(4_900, settled(s).used(), ledger(s));
    }

    @Test
    void anUpstream429PassedThroughIsFree() {
        String s = subject();
        HttpResponse<String> r = TestHttp.postJson(container.uri("/ai/upstream-429"), s, String.format(BODY, 8_000));
        assertEquals(429, r.statusCode(), r.body());
        assertEquals(0, settled(s).used(), ledger(s));
    }

    @Test
    void aValidationErrorIsFree() {
        String s = subject();
        HttpResponse<String> r = TestHttp.postJson(container.uri("/ai/validate"), s, String.format(BODY, 8_000));
        assertEquals(400, r.statusCode(), r.body());
        assertEquals(0, settled(s).used(), ledger(s));
    }

    @Test
    void anAnswerReplacedByAnExceptionHandlersProblemIsChargedItsUsage() {
        String s = subject();
        HttpResponse<String> r = TestHttp.postJson(container.uri("/ai/throws-after"), s, String.format(BODY, 500));
        assertEquals(500, r.statusCode(), r.body());
        assertEquals(9_900, settled(s).used(), ledger(s));
    }

    /** An async answer written whole (with usage) but never completed; no listener: the container's own timeout. */
    class BufferedTimeout extends HttpServlet {
        final boolean flush;

        BufferedTimeout(boolean flush) {
            this.flush = flush;
        }

        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            req.getInputStream().readAllBytes();
            calls.count(req.getHeader("x-user-id"));
            AsyncContext ctx = req.startAsync(req, resp);
            ctx.setTimeout(300);
            workers.submit(() -> {
                try {
                    resp.setContentType("application/json");
                    PrintWriter w = resp.getWriter();
                    w.write(ANSWER);
                    if (flush) {
                        w.flush();
                    }
                } catch (IOException e) {
                    // gone
                }
            });
        }
    }

    /** Wrote the model's answer, then a ResponseStatusException: sendError(422) over the buffered answer. */
    class SendErrorAfter extends HttpServlet {
        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            req.getInputStream().readAllBytes();
            calls.count(req.getHeader("x-user-id"));
            resp.setContentType("application/json");
            resp.getWriter().write(ChatCompletions.completion("chatcmpl-236", "gpt-4o", "y".repeat(100), 900, 9_000));
            resp.sendError(422, "the answer failed its schema");
        }
    }

    @Test
    void anUnflushedAsyncAnswerEndedByTheContainersTimeoutIsChargedItsUsage() {
        String s = subject();
        HttpResponse<String> r = TestHttp.postJson(container.uri("/ai/buffered-timeout"), s, String.format(BODY, 500));
        assertEquals(4_900, settled(s).used(), r.statusCode() + " " + r.body() + ": " + ledger(s));
    }

    @Test
    void aFlushedAsyncAnswerEndedByTheContainersTimeoutIsChargedItsUsage() {
        String s = subject();
        String seen;
        try {
            HttpResponse<String> r = TestHttp.postJson(container.uri("/ai/flushed-timeout"), s, String.format(BODY, 500));
            seen = r.statusCode() + " " + r.body();
        } catch (java.io.UncheckedIOException e) {
            // Tomcat aborts a committed answer whose async cycle timed out
            seen = e.toString();
        }
        assertEquals(4_900, settled(s).used(), seen + ": " + ledger(s));
    }

    @Test
    void anAnswerReplacedBySendErrorIsChargedItsUsage() {
        String s = subject();
        HttpResponse<String> r = TestHttp.postJson(container.uri("/ai/send-error-after"), s, String.format(BODY, 500));
        assertEquals(422, r.statusCode(), r.body());
        assertEquals(9_900, settled(s).used(), ledger(s));
    }

    /** A GET chat route ({@code @GetMapping("/ai/ask")}): calls the model, answers its completion with usage. */
    class Ask extends HttpServlet {
        @Override
        protected void doGet(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            calls.count(req.getHeader("x-user-id"));
            resp.setContentType("application/json");
            resp.getWriter().write(ANSWER);
        }
    }

    @Test
    void aGetChatRouteIsChargedItsUsage() {
        String s = subject();
        HttpResponse<String> r = TestHttp.send(TestHttp.requestAs(container.uri("/ai/ask?q=summarise+the+contract"), s).GET().build());
        assertEquals(200, r.statusCode(), r.body());
        assertEquals(4_900, settled(s).used(), ledger(s));
    }

    @Test
    void aHeadOnAGetChatRouteIsChargedTheModelsUsage() {
        String s = subject();
        HttpResponse<String> r = TestHttp.send(TestHttp.requestAs(container.uri("/ai/ask?q=summarise+the+contract"), s)
                .method("HEAD", java.net.http.HttpRequest.BodyPublishers.noBody()).build());
        assertEquals(1, calls.of(s), "the model ran for the HEAD");
        long used = settled(s).used();
        assertTrue(used >= 4_900, "the model used 4,900, charged " + used + " (" + r.statusCode() + " " + r.headers().map() + "): " + ledger(s));
    }

    /** startAsync() without arguments, the answer written to the context's response, never completed: the timeout ends it. */
    class NoArgAsync extends HttpServlet {
        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            req.getInputStream().readAllBytes();
            calls.count(req.getHeader("x-user-id"));
            AsyncContext ctx = req.startAsync();
            AsyncTimeouts.completeOnTimeout(ctx, 400);
            workers.submit(() -> {
                try {
                    HttpServletResponse r = (HttpServletResponse) ctx.getResponse();
                    r.setContentType("text/event-stream");
                    PrintWriter w = r.getWriter();
                    for (int i = 0; i < 5; i++) {
                        w.write(ChatCompletions.wordEvent("chatcmpl-236"));
                    }
                    w.write(ChatCompletions.usageEvent("chatcmpl-236", 900, 4_000));
                    w.write(ChatCompletions.DONE);
                    w.flush();
                } catch (IOException e) {
                    // gone
                }
            });
        }
    }

    /** A relay that flushed its keep-alive preamble, then found the provider answering 429: sendError(429). */
    static class PreambleThen429 extends HttpServlet {
        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            req.getInputStream().readAllBytes();
            resp.setContentType("text/event-stream");
            resp.getWriter().write(": keep-alive\n\n");
            resp.getWriter().write("retry: 3000\n\n");
            resp.sendError(429, "upstream rate limit");
        }
    }

    @Test
    void aNoArgAsyncAnswerEndedByTheTimeoutIsChargedItsUsage() {
        String s = subject();
        HttpResponse<String> r = TestHttp.postJson(container.uri("/ai/no-arg-async"), s, String.format(BODY, 500));
        assertEquals(4_900, settled(s).used(), r.statusCode() + " " + r.body() + ": " + ledger(s));
    }

    @Test
    void aPreambleThenUpstream429IsFree() {
        String s = subject();
        HttpResponse<String> r = TestHttp.postJson(container.uri("/ai/preamble-429"), s, String.format(BODY, 8_000));
        assertEquals(0, settled(s).used(), r.statusCode() + " " + r.body() + ": " + ledger(s));
    }

    @Test
    void wrongMethodsOnTheChatPathAreFree() {
        String s = subject();
        HttpResponse<String> put = TestHttp.send(TestHttp.requestAs(container.uri("/ai/chat"), s, "Content-Type", "application/json")
                .PUT(java.net.http.HttpRequest.BodyPublishers.ofString(String.format(BODY, 8_000))).build());
        HttpResponse<String> get = TestHttp.send(TestHttp.requestAs(container.uri("/ai/chat"), s).GET().build());
        HttpResponse<String> patch = TestHttp.send(TestHttp.requestAs(container.uri("/ai/chat"), s, "Content-Type", "application/json")
                .method("PATCH", java.net.http.HttpRequest.BodyPublishers.ofString(String.format(BODY, 8_000))).build());
        HttpResponse<String> delete = TestHttp.send(TestHttp.requestAs(container.uri("/ai/chat"), s).DELETE().build());
        assertEquals(0, calls.of(s));
        assertEquals(0, settled(s).used(), put.statusCode() + " " + get.statusCode() + " " + patch.statusCode() + " "
                + delete.statusCode() + ": " + ledger(s));
    }

    @Test
    void fortyClientsOneKeyBudgetsAroundTheBalanceGetOneModelCall() {
        String s = subject();
        String key = UUID.randomUUID().toString();
        List<HttpResponse<String>> rs = together(40, i -> TestHttp.jsonPost(container.uri(i % 3 == 0 ? "/ai2/chat" : "/ai/chat"), s,
                String.format(BODY, i % 2 == 0 ? 25_000 : 300 + i), "Idempotency-Key", key));
        assertEquals(1, calls.of(s), "one key, one model call");
        assertEquals(1, count(rs, 200), rs.stream().map(HttpResponse::statusCode).toList().toString());
        assertEquals(4_900, settled(s).used(), ledger(s));
    }

    /** An async answer with a declared Content-Length, never completed by the handler: the timeout completes it. */
    class LengthAsync extends HttpServlet {
        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            req.getInputStream().readAllBytes();
            calls.count(req.getHeader("x-user-id"));
            AsyncContext ctx = req.startAsync(req, resp);
            AsyncTimeouts.completeOnTimeout(ctx, 400);
            workers.submit(() -> {
                try {
                    ChatCompletions.writeWithLength(resp, ANSWER.getBytes(StandardCharsets.UTF_8));
                } catch (IOException e) {
                    // gone
                }
            });
        }
    }

    @Test
    void anAsyncAnswerWithItsLengthEndedByTheTimeoutIsChargedItsUsage() {
        String s = subject();
        HttpResponse<String> r = TestHttp.postJson(container.uri("/ai/length-async"), s, String.format(BODY, 500));
        assertEquals(200, r.statusCode(), r.body());
        assertEquals(4_900, settled(s).used(), ledger(s));
    }

    /** A scheduler sweeps stale holds all along (Spring Boot's expire-stale) while slow calls outlive a 1 s hold. */
    @Test
    void slowCallsUnderAConstantSweepAreChargedTheirUsage() {
        String s = subject();
        java.util.concurrent.atomic.AtomicBoolean sweeping = new java.util.concurrent.atomic.AtomicBoolean(true);
        CompletableFuture<Void> sweeper = CompletableFuture.runAsync(() -> {
            while (sweeping.get()) {
                store.expireStale();
                Thread.onSpinWait();
            }
        }, workers);
        List<HttpResponse<String>> rs = together(3, i -> TestHttp.jsonPost(container.uri(i == 0 ? "/ai2/slow" : "/ai2/slow-async"), s,
                String.format(BODY, 500)));
        sweeping.set(false);
        sweeper.join();
        assertEquals(3, count(rs, 200), rs.stream().map(HttpResponse::statusCode).toList().toString());
        assertEquals(3 * 4_900, settled(s).used(), ledger(s));
    }

    /** Five rounds of 50 clients sharing one key each, spread over a sync and an async endpoint behind two filters. */
    @Test
    void fiveRoundsOfFiftyClientsPerKeyGetOneModelCallEach() {
        String[] paths = {"/ai/chat", "/ai2/chat", "/ai/timeout-after", "/ai/length-async"};
        for (int round = 0; round < 5; round++) {
            String s = subject();
            String key = UUID.randomUUID().toString();
            List<HttpResponse<String>> rs = together(50, i -> TestHttp.jsonPost(container.uri(paths[i % paths.length]), s,
                    String.format(BODY, 500), "Idempotency-Key", key));
            assertEquals(1, calls.of(s), "round " + round + ": one key, one model call; " + rs.stream().map(HttpResponse::statusCode).toList());
            assertEquals(49, count(rs, 409), rs.stream().map(HttpResponse::statusCode).toList().toString());
            assertEquals(4_900, settled(s).used(), ledger(s));
        }
    }
}
