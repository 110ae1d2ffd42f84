package io.tokenquota.servlet.breakit299;

import static io.tokenquota.servlet.testing.LongReasoningCall.CALL;
import static org.junit.jupiter.api.Assertions.assertAll;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.tokenquota.OverrunPolicy;
import io.tokenquota.QuotaAccount;
import io.tokenquota.QuotaPolicy;
import io.tokenquota.Team;
import io.tokenquota.jdbi.JdbiQuotaStore;
import io.tokenquota.jdbi.testing.TestDatabase;
import io.tokenquota.jdbi.testing.TestDatabases;
import io.tokenquota.servlet.QuotaFilter;
import io.tokenquota.servlet.SubjectResolver;
import io.tokenquota.servlet.testing.Deployment;
import io.tokenquota.servlet.testing.HeldChatModel;
import io.tokenquota.servlet.testing.Ledgers;
import io.tokenquota.servlet.testing.LongReasoningCall;
import io.tokenquota.servlet.testing.QuotaApiRound;
import io.tokenquota.servlet.testing.TestHttp;
import jakarta.servlet.http.HttpServlet;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.YearMonth;
import java.time.ZoneOffset;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;

/**
 * Round 299 of issue 11 ("no model call goes unpaid, nothing that never reached a model is charged"): the money
 * rules the last commits changed (a plan change's floor is what the month spent of its allocation, holds
 * excluded; rounds 295 and 297), combined with purchases, a call still running, teams and {@code CAP_AT_HOLD}.
 *
 * <p><b>1. A downgrade while a call runs spends the bought tokens the call was admitted without.</b> Since round
 * 297 a plan change lowers the allocation to {@code max(plan, min(allocated, used))}: the tokens a running call
 * holds are not part of the floor. When that call then charges more than the new plan, its charge is taken from
 * the purchased tokens, although the call was admitted, and ran, under the old plan's allowance
 * (docs/semantics.md itself says of such holds "the holds were granted under the old plan"). The same call with
 * the same downgrade a second after it ended costs no purchased token (the floor is then its charge): whether the
 * user's bought tokens survive the month depends on which of the model's last chunk and the billing webhook
 * came first.
 *
 * <p><b>2. Under {@code CAP_AT_HOLD}, a team member's call that fits is refused for a learnt figure.</b> Round
 * 277 made a call whose learnt reasoning figure is above the balance be held as much as fits (a call is charged
 * at most its hold under that policy, so the guess guards nothing); the room it fits to is read from the
 * member's own account only ({@code ledger.account(subject).available()}), not the team's, so a member of a team
 * nearly spent is held the whole figure and the team refuses it (429), for the month.
 *
 * <p><b>3. A plan raise after a refund turns the refund's unrecovered tokens back into purchased ones.</b> A refund
 * of partly spent purchased tokens leaves the spent part in {@code granted} (recorded {@code unrecovered}); a later
 * raise moves that spending onto the allowance, so the refunded tokens are available again and carry over.
 *
 * <p>The main store (H2, 20,000-token allowance, {@code CHARGE_ACTUAL}) sits behind the filter on {@code /ai/*}
 * and the quota API; a second store with {@code CAP_AT_HOLD} and a 1,000,000-token allowance behind a filter of
 * its own on {@code /cap/*} (round 277's setup).
 */
abstract class AbstractRound299 extends QuotaApiRound {
    static final String RESPONSES = "/cap/v1/responses";
    static final long CAP_ALLOWANCE = 1_000_000;

    TestDatabase capDb;
    JdbiQuotaStore cap;

    static String subject() {
        return "u299-" + UUID.randomUUID().toString().substring(0, 12);
    }

    @Override
    protected Deployment deploy(QuotaFilter filter) {
        capDb = TestDatabases.h2();
        cap = JdbiQuotaStore.builder().dataSource(capDb.dataSource())
                .policy(QuotaPolicy.builder().defaultAllocation(CAP_ALLOWANCE).overrunPolicy(OverrunPolicy.CAP_AT_HOLD).build())
                .installSchema(true).build();
        QuotaFilter capFilter = QuotaFilter.builder(cap).protect("/cap/")
                .subjectResolver(SubjectResolver.trustedHeader("x-user-id", "127.0.0.1", "::1")).build();
        return withChatModel(filter, model)
                .filter("cap-quota", capFilter, "/cap/*")
                .servlet("responses", new Responses(), "/cap/*");
    }

    @AfterAll
    void stopCap() {
        if (cap != null) cap.close();
        if (capDb != null) capDb.close();
    }

    // ------------------------------------------------------------------ 1. a downgrade while a call runs

    /** The model, whose calls a test can hold open: the {@link LongReasoningCall}'s answer. */
    final HeldChatModel model = new HeldChatModel(LongReasoningCall.completion("chatcmpl-299"));

    /**
     * A user on the 20,000-token plan who bought 10,000 tokens (a completed payment callback) starts one long call
     * (a chat completion with {@code max_completion_tokens} 16,000, held at its estimate). While it runs the billing
     * system moves the user to the 5,000-token plan ({@code PUT /users/{id}/plan}, as a
     * {@code customer.subscription.updated} handler does when the user downgrades in Stripe's customer portal:
     * docs.stripe.com/billing/subscriptions/change-price, docs.stripe.com/customer-management). The call ends having
     * used 12,000 tokens.
     *
     * <p>The call was admitted and ran under the 20,000 allowance, which covers its 12,000: the month has spent none
     * of the bought tokens, and docs/semantics.md says "a downgrade takes no purchased tokens the month never spent"
     * (decisions.md: "purchased tokens are never lost"). Downgraded a second after the call (the control), the month
     * keeps all 10,000 bought tokens. Downgraded during it, the 12,000 are charged against the 5,000 plan and 7,000
     * of the bought tokens are gone: 3,000 left and 3,000 to carry into next month, for the same call and the same
     * downgrade.
     */
    @Test
    void aDowngradeDuringALongCallSpendsNoneOfTheBoughtTokens() throws Exception {
        String s = subject();
        assertEquals(200, bought(s, 10_000).statusCode());
        model.hold(s);
        CompletableFuture<HttpResponse<String>> call = TestHttp.client()
                .sendAsync(TestHttp.jsonPost(container.uri(CHAT), s, LongReasoningCall.callWithBudget(16_000)),
                        HttpResponse.BodyHandlers.ofString());
        assertTrue(model.awaitArrival(s), "the call reached the model");
        QuotaAccount during = store.account(s);
        HttpResponse<String> plan = putPlan(s, 5_000);
        model.letGo(s);
        HttpResponse<String> r = call.get(15, TimeUnit.SECONDS);
        QuotaAccount a = settled(s);
        assertAll(() -> assertTrue(during.reserved() >= 16_000, "the call was held at its estimate: " + during),
                () -> assertEquals(200, plan.statusCode(), plan.body()),
                () -> assertEquals(200, r.statusCode(), r.body()),
                () -> assertEquals(CALL, a.used(), kind() + ": " + ledger(s)),
                () -> assertEquals(10_000, a.unusedGranted(), kind() + ": bought 10,000, downgraded 20,000 -> 5,000 while"
                        + " a call held " + during.reserved() + "; the call used " + CALL + " (within the"
                        + " allowance it ran under); bought tokens left to carry over: " + a.unusedGranted() + " (" + a + ")"),
                () -> assertTrue(a.available() >= 10_000, kind() + ": left this month " + a.available() + " (" + a + ")"));
    }

    /**
     * Control: the same purchase, call and downgrade, the plan changed just after the call ended: allocated stays at
     * the 12,000 the month spent of it, the 10,000 bought tokens stay.
     */
    @Test
    void controlTheSameDowngradeAfterTheCallKeepsTheBoughtTokens() {
        String s = subject();
        assertEquals(200, bought(s, 10_000).statusCode());
        HttpResponse<String> r = TestHttp.postJson(container.uri(CHAT), s, LongReasoningCall.callWithBudget(16_000));
        assertEquals(200, r.statusCode(), r.body());
        settled(s);
        HttpResponse<String> plan = putPlan(s, 5_000);
        QuotaAccount a = settled(s);
        assertAll(() -> assertEquals(200, plan.statusCode(), plan.body()),
                () -> assertEquals(CALL, a.used(), ledger(s)),
                () -> assertEquals(10_000, a.unusedGranted(), a.toString()),
                () -> assertEquals(10_000, a.available(), a.toString()));
    }

    // ------------------------------------------------------------------ 3. a refund, then a plan raise

    /**
     * A user on the 20,000-token plan buys 10,000 tokens and uses 25,000 this month (the allowance, then 5,000 of
     * the bought tokens: the burn-down order of docs/semantics.md). The payment is then refunded (Stripe's
     * {@code charge.refunded}, docs.stripe.com/api/events/types, mapped to {@code "refunded"}; the Pay gem's
     * {@code Pay::Stripe::Webhooks} handles it beside {@code customer.subscription.updated}): docs/semantics.md, the refund "debits
     * its tokens from the purchased tokens that are not spent ... What was already spent is recorded as
     * {@code unrecovered}": 5,000 debited, 5,000 unrecovered. Later that month the user upgrades to the
     * 30,000-token plan ({@code PUT /users/{id}/plan}, Stripe's {@code customer.subscription.updated}).
     *
     * <p>The user is now owed the 30,000 plan and no purchase: 25,000 used leaves 5,000, nothing bought to carry.
     * The raise turns the 5,000 the refund recorded as spent back into unspent purchased tokens: 10,000 left, and
     * 5,000 of them carried into next month (and every month after) although the money for them was returned.
     * With the two webhooks the other way round (the control) the same user ends with 5,000 and the refund
     * recovers all 10,000.
     */
    @Test
    void aPlanRaiseAfterARefundCreatesNoPurchasedTokens() {
        String s = subject();
        String tx = paymentId();
        assertEquals(200, payment(tx, s, 10_000, "completed").statusCode());
        store.consume(s, 25_000, null);
        HttpResponse<String> refund = payment(tx, s, 10_000, "refunded");
        HttpResponse<String> plan = putPlan(s, 30_000);
        QuotaAccount a = store.account(s);
        long unrecovered = store.purchase(tx).orElseThrow().unrecovered();
        assertAll(() -> assertEquals(200, refund.statusCode(), refund.body()),
                () -> assertEquals(200, plan.statusCode(), plan.body()),
                () -> assertEquals(0, a.unusedGranted(), kind() + ": the only purchase was refunded (" + unrecovered
                        + " recorded unrecovered), yet " + a.unusedGranted() + " purchased tokens are left to carry over: " + a),
                () -> assertEquals(30_000 - 25_000, a.available(), kind() + ": on the 30,000 plan with 25,000 used and no"
                        + " purchase standing, " + a.available() + " left: " + a));
    }

    /** Control: the same purchase, usage, refund and raise, the raise first: 5,000 left, the refund recovers all. */
    @Test
    void controlAPlanRaiseBeforeTheRefundLeavesThePlanLessWhatWasUsed() {
        String s = subject();
        String tx = paymentId();
        assertEquals(200, payment(tx, s, 10_000, "completed").statusCode());
        store.consume(s, 25_000, null);
        HttpResponse<String> plan = putPlan(s, 30_000);
        HttpResponse<String> refund = payment(tx, s, 10_000, "refunded");
        QuotaAccount a = store.account(s);
        assertAll(() -> assertEquals(200, refund.statusCode(), refund.body()),
                () -> assertEquals(200, plan.statusCode(), plan.body()),
                () -> assertEquals(0, store.purchase(tx).orElseThrow().unrecovered()),
                () -> assertEquals(0, a.unusedGranted(), a.toString()),
                () -> assertEquals(5_000, a.available(), a.toString()));
    }

    // ------------------------------------------------------------------ 2. CAP_AT_HOLD, a team member

    /**
     * OpenAI's Responses API answered whole ({@code object: "response"}, platform.openai.com/docs/api-reference/
     * responses/object) with the usage the {@code x-reasoning} and {@code x-answer} headers name, 30 input tokens:
     * {@code usage.output_tokens_details.reasoning_tokens} as gpt-5 reports it.
     */
    static final class Responses extends HttpServlet {
        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            req.getInputStream().readAllBytes();
            long r = Long.parseLong(req.getHeader("x-reasoning"));
            long c = r + Long.parseLong(req.getHeader("x-answer"));
            resp.setContentType("application/json");
            resp.getOutputStream().write(("{\"id\":\"resp_299\",\"object\":\"response\",\"created_at\":1764583200,"
                    + "\"status\":\"completed\",\"model\":\"gpt-5-2025-08-07\",\"output\":[{\"type\":\"reasoning\",\"id\":\"rs_1\","
                    + "\"summary\":[]},{\"type\":\"message\",\"id\":\"msg_1\",\"status\":\"completed\",\"role\":\"assistant\","
                    + "\"content\":[{\"type\":\"output_text\",\"text\":\"Here it is.\",\"annotations\":[]}]}],"
                    + "\"usage\":{\"input_tokens\":30,\"input_tokens_details\":{\"cached_tokens\":0},\"output_tokens\":" + c
                    + ",\"output_tokens_details\":{\"reasoning_tokens\":" + r + "},\"total_tokens\":" + (30 + c) + "}}")
                    .getBytes(StandardCharsets.UTF_8));
        }
    }

    /** A Responses call at {@code reasoning.effort: "high"} naming no output budget (the API's own example shape). */
    HttpResponse<String> reasoning(String s, String question, long reasoning, long answer) {
        return TestHttp.postJson(container.uri(RESPONSES), s, "{\"model\":\"gpt-5\",\"reasoning\":{\"effort\":\"high\"},"
                + "\"input\":\"" + question + "\"}", "x-reasoning", Long.toString(reasoning), "x-answer", Long.toString(answer));
    }

    static final String HARD = "Enumerate every 3-regular graph on 12 vertices up to isomorphism and give each one's"
            + " chromatic number.";

    /**
     * Under {@code CAP_AT_HOLD}, a member of a team on a 30,000-token team plan (the host's sync:
     * {@code setTeam}, {@code setPlan(Team.subject(id), 30_000)}, docs/semantics.md "Teams") asks one hard question
     * at {@code reasoning.effort: "high"} without a budget (the model reasons 44,000 tokens); the next question,
     * "What is 17 times 23?" (400 tokens), is refused 429 although the team has some 29,000 left. The filter now
     * holds the member's such calls at the learnt 45,000; round 277 holds such a call "as much of it as fits" when
     * the learnt figure is above the balance, but reads the balance from the member's own account (1,000,000 here),
     * so the whole figure is reserved and the team refuses it: for the month, since a refused call teaches nothing.
     * The control, the same user with the same 30,000 as its own plan and no team, is served.
     */
    @Test
    void aTeamMembersEasyCallIsNotRefusedForALearntFigureAboveTheTeamsBalance() {
        String s = subject();
        String team = "t299-" + UUID.randomUUID().toString().substring(0, 8);
        cap.setTeam(s, team);
        cap.setPlan(Team.subject(team), 30_000);
        HttpResponse<String> first = reasoning(s, HARD, 44_000, 1_000);
        assertEquals(200, first.statusCode(), first.body());
        QuotaAccount teamAccount = Ledgers.settled(cap, Team.subject(team));
        HttpResponse<String> easy = reasoning(s, "What is 17 times 23?", 320, 80);
        assertEquals(200, easy.statusCode(), kind() + ": the team has " + teamAccount.available() + " left, the member "
                + cap.account(s).available() + "; an easy high-effort question (400 tokens) answered " + easy.statusCode()
                + " " + easy.body() + " (team " + Ledgers.events(cap, Team.subject(team), YearMonth.now(ZoneOffset.UTC)) + ")");
    }

    /** Control: round 277's case, the 30,000 the user's own plan and no team: served. */
    @Test
    void controlWithoutATeamTheEasyCallIsServed() {
        String s = subject();
        cap.setPlan(s, 30_000);
        HttpResponse<String> first = reasoning(s, HARD, 44_000, 1_000);
        assertEquals(200, first.statusCode(), first.body());
        HttpResponse<String> easy = reasoning(s, "What is 17 times 23?", 320, 80);
        assertEquals(200, easy.statusCode(), kind() + ": " + easy.body());
    }
}
