package io.tokenquota.servlet.breakit89;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import static io.tokenquota.servlet.testing.TestHttp.fresh;
import static io.tokenquota.servlet.testing.TestHttp.readToDone;
import static io.tokenquota.servlet.testing.TestHttp.readUntil;

import io.tokenquota.QuotaAccount;
import io.tokenquota.Team;
import io.tokenquota.servlet.QuotaFilter;
import io.tokenquota.servlet.testing.Deployment;
import io.tokenquota.servlet.testing.ModelCallRound;
import io.tokenquota.servlet.testing.SubjectGates;
import java.io.IOException;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.util.UUID;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;

/**
 * Round 89 of issue 11: the next call after a finished stream, sent by someone the filter does not
 * connect with the finished call: a member of the same team (the team's allowance is the binding one),
 * or the same user through a second quota filter of the same service. The mock model answers a chat
 * completion whose usage the request's {@code x-prompt} and {@code x-completion} headers name (an input
 * the estimate cannot see); {@code x-variant} says how it answers.
 */
abstract class AbstractRound89 extends ModelCallRound {
    /** The relay's work after the last event (saving the thread) waits here, by subject. */
    final SubjectGates after = new SubjectGates();

    @Override
    protected Deployment deploy(QuotaFilter filter) {
        // a second quota filter of the same service, on the same store: the agents' API
        QuotaFilter agents = filterFor("/agents/").build();
        return Deployment.create()
                .filter("quota", filter, "/ai/*")
                .filter("agents-quota", agents, "/agents/*")
                .servlet("model", new Model(), "/ai/*")
                .servlet("agents-model", new Model(), "/agents/*");
    }

    /** A chat model; {@code x-variant} says how it ends its answer. */
    class Model extends CountedModel {
        @Override
        protected void answer(Call call) throws IOException {
            if (call.variant().equals("stream-then-save")) {
                // an SSE relay that saves the conversation after the last event, before it returns
                call.streamWordAndUsage("chatcmpl-89");
                after.pass(call.subject());
                return;
            }
            if (call.variant().equals("stream-running")) {
                // vLLM's continuous usage stats: every chunk carries the running totals; the model is
                // still writing (its next chunk waits) after the chunk that counted 19,500
                call.streamRunningTotals("chatcmpl-89r", after, call.completion() + 1);
                return;
            }
            call.answerWithLength("chatcmpl-89");
        }
    }

    HttpRequest request(String prefix, String s, long maxTokens, long prompt, long completion, String variant) {
        return usageRequest(prefix + "chat/completions", s, maxTokens, prompt, completion, variant);
    }

    /**
     * {@code first}'s stream of 19,500 tokens (about 1,000 held) is read to its {@code [DONE]} while its relay
     * still saves the thread; then {@code next} sends a plain call (about 1,000 held, 1,000 used) through
     * {@code prefix}; its answer.
     */
    HttpResponse<String> nextCallAtDone(String first, String next, String prefix) throws Exception {
        return after.whileShut(first, () -> {
            readToDone(fresh().send(request("/ai/", first, 1_000, 18_500, 1_000, "stream-then-save"),
                    HttpResponse.BodyHandlers.ofLines()));
            return fresh().send(request(prefix, next, 1_000, 500, 500, "plain"), HttpResponse.BodyHandlers.ofString());
        });
    }

    /**
     * {@code first}'s stream is still running, its chunks reporting running totals of 19,500 tokens
     * (about 1,000 held); read to its first usage, then {@code next} sends a plain call (about 1,000 held,
     * 1,000 used) beside it; its answer.
     */
    HttpResponse<String> callBesideRunningStream(String first, String next) throws Exception {
        return after.whileShut(first, () -> {
            HttpResponse<Stream<String>> stream = fresh().sendAsync(request("/ai/", first, 1_000, 18_500, 1_000,
                    "stream-running"), HttpResponse.BodyHandlers.ofLines()).get(10, TimeUnit.SECONDS);
            readUntil(stream, line -> line.contains("\"usage\""), "the stream ended without usage");
            return fresh().send(request("/ai/", next, 1_000, 500, 500, "plain"), HttpResponse.BodyHandlers.ofString());
        });
    }

    /** Two members of a new team with 100,000-token plans of their own; the team's plan is 20,000. */
    String[] team() {
        String a = subject();
        String b = subject();
        String team = "t89-" + UUID.randomUUID().toString().substring(0, 8);
        store.setPlan(a, 100_000);
        store.setPlan(b, 100_000);
        store.setPlan(Team.subject(team), ALLOWANCE);
        store.setTeam(a, team);
        store.setTeam(b, team);
        return new String[] {a, b, team};
    }

    /**
     * Member A's ({@code t[0]}) own call {@code second}, sent {@code what}, the call before it having
     * reported {@code reported} of the team's 20,000 tokens: refused, the model called once (for A's first).
     */
    void assertTheMembersOwnCallIsRefused(String[] t, long reported, String what, HttpResponse<String> second)
            throws InterruptedException {
        String a = t[0];
        chargedAtLeast(a, reported);
        QuotaAccount teamAccount = settled(Team.subject(t[2]));
        assertEquals(429, second.statusCode(), kind() + ": member's own " + what + " answered " + second.statusCode()
                + "; team used " + teamAccount.used() + " of " + teamAccount.limit() + "; " + ledger(a));
        assertEquals(1, calls.of(a));
    }

    /**
     * Member B's ({@code t[1]}) call {@code second}, sent {@code what}, A's call having reported
     * {@code reported} of the team's 20,000 tokens: refused, the model never ran for B and the team is not
     * charged past its allowance.
     */
    void assertTheTeamMatesCallIsRefused(String[] t, long reported, String what, HttpResponse<String> second)
            throws InterruptedException {
        String a = t[0];
        String b = t[1];
        chargedAtLeast(a, reported);
        settled(b);
        QuotaAccount teamAccount = settled(Team.subject(t[2]));
        String figures = kind() + ": B's call " + what + " answered " + second.statusCode() + "; model calls A "
                + calls.of(a) + ", B " + calls.of(b) + "; team used " + teamAccount.used() + " of "
                + teamAccount.limit() + "; A used " + settled(a).used() + ", B used " + settled(b).used();
        assertEquals(429, second.statusCode(), figures);
        assertEquals(0, calls.of(b), figures);
        assertTrue(teamAccount.used() <= teamAccount.limit(), figures);
    }

    /**
     * Control: a team member's own next call, sent at its stream's {@code [DONE]} (usage 19,500 of the
     * team's 20,000) while the relay still saves the thread, is refused: the filter counts what the
     * finished call owes beyond its hold against the stricter account, the team's.
     */
    @Test
    void controlATeamMembersOwnNextCallAtDoneIsRefused() throws Exception {
        String[] t = team();
        assertTheMembersOwnCallIsRefused(t, 19_500, "second call", nextCallAtDone(t[0], t[0], "/ai/"));
    }

    /**
     * Two members of a team share the team's 20,000 tokens (their own plans are larger: the team's is the
     * allowance that binds). Member A's stream reports 19,500 tokens in its last chunk before
     * {@code [DONE]} (about 1,000 held); the relay then saves the thread before it returns. At A's
     * {@code [DONE]} the team's app sends member B's call (about 1,000 held, 1,000 used) to the same
     * instance. B must be refused: the team has 500 tokens left once A's finished call is counted. When B is
     * served, the model runs for B and the team is charged past its allowance.
     */
    @Test
    void aTeamMatesCallAtAFinishedStreamsDoneIsNotServedPastTheTeamsAllowance() throws Exception {
        String[] t = team();
        assertTheTeamMatesCallIsRefused(t, 19_500, "at A's [DONE]", nextCallAtDone(t[0], t[1], "/ai/"));
    }

    /**
     * One service registers two quota filters on the same store (the chat API under /ai/, the agents'
     * API under /agents/). A user's stream on /ai/ reports 19,500 of 20,000 tokens before {@code [DONE]};
     * the relay then saves the thread. At {@code [DONE]} the user's next call (about 1,000) goes to
     * /agents/ on the same instance. It must be refused as the same call to /ai/ is (the control above for
     * one filter is round 88's); served, the user is charged past the allowance.
     */
    @Test
    void theNextCallThroughTheServicesOtherQuotaFilterSeesTheFinishedStream() throws Exception {
        String s = subject();
        HttpResponse<String> second = nextCallAtDone(s, s, "/agents/");
        QuotaAccount account = chargedAtLeast(s, 19_500);
        String figures = kind() + ": the next call through /agents/ at the /ai/ stream's [DONE] answered "
                + second.statusCode() + "; model calls " + calls.of(s) + "; used " + account.used() + " of "
                + account.limit() + " " + ledger(s);
        assertEquals(429, second.statusCode(), figures);
        assertEquals(1, calls.of(s), figures);
        assertTrue(account.used() <= account.limit(), figures);
    }

    /**
     * Control: a team member whose stream is still running, having reported running totals of 19,500 of
     * the team's 20,000 tokens, sends another call of its own: refused, since the filter counts what a
     * running call's answer reported so far beyond its hold.
     */
    @Test
    void controlATeamMembersOwnCallBesideItsRunningStreamIsRefused() throws Exception {
        String[] t = team();
        assertTheMembersOwnCallIsRefused(t, 19_501, "call beside its running stream", callBesideRunningStream(t[0], t[0]));
    }

    /**
     * Member A's stream is still running and its chunks already report running totals of 19,500 of the
     * team's 20,000 tokens (about 1,000 held). Member B of the same team then calls (about 1,000 held,
     * 1,000 used) on the same instance. B must be refused, as A's own call would be: the team cannot pay
     * for it. When B is served, the team is charged past its allowance.
     */
    @Test
    void aTeamMatesCallBesideARunningStreamsReportedUsageIsNotServedPastTheTeamsAllowance() throws Exception {
        String[] t = team();
        assertTheTeamMatesCallIsRefused(t, 19_501, "beside A's running stream", callBesideRunningStream(t[0], t[1]));
    }
}
