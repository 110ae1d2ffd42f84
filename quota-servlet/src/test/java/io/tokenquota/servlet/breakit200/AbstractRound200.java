package io.tokenquota.servlet.breakit200;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.zaxxer.hikari.HikariConfig;
import com.zaxxer.hikari.HikariDataSource;
import io.tokenquota.Purchase;
import io.tokenquota.PurchaseRequest;
import io.tokenquota.PurchaseType;
import io.tokenquota.QuotaAccount;
import io.tokenquota.QuotaPolicy;
import io.tokenquota.Reservation;
import io.tokenquota.HoldRequest;
import io.tokenquota.jdbi.JdbiQuotaStore;
import io.tokenquota.jdbi.testing.TestDatabase;
import io.tokenquota.jdbi.testing.TestDatabases;
import io.tokenquota.servlet.AdminAuthorizer;
import io.tokenquota.servlet.QuotaApiServlet;
import io.tokenquota.servlet.QuotaFilter;
import io.tokenquota.servlet.SubjectResolver;
import io.tokenquota.servlet.testing.ChatCompletions;
import io.tokenquota.servlet.testing.Deployment;
import io.tokenquota.servlet.testing.H2FilterRound;
import io.tokenquota.servlet.testing.Ledgers;
import io.tokenquota.servlet.testing.ModelCalls;
import io.tokenquota.servlet.testing.TestHttp;
import io.tokenquota.testkit.MutableClock;
import jakarta.servlet.http.HttpServlet;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.time.Instant;
import java.time.YearMonth;
import java.util.UUID;
import org.junit.jupiter.api.Test;

/**
 * Round 200 of issue 11: the ledger side the filter relies on. Month turns with holds open, a host pool
 * with autoCommit=false, idempotency keys across months and subjects, purchases and refunds through the
 * payment callback.
 */
abstract class AbstractRound200 extends H2FilterRound {
    static final byte[] SECRET = "round-200-payment-webhook-secret-0123456".getBytes(StandardCharsets.UTF_8);
    static final YearMonth JAN = YearMonth.of(2031, 1);
    static final YearMonth FEB = YearMonth.of(2031, 2);
    final ModelCalls calls = new ModelCalls();

    static String subject() {
        return "u200-" + UUID.randomUUID().toString().substring(0, 12);
    }

    @Override
    protected Deployment deploy(QuotaFilter filter) {
        return Deployment.create()
                .filter("quota", filter, "/*")
                .servlet("chat", new Chat(), "/ai/*")
                .servlet("quota-api", QuotaApiServlet.builder(store)
                        .subjectResolver(SubjectResolver.trustedHeader("x-user-id", "127.0.0.1", "::1"))
                        .adminAuthorizer(AdminAuthorizer.denyAll())
                        .paymentSecret(SECRET).build(), "/quota-api/*");
    }

    /** A chat completion billing the tokens named by the {@code x-bill} header. */
    class Chat extends HttpServlet {
        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            req.getInputStream().readAllBytes();
            calls.count(req.getHeader("x-user-id"));
            long total = Long.parseLong(req.getHeader("x-bill"));
            resp.setContentType("application/json");
            resp.getOutputStream().write(ChatCompletions.completion("chatcmpl-200", "gpt-4o", "Done.", total - 100, 100)
                    .getBytes(StandardCharsets.UTF_8));
        }
    }

    HttpResponse<String> callback(String json) {
        byte[] body = json.getBytes(StandardCharsets.UTF_8);
        return TestHttp.post(container.uri("/quota-api/payment-callback"), body, "Content-Type", "application/json",
                "X-Signature", TestHttp.signature(SECRET, body));
    }

    static String event(String tx, String user, long tokens, String amount, String status) {
        return "{\"transaction_id\":\"" + tx + "\",\"user_id\":\"" + user + "\",\"token_amount\":" + tokens
                + ",\"amount\":" + amount + ",\"currency\":\"USD\",\"payment_method\":\"card\",\"status\":\"" + status + "\"}";
    }

    HttpResponse<String> chat(String s, long bill) {
        return TestHttp.postJson(container.uri("/ai/v1/chat/completions"), s,
                "{\"model\":\"gpt-4o\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"max_tokens\":500}",
                "x-bill", Long.toString(bill));
    }

    // ------------------------------------------------------------------ payment callback

    /**
     * A purchase of 10,000 tokens (amount as a decimal string, delivered twice), 25,000 used through the
     * filter (5,000 of the purchase spent), then the provider's refund, delivered twice. Expected: credited
     * once, the refund debits the 5,000 unspent, 5,000 unrecovered, available 0.
     */
    @Test
    void aPurchaseRefundedAfterPartlySpentDebitsTheRestOnce() throws Exception {
        String s = subject();
        String tx = "pi_" + UUID.randomUUID();
        assertEquals(200, callback(event(tx, s, 10_000, "\"3300.00\"", "completed")).statusCode());
        HttpResponse<String> again = callback(event(tx, s, 10_000, "3300", "completed"));
        assertEquals(200, again.statusCode(), again.body());
        assertEquals(30_000, store.account(s).limit());
        for (int i = 0; i < 5; i++) {
            HttpResponse<String> r = chat(s, 5_000);
            assertEquals(200, r.statusCode(), r.body());
        }
        QuotaAccount a = Ledgers.chargedAtLeast(store, s, 25_000);
        assertEquals(25_000, a.used(), ledger(s));
        HttpResponse<String> refund = callback(event(tx, s, 10_000, "\"3300.00\"", "refunded"));
        assertEquals(200, refund.statusCode(), refund.body());
        HttpResponse<String> refund2 = callback(event(tx, s, 10_000, "\"3300.00\"", "refunded"));
        assertEquals(200, refund2.statusCode(), refund2.body());
        Purchase p = store.purchase(tx).orElseThrow();
        QuotaAccount after = store.account(s);
        assertEquals(5_000, p.unrecovered(), p + " " + after + " " + ledger(s));
        assertEquals(0, after.available(), after + " " + ledger(s));
        HttpResponse<String> next = chat(s, 1_000);
        assertEquals(429, next.statusCode(), next.body());
    }

    /** A refund larger than the balance: the whole purchase spent, refund records all 10,000 unrecovered. */
    @Test
    void aRefundOfAFullySpentPurchaseTakesNothingAndRecordsItUnrecovered() throws Exception {
        String s = subject();
        String tx = "pi_" + UUID.randomUUID();
        assertEquals(200, callback(event(tx, s, 10_000, "1234.50", "completed")).statusCode());
        for (int i = 0; i < 6; i++) {
            HttpResponse<String> r = chat(s, 5_000);
            assertEquals(200, r.statusCode(), r.body());
        }
        Ledgers.chargedAtLeast(store, s, 30_000);
        HttpResponse<String> refund = callback(event(tx, s, 10_000, "1234.50", "refunded"));
        assertEquals(200, refund.statusCode(), refund.body());
        Purchase p = store.purchase(tx).orElseThrow();
        QuotaAccount after = store.account(s);
        assertEquals(10_000, p.unrecovered(), p.toString());
        assertEquals(30_000, after.used(), after.toString());
        assertTrue(after.available() <= 0, after.toString());
    }

    // ------------------------------------------------------------------ month turns (public API, H2)

    JdbiQuotaStore clocked(TestDatabase d, MutableClock clock) {
        return JdbiQuotaStore.builder().dataSource(d.dataSource())
                .policy(QuotaPolicy.builder().defaultAllocation(ALLOWANCE).clock(clock).build()).installSchema(true).build();
    }

    static Instant at(String iso) {
        return Instant.parse(iso);
    }

    /** {@code s} buys 10,000 tokens (transaction "tx-" + s) and holds 25,000, 5,000 of them purchased, for {@code ttl}. */
    static Reservation boughtAndHeld(JdbiQuotaStore st, String s, Duration ttl) {
        st.grant(PurchaseRequest.grant("tx-" + s, s, 10_000, PurchaseType.PURCHASE, "pack"));
        return st.reserve(HoldRequest.of(s, 25_000).ttl(ttl).build()).reservation();
    }

    /**
     * January: 10,000 bought, a 25,000 hold taken at 23:50 (5,000 of it purchased tokens). February opens
     * (carried 5,000). The purchase is refunded in February; the January hold is then released. The user
     * must keep none of the refunded tokens: February has its 20,000 allowance only.
     */
    @Test
    void aRefundInTheNextMonthThenTheOldHoldReleasedGivesNothingBack() {
        MutableClock clock = new MutableClock(at("2031-01-31T23:50:00Z"));
        try (TestDatabase d = TestDatabases.h2()) {
            JdbiQuotaStore st = clocked(d, clock);
            String s = subject();
            Reservation h = boughtAndHeld(st, s, Duration.ofMinutes(30));
            clock.set(at("2031-02-01T00:05:00Z"));
            QuotaAccount feb0 = st.account(s);
            st.refund("tx-" + s);
            st.release(h.id());
            QuotaAccount feb = st.account(s);
            QuotaAccount jan = st.account(s, JAN).orElseThrow();
            Purchase p = st.purchase("tx-" + s).orElseThrow();
            String what = "feb at open " + feb0 + ", feb " + feb + ", jan " + jan + ", purchase " + p;
            assertEquals(0, p.unrecovered(), what);
            assertEquals(ALLOWANCE, feb.available(), what);
            st.close();
        }
    }

    /** The same, but the January hold is committed late for 22,000 (2,000 purchased tokens spent). */
    @Test
    void aRefundInTheNextMonthThenTheOldHoldCommittedForLess() {
        MutableClock clock = new MutableClock(at("2031-01-31T23:50:00Z"));
        try (TestDatabase d = TestDatabases.h2()) {
            JdbiQuotaStore st = clocked(d, clock);
            String s = subject();
            Reservation h = boughtAndHeld(st, s, Duration.ofMinutes(30));
            clock.set(at("2031-02-01T00:05:00Z"));
            st.account(s);
            st.refund("tx-" + s);
            st.commit(h.id(), 22_000);
            QuotaAccount feb = st.account(s);
            QuotaAccount jan = st.account(s, JAN).orElseThrow();
            String what = "feb " + feb + ", jan " + jan + ", purchase " + st.purchase("tx-" + s).orElseThrow();
            assertEquals(22_000, jan.used(), what);
            assertEquals(ALLOWANCE, feb.available(), what);
            st.close();
        }
    }

    /**
     * January: 10,000 bought, a 25,000 hold at 23:50 with a 5-minute TTL. February: the sweep expires it
     * (February carries all 10,000), then the call's late commit of 25,000 takes back the 5,000 purchased
     * tokens it spent: February carries 5,000, available 25,000; January used 25,000.
     */
    @Test
    void aLateCommitAfterTheSweepInTheNextMonthTakesItsPurchasedTokensBack() {
        MutableClock clock = new MutableClock(at("2031-01-31T23:50:00Z"));
        try (TestDatabase d = TestDatabases.h2()) {
            JdbiQuotaStore st = clocked(d, clock);
            String s = subject();
            Reservation h = boughtAndHeld(st, s, Duration.ofMinutes(5));
            clock.set(at("2031-02-01T00:10:00Z"));
            st.expireStale();
            QuotaAccount feb0 = st.account(s);
            st.commit(h.id(), 25_000);
            QuotaAccount feb = st.account(s);
            QuotaAccount jan = st.account(s, JAN).orElseThrow();
            String what = "feb at open " + feb0 + ", feb " + feb + ", jan " + jan;
            assertEquals(25_000, jan.used(), what);
            assertEquals(25_000, feb.available(), what);
        }
    }

    /** A consume with key K on January 31st, retried with K after midnight: a replay, charged once. */
    @Test
    void aKeyRetriedAfterMidnightIsAReplay() {
        MutableClock clock = new MutableClock(at("2031-01-31T23:59:00Z"));
        try (TestDatabase d = TestDatabases.h2()) {
            JdbiQuotaStore st = clocked(d, clock);
            String s = subject();
            String t = subject();
            st.consume(s, 3_000, "k-1");
            st.consume(t, 3_000, "k-1");
            clock.set(at("2031-02-01T00:01:00Z"));
            Reservation again = st.consume(s, 3_000, "k-1");
            QuotaAccount feb = st.account(s);
            QuotaAccount jan = st.account(s, JAN).orElseThrow();
            String what = "again " + again + ", feb " + feb + ", jan " + jan;
            assertEquals(3_000, jan.used(), what);
            assertEquals(0, feb.used(), what);
            assertEquals(3_000, st.account(t, JAN).orElseThrow().used());
            st.close();
        }
    }

    // ------------------------------------------------------------------ host pool autoCommit=false

    /**
     * Spring's common pool setting: HikariCP with autoCommit=false. Everything the store reports done
     * must be in the database, as another connection (a fresh store on a plain pool) reads it.
     */
    @Test
    void aHostPoolWithAutoCommitOffKeepsEveryWrite() {
        try (TestDatabase d = TestDatabases.h2()) {
            HikariConfig c = new HikariConfig();
            c.setJdbcUrl(d.jdbcUrl());
            c.setUsername(d.user());
            c.setPassword(d.password());
            c.setAutoCommit(false);
            c.setTransactionIsolation("TRANSACTION_SERIALIZABLE");
            c.setMaximumPoolSize(4);
            try (HikariDataSource pool = new HikariDataSource(c)) {
                JdbiQuotaStore st = JdbiQuotaStore.builder().dataSource(pool)
                        .policy(QuotaPolicy.builder().defaultAllocation(ALLOWANCE).build()).installSchema(true).build();
                String s = subject();
                st.grant(PurchaseRequest.grant("g-" + s, s, 5_000, PurchaseType.PURCHASE, "pack"));
                st.consume(s, 1_000, "c-1");
                Reservation h = st.reserve(s, 2_000, "r-1");
                st.commit(h.id(), 2_500);
                Reservation h2 = st.reserve(s, 700, null);
                st.release(h2.id());
                st.consume(s, 300, null);
                st.setPlan(s, 30_000);
                st.setTeam(s, "team-" + s);
                st.refund("g-" + s);
                QuotaAccount seen = st.account(s);
                JdbiQuotaStore other = JdbiQuotaStore.builder().dataSource(d.dataSource())
                        .policy(QuotaPolicy.builder().defaultAllocation(ALLOWANCE).build()).build();
                QuotaAccount fresh = other.account(s);
                assertEquals(seen, fresh);
                assertEquals(3_800, fresh.used(), fresh.toString());
                assertEquals(30_000, fresh.allocated(), fresh.toString());
                assertEquals(0, fresh.granted(), fresh.toString());
                assertEquals(java.util.Optional.of("team-" + s), other.team(s));
                other.close();
                st.close();
            }
        }
    }

    // ------------------------------------------------------------------ more

    /** Two users whose SDKs send the same Idempotency-Key (a fixed key in shared agent code): each is served and charged. */
    @Test
    void oneKeyFromTwoUsersChargesEach() throws Exception {
        String a = subject();
        String b = subject();
        String key = "idem-" + UUID.randomUUID();
        String body = "{\"model\":\"gpt-4o\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"max_tokens\":500}";
        HttpResponse<String> ra = TestHttp.postJson(container.uri("/ai/v1/chat/completions"), a, body,
                "x-bill", "4000", "Idempotency-Key", key);
        HttpResponse<String> rb = TestHttp.postJson(container.uri("/ai/v1/chat/completions"), b, body,
                "x-bill", "4000", "Idempotency-Key", key);
        assertEquals(200, ra.statusCode(), ra.body());
        assertEquals(200, rb.statusCode(), rb.body());
        assertEquals(4_000, Ledgers.chargedAtLeast(store, a, 4_000).used(), ledger(a));
        assertEquals(4_000, Ledgers.chargedAtLeast(store, b, 4_000).used(), ledger(b));
        HttpResponse<String> ra2 = TestHttp.postJson(container.uri("/ai/v1/chat/completions"), a, body,
                "x-bill", "4000", "Idempotency-Key", key);
        assertTrue(ra2.statusCode() != 200 || calls.of(a) == 1, ra2.statusCode() + " calls " + calls.of(a));
        assertEquals(4_000, settled(a).used(), ledger(a));
    }

    /** A completed callback past the max quota: 422 and nothing recorded; a pending then completed one: 422, still pending. */
    @Test
    void aCreditPastTheMaxQuotaRecordsNothing() {
        String s = subject();
        String tx = "pi_" + UUID.randomUUID();
        HttpResponse<String> r = callback(event(tx, s, 100_000_000, "\"9.99\"", "completed"));
        assertEquals(422, r.statusCode(), r.body());
        assertTrue(store.purchase(tx).isEmpty(), String.valueOf(store.purchase(tx)));
        String tx2 = "pi_" + UUID.randomUUID();
        assertEquals(200, callback(event(tx2, s, 99_990_000, "9.99", "pending")).statusCode());
        HttpResponse<String> c = callback(event(tx2, s, 99_990_000, "9.99", "completed"));
        assertEquals(422, c.statusCode(), c.body());
        assertEquals(io.tokenquota.PurchaseStatus.PENDING, store.purchase(tx2).orElseThrow().status());
        assertEquals(ALLOWANCE, store.account(s).limit());
        HttpResponse<String> bad = callback(event("pi_" + UUID.randomUUID(), s, 1_000_000_000_000_001L, "9.99", "completed"));
        assertEquals(400, bad.statusCode(), bad.body());
        HttpResponse<String> big = callback(event("pi_" + UUID.randomUUID(), s, 10_000, "\"99999999999999999999.00\"", "completed"));
        assertEquals(400, big.statusCode(), big.body());
        assertEquals(ALLOWANCE, store.account(s).limit());
    }

    /**
     * The filter on a clocked store: a call held at 23:59 on January 31st whose model answers after
     * midnight (usage 6,000) is charged to January; the user's February call is charged to February.
     */
    @Test
    void aCallAcrossMidnightThroughTheFilterIsChargedToItsMonth() throws Exception {
        MutableClock clock = new MutableClock(at("2031-01-31T23:59:00Z"));
        io.tokenquota.servlet.testing.ClockedStore cs = new io.tokenquota.servlet.testing.ClockedStore(clock, ALLOWANCE);
        String s = subject();
        try {
            cs.store().grant(PurchaseRequest.grant("tx-" + s, s, 3_000, PurchaseType.PURCHASE, "pack"));
            QuotaFilter f = cs.filter("/ai/");
            Deployment dep = Deployment.create().filter("q", f, "/*").servlet("chat", new HttpServlet() {
                @Override
                protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
                    req.getInputStream().readAllBytes();
                    clock.set(at("2031-02-01T00:02:00Z"));
                    resp.setContentType("application/json");
                    resp.getOutputStream().write(ChatCompletions.completion("c", "gpt-4o", "Done.", 21_900, 100)
                            .getBytes(StandardCharsets.UTF_8));
                }
            }, "/ai/*");
            try (io.tokenquota.servlet.testing.EmbeddedContainer c = kind().start(dep)) {
                HttpResponse<String> r = TestHttp.postJson(c.uri("/ai/v1/chat/completions"), s,
                        "{\"model\":\"gpt-4o\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"max_tokens\":1000}");
                assertEquals(200, r.statusCode(), r.body());
                Ledgers.settled(cs.store(), s);
                QuotaAccount jan = cs.store().account(s, JAN).orElseThrow();
                QuotaAccount feb = cs.store().account(s);
                String what = "jan " + jan + ", feb " + feb + " " + Ledgers.events(cs.store(), s, JAN);
                assertEquals(22_000, jan.used(), what);
                // January spent 2,000 of the 3,000 bought: February carries 1,000
                assertEquals(1_000, feb.carried(), what);
                assertEquals(21_000, feb.available(), what);
            }
        } finally {
            cs.close();
        }
    }
}
