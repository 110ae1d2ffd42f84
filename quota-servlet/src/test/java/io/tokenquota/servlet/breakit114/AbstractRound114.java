package io.tokenquota.servlet.breakit114;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.tokenquota.ErrorCode;
import io.tokenquota.HoldRequest;
import io.tokenquota.QuotaAccount;
import io.tokenquota.QuotaException;
import io.tokenquota.QuotaLedger;
import io.tokenquota.Reservation;
import io.tokenquota.jdbi.JdbiQuotaStore;
import io.tokenquota.servlet.FilterTestHooks;
import io.tokenquota.servlet.QuotaFilter;
import io.tokenquota.servlet.testing.ChatCompletions;
import io.tokenquota.servlet.testing.ClockedStore;
import io.tokenquota.servlet.testing.Deployment;
import io.tokenquota.servlet.testing.FailingLedger;
import io.tokenquota.servlet.testing.H2FilterRound;
import io.tokenquota.servlet.testing.Ledgers;
import io.tokenquota.servlet.testing.ModelCalls;
import io.tokenquota.servlet.testing.TestHttp;
import io.tokenquota.testkit.MutableClock;
import jakarta.servlet.http.HttpServlet;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;
import java.io.OutputStream;
import java.net.URI;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.time.Instant;
import java.time.YearMonth;
import java.util.Map;
import java.util.Set;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;

/**
 * Round 114 of issue 11: what a running call counts against the same user's other calls, and when. A
 * long call (a long reasoning run, a slowly read stream) is still in the model while the same user starts other
 * calls; what it has charged so far must keep those calls within the allowance (20,000 a month).
 *
 * <p>The service has two products on two databases ({@code /ta/} and {@code /tb/}: one quota each, the
 * same user ids), and a third prefix ({@code /tc/}) on a store whose clock the tests move (a process
 * paused past a hold's TTL) and whose commits or extensions the tests can make fail for a moment.
 *
 * <p>The mock model answers a chat completion whose total usage the request's {@code x-total} names; with
 * {@code x-latch} it counts that latch down when it is in the model, and with {@code x-wait} it then
 * waits until the test opens the latch of the same name in {@link #GO}. With {@code x-stream} it answers an
 * event stream whose usage event it sends (and flushes) first, before it waits, then {@code [DONE]}.
 */
abstract class AbstractRound114 extends H2FilterRound {
    static final ModelCalls CALLS = new ModelCalls();
    static final Map<String, CountDownLatch> STARTED = new ConcurrentHashMap<>();
    static final Map<String, CountDownLatch> GO = new ConcurrentHashMap<>();

    /** Subjects whose first commit through {@code /tc/} (and its retries) the store refuses, while armed. */
    static final Set<String> COMMITS_DOWN = ConcurrentHashMap.newKeySet();
    /** The hold whose commit the store refuses, per subject: the first one committed while armed. */
    static final Map<String, String> REFUSED_HOLD = new ConcurrentHashMap<>();
    /** Subjects whose next extension through {@code /tc/} the store refuses once (a blip). */
    static final Set<String> EXTEND_BLIP = ConcurrentHashMap.newKeySet();

    final MutableClock clockA = new MutableClock(Instant.parse("2031-06-10T12:00:00Z"));
    final MutableClock clockB = new MutableClock(Instant.parse("2031-06-10T12:00:00Z"));
    final MutableClock clockC = new MutableClock(Instant.parse("2031-06-10T12:00:00Z"));
    ClockedStore storeA;
    ClockedStore storeB;
    ClockedStore storeC;

    static String subject() {
        return "u114-" + UUID.randomUUID().toString().substring(0, 12);
    }

    @Override
    protected Deployment deploy(QuotaFilter filter) {
        storeA = new ClockedStore(clockA, ALLOWANCE);
        storeB = new ClockedStore(clockB, ALLOWANCE);
        storeC = new ClockedStore(clockC, ALLOWANCE);
        JdbiQuotaStore c = storeC.store();
        QuotaLedger troubled = new FailingLedger(c) {
            @Override
            protected void beforeCommit(String reservationId) {
                String s = c.reservation(reservationId).map(Reservation::subject).orElse("?");
                if (COMMITS_DOWN.contains(s)) {
                    REFUSED_HOLD.putIfAbsent(s, reservationId);
                    if (reservationId.equals(REFUSED_HOLD.get(s))) {
                        throw new QuotaException(ErrorCode.STORE_UNAVAILABLE, "connection refused (test)");
                    }
                }
            }

            @Override
            protected void beforeExtend(String reservationId) {
                String s = c.reservation(reservationId).map(Reservation::subject).orElse("?");
                if (EXTEND_BLIP.remove(s)) {
                    throw new QuotaException(ErrorCode.STORE_UNAVAILABLE, "connection reset (test)");
                }
            }
        };
        return Deployment.create()
                .filter("quota", filter, "/ai/*")
                .filter("quota-a", storeA.filter("/ta/"), "/ta/*")
                .filter("quota-b", storeB.filter("/tb/"), "/tb/*")
                // the refused commit's retries in milliseconds: the short call's answer waited 5 s of inline retries
                .filter("quota-c", FilterTestHooks.fastSettlementRetries(filterFor(troubled, "/tc/")).build(), "/tc/*")
                .servlet("chat", new Model(), "/ai/*")
                .servlet("model-a", new Model(), "/ta/*")
                .servlet("model-b", new Model(), "/tb/*")
                .servlet("model-c", new Model(), "/tc/*");
    }

    @AfterAll
    void stopStores() {
        for (ClockedStore s : new ClockedStore[] {storeA, storeB, storeC}) {
            if (s != null) s.close();
        }
    }

    /** The mock model: see the class comment. Counts each call under its prefix and subject. */
    public static class Model extends HttpServlet {
        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            req.getInputStream().readAllBytes();
            String user = req.getHeader("x-user-id");
            CALLS.count(req.getServletPath() + ":" + user);
            long total = Long.parseLong(req.getHeader("x-total"));
            String latch = req.getHeader("x-latch");
            boolean waits = req.getHeader("x-wait") != null;
            if (req.getHeader("x-stream") != null) {
                resp.setContentType("text/event-stream");
                OutputStream out = resp.getOutputStream();
                out.write((ChatCompletions.wordEvent("chatcmpl-114") + ChatCompletions.usageEvent("chatcmpl-114", 100,
                        total - 100)).getBytes(StandardCharsets.UTF_8));
                out.flush();
                signalAndWait(latch, waits);
                out.write(ChatCompletions.DONE.getBytes(StandardCharsets.UTF_8));
                return;
            }
            signalAndWait(latch, waits);
            resp.setContentType("application/json");
            resp.getOutputStream().write(ChatCompletions.completion("chatcmpl-114", "gpt-4o", "Done.", 100, total - 100)
                    .getBytes(StandardCharsets.UTF_8));
        }

        private static void signalAndWait(String latch, boolean waits) {
            if (latch == null) {
                return;
            }
            CountDownLatch started = STARTED.get(latch);
            if (started != null) {
                started.countDown();
            }
            CountDownLatch go = GO.get(latch);
            if (waits && go != null) {
                try {
                    go.await(30, TimeUnit.SECONDS);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
            }
        }
    }

    static String body(int maxTokens) {
        return "{\"model\":\"gpt-4o\",\"messages\":[{\"role\":\"user\",\"content\":\"Run the plan.\"}],"
                + "\"max_tokens\":" + maxTokens + "}";
    }

    URI at(String prefix) {
        return container.uri(prefix + "v1/chat/completions");
    }

    static int calls(String prefix, String s) {
        return CALLS.of("/" + prefix.replace("/", "") + ":" + s);
    }

    /** Starts {@code s}'s long call and waits until the model has it (a stream: until its usage was flushed). */
    CompletableFuture<HttpResponse<String>> startLong(String prefix, String s, int maxTokens, long total,
                                                      boolean stream) throws InterruptedException {
        STARTED.put(s, new CountDownLatch(1));
        GO.put(s, new CountDownLatch(1));
        String[] headers = stream
                ? new String[] {"x-total", Long.toString(total), "x-latch", s, "x-wait", "1", "x-stream", "1"}
                : new String[] {"x-total", Long.toString(total), "x-latch", s, "x-wait", "1"};
        CompletableFuture<HttpResponse<String>> running = TestHttp.client().sendAsync(
                TestHttp.jsonPost(at(prefix), s, body(maxTokens), headers),
                HttpResponse.BodyHandlers.ofString(StandardCharsets.UTF_8));
        assertTrue(STARTED.get(s).await(20, TimeUnit.SECONDS), "the long call of " + s + " is in the model");
        return running;
    }

    static HttpResponse<String> call(URI uri, String s, int maxTokens, long total) {
        return TestHttp.postJson(uri, s, body(maxTokens), "x-total", Long.toString(total));
    }

    /** The id of {@code s}'s one hold still held in {@code store} (hold ids are numbers of the database's sequence). */
    static String runningHold(QuotaLedger store, String s) {
        for (int i = 1; i < 10_000; i++) {
            java.util.Optional<Reservation> r = store.reservation(Integer.toString(i));
            if (r.isPresent() && r.get().subject().equals(s)
                    && r.get().state() == io.tokenquota.ReservationState.HELD) {
                return r.get().id();
            }
        }
        throw new AssertionError("no hold of " + s);
    }

    /** A subject of the service's own whose holds move a database's sequence on (its account is open). */
    static final String FILLER = "filler-114";

    /**
     * Opens {@code s}'s account in {@code other} (an earlier call there), then brings the two databases'
     * sequences level, so that {@link #bringTo} can follow the first's next hold.
     */
    static long levelWith(QuotaLedger first, QuotaLedger other, String s) {
        other.release(other.reserve(HoldRequest.of(s, 1).build()).reservation().id());
        first.release(first.reserve(HoldRequest.of(s, 1).build()).reservation().id());
        long ia = Long.parseLong(first.reserve(HoldRequest.of(FILLER, 1).build()).reservation().id());
        long ib = Long.parseLong(other.reserve(HoldRequest.of(FILLER, 1).build()).reservation().id());
        while (ia != ib) {
            if (ia < ib) {
                ia = Long.parseLong(first.reserve(HoldRequest.of(FILLER, 1).build()).reservation().id());
            } else {
                ib = Long.parseLong(other.reserve(HoldRequest.of(FILLER, 1).build()).reservation().id());
            }
        }
        return ib;
    }

    /**
     * Brings {@code other}'s event sequence to just before {@code target}, so that the next hold taken
     * there for {@code s} is numbered {@code target} too: the other product's database has simply served
     * that many calls.
     */
    static void bringTo(QuotaLedger other, String target, long last) {
        long want = Long.parseLong(target) - 1;
        while (last < want) {
            last = Long.parseLong(other.reserve(HoldRequest.of(FILLER, 1).build()).reservation().id());
        }
        assertEquals(want, last, "the other database's sequence stands just before " + target);
    }

    String story(JdbiQuotaStore store, String s, String prefix, HttpResponse<String> second, QuotaAccount account) {
        return kind() + ": second call " + second.statusCode() + ", model calls on " + prefix + " " + calls(prefix, s)
                + ", used " + account.used() + " of " + account.limit() + ", events "
                + Ledgers.events(store, s, YearMonth.of(2031, 6)) + ", holds " + holds(store, s);
    }

    static java.util.List<String> holds(JdbiQuotaStore store, String s) {
        java.util.List<String> ids = new java.util.ArrayList<>();
        for (io.tokenquota.LedgerEvent e : store.events(s, YearMonth.of(2031, 6))) {
            ids.add(e.kind() + "#" + e.reservationId());
        }
        return ids;
    }

    void assertAnOtherProductsCallKeepsTheCharge(ClockedStore mine, String minePrefix, ClockedStore other,
                                                 String otherPrefix) throws Exception {
        String s = subject();
        long level = levelWith(mine.store(), other.store(), s);
        CompletableFuture<HttpResponse<String>> first = startLong(minePrefix, s, 2_000, 15_000, true);
        bringTo(other.store(), runningHold(mine.store(), s), level);
        HttpResponse<String> otherCall;
        HttpResponse<String> second;
        try {
            otherCall = call(at(otherPrefix), s, 100, 1_200);
            second = call(at(minePrefix), s, 8_000, 8_000);
        } finally {
            GO.get(s).countDown();
        }
        assertEquals(200, otherCall.statusCode(), otherCall.body());
        assertSecondRefused(first, mine, minePrefix, s, second, "; on " + otherPrefix + " " + holds(other.store(), s));
    }

    /**
     * A new user's long call on {@code prefix} ({@link #startLong}: {@code maxTokens}, 15,000 billed, its
     * usage event sent first when {@code stream}) runs; meanwhile {@code meanwhile} happens to the user
     * ({@code undo} undoes it, whatever came of the call), then the user's 8,000-token call on the same
     * prefix; then the long call ends. That next call must be refused ({@link #assertSecondRefused}).
     */
    void assertNextCallRefusedWhileRunning(ClockedStore store, String prefix, int maxTokens, boolean stream,
                                           java.util.function.Consumer<String> meanwhile,
                                           java.util.function.Consumer<String> undo) throws Exception {
        String s = subject();
        CompletableFuture<HttpResponse<String>> first = startLong(prefix, s, maxTokens, 15_000, stream);
        HttpResponse<String> second;
        try {
            meanwhile.accept(s);
            second = call(at(prefix), s, 8_000, 8_000);
        } finally {
            undo.accept(s);
            GO.get(s).countDown();
        }
        assertSecondRefused(first, store, prefix, s, second, "");
    }

    void assertSecondRefused(CompletableFuture<HttpResponse<String>> first, ClockedStore store, String prefix, String s,
                             HttpResponse<String> second, String also) throws Exception {
        assertEquals(200, first.get(30, TimeUnit.SECONDS).statusCode());
        QuotaAccount account = Ledgers.chargedAtLeast(store.store(), s, 15_000);
        String what = story(store.store(), s, prefix, second, account) + also;
        assertEquals(429, second.statusCode(), what);
        assertEquals(1, calls(prefix, s), what);
        assertEquals(15_000, account.used(), what);
    }

    // ------------------------------------------------------------------ two products on two databases

    /**
     * Control: the user's long streamed call on {@code /ta/} (held about 2,000, its usage event of 15,000
     * already sent) is still running when the user asks {@code /ta/} for an 8,000-token call: 2,000 held
     * plus 13,000 reported beyond the hold leave 5,000, so it is refused.
     */
    @Test
    void aSecondCallWhileTheFirstReportedItsUsageIsRefused() throws Exception {
        assertNextCallRefusedWhileRunning(storeA, "/ta/", 2_000, true, s -> { }, s -> { });
    }

    /**
     * The service sells two products on two databases ({@code /ta/} and {@code /tb/}, a filter each) to
     * the same user ids; each database numbers its holds from its own sequence, so the same number names
     * a hold in each. The user's long streamed call on {@code /ta/} has sent its usage event (15,000, its
     * hold about 2,000); the user then makes a short call on {@code /tb/} whose hold gets the same number
     * in the other database. The JVM-wide record of running calls files them by subject and hold id
     * alone: the {@code /tb/} call takes the {@code /ta/} call's place there and, once settled, removes
     * it. The user's next 8,000-token call on {@code /ta/} then sees only the first call's 2,000 hold and
     * is served: 23,000 used of 20,000. Expected: 429, one model call on {@code /ta/}, 15,000 used.
     */
    @Test
    void aCallOnTheOtherProductsDatabaseMakesTheRunningCallsChargeVanish() throws Exception {
        assertAnOtherProductsCallKeepsTheCharge(storeA, "/ta/", storeB, "/tb/");
    }

    /**
     * The same, the other way round: the long call runs on {@code /tb/}, the short one on {@code /ta/}
     * and then the 8,000-token call on {@code /tb/}. Expected: 429 on {@code /tb/}, 15,000 used there.
     */
    @Test
    void theOtherWayRound() throws Exception {
        assertAnOtherProductsCallKeepsTheCharge(storeB, "/tb/", storeA, "/ta/");
    }

    // ------------------------------------------------------------------ a pause, and a store in trouble

    /**
     * Control: the user's long reasoning call on {@code /tc/} (held about 16,000, bills 15,000) runs while the
     * process is paused for six minutes (the five-minute hold's TTL passes); the user's next call
     * (8,000) extends the running hold before its reserve and is refused.
     */
    @Test
    void aNextCallAfterAPauseIsRefused() throws Exception {
        assertNextCallRefusedWhileRunning(storeC, "/tc/", 16_000, false, s -> clockC.advance(Duration.ofMinutes(6)), s -> { });
    }

    /**
     * The same pause, and meanwhile a short call of the same user (1,000 tokens) finished while the store
     * refused its commit (a failover): the filter retries it in the background and before the user's
     * next reserve. That retry still finds the store away, so {@code HoldKeeper.beforeReserve} returns at
     * once, without extending the running call's hold; the store is reachable again a moment later, and
     * the next call's own account read and reserve expire the running call's hold (past its TTL after the
     * pause). The running call is then counted only beyond a hold it no longer has (nothing), and the
     * 8,000-token call is served: 15,000 + 1,000 + 8,000 = 24,000 of 20,000. Expected: 429, two model
     * calls, 16,000 used once everything landed.
     */
    @Test
    void aSettlementStillFailingSkipsTheExtensionAndTheNextCallIsServed() throws Exception {
        String s = subject();
        CompletableFuture<HttpResponse<String>> first = startLong("/tc/", s, 16_000, 15_000, false);
        HttpResponse<String> shortCall;
        HttpResponse<String> second;
        try {
            COMMITS_DOWN.add(s);
            shortCall = call(at("/tc/"), s, 100, 1_000);
            clockC.advance(Duration.ofMinutes(6));
            second = call(at("/tc/"), s, 8_000, 8_000);
        } finally {
            COMMITS_DOWN.remove(s);
            GO.get(s).countDown();
        }
        assertEquals(200, shortCall.statusCode(), shortCall.body());
        assertEquals(200, first.get(30, TimeUnit.SECONDS).statusCode());
        // the short call's 1,000 lands once the store is back (background retries); the second call's 8,000 if served
        QuotaAccount c = Ledgers.chargedAtLeast(storeC.store(), s, 16_000 + 8_000L * (calls("/tc/", s) - 2));
        String what = story(storeC.store(), s, "/tc/", second, c);
        assertEquals(429, second.statusCode(), what);
        assertEquals(2, calls("/tc/", s), what);
        assertEquals(16_000, c.used(), what);
    }

    /**
     * The same pause; the extension the user's next call makes before its reserve is refused by a blip
     * (one connection reset), and the reserve right after it goes through: it expires the running call's
     * hold (past its TTL), which is not counted as lapsed, so the 8,000-token call is served: 23,000 of
     * 20,000. Expected: 429, one model call, 15,000 used.
     */
    @Test
    void anExtensionLostToABlipLetsTheNextCallExpireTheRunningHold() throws Exception {
        assertNextCallRefusedWhileRunning(storeC, "/tc/", 16_000, false, s -> {
            clockC.advance(Duration.ofMinutes(6));
            EXTEND_BLIP.add(s);
        }, EXTEND_BLIP::remove);
    }
}
