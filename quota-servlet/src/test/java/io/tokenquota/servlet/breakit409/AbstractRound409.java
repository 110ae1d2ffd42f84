package io.tokenquota.servlet.breakit409;

import static org.junit.jupiter.api.Assertions.assertAll;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.zaxxer.hikari.HikariConfig;
import com.zaxxer.hikari.HikariDataSource;
import io.tokenquota.EventKind;
import io.tokenquota.LedgerEvent;
import io.tokenquota.QuotaAccount;
import io.tokenquota.QuotaPolicy;
import io.tokenquota.jdbi.JdbiQuotaStore;
import io.tokenquota.jdbi.testing.TestDatabase;
import io.tokenquota.jdbi.testing.TestDatabases;
import io.tokenquota.servlet.QuotaFilter;
import io.tokenquota.servlet.SubjectResolver;
import io.tokenquota.servlet.testing.AsyncTimeouts;
import io.tokenquota.servlet.testing.ChatCompletions;
import io.tokenquota.servlet.testing.Deployment;
import io.tokenquota.servlet.testing.EmbeddedContainer;
import io.tokenquota.servlet.testing.EventStreams;
import io.tokenquota.servlet.testing.H2FilterRound;
import io.tokenquota.servlet.testing.HangUps;
import io.tokenquota.servlet.testing.Ledgers;
import io.tokenquota.servlet.testing.ModelCalls;
import io.tokenquota.servlet.testing.TestHttp;
import io.tokenquota.testkit.MutableClock;
import jakarta.servlet.AsyncContext;
import jakarta.servlet.ServletOutputStream;
import jakarta.servlet.http.HttpServlet;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.time.YearMonth;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Future;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Round 409 of issue 11, items 2, 3 and 4 across instances: a service of two instances ({@code a} and {@code b},
 * each its own HikariCP pool, {@link JdbiQuotaStore}, {@link MutableClock}, {@link QuotaFilter} and container) over
 * one database (H2, or a database of the test JVM's embedded PostgreSQL). What differs from rounds 298 and 345:
 * one key sent to both instances at once at the subject's first touch while their clocks straddle midnight (one
 * still in January, one already in February); a keyed stream whose client hung up at {@code a}, retried at
 * {@code b}; many streams' late commits at {@code a} racing {@code b}'s sweep of their holds; an async answer at
 * {@code a} whose hold {@code b} swept and whose container timeout fired after the whole answer was written. No
 * break was found: every scenario is a control (Jetty and Tomcat, H2 and PostgreSQL where marked).
 *
 * <p>Shapes: requests are OpenAI Chat Completions requests ({@code model}, {@code max_tokens}, {@code stream},
 * {@code stream_options.include_usage}, {@code messages}: platform.openai.com/docs/api-reference/chat/create);
 * answers the {@code chat.completion} object and the streamed {@code chat.completion.chunk}s, the last with the
 * usage and no choices, then {@code data: [DONE]} (platform.openai.com/docs/api-reference/chat/object,
 * platform.openai.com/docs/api-reference/chat-streaming), written by {@link ChatCompletions}. A relay waiting on its
 * provider sends SSE comment lines (a line starting with a colon: html.spec.whatwg.org/multipage/server-sent-events.html
 * "event stream interpretation"; OpenRouter's streams send {@code : OPENROUTER PROCESSING} so:
 * openrouter.ai/docs/api-reference/streaming). {@code Idempotency-Key} is the header the filter reads
 * (docs/servlet.md step 4; IETF draft-ietf-httpapi-idempotency-key-header).
 */
abstract class AbstractRound409 extends H2FilterRound {
    static final YearMonth JAN = YearMonth.of(2033, 1);
    static final YearMonth FEB = YearMonth.of(2033, 2);
    static final String PATH = "/ai/v1/chat/completions";
    static final String ASYNC_PATH = "/ai/async/v1/chat/completions";
    static final String CHAT = "{\"model\":\"gpt-4o\",\"max_tokens\":1000,"
            + "\"messages\":[{\"role\":\"user\",\"content\":\"Summarise the attached contract.\"}]}";
    static final String STREAMED_CHAT = "{\"model\":\"gpt-4o\",\"max_tokens\":1000,\"stream\":true,"
            + "\"stream_options\":{\"include_usage\":true},"
            + "\"messages\":[{\"role\":\"user\",\"content\":\"Summarise the attached contract.\"}]}";

    /** Unused: every test deploys its own two instances. */
    @Override
    protected Deployment deploy(QuotaFilter filter) {
        return Deployment.create().filter("quota", filter, "/*").servlet("none", new HttpServlet() { }, "/ai/*");
    }

    static String subject(String prefix) {
        return prefix + "-" + UUID.randomUUID().toString().substring(0, 8);
    }

    final Map<String, CountDownLatch> entered = new ConcurrentHashMap<>();
    final Map<String, CountDownLatch> open = new ConcurrentHashMap<>();
    final HangUps hangUps = new HangUps();
    final ExecutorService workers = Executors.newCachedThreadPool();

    CountDownLatch entered(String gate) {
        return entered.computeIfAbsent(gate, g -> new CountDownLatch(1));
    }

    CountDownLatch open(String gate) {
        return open.computeIfAbsent(gate, g -> new CountDownLatch(1));
    }

    void await(String gate) {
        if (gate == null) {
            return;
        }
        entered(gate).countDown();
        try {
            if (!open(gate).await(20, TimeUnit.SECONDS)) {
                throw new IllegalStateException("gate " + gate + " never opened");
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    /** One instance of the service. */
    final class Instance implements AutoCloseable {
        final MutableClock clock;
        final HikariDataSource pool;
        final JdbiQuotaStore store;
        final EmbeddedContainer container;

        Instance(TestDatabase db, MutableClock clock, ModelCalls calls) {
            this.clock = clock;
            HikariConfig p = new HikariConfig();
            p.setJdbcUrl(db.jdbcUrl());
            p.setUsername(db.user());
            p.setPassword(db.password());
            p.setMaximumPoolSize(8);
            p.setConnectionTimeout(5_000);
            pool = new HikariDataSource(p);
            store = JdbiQuotaStore.builder().dataSource(pool)
                    .policy(QuotaPolicy.builder().defaultAllocation(ALLOWANCE).clock(clock).build())
                    .installSchema(true).build();
            QuotaFilter f = QuotaFilter.builder(store).protect("/ai/")
                    .subjectResolver(SubjectResolver.trustedHeader("x-user-id", "127.0.0.1", "::1")).build();
            container = kind().start(Deployment.create().filter("quota", f, "/*")
                    .servlet("async-chat", new AsyncModel(calls), "/ai/async/*")
                    .servlet("chat", new Model(calls), "/ai/v1/*"));
        }

        CompletableFuture<HttpResponse<String>> send(String path, String subject, String body, long bill, String... extra) {
            List<String> h = new ArrayList<>(List.of("x-bill", Long.toString(bill)));
            h.addAll(List.of(extra));
            return TestHttp.client().sendAsync(TestHttp.jsonPost(container.uri(path), subject, body,
                    h.toArray(String[]::new)), HttpResponse.BodyHandlers.ofString(StandardCharsets.UTF_8));
        }

        CompletableFuture<HttpResponse<String>> send(String subject, String body, long bill, String... extra) {
            return send(PATH, subject, body, bill, extra);
        }

        HttpResponse<String> call(String subject, String body, long bill, String... extra) throws Exception {
            return send(subject, body, bill, extra).get(30, TimeUnit.SECONDS);
        }

        @Override
        public void close() {
            container.close();
            store.close();
            pool.close();
        }
    }

    /** The chat endpoint: usage {@code x-bill} (100 of it output), held at {@code x-gate}; a hang-up awaited per subject. */
    final class Model extends HttpServlet {
        private final ModelCalls calls;

        Model(ModelCalls calls) {
            this.calls = calls;
        }

        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            String body = new String(req.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
            String s = req.getHeader("x-user-id");
            calls.count(s);
            long total = Long.parseLong(req.getHeader("x-bill"));
            String gate = req.getHeader("x-gate");
            String id = "chatcmpl-409" + UUID.randomUUID().toString().substring(0, 6);
            if (!body.contains("\"stream\":true")) {
                await(gate);
                resp.setContentType("application/json");
                resp.getOutputStream().write(ChatCompletions.completion(id, "gpt-4o", "Done.", total - 100, 100)
                        .getBytes(StandardCharsets.UTF_8));
                return;
            }
            resp.setContentType("text/event-stream");
            ServletOutputStream out = resp.getOutputStream();
            EventStreams.write(out, "data: " + ChatCompletions.chunkHead(id)
                    + "\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\"}}]}\n\n"
                    + ChatCompletions.wordEvent(id));
            await(gate);
            String tail = ChatCompletions.wordEvent(id) + "data: " + ChatCompletions.chunkHead(id)
                    + "\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}\n\n"
                    + ChatCompletions.usageEvent(id, total - 100, 100) + ChatCompletions.DONE;
            if (hangUps.expected(s)) {
                // a relay whose provider has not answered yet keeps the connection alive with comments, and
                // cancels the provider call once a write finds its client gone: the usage never comes
                hangUps.relayUntilGone(s, out, ": keep-alive\n\n", tail);
                return;
            }
            EventStreams.write(out, tail);
        }
    }

    /**
     * An async SSE endpoint (a Spring {@code SseEmitter} with a timeout): the worker writes the whole stream, usage
     * and {@code [DONE]} included, once its gate opens, and leaves the cycle to the container's timeout (3 s),
     * which completes it.
     */
    final class AsyncModel extends HttpServlet {
        private final ModelCalls calls;

        AsyncModel(ModelCalls calls) {
            this.calls = calls;
        }

        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            req.getInputStream().readAllBytes();
            calls.count(req.getHeader("x-user-id"));
            long total = Long.parseLong(req.getHeader("x-bill"));
            String gate = req.getHeader("x-gate");
            AsyncContext ctx = req.startAsync(req, resp);
            AsyncTimeouts.completeOnTimeout(ctx, 3_000);
            workers.submit(() -> {
                await(gate);
                try {
                    String id = "chatcmpl-409a";
                    resp.setContentType("text/event-stream");
                    ServletOutputStream out = resp.getOutputStream();
                    StringBuilder all = new StringBuilder();
                    for (int i = 0; i < 5; i++) {
                        all.append(ChatCompletions.wordEvent(id));
                    }
                    all.append(ChatCompletions.usageEvent(id, total - 100, 100)).append(ChatCompletions.DONE);
                    EventStreams.write(out, all.toString());
                } catch (IOException e) {
                    // the client went
                }
            });
        }
    }

    /** Two instances on one fresh database ({@code "pg"} or {@code "h2"}), their clocks {@code a} and {@code b}. */
    final class Service implements AutoCloseable {
        final TestDatabase db;
        final ModelCalls calls = new ModelCalls();
        final Instance a;
        final Instance b;

        Service(String database, MutableClock clockA, MutableClock clockB) {
            db = "pg".equals(database) ? TestDatabases.postgres() : TestDatabases.h2();
            a = new Instance(db, clockA, calls);
            b = new Instance(db, clockB, calls);
        }

        JdbiQuotaStore latest() {
            return a.clock.instant().isAfter(b.clock.instant()) ? a.store : b.store;
        }

        long used(String subject, YearMonth month) {
            return latest().account(subject, month).map(QuotaAccount::used).orElse(0L);
        }

        String events(String subject) {
            JdbiQuotaStore latest = latest();
            String feb = latest.policy().currentMonth().isBefore(FEB) ? "[]" : Ledgers.events(latest, subject, FEB).toString();
            return "jan " + Ledgers.events(latest, subject, JAN) + " feb " + feb;
        }

        @Override
        public void close() {
            a.close();
            b.close();
            db.close();
        }
    }

    static MutableClock midJanuary() {
        return MutableClock.at(JAN, 15, 12);
    }

    // ------------------------------------------------------------------ item 4: one key, both instances, midnight

    /**
     * A new user's first call, retried by its client library with one {@code Idempotency-Key} and spread by the load
     * balancer over both instances at once (8 requests, alternately), while {@code a}'s clock reads January 31st,
     * 23:59:59.6 and {@code b}'s February 1st, 00:00:00.4 (NTP keeps hosts within far less than a second). The first
     * touch opens the user's month from both instances at once. Rule: "of concurrent requests sharing a key, exactly
     * one is first ... A key buys at most one model call" (docs/servlet.md step 4); "a write lands in the later of the
     * clock's month and the subject's latest account" (docs/semantics.md). Expected: one 200, seven 409, one model
     * call, its 3,000 charged once over both months.
     */
    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {"h2", "pg"})
    void oneKeyAtBothInstancesStraddlingMidnightAtTheFirstTouchBuysOneCall(String database) throws Exception {
        straddlingMidnight(database, false);
    }

    /**
     * The same for a team member whose membership the host synced through {@code a} (January) just before: the
     * member's and its team's months open from both instances at once (PostgreSQL's one-statement team path).
     */
    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {"pg", "h2"})
    void oneKeyOfATeamMemberAtBothInstancesStraddlingMidnightBuysOneCall(String database) throws Exception {
        straddlingMidnight(database, true);
    }

    private void straddlingMidnight(String database, boolean team) throws Exception {
        MutableClock clockA = MutableClock.at(JAN, 31, 23);
        clockA.advance(Duration.ofMinutes(59).plusSeconds(59).plusMillis(600));
        MutableClock clockB = MutableClock.at(FEB, 1, 0);
        clockB.advance(Duration.ofMillis(400));
        try (Service service = new Service(database, clockA, clockB)) {
            for (int round = 0; round < 3; round++) {
                String s = subject("k409");
                if (team) {
                    // the host syncs the membership through the instance still in January (opens January's account)
                    service.a.store.setTeam(s, "t409-" + s);
                }
                String key = UUID.randomUUID().toString();
                List<CompletableFuture<HttpResponse<String>>> sent = new ArrayList<>();
                for (int i = 0; i < 8; i++) {
                    Instance at = i % 2 == 0 ? service.a : service.b;
                    sent.add(at.send(s, CHAT, 3_000, "Idempotency-Key", key));
                }
                List<Integer> statuses = new ArrayList<>();
                for (CompletableFuture<HttpResponse<String>> f : sent) {
                    statuses.add(f.get(30, TimeUnit.SECONDS).statusCode());
                }
                Ledgers.settled(service.b.store, s);
                long jan = service.used(s, JAN);
                long feb = service.used(s, FEB);
                String seen = database + " " + kind() + ": statuses " + statuses + ", model calls " + service.calls.of(s)
                        + ", jan " + jan + ", feb " + feb + ": " + service.events(s);
                assertAll(() -> assertEquals(1, service.calls.of(s), seen),
                        () -> assertEquals(1, statuses.stream().filter(x -> x == 200).count(), seen),
                        () -> assertEquals(7, statuses.stream().filter(x -> x == 409).count(), seen),
                        () -> assertEquals(3_000, jan + feb, seen));
            }
        }
    }

    // ------------------------------------------------------------------ item 4 after a hang-up at the other instance

    /**
     * A keyed stream at {@code a}: its client reads the first words and hangs up (a read timeout, a closed tab);
     * the relay keeps its connection alive with comments until a write finds the client gone and cancels the
     * provider call, so no usage comes. The client retries with the same key, and the retry reaches {@code b}.
     * Rules: "the client hung up before any usage was seen: the estimate ... hanging up never makes a call free"
     * (README settlement rule 5); "A key buys at most one model call" (docs/servlet.md step 4): the retry is 409.
     * Expected: one model call, the retry 409, the subject charged exactly the first call's hold (its estimate).
     */
    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {"h2"})
    void aKeyedStreamWhoseClientHungUpAtOneInstanceIsNotBoughtAgainAtTheOther(String database) throws Exception {
        try (Service service = new Service(database, midJanuary(), midJanuary())) {
            String s = subject("h409");
            String key = UUID.randomUUID().toString();
            hangUps.expect(s);
            String seenByClient;
            try {
                seenByClient = postAndHangUpAfter(service.a.container.port(), s, key, "word ");
            } finally {
                hangUps.happened(s);
            }
            HttpResponse<String> retry = service.b.call(s, STREAMED_CHAT, 6_000, "Idempotency-Key", key);
            QuotaAccount jan = Ledgers.settled(service.a.store, s);
            long held = heldTokens(service.a.store, s);
            String seen = kind() + ": client read " + seenByClient.length() + " chars, retry " + retry.statusCode()
                    + ", model calls " + service.calls.of(s) + ", " + jan + ": " + service.events(s);
            assertAll(() -> assertTrue(seenByClient.startsWith("HTTP/1.1 200"), seen),
                    () -> assertEquals(409, retry.statusCode(), seen),
                    () -> assertEquals(1, service.calls.of(s), seen),
                    () -> assertTrue(held > 0, seen),
                    () -> assertEquals(held, jan.used(), seen));
        }
    }

    /** The tokens of the subject's one RESERVED event this month (the first call's hold). */
    static long heldTokens(JdbiQuotaStore store, String s) {
        long held = 0;
        for (LedgerEvent e : store.events(s, store.policy().currentMonth())) {
            if (e.kind() == EventKind.RESERVED) {
                held += e.tokens();
            }
        }
        return held;
    }

    /** {@link TestHttp#postAndHangUpAfter} with the {@code Idempotency-Key} the client library sends. */
    static String postAndHangUpAfter(int port, String s, String key, String until) throws IOException {
        byte[] bytes = STREAMED_CHAT.getBytes(StandardCharsets.UTF_8);
        String head = "POST " + PATH + " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nx-user-id: " + s
                + "\r\nx-bill: 6000\r\nIdempotency-Key: " + key + "\r\nContent-Type: application/json\r\nContent-Length: "
                + bytes.length + "\r\n\r\n";
        return TestHttp.hangUpAfter(port, head, bytes, until);
    }

    // ------------------------------------------------------------------ item 2: late commits racing the other's sweep

    /**
     * Twelve users' streams wait in the model at {@code a}; six minutes pass on both clocks (a paused {@code a}: its
     * keeper did not tick), so their 5-minute holds are past their TTL. Then, at once, {@code b}'s stale-hold sweep
     * runs in a loop (the Spring starter's sweeper, one per instance) while the streams end with usage 9,000 each and
     * {@code a} commits them: some commits find their hold held, some expired (a late commit). Rules: "usage seen →
     * charge it (also after expiry)" (the issue; docs/semantics.md "Late commit"), a hold charged once. Expected:
     * each user used exactly 9,000, nothing held, one model call each.
     */
    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {"h2", "pg"})
    void lateCommitsRacingTheOtherInstancesSweepAreEachChargedOnce(String database) throws Exception {
        try (Service service = new Service(database, midJanuary(), midJanuary())) {
            int users = 12;
            List<String> subjects = new ArrayList<>();
            List<CompletableFuture<HttpResponse<String>>> streams = new ArrayList<>();
            for (int i = 0; i < users; i++) {
                String s = subject("x409");
                subjects.add(s);
                streams.add(service.a.send(s, STREAMED_CHAT, 9_000, "x-gate", "sweep-" + s));
            }
            for (String s : subjects) {
                assertTrue(entered("sweep-" + s).await(20, TimeUnit.SECONDS), "the stream of " + s + " reached the model");
            }
            service.a.clock.advance(Duration.ofMinutes(6));
            service.b.clock.advance(Duration.ofMinutes(6));
            AtomicBoolean sweeping = new AtomicBoolean(true);
            Future<Integer> sweeper = CompletableFuture.supplyAsync(() -> {
                int swept = 0;
                while (sweeping.get()) {
                    swept += service.b.store.expireStale();
                }
                return swept;
            }, workers);
            for (String s : subjects) {
                open("sweep-" + s).countDown();
            }
            List<Integer> statuses = new ArrayList<>();
            for (CompletableFuture<HttpResponse<String>> f : streams) {
                statuses.add(f.get(30, TimeUnit.SECONDS).statusCode());
            }
            List<String> wrong = new ArrayList<>();
            for (String s : subjects) {
                QuotaAccount a = Ledgers.chargedAtLeast(service.a.store, s, 9_000);
                if (a.used() != 9_000 || a.reserved() != 0 || service.calls.of(s) != 1) {
                    wrong.add(s + " used " + a.used() + " reserved " + a.reserved() + " calls " + service.calls.of(s)
                            + " " + Ledgers.events(service.a.store, s, JAN));
                }
            }
            sweeping.set(false);
            int swept = sweeper.get(30, TimeUnit.SECONDS);
            assertEquals(List.of(), wrong, database + " " + kind() + ": statuses " + statuses + ", swept " + swept);
        }
    }

    // ------------------------------------------------------------------ item 3: async timeout after the answer, hold swept

    /**
     * An async SSE answer at {@code a} (a Spring {@code SseEmitter} style handler) waits for its model; six minutes
     * pass on both clocks and {@code b}'s sweep expires its hold. Then the worker writes the whole stream, usage
     * (4,900) and {@code [DONE]} included, and leaves the cycle to the container's timeout, which completes it.
     * Rules: "usage seen → charge it (also after expiry, timeout, disconnect)" (the settlement rules; README
     * rule 1). Expected: 4,900 charged (a late commit), nothing held.
     */
    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {"h2"})
    void anAsyncAnswerWhoseHoldTheOtherInstanceSweptAndWhoseTimeoutFiredIsChargedItsUsage(String database)
            throws Exception {
        try (Service service = new Service(database, midJanuary(), midJanuary())) {
            String s = subject("t409");
            String gate = "async-" + s;
            CompletableFuture<HttpResponse<String>> held = service.a.send(ASYNC_PATH, s, STREAMED_CHAT, 4_900,
                    "x-gate", gate);
            assertTrue(entered(gate).await(20, TimeUnit.SECONDS), "the async call reached the model");
            service.a.clock.advance(Duration.ofMinutes(6));
            service.b.clock.advance(Duration.ofMinutes(6));
            int swept = service.b.store.expireStale();
            open(gate).countDown();
            HttpResponse<String> r = held.get(30, TimeUnit.SECONDS);
            QuotaAccount jan = Ledgers.chargedAtLeast(service.a.store, s, 4_900);
            String seen = kind() + ": status " + r.statusCode() + ", swept " + swept + ", " + jan + ": "
                    + service.events(s);
            assertAll(() -> assertTrue(r.body().contains("[DONE]"), seen),
                    () -> assertEquals(1, service.calls.of(s), seen),
                    () -> assertEquals(4_900, jan.used(), seen),
                    () -> assertEquals(0, jan.reserved(), seen));
        }
    }

    /** Control: the same async answer without the sweep: 4,900 charged. */
    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {"h2"})
    void controlAnAsyncAnswerWhoseTimeoutFiredIsChargedItsUsage(String database) throws Exception {
        try (Service service = new Service(database, midJanuary(), midJanuary())) {
            String s = subject("c409");
            String gate = "async-" + s;
            CompletableFuture<HttpResponse<String>> held = service.a.send(ASYNC_PATH, s, STREAMED_CHAT, 4_900,
                    "x-gate", gate);
            assertTrue(entered(gate).await(20, TimeUnit.SECONDS), "the async call reached the model");
            open(gate).countDown();
            HttpResponse<String> r = held.get(30, TimeUnit.SECONDS);
            QuotaAccount jan = Ledgers.chargedAtLeast(service.a.store, s, 4_900);
            assertEquals(4_900, jan.used(), kind() + ": status " + r.statusCode() + ", " + jan + ": " + service.events(s));
        }
    }

    /** Control: a keyed stream read whole at {@code a}, retried at {@code b}: 409, charged its usage once. */
    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {"h2"})
    void controlAKeyedStreamReadWholeIsNotBoughtAgainAtTheOther(String database) throws Exception {
        try (Service service = new Service(database, midJanuary(), midJanuary())) {
            String s = subject("w409");
            String key = UUID.randomUUID().toString();
            HttpResponse<String> first = service.a.call(s, STREAMED_CHAT, 6_000, "Idempotency-Key", key);
            HttpResponse<String> retry = service.b.call(s, STREAMED_CHAT, 6_000, "Idempotency-Key", key);
            QuotaAccount jan = Ledgers.settled(service.a.store, s);
            String seen = kind() + ": first " + first.statusCode() + ", retry " + retry.statusCode() + ", " + jan + ": "
                    + service.events(s);
            assertAll(() -> assertEquals(200, first.statusCode(), seen),
                    () -> assertEquals(409, retry.statusCode(), seen),
                    () -> assertEquals(1, service.calls.of(s), seen),
                    () -> assertEquals(6_000, jan.used(), seen));
        }
    }
}
