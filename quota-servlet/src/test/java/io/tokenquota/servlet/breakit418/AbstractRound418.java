package io.tokenquota.servlet.breakit418;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.tokenquota.QuotaAccount;
import io.tokenquota.servlet.QuotaFilter;
import io.tokenquota.servlet.testing.ChatCompletions;
import io.tokenquota.servlet.testing.Deployment;
import io.tokenquota.servlet.testing.EmbeddedContainer;
import io.tokenquota.servlet.testing.H2FilterRound;
import io.tokenquota.servlet.testing.HeldChatModel;
import io.tokenquota.servlet.testing.ModelCalls;
import io.tokenquota.servlet.testing.TestHttp;
import jakarta.servlet.AsyncContext;
import jakarta.servlet.http.HttpServlet;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;
import java.io.OutputStream;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;

/**
 * Round 418 of issue 11 (lifecycle): a service stopped while streamed model calls are in flight.
 *
 * <p>The model: an OpenAI chat completion stream ({@code stream: true}, {@code stream_options.include_usage}),
 * OpenAI API reference, "The chat completion chunk object": chunks with {@code choices[].delta.content}, then,
 * when asked for usage, a last chunk with empty {@code choices} and {@code usage}, then {@code data: [DONE]}.
 * The relay writes it from an application thread of its own on an async cycle ({@code startAsync}, timeout 0),
 * as Spring's {@code SseEmitter} does when the application sends from its executor (Spring Framework reference,
 * "Asynchronous Requests", "HTTP Streaming").
 */
abstract class AbstractRound418 extends H2FilterRound {
    static final ModelCalls CALLS = new ModelCalls();
    static final long PROMPT = 1_500;
    static final long COMPLETION = 7_500;
    static final long USAGE = PROMPT + COMPLETION;
    /** Instances stopped with a stream open in {@link #controlAStreamCutByTheStopOfAnIdleServiceIsChargedItsUsage}. */
    static final int ROUNDS = 3;
    static final String ASK_STREAM = "{\"model\":\"gpt-4o\",\"stream\":true,\"stream_options\":{\"include_usage\":true},"
            + "\"messages\":[{\"role\":\"user\",\"content\":\"Plan a three-day trip to Lisbon.\"}]}";

    /** The application's own threads: a relay's executor writing the emitters. */
    static final ExecutorService APP = Executors.newCachedThreadPool(r -> {
        Thread t = new Thread(r, "relay-418");
        t.setDaemon(true);
        return t;
    });
    /** Counted down once the subject's usage event went out (flushed). */
    static final Map<String, CountDownLatch> USAGE_OUT = new ConcurrentHashMap<>();
    /** Counted down to let the subject's stream write its [DONE] and complete. */
    static final Map<String, CountDownLatch> FINISH = new ConcurrentHashMap<>();
    /** Subjects whose stream is cut before its usage event: the words went out, the usage was still to come. */
    static final java.util.Set<String> WORDS_ONLY = ConcurrentHashMap.newKeySet();
    /** What the worker met writing the end. */
    static final Map<String, String> WORKER_END = new ConcurrentHashMap<>();

    static String subject() {
        return "u418-" + UUID.randomUUID().toString().substring(0, 12);
    }

    @Override
    protected Deployment deploy(QuotaFilter filter) {
        return service(filter);
    }

    static Deployment service(QuotaFilter filter) {
        return Deployment.create().filter("quota", filter, "/ai/*").servlet("relay", new StreamRelay(), "/ai/*");
    }

    @AfterAll
    void stopApp() {
        FINISH.values().forEach(CountDownLatch::countDown);
    }

    /** Streams the answer from an application thread; waits, after the usage event, until the test lets it end. */
    static final class StreamRelay extends HttpServlet {
        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            req.getInputStream().readAllBytes();
            String s = req.getHeader("x-user-id");
            CALLS.count(s);
            resp.setContentType("text/event-stream");
            resp.setCharacterEncoding("UTF-8");
            AsyncContext async = req.startAsync(req, resp);
            async.setTimeout(0);
            APP.execute(() -> {
                String id = "chatcmpl-418-" + s;
                try {
                    OutputStream out = async.getResponse().getOutputStream();
                    for (int i = 0; i < 20; i++) {
                        out.write(ChatCompletions.wordEvent(id).getBytes(StandardCharsets.UTF_8));
                    }
                    if (!WORDS_ONLY.contains(s)) {
                        out.write(ChatCompletions.usageEvent(id, PROMPT, COMPLETION).getBytes(StandardCharsets.UTF_8));
                    }
                    out.flush();
                    USAGE_OUT.computeIfAbsent(s, k -> new CountDownLatch(1)).countDown();
                    CountDownLatch finish = FINISH.get(s);
                    if (finish != null) {
                        finish.await(20, TimeUnit.SECONDS);
                    }
                    out.write(ChatCompletions.DONE.getBytes(StandardCharsets.UTF_8));
                    out.flush();
                    WORKER_END.put(s, "wrote [DONE]");
                } catch (Exception e) {
                    WORKER_END.put(s, e.toString());
                } finally {
                    try {
                        async.complete();
                    } catch (RuntimeException e) {
                        WORKER_END.merge(s, "; complete(): " + e, String::concat);
                    }
                }
            });
        }
    }

    /** The subject's account once at least {@code used} is charged and nothing held, or after {@code wait}. */
    QuotaAccount chargedWithin(String s, long used, Duration wait) throws InterruptedException {
        long deadline = System.nanoTime() + wait.toNanos();
        QuotaAccount a = store.account(s);
        while ((a.used() < used || a.reserved() != 0) && System.nanoTime() < deadline) {
            TimeUnit.MILLISECONDS.sleep(20);
            a = store.account(s);
        }
        return a;
    }

    /** Starts the subject's stream on {@code c} and reads it until its usage event reached the client. */
    HttpResponse<Stream<String>> streamUntilUsage(EmbeddedContainer c, String s) throws Exception {
        return streamUntilUsage(c.uri("/ai/v1/chat/completions"), s);
    }

    HttpResponse<Stream<String>> streamUntilUsage(java.net.URI uri, String s) throws Exception {
        HttpRequest request = TestHttp.jsonPost(uri, s, ASK_STREAM);
        HttpResponse<Stream<String>> r = TestHttp.fresh().send(request, HttpResponse.BodyHandlers.ofLines());
        TestHttp.readUntil(r, l -> l.contains("\"usage\""), "the usage event did not reach the client");
        return r;
    }

    /**
     * Control: the service's stream ends ([DONE]) before the service is stopped: charged its usage, 9,000.
     */
    @Test
    void controlAStreamThatEndedBeforeTheStopIsChargedItsUsage() throws Exception {
        String s = subject();
        QuotaFilter quota = filterFor("/ai/").build();
        EmbeddedContainer c = kind().start(service(quota));
        try {
            HttpRequest request = TestHttp.jsonPost(c.uri("/ai/v1/chat/completions"), s, ASK_STREAM);
            TestHttp.readToDone(TestHttp.fresh().send(request, HttpResponse.BodyHandlers.ofLines()));
        } finally {
            c.close();
        }
        QuotaAccount a = chargedWithin(s, USAGE, Duration.ofSeconds(10));
        assertEquals(USAGE, a.used(), kind() + ": " + a + ", events " + ledger(s) + ", worker " + WORKER_END.get(s));
        assertEquals(0, a.reserved(), kind() + ": " + a);
    }

    /**
     * Control (of {@link #aStreamCutByTheStopOfABusyServiceIsChargedItsUsage}): the service is stopped (the
     * container's stop, as a rolling deploy stops an instance: Tomcat's
     * {@code Tomcat.stop()}, Jetty's {@code Server.stop()}) while a stream whose usage event the client already
     * read is still open (the relay has not written [DONE] yet); the relay's write of the end then fails. The
     * client has the model's answer and its usage: rule 2 of docs/servlet.md, "usage seen → charge it (also after
     * expiry, timeout, disconnect)". Several instances, each stopped with one such stream: the container's stop races
     * its own async timeout of the open request against closing its socket and shutting its executor down, so
     * {@link #ROUNDS} instances. Expected:
     * each stream charged 9,000, nothing held.
     */
    @Test
    void controlAStreamCutByTheStopOfAnIdleServiceIsChargedItsUsage() throws Exception {
        java.util.List<String> outcomes = new java.util.ArrayList<>();
        int lost = 0;
        for (int round = 0; round < ROUNDS; round++) {
            String s = subject();
            FINISH.put(s, new CountDownLatch(1));
            QuotaFilter quota = filterFor("/ai/").build();
            EmbeddedContainer c = kind().start(service(quota));
            CompletableFuture<Void> stopped;
            try {
                streamUntilUsage(c, s);
            } finally {
                stopped = CompletableFuture.runAsync(c::close);
            }
            try {
                stopped.get(30, TimeUnit.SECONDS);
            } finally {
                FINISH.get(s).countDown();
            }
            QuotaAccount a = chargedWithin(s, USAGE, Duration.ofSeconds(2));
            if (a.used() != USAGE || a.reserved() != 0) {
                lost++;
            }
            outcomes.add("used " + a.used() + " reserved " + a.reserved() + " events " + ledger(s) + " worker "
                    + WORKER_END.get(s));
        }
        assertEquals(0, lost, kind() + ": streams whose usage the client read, cut by the service's stop, not charged"
                + " their usage (of " + ROUNDS + "): " + String.join(" | ", outcomes));
    }

    static final String ASK = "{\"model\":\"gpt-4o\",\"messages\":[{\"role\":\"user\",\"content\":\"Plan a three-day trip to Lisbon.\"}]}";
    static final HeldChatModel HELD = new HeldChatModel(ChatCompletions.completion("chatcmpl-418h", "gpt-4o",
            "Day one: Alfama.", PROMPT, COMPLETION));

    /** One server of {@link #kind()} with the service as the context {@code /svc}, which can be stopped alone. */
    interface Host extends AutoCloseable {
        int port();

        default java.net.URI uri(String path) {
            return java.net.URI.create("http://127.0.0.1:" + port() + path);
        }

        /** Stops the context (an undeploy, or the first half of a redeploy). */
        void stopContext() throws Exception;

        @Override
        void close() throws Exception;
    }

    static jakarta.servlet.ServletContainerInitializer application(QuotaFilter quota) {
        return (classes, context) -> {
            jakarta.servlet.FilterRegistration.Dynamic f = context.addFilter("quota", quota);
            f.setAsyncSupported(true);
            f.addMappingForUrlPatterns(java.util.EnumSet.of(jakarta.servlet.DispatcherType.REQUEST,
                    jakarta.servlet.DispatcherType.FORWARD, jakarta.servlet.DispatcherType.INCLUDE,
                    jakarta.servlet.DispatcherType.ASYNC), true, "/*");
            jakarta.servlet.ServletRegistration.Dynamic relay = context.addServlet("relay", new StreamRelay());
            relay.setAsyncSupported(true);
            relay.addMapping("/ai/stream/*");
            jakarta.servlet.ServletRegistration.Dynamic held = context.addServlet("held", HELD);
            held.setAsyncSupported(true);
            held.addMapping("/ai/chat/*");
        };
    }

    Host host(QuotaFilter quota, long gracefulMs) throws Exception {
        return host(quota, gracefulMs, 0);
    }

    /** With {@code maxThreads} above 0, Tomcat's connector has that many request threads (Jetty: its default pool). */
    Host host(QuotaFilter quota, long gracefulMs, int maxThreads) throws Exception {
        return kind() == io.tokenquota.servlet.testing.ContainerKind.JETTY ? jetty(quota, gracefulMs) : tomcat(quota, maxThreads);
    }

    static Host jetty(QuotaFilter quota, long gracefulMs) throws Exception {
        org.eclipse.jetty.server.Server server = new org.eclipse.jetty.server.Server();
        org.eclipse.jetty.server.ServerConnector connector = new org.eclipse.jetty.server.ServerConnector(server);
        connector.setHost("127.0.0.1");
        connector.setPort(0);
        server.addConnector(connector);
        org.eclipse.jetty.ee10.servlet.ServletContextHandler h = new org.eclipse.jetty.ee10.servlet.ServletContextHandler("/svc");
        h.addServletContainerInitializer(application(quota));
        org.eclipse.jetty.server.handler.ContextHandlerCollection all = new org.eclipse.jetty.server.handler.ContextHandlerCollection();
        all.addHandler(h);
        if (gracefulMs > 0) {
            // Jetty's graceful stop: the GracefulHandler waits for requests in flight up to the server's stop timeout
            server.setHandler(new org.eclipse.jetty.server.handler.GracefulHandler(all));
            server.setStopTimeout(gracefulMs);
        } else {
            server.setHandler(all);
        }
        server.start();
        int port = connector.getLocalPort();
        return new Host() {
            @Override
            public int port() {
                return port;
            }

            @Override
            public void stopContext() throws Exception {
                h.stop();
            }

            @Override
            public void close() throws Exception {
                server.stop();
            }
        };
    }

    static Host tomcat(QuotaFilter quota, int maxThreads) throws Exception {
        java.nio.file.Path base = java.nio.file.Files.createTempDirectory("tq-tomcat418");
        org.apache.catalina.startup.Tomcat tomcat = new org.apache.catalina.startup.Tomcat();
        tomcat.setBaseDir(base.toString());
        tomcat.setPort(0);
        tomcat.getConnector().setProperty("address", "127.0.0.1");
        if (maxThreads > 0) {
            tomcat.getConnector().setProperty("maxThreads", Integer.toString(maxThreads));
        }
        org.apache.catalina.Context c = tomcat.addContext("/svc", base.toString());
        c.addServletContainerInitializer(application(quota), null);
        tomcat.start();
        int port = tomcat.getConnector().getLocalPort();
        return new Host() {
            @Override
            public int port() {
                return port;
            }

            @Override
            public void stopContext() throws Exception {
                c.stop();
            }

            @Override
            public void close() throws Exception {
                tomcat.stop();
                tomcat.destroy();
            }
        };
    }

    void check(String s, String story) throws InterruptedException {
        QuotaAccount a = chargedWithin(s, USAGE, Duration.ofSeconds(10));
        String what = kind() + ": " + story + ": " + a + ", events " + ledger(s) + ", worker " + WORKER_END.get(s);
        assertEquals(USAGE, a.used(), what);
        assertEquals(0, a.reserved(), what);
    }

    /**
     * The service's context is stopped (an undeploy, or a redeploy's stop) while a stream whose usage event the
     * client already read is still open; the relay then writes its end. Expected: 9,000 charged, nothing held.
     */
    @Test
    void aStreamOpenWhenItsContextStopsIsChargedItsUsage() throws Exception {
        String s = subject();
        FINISH.put(s, new CountDownLatch(1));
        try (Host h = host(filterFor("/ai/").build(), 0)) {
            streamUntilUsage(h.uri("/svc/ai/stream/chat"), s);
            CompletableFuture<Void> stopped = CompletableFuture.runAsync(() -> {
                try {
                    h.stopContext();
                } catch (Exception e) {
                    throw new IllegalStateException(e);
                }
            });
            try {
                stopped.get(30, TimeUnit.SECONDS);
            } finally {
                FINISH.get(s).countDown();
            }
            check(s, "context stopped with the stream open");
        }
    }

    /**
     * The service's context is stopped while a synchronous call is in the model; the model then answers.
     * Expected: 9,000 charged (the client got the answer with its usage), nothing held.
     */
    @Test
    void aCallInTheModelWhenItsContextStopsIsChargedItsUsage() throws Exception {
        String s = subject();
        HELD.hold(s);
        try (Host h = host(filterFor("/ai/").build(), 0)) {
            CompletableFuture<HttpResponse<String>> call = TestHttp.fresh().sendAsync(
                    TestHttp.jsonPost(h.uri("/svc/ai/chat/completions"), s, ASK), HttpResponse.BodyHandlers.ofString());
            assertTrue(HELD.awaitArrival(s));
            CompletableFuture<Void> stopped = CompletableFuture.runAsync(() -> {
                try {
                    h.stopContext();
                } catch (Exception e) {
                    throw new IllegalStateException(e);
                }
            });
            String answer;
            String stop;
            try {
                // the stop goes on past Tomcat's unloadDelay (2 s) while the model still works
                stopped.get(6, TimeUnit.SECONDS);
                stop = "returned";
            } catch (java.util.concurrent.TimeoutException e) {
                stop = "still stopping";
            } finally {
                HELD.letGo(s);
            }
            try {
                HttpResponse<String> r = call.get(30, TimeUnit.SECONDS);
                answer = r.statusCode() + " " + r.body();
            } catch (Exception e) {
                answer = e.toString();
            }
            stopped.get(30, TimeUnit.SECONDS);
            check(s, "context stopped (" + stop + ") with the call in the model, client got " + answer);
        }
    }

    /**
     * Jetty's graceful stop (GracefulHandler, stop timeout 1 s) while a stream whose usage the client read is
     * still open past the timeout. Expected: 9,000 charged, nothing held.
     */
    @Test
    void aStreamOutlivingAGracefulStopIsChargedItsUsage() throws Exception {
        String s = subject();
        FINISH.put(s, new CountDownLatch(1));
        Host h = host(filterFor("/ai/").build(), 1_000);
        try {
            streamUntilUsage(h.uri("/svc/ai/stream/chat"), s);
        } finally {
            try {
                h.close();
            } catch (Exception e) {
                WORKER_END.put(s + "-stop", e.toString());
            }
            FINISH.get(s).countDown();
        }
        check(s, "graceful stop with the stream open, stop " + WORKER_END.get(s + "-stop"));
    }

    /**
     * The service is stopped while a stream has sent words but not yet its usage (the model still writing):
     * rule 5, a call cut off is charged the estimate (its hold), never nothing. Expected: used = the hold.
     */
    @Test
    void aStreamCutBeforeItsUsageByTheServicesStopIsChargedTheEstimate() throws Exception {
        String s = subject();
        FINISH.put(s, new CountDownLatch(1));
        WORDS_ONLY.add(s);
        QuotaFilter quota = filterFor("/ai/").build();
        EmbeddedContainer c = kind().start(service(quota));
        long held;
        CompletableFuture<Void> stopped;
        try {
            HttpRequest request = TestHttp.jsonPost(c.uri("/ai/v1/chat/completions"), s, ASK_STREAM);
            HttpResponse<Stream<String>> r = TestHttp.fresh().send(request, HttpResponse.BodyHandlers.ofLines());
            TestHttp.readUntil(r, l -> l.contains("word"), "no words reached the client");
            assertTrue(USAGE_OUT.computeIfAbsent(s, k -> new CountDownLatch(1)).await(10, TimeUnit.SECONDS));
            held = store.account(s).reserved();
        } finally {
            stopped = CompletableFuture.runAsync(c::close);
        }
        try {
            stopped.get(30, TimeUnit.SECONDS);
        } finally {
            FINISH.get(s).countDown();
        }
        QuotaAccount a = chargedWithin(s, held, Duration.ofSeconds(10));
        String what = kind() + ": held " + held + ", " + a + ", events " + ledger(s) + ", worker " + WORKER_END.get(s);
        assertTrue(held > 0, what);
        assertEquals(held, a.used(), what);
        assertEquals(0, a.reserved(), what);
    }

    /**
     * A rolling stop of a busy instance: every request thread of the container is taken by a synchronous model
     * call still running (here the connector's pool is one thread, a miniature of 200 threads each in a long
     * call), while another client's stream, on its async cycle, has sent the model's answer and its usage and
     * is still open. The container is stopped ({@code Tomcat.stop()}). Tomcat's {@code AbstractProtocol.stop}
     * times out the open async request by queueing a TIMEOUT event on the request pool, then stops the endpoint,
     * whose {@code shutdownExecutor} ({@code shutdownNow}) drops the queued event: the cycle's listeners are never
     * called (no {@code onTimeout}, {@code onComplete} or {@code onError}), the filter never settles, and the hold
     * is kept by the destroyed filter's keeper until the JVM exits (then it expires: released). The client read
     * the usage: rule 2 of docs/servlet.md, "usage seen → charge it (also after expiry, timeout, disconnect)".
     * Expected: the stream charged 9,000, nothing held, once the stop returned.
     */
    @Test
    void aStreamCutByTheStopOfABusyServiceIsChargedItsUsage() throws Exception {
        String s = subject();
        String busy = subject();
        FINISH.put(s, new CountDownLatch(1));
        HELD.hold(busy);
        Host h = host(filterFor("/ai/").build(), 0, 1);
        CompletableFuture<HttpResponse<String>> busyCall = null;
        CompletableFuture<Void> stopped = null;
        try {
            streamUntilUsage(h.uri("/svc/ai/stream/chat"), s);
            busyCall = TestHttp.fresh().sendAsync(TestHttp.jsonPost(h.uri("/svc/ai/chat/completions"), busy, ASK),
                    HttpResponse.BodyHandlers.ofString());
            assertTrue(HELD.awaitArrival(busy), "the busy call reached the model");
        } finally {
            stopped = CompletableFuture.runAsync(() -> {
                try {
                    h.close();
                } catch (Exception e) {
                    throw new IllegalStateException(e);
                }
            });
        }
        try {
            stopped.get(30, TimeUnit.SECONDS);
        } finally {
            HELD.letGo(busy);
            FINISH.get(s).countDown();
        }
        check(s, "busy service stopped with the stream open");
    }
}
