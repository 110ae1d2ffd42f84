package io.tokenquota.servlet.breakit306;

import static io.tokenquota.servlet.testing.LongReasoningCall.CALL;
import static io.tokenquota.servlet.testing.LongReasoningCall.callWithoutBudget;
import static org.junit.jupiter.api.Assertions.assertAll;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.tokenquota.PurchaseRequest;
import io.tokenquota.PurchaseType;
import io.tokenquota.QuotaAccount;
import io.tokenquota.Team;
import io.tokenquota.servlet.QuotaFilter;
import io.tokenquota.servlet.testing.Deployment;
import io.tokenquota.servlet.testing.HeldChatModel;
import io.tokenquota.servlet.testing.Ledgers;
import io.tokenquota.servlet.testing.LongReasoningCall;
import io.tokenquota.servlet.testing.QuotaApiRound;
import io.tokenquota.servlet.testing.TestHttp;
import java.net.http.HttpResponse;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/**
 * Round 306 of issue 11 ("no model call goes unpaid, nothing that never reached a model is charged"): money
 * changes through the quota API (plan changes of users and teams, membership, purchases) while calls are held.
 *
 * <p><b>A downgrade while a call without an output budget runs.</b> Round 299's rule makes a plan change's floor
 * {@code used + reserved} (at most the old allocation): the holds open at the change were granted under the old
 * plan, so what they hold is not charged against purchased tokens. Round 306 found the limit of that: a call that
 * names no budget (the default of every SDK) is held at its input plus the default output budget (about 1,000
 * here), and under {@code CHARGE_ACTUAL} the rest of a 12,000-token answer is charged when the call ends, under
 * the plan then in effect: the new allowance, then purchased tokens (7,000 of 10,000 bought), where the same
 * downgrade a second after the call takes none. Decided (docs/decisions.md, "Plan changes"): the hold is what the
 * old plan granted; a charge beyond it is made after the change, as any overrun is charged against the account
 * as it then stands. These tests hold that rule, for a user and for a team.
 *
 * <p>The store is H2 with a 20,000-token allowance ({@code CHARGE_ACTUAL}, the default), behind the filter on
 * {@code /ai/*} and the quota API under {@link #API}.
 */
abstract class AbstractRound306 extends QuotaApiRound {
    /** The model, whose calls a test can hold open: the {@link LongReasoningCall}'s answer. */
    final HeldChatModel model = new HeldChatModel(LongReasoningCall.completion("chatcmpl-306"));

    static String subject() {
        return "u306-" + UUID.randomUUID().toString().substring(0, 12);
    }

    static String teamId() {
        return "t306-" + UUID.randomUUID().toString().substring(0, 8);
    }

    @Override
    protected Deployment deploy(QuotaFilter filter) {
        return withChatModel(filter, model);
    }

    /** The call {@code s} starts, waiting in the model once it reached it. */
    CompletableFuture<HttpResponse<String>> start(String s) throws InterruptedException {
        model.hold(s);
        CompletableFuture<HttpResponse<String>> call = TestHttp.client().sendAsync(
                TestHttp.jsonPost(container.uri(CHAT), s, callWithoutBudget()), HttpResponse.BodyHandlers.ofString());
        assertTrue(model.awaitArrival(s), "the call reached the model");
        return call;
    }

    HttpResponse<String> finish(String s, CompletableFuture<HttpResponse<String>> call) throws Exception {
        model.letGo(s);
        return call.get(15, TimeUnit.SECONDS);
    }

    // ------------------------------------------------------------------ a user's downgrade

    /**
     * A user on the 20,000-token plan who bought 10,000 tokens (a completed payment callback) starts one long call
     * that names no output budget (held at its input and the default output budget, about 1,000). While it runs the
     * billing system moves the user to the 5,000-token plan ({@code PUT /users/{id}/plan}, as a Stripe
     * {@code customer.subscription.updated} handler does: docs.stripe.com/billing/subscriptions/change-price). The
     * call ends having used 12,000 tokens.
     *
     * <p>The hold (about 1,000) is covered by the allowance it was granted under; the rest is charged under the
     * new plan: its 5,000, then 7,000 of the bought tokens. Every token of the call is charged once, and the
     * bought tokens left are exactly what the new plan's order of spending leaves: 3,000.
     */
    @Test
    void aDowngradeDuringACallChargesWhatItUsesBeyondItsHoldUnderTheNewPlan() throws Exception {
        String s = subject();
        assertEquals(200, bought(s, 10_000).statusCode());
        CompletableFuture<HttpResponse<String>> call = start(s);
        QuotaAccount during = store.account(s);
        HttpResponse<String> plan = putPlan(s, 5_000);
        HttpResponse<String> r = finish(s, call);
        QuotaAccount a = settled(s);
        assertAll(() -> assertEquals(200, plan.statusCode(), plan.body()),
                () -> assertEquals(200, r.statusCode(), r.body()),
                () -> assertTrue(during.reserved() > 0 && during.reserved() < 5_000, "held " + during.reserved()),
                () -> assertEquals(CALL, a.used(), kind() + ": " + ledger(s)),
                () -> assertEquals(5_000, a.allocated(), a.toString()),
                () -> assertEquals(10_000 - (CALL - 5_000), a.unusedGranted(), kind() + ": " + a),
                () -> assertEquals(10_000 - (CALL - 5_000), a.available(), kind() + ": " + a));
    }

    /** Control: the same purchase, call and downgrade, the plan changed after the call: the 10,000 stay. */
    @Test
    void controlTheSameDowngradeAfterTheCallKeepsTheBoughtTokens() {
        String s = subject();
        assertEquals(200, bought(s, 10_000).statusCode());
        HttpResponse<String> r = TestHttp.postJson(container.uri(CHAT), s, callWithoutBudget());
        assertEquals(200, r.statusCode(), r.body());
        settled(s);
        HttpResponse<String> plan = putPlan(s, 5_000);
        QuotaAccount a = settled(s);
        assertAll(() -> assertEquals(200, plan.statusCode(), plan.body()),
                () -> assertEquals(CALL, a.used(), ledger(s)),
                () -> assertEquals(10_000, a.unusedGranted(), a.toString()),
                () -> assertEquals(10_000, a.available(), a.toString()));
    }

    // ------------------------------------------------------------------ a team's downgrade

    /**
     * A team on a 30,000-token plan ({@code PUT /teams/{id}/plan}) that bought 10,000 tokens (the team's purchase,
     * {@code grant} under {@code Team.subject(id)}: docs/semantics.md "Teams"), one member ({@code PUT
     * /users/{id}/team}). The member starts a long call naming no budget; while it runs the team is moved to the
     * 5,000-token plan ({@code PUT /teams/{id}/plan}). The call uses 12,000: the team is charged the hold under the
     * old plan and the rest under the new one, as a user is: 7,000 of its bought tokens.
     */
    @Test
    void aTeamDowngradeDuringAMembersCallChargesWhatItUsesBeyondItsHoldUnderTheNewPlan() throws Exception {
        String s = subject();
        String team = teamId();
        String teamSubject = Team.subject(team);
        assertEquals(200, putTeam(s, team).statusCode());
        assertEquals(200, putTeamPlan(team, 30_000).statusCode());
        store.grant(PurchaseRequest.grant("team-pi-" + UUID.randomUUID(), teamSubject, 10_000, PurchaseType.PURCHASE,
                "team top-up"));
        CompletableFuture<HttpResponse<String>> call = start(s);
        HttpResponse<String> plan = putTeamPlan(team, 5_000);
        HttpResponse<String> r = finish(s, call);
        settled(s);
        QuotaAccount t = Ledgers.settled(store, teamSubject);
        assertAll(() -> assertEquals(200, plan.statusCode(), plan.body()),
                () -> assertEquals(200, r.statusCode(), r.body()),
                () -> assertEquals(CALL, t.used(), kind() + ": " + ledger(teamSubject)),
                () -> assertEquals(5_000, t.allocated(), t.toString()),
                () -> assertEquals(10_000 - (CALL - 5_000), t.unusedGranted(), kind() + ": " + t));
    }

    // ------------------------------------------------------------------ a member leaving with a call held

    /**
     * Control: a member of a team on a 15,000-token plan leaves the team ({@code PUT /users/{id}/team} with
     * {@code null}) while its call runs: the call is charged once to the member and once to the team it was held
     * against (docs/semantics.md, "Leaving or changing team with holds open"), nothing stays held, and the member
     * is no longer in the team.
     */
    @Test
    void controlAMemberLeavingWithACallHeldIsChargedToTheTeamItWasHeldAgainst() throws Exception {
        String s = subject();
        String team = teamId();
        String teamSubject = Team.subject(team);
        assertEquals(200, putTeam(s, team).statusCode());
        assertEquals(200, putTeamPlan(team, 15_000).statusCode());
        CompletableFuture<HttpResponse<String>> call = start(s);
        HttpResponse<String> left = putTeam(s, null);
        HttpResponse<String> r = finish(s, call);
        QuotaAccount member = settled(s);
        QuotaAccount t = Ledgers.settled(store, teamSubject);
        assertAll(() -> assertEquals(200, left.statusCode(), left.body()),
                () -> assertEquals(200, r.statusCode(), r.body()),
                () -> assertEquals(CALL, member.used(), ledger(s)),
                () -> assertEquals(CALL, t.used(), ledger(teamSubject)),
                () -> assertEquals(0, t.reserved(), t.toString()),
                () -> assertEquals(15_000 - CALL, t.available(), t.toString()),
                () -> assertTrue(store.team(s).isEmpty(), "left the team"));
    }
}
