package io.tokenquota.servlet.breakit298;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.zaxxer.hikari.HikariConfig;
import com.zaxxer.hikari.HikariDataSource;
import io.tokenquota.PurchaseRequest;
import io.tokenquota.PurchaseType;
import io.tokenquota.QuotaAccount;
import io.tokenquota.QuotaPolicy;
import io.tokenquota.jdbi.JdbiQuotaStore;
import io.tokenquota.jdbi.testing.TestDatabase;
import io.tokenquota.jdbi.testing.TestDatabases;
import io.tokenquota.servlet.QuotaFilter;
import io.tokenquota.servlet.SubjectResolver;
import io.tokenquota.servlet.testing.ChatCompletions;
import io.tokenquota.servlet.testing.Deployment;
import io.tokenquota.servlet.testing.EmbeddedContainer;
import io.tokenquota.servlet.testing.H2FilterRound;
import io.tokenquota.servlet.testing.Ledgers;
import io.tokenquota.servlet.testing.ModelCalls;
import io.tokenquota.servlet.testing.TestHttp;
import io.tokenquota.testkit.MutableClock;
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
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Round 298 of issue 11: the filter over the SQL store, as a service of two instances runs it. Two
 * instances ({@code a} and {@code b}: each its own host HikariCP pool set {@code autoCommit=false}, as
 * Spring Boot applications commonly set theirs, its own {@link JdbiQuotaStore}, its own clock, its own
 * {@link QuotaFilter} and container) share one database: H2, or a database of the embedded PostgreSQL the
 * test JVM shares (where the store takes its one-statement and combined paths). The mock model answers
 * OpenAI chat completions (https://platform.openai.com/docs/api-reference/chat/object, the streamed
 * chunks with {@code stream_options.include_usage}: https://platform.openai.com/docs/api-reference/chat-streaming)
 * billing the tokens its {@code x-bill} header names; a call that names a gate waits in the model until
 * the test opens it. Each test asserts that every call that reached the model is charged its usage once,
 * in the month of its hold, and nothing else.
 */
abstract class AbstractRound298 extends H2FilterRound {
    static final YearMonth JAN = YearMonth.of(2032, 1);
    static final YearMonth FEB = YearMonth.of(2032, 2);
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

    /** Gates by name: the model says it entered, then waits until the test opens the gate (bounded). */
    final Map<String, CountDownLatch> entered = new ConcurrentHashMap<>();
    final Map<String, CountDownLatch> open = new ConcurrentHashMap<>();

    CountDownLatch entered(String gate) {
        return entered.computeIfAbsent(gate, g -> new CountDownLatch(1));
    }

    CountDownLatch open(String gate) {
        return open.computeIfAbsent(gate, g -> new CountDownLatch(1));
    }

    /** One instance of the service: its pool, store, clock, filter and container. */
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
            // Spring Boot's common HikariCP setting (spring.datasource.hikari.auto-commit=false)
            p.setAutoCommit(false);
            pool = new HikariDataSource(p);
            store = JdbiQuotaStore.builder().dataSource(pool)
                    .policy(QuotaPolicy.builder().defaultAllocation(ALLOWANCE).clock(clock).build())
                    .installSchema(true).build();
            QuotaFilter f = QuotaFilter.builder(store).protect("/ai/")
                    .subjectResolver(SubjectResolver.trustedHeader("x-user-id", "127.0.0.1", "::1")).build();
            container = kind().start(Deployment.create().filter("quota", f, "/*").servlet("chat", new Model(calls), "/ai/*"));
        }

        CompletableFuture<HttpResponse<String>> send(String subject, String body, long bill, String... extra) {
            List<String> h = new ArrayList<>(List.of("x-bill", Long.toString(bill)));
            h.addAll(List.of(extra));
            return TestHttp.client().sendAsync(TestHttp.jsonPost(container.uri("/ai/v1/chat/completions"), subject, body,
                    h.toArray(String[]::new)), HttpResponse.BodyHandlers.ofString(StandardCharsets.UTF_8));
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

    /** The OpenAI chat completions endpoint the instances serve; usage {@code x-bill} (100 of it output). */
    final class Model extends HttpServlet {
        private final ModelCalls calls;

        Model(ModelCalls calls) {
            this.calls = calls;
        }

        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            String body = new String(req.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
            calls.count(req.getHeader("x-user-id"));
            long total = Long.parseLong(req.getHeader("x-bill"));
            String gate = req.getHeader("x-gate");
            boolean stream = body.contains("\"stream\":true");
            String id = "chatcmpl-298" + UUID.randomUUID().toString().substring(0, 6);
            if (stream) {
                resp.setContentType("text/event-stream");
                ServletOutputStream out = resp.getOutputStream();
                out.write(("data: " + ChatCompletions.chunkHead(id)
                        + "\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\"}}]}\n\n")
                        .getBytes(StandardCharsets.UTF_8));
                out.write(ChatCompletions.wordEvent(id).getBytes(StandardCharsets.UTF_8));
                out.flush();
                await(gate);
                out.write(ChatCompletions.wordEvent(id).getBytes(StandardCharsets.UTF_8));
                out.write(("data: " + ChatCompletions.chunkHead(id)
                        + "\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}\n\n").getBytes(StandardCharsets.UTF_8));
                out.write(ChatCompletions.usageEvent(id, total - 100, 100).getBytes(StandardCharsets.UTF_8));
                out.write(ChatCompletions.DONE.getBytes(StandardCharsets.UTF_8));
                return;
            }
            await(gate);
            resp.setContentType("application/json");
            resp.getOutputStream().write(ChatCompletions.completion(id, "gpt-4o", "Done.", total - 100, 100)
                    .getBytes(StandardCharsets.UTF_8));
        }

        private void await(String gate) {
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
    }

    /** Two instances on one fresh database ({@code "pg"} or {@code "h2"}), both clocks at Jan 31st, 23:59:59 UTC. */
    final class Service implements AutoCloseable {
        final TestDatabase db;
        final ModelCalls calls = new ModelCalls();
        final Instance a;
        final Instance b;

        Service(String database) {
            db = "pg".equals(database) ? TestDatabases.postgres() : TestDatabases.h2();
            a = new Instance(db, lastSecondOfJanuary(), calls);
            b = new Instance(db, lastSecondOfJanuary(), calls);
        }

        /** The subject's account of {@code month} once nothing is held (read through {@code a}). */
        QuotaAccount account(String subject, YearMonth month) {
            Ledgers.settled(a.store, subject);
            return a.store.account(subject, month).orElse(null);
        }

        long used(String subject, YearMonth month) {
            QuotaAccount account = account(subject, month);
            return account == null ? 0 : account.used();
        }

        String events(String subject) {
            // read through the instance whose clock is latest: a store refuses a month its clock has not reached
            JdbiQuotaStore latest = a.clock.instant().isAfter(b.clock.instant()) ? a.store : b.store;
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

    static MutableClock lastSecondOfJanuary() {
        MutableClock clock = MutableClock.at(JAN, 31, 23);
        clock.advance(Duration.ofMinutes(59).plusSeconds(59));
        return clock;
    }

    /**
     * A client library retries one call with one {@code Idempotency-Key} (the OpenAI and Anthropic SDKs,
     * Stripe-style keys; docs/servlet.md rule 4) and the load balancer spreads the tries over both
     * instances at once: 8 requests, alternately to {@code a} and {@code b}. docs/servlet.md: "of concurrent
     * requests sharing a key, exactly one is first ... A key buys at most one model call". Expected: one
     * model call, one 200, its usage (3,000) charged once; every other request 409.
     */
    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {"pg", "h2"})
    void oneKeySentToBothInstancesAtOnceBuysOneModelCall(String database) throws Exception {
        try (Service service = new Service(database)) {
            String s = subject("k298");
            assertOneModelCallForOneKey(service, s);
        }
    }

    /** The same for a team member (its holds go through the team statements on PostgreSQL). */
    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {"pg"})
    void oneKeySentToBothInstancesAtOnceBuysOneModelCallForATeamMember(String database) throws Exception {
        try (Service service = new Service(database)) {
            String s = subject("km298");
            service.a.store.setTeam(s, "team-" + s);
            assertOneModelCallForOneKey(service, s);
        }
    }

    private void assertOneModelCallForOneKey(Service service, String s) throws Exception {
        String key = UUID.randomUUID().toString();
        List<CompletableFuture<HttpResponse<String>>> sent = new ArrayList<>();
        for (int i = 0; i < 8; i++) {
            Instance at = i % 2 == 0 ? service.a : service.b;
            sent.add(at.send(s, CHAT, 3_000, "Idempotency-Key", key));
        }
        int ok = 0;
        List<String> others = new ArrayList<>();
        for (CompletableFuture<HttpResponse<String>> f : sent) {
            HttpResponse<String> r = f.get(30, TimeUnit.SECONDS);
            if (r.statusCode() == 200) {
                ok++;
            } else {
                others.add(Integer.toString(r.statusCode()));
            }
        }
        long used = service.used(s, JAN);
        String seen = "200s " + ok + ", others " + others + ", model calls " + service.calls.of(s) + ", used " + used
                + ": " + service.events(s);
        assertEquals(1, service.calls.of(s), seen);
        assertEquals(1, ok, seen);
        assertEquals(3_000, used, seen);
        assertTrue(others.stream().allMatch("409"::equals), seen);
    }

    /**
     * The month turns between two instances. The user bought 5,000 tokens in January and used 18,000 of
     * its 20,000 allowance. A streamed call through {@code a} is held at 23:59:59 on January 31st and
     * waits in the model; the instance {@code b}, whose clock has passed midnight, serves the user's first
     * February call (2,000 tokens), which opens February carrying the 5,000 purchased tokens January has
     * not consumed yet. Then {@code a}'s clock passes midnight too and its stream ends with usage 6,000.
     * Expected: January charged 18,000 + 6,000 = 24,000 (4,000 of the purchase spent), February 2,000,
     * and February carries the 1,000 purchased tokens left (nothing vanishes, nothing is spent twice).
     */
    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {"pg", "h2"})
    void aCallHeldAtJanuarysLastSecondIsChargedThereWhileTheOtherInstanceOpensFebruary(String database)
            throws Exception {
        try (Service service = new Service(database)) {
            String s = subject("m298");
            assertMonthTurn(service, s, null);
        }
    }

    /** The same for a team member: the member's and the team's months are charged alike. */
    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {"pg"})
    void aTeamMembersCallHeldAtJanuarysLastSecondIsChargedThereWhileTheOtherInstanceOpensFebruary(String database)
            throws Exception {
        try (Service service = new Service(database)) {
            String s = subject("mt298");
            String team = "team-" + s;
            service.a.store.setTeam(s, team);
            assertMonthTurn(service, s, io.tokenquota.Team.subject(team));
        }
    }

    private void assertMonthTurn(Service service, String s, String teamSubject) throws Exception {
        service.a.store.grant(PurchaseRequest.grant("tx-" + s, s, 5_000, PurchaseType.PURCHASE, "pack"));
        HttpResponse<String> first = service.a.call(s, CHAT, 18_000);
        assertEquals(200, first.statusCode(), first.body());
        String gate = "turn-" + s;
        CompletableFuture<HttpResponse<String>> held = service.a.send(s, STREAMED_CHAT, 6_000, "x-gate", gate);
        assertTrue(entered(gate).await(20, TimeUnit.SECONDS), "the stream reached the model");
        service.b.clock.advance(Duration.ofMillis(1_500));
        HttpResponse<String> february = service.b.call(s, CHAT, 2_000);
        assertEquals(200, february.statusCode(), february.body());
        service.a.clock.advance(Duration.ofSeconds(2));
        open(gate).countDown();
        HttpResponse<String> streamed = held.get(30, TimeUnit.SECONDS);
        assertEquals(200, streamed.statusCode(), streamed.body());
        QuotaAccount jan = service.account(s, JAN);
        QuotaAccount feb = service.account(s, FEB);
        String seen = "jan " + jan + ", feb " + feb + ": " + service.events(s);
        assertEquals(24_000, jan.used(), seen);
        assertEquals(2_000, feb.used(), seen);
        assertEquals(1_000, feb.carried() + feb.granted(), "purchased tokens February carries: " + seen);
        assertEquals(3, service.calls.of(s), seen);
        if (teamSubject != null) {
            Ledgers.settled(service.a.store, teamSubject);
            long teamJan = service.a.store.account(teamSubject, JAN).map(QuotaAccount::used).orElse(0L);
            long teamFeb = service.a.store.account(teamSubject, FEB).map(QuotaAccount::used).orElse(0L);
            assertEquals(24_000 + 2_000, teamJan + teamFeb, "the team: jan " + teamJan + ", feb " + teamFeb);
            assertEquals(2_000, teamFeb, "the team's February: jan " + teamJan + ", feb " + teamFeb);
        }
    }

    /**
     * The month turns, the other way round: instance {@code a}'s clock is two seconds ahead of {@code b}'s
     * (NTP keeps hosts within far less, but a second or two happens). The user used 18,000 in January;
     * {@code a}, past midnight, serves the user's first February call (2,000). Then {@code b}, still at
     * 23:59:59, serves a stream of 6,000, held where the store writes ("another instance, whose clock is
     * ahead, opened the next month: write there, never behind it"). Expected: January 18,000, February
     * 8,000: every call charged once, 26,000 in all.
     */
    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {"pg", "h2"})
    void aCallThroughTheInstanceWhoseClockLagsIsChargedOnceAfterFebruaryOpened(String database) throws Exception {
        try (Service service = new Service(database)) {
            String s = subject("l298");
            HttpResponse<String> first = service.a.call(s, CHAT, 18_000);
            assertEquals(200, first.statusCode(), first.body());
            service.a.clock.advance(Duration.ofSeconds(2));
            HttpResponse<String> february = service.a.call(s, CHAT, 2_000);
            assertEquals(200, february.statusCode(), february.body());
            String gate = "lag-" + s;
            CompletableFuture<HttpResponse<String>> held = service.b.send(s, STREAMED_CHAT, 6_000, "x-gate", gate);
            assertTrue(entered(gate).await(20, TimeUnit.SECONDS), "the stream reached the model");
            service.b.clock.advance(Duration.ofSeconds(1));
            open(gate).countDown();
            HttpResponse<String> streamed = held.get(30, TimeUnit.SECONDS);
            assertEquals(200, streamed.statusCode(), streamed.body());
            Ledgers.settled(service.a.store, s);
            long jan = service.a.store.account(s, JAN).map(QuotaAccount::used).orElse(0L);
            long feb = service.a.store.account(s, FEB).map(QuotaAccount::used).orElse(0L);
            String seen = "jan " + jan + ", feb " + feb + ": " + service.events(s);
            assertEquals(26_000, jan + feb, seen);
            assertEquals(18_000, jan, seen);
            assertEquals(3, service.calls.of(s), seen);
        }
    }

    /**
     * A streamed call with an {@code Idempotency-Key} is held through {@code a} at 23:59:59 and waits in the
     * model; the client's retry with the same key (its read timed out) reaches {@code b}, whose clock has
     * passed midnight, and then {@code a} once more after midnight. Expected: both retries 409, one model
     * call, charged 6,000 in January.
     */
    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {"pg", "h2"})
    void aKeyRetriedAtTheOtherInstanceAfterMidnightBuysNoSecondCall(String database) throws Exception {
        try (Service service = new Service(database)) {
            String s = subject("r298");
            String key = UUID.randomUUID().toString();
            String gate = "retry-" + s;
            CompletableFuture<HttpResponse<String>> held = service.a.send(s, STREAMED_CHAT, 6_000, "x-gate", gate,
                    "Idempotency-Key", key);
            assertTrue(entered(gate).await(20, TimeUnit.SECONDS), "the stream reached the model");
            service.b.clock.advance(Duration.ofSeconds(2));
            HttpResponse<String> retryAtB = service.b.call(s, STREAMED_CHAT, 6_000, "Idempotency-Key", key);
            service.a.clock.advance(Duration.ofSeconds(3));
            HttpResponse<String> retryAtA = service.a.call(s, STREAMED_CHAT, 6_000, "Idempotency-Key", key);
            open(gate).countDown();
            HttpResponse<String> streamed = held.get(30, TimeUnit.SECONDS);
            assertEquals(200, streamed.statusCode(), streamed.body());
            Ledgers.settled(service.a.store, s);
            long jan = service.a.store.account(s, JAN).map(QuotaAccount::used).orElse(0L);
            long feb = service.a.store.account(s, FEB).map(QuotaAccount::used).orElse(0L);
            String seen = "retry at b " + retryAtB.statusCode() + ", at a " + retryAtA.statusCode() + ", jan " + jan
                    + ", feb " + feb + ", model calls " + service.calls.of(s) + ": " + service.events(s);
            assertEquals(1, service.calls.of(s), seen);
            assertEquals(409, retryAtB.statusCode(), seen);
            assertEquals(409, retryAtA.statusCode(), seen);
            assertEquals(6_000, jan, seen);
            assertEquals(0, feb, seen);
        }
    }

    /**
     * A slowly read stream through {@code a}: while it waits in the model, six minutes pass (both clocks)
     * and the stale-hold sweep of {@code b} (the Spring starter's {@code StaleHoldSweeper}, one per
     * instance: docs/storage.md) expires its hold, since {@code a}'s keeper did not tick meanwhile (as
     * after a pause of {@code a}). The user's next call goes through {@code b}. Then the stream ends with
     * usage 9,000. Expected: both calls charged their usage (9,000 as a late commit, 1,500), once.
     */
    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {"pg", "h2"})
    void aSlowStreamWhoseHoldTheOtherInstanceSweptIsChargedItsUsage(String database) throws Exception {
        try (Service service = new Service(database)) {
            String s = subject("x298");
            // start in the middle of January: no month turn here
            service.a.clock.advance(Duration.ofDays(-15));
            service.b.clock.advance(Duration.ofDays(-15));
            String gate = "sweep-" + s;
            CompletableFuture<HttpResponse<String>> held = service.a.send(s, STREAMED_CHAT, 9_000, "x-gate", gate);
            assertTrue(entered(gate).await(20, TimeUnit.SECONDS), "the stream reached the model");
            service.a.clock.advance(Duration.ofMinutes(6));
            service.b.clock.advance(Duration.ofMinutes(6));
            int swept = service.b.store.expireStale();
            HttpResponse<String> next = service.b.call(s, CHAT, 1_500);
            open(gate).countDown();
            HttpResponse<String> streamed = held.get(30, TimeUnit.SECONDS);
            assertEquals(200, streamed.statusCode(), streamed.body());
            long expected = 9_000 + (next.statusCode() == 200 ? 1_500 : 0);
            QuotaAccount jan = Ledgers.chargedAtLeast(service.a.store, s, expected);
            String seen = "swept " + swept + ", next " + next.statusCode() + ", " + jan + ": " + service.events(s);
            assertEquals(expected, jan.used(), seen);
            assertEquals(next.statusCode() == 200 ? 2 : 1, service.calls.of(s), seen);
        }
    }

    /**
     * A streamed call with an {@code Idempotency-Key} through {@code a} waits in the model; six minutes pass
     * and {@code b}'s sweep expires its hold (as in the test above). The client's retries with the key then
     * reach {@code b} and {@code a}, four at once. Expected: every retry 409 (the key's hold is the first
     * call's, expired or not), one model call, charged its 9,000 once.
     */
    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {"pg", "h2"})
    void aKeyWhoseHoldTheOtherInstanceSweptBuysNoSecondCall(String database) throws Exception {
        try (Service service = new Service(database)) {
            String s = subject("e298");
            service.a.clock.advance(Duration.ofDays(-15));
            service.b.clock.advance(Duration.ofDays(-15));
            String key = UUID.randomUUID().toString();
            String gate = "swept-key-" + s;
            CompletableFuture<HttpResponse<String>> held = service.a.send(s, STREAMED_CHAT, 9_000, "x-gate", gate,
                    "Idempotency-Key", key);
            assertTrue(entered(gate).await(20, TimeUnit.SECONDS), "the stream reached the model");
            service.a.clock.advance(Duration.ofMinutes(6));
            service.b.clock.advance(Duration.ofMinutes(6));
            int swept = service.b.store.expireStale();
            List<CompletableFuture<HttpResponse<String>>> retries = new ArrayList<>();
            for (int i = 0; i < 4; i++) {
                retries.add((i % 2 == 0 ? service.b : service.a).send(s, STREAMED_CHAT, 9_000, "Idempotency-Key", key));
            }
            List<Integer> statuses = new ArrayList<>();
            for (CompletableFuture<HttpResponse<String>> f : retries) {
                statuses.add(f.get(30, TimeUnit.SECONDS).statusCode());
            }
            open(gate).countDown();
            HttpResponse<String> streamed = held.get(30, TimeUnit.SECONDS);
            assertEquals(200, streamed.statusCode(), streamed.body());
            QuotaAccount jan = Ledgers.chargedAtLeast(service.a.store, s, 9_000);
            String seen = "swept " + swept + ", retries " + statuses + ", model calls " + service.calls.of(s) + ", " + jan
                    + ": " + service.events(s);
            assertEquals(1, service.calls.of(s), seen);
            assertEquals(List.of(409, 409, 409, 409), statuses, seen);
            assertEquals(9_000, jan.used(), seen);
        }
    }

    /**
     * Control: 24 calls of one user at once, 12 through each instance, streamed and not, each billing
     * 1,500 on a 20,000 allowance: every call the model answered is charged its usage once, the rest are
     * refused 429 before the model.
     */
    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {"pg", "h2"})
    void controlConcurrentCallsThroughBothInstancesAreEachChargedOnce(String database) throws Exception {
        try (Service service = new Service(database)) {
            String s = subject("c298");
            service.a.clock.advance(Duration.ofDays(-15));
            service.b.clock.advance(Duration.ofDays(-15));
            List<CompletableFuture<HttpResponse<String>>> sent = new ArrayList<>();
            for (int i = 0; i < 24; i++) {
                Instance at = i % 2 == 0 ? service.a : service.b;
                sent.add(at.send(s, i % 4 < 2 ? CHAT : STREAMED_CHAT, 1_500));
            }
            int ok = 0;
            List<String> others = new ArrayList<>();
            for (CompletableFuture<HttpResponse<String>> f : sent) {
                HttpResponse<String> r = f.get(60, TimeUnit.SECONDS);
                if (r.statusCode() == 200) {
                    ok++;
                } else {
                    others.add(Integer.toString(r.statusCode()));
                }
            }
            long used = service.used(s, JAN);
            String seen = "200s " + ok + ", others " + others + ", model calls " + service.calls.of(s) + ", used " + used;
            assertEquals(ok, service.calls.of(s), seen);
            assertEquals(1_500L * ok, used, seen);
            assertTrue(others.stream().allMatch("429"::equals), seen);
        }
    }
}
