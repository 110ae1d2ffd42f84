package io.tokenquota.servlet.breakit255;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.tokenquota.ModelWeights;
import io.tokenquota.QuotaAccount;
import io.tokenquota.Team;
import io.tokenquota.servlet.QuotaFilter;
import io.tokenquota.servlet.testing.ChatCompletions;
import io.tokenquota.servlet.testing.CountingModel;
import io.tokenquota.servlet.testing.Deployment;
import io.tokenquota.servlet.testing.ModelCallRound;
import io.tokenquota.servlet.testing.SubjectGates;
import io.tokenquota.servlet.testing.TestHttp;
import java.io.IOException;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/**
 * Round 255 of issue 11: team budgets and model weights through the filter. A team member changing teams
 * or leaving while its call runs, a team's plan lowered mid-call, many members of a nearly spent team at
 * once, an Idempotency-Key reused after a team change, the 429's scope, fitting on a team.
 */
abstract class AbstractRound255 extends ModelCallRound {
    static final ModelWeights WEIGHTS = ModelWeights.builder()
            .model("gpt-4o*", ModelWeights.Rates.of("2.5", "1.25", "10", "10"))
            .model("gpt-4o-mini*", ModelWeights.Rates.of("0.15", "0.075", "0.6", "0.6"))
            .defaults(ModelWeights.Rates.of("1", "1", "4", "4"))
            .build();

    /** The endpoint's work waits here (by subject) after it entered, until the test opens it. */
    final SubjectGates gates = new SubjectGates();
    final Map<String, CountDownLatch> entered = new ConcurrentHashMap<>();

    @Override
    protected Deployment deploy(QuotaFilter ignored) {
        QuotaFilter weighed = filterFor("/ai/").modelWeights(WEIGHTS).build();
        QuotaFilter fitting = filterFor("/fit/").modelWeights(WEIGHTS).fitOutputBudget(16).build();
        return Deployment.create()
                .filter("quota", weighed, "/ai/*")
                .filter("fit-quota", fitting, "/fit/*")
                .servlet("chat", new Chat(), "/ai/chat")
                .servlet("fitchat", new Chat(), "/fit/chat");
    }

    /**
     * An OpenAI chat relay: the model (x-model, else gpt-4o-2024-08-06) answers x-prompt + x-completion
     * tokens (x-completion "budget": the max_tokens the endpoint was sent). Waits at the subject's gate first.
     */
    class Chat extends CountedModel {
        @Override
        protected void answer(Call call) throws IOException {
            CountDownLatch in = entered.get(call.subject());
            if (in != null) {
                in.countDown();
            }
            gates.pass(call.subject());
            String model = call.req().getHeader("x-model") == null ? "gpt-4o-2024-08-06" : call.req().getHeader("x-model");
            long completion;
            if ("budget".equals(call.req().getHeader("x-completion"))) {
                String t = call.text();
                int i = t.indexOf("\"max_tokens\":");
                int j = i + "\"max_tokens\":".length();
                int k = j;
                while (k < t.length() && Character.isDigit(t.charAt(k))) {
                    k++;
                }
                completion = Long.parseLong(t.substring(j, k));
            } else {
                completion = call.completion();
            }
            ChatCompletions.writeWithLength(call.resp(), ChatCompletions.completion("chatcmpl-" + UUID.randomUUID(), model,
                    "ok", call.prompt(), completion).getBytes(java.nio.charset.StandardCharsets.UTF_8));
        }
    }

    static String body(long maxTokens) {
        return "{\"model\":\"gpt-4o\",\"messages\":[{\"role\":\"user\",\"content\":\"summarise the attached file\"}],"
                + "\"max_tokens\":" + maxTokens + "}";
    }

    HttpRequest call(String path, String s, long maxTokens, long prompt, String completion, String... more) {
        List<String> h = new ArrayList<>(List.of("x-prompt", Long.toString(prompt), "x-completion", completion));
        h.addAll(List.of(more));
        return TestHttp.jsonPost(container.uri(path), s, body(maxTokens), h.toArray(String[]::new));
    }

    String team(String prefix) {
        String team = prefix + UUID.randomUUID().toString().substring(0, 8);
        store.setPlan(Team.subject(team), ALLOWANCE);
        return team;
    }

    String member(String team) {
        String s = subject();
        store.setPlan(s, 100_000);
        if (team != null) {
            store.setTeam(s, team);
        }
        return s;
    }

    QuotaAccount teamAccount(String team) {
        return settled(Team.subject(team));
    }

    /** 1,000 in + 1,000 out at gpt-4o's rates. */
    static final long CHARGE = 1_000 * 5 / 2 + 1_000 * 10;

    /** Sends a gated call of {@code s}, waits until the model is at work, runs {@code during}, opens the gate. */
    HttpResponse<String> midCall(String s, Runnable during) throws Exception {
        CountDownLatch in = new CountDownLatch(1);
        entered.put(s, in);
        CountDownLatch gate = new CountDownLatch(1);
        gates.put(s, gate);
        CompletableFuture<HttpResponse<String>> f = TestHttp.client().sendAsync(call("/ai/chat", s, 1_000, 1_000, "1000"),
                HttpResponse.BodyHandlers.ofString());
        assertTrue(in.await(20, TimeUnit.SECONDS), "the model was called");
        try {
            during.run();
        } finally {
            gate.countDown();
        }
        HttpResponse<String> r = f.get(30, TimeUnit.SECONDS);
        gates.remove(s);
        entered.remove(s);
        return r;
    }

    /** A member moves to another team while its call runs: the team it was held against is charged. */
    @Test
    void aMemberMovedMidCallChargesTheTeamItWasHeldAgainst() throws Exception {
        String acme = team("acme-");
        String beta = team("beta-");
        String alice = member(acme);
        HttpResponse<String> r = midCall(alice, () -> store.setTeam(alice, beta));
        assertEquals(200, r.statusCode(), r.body());
        assertEquals(CHARGE, settled(alice).used(), ledger(alice));
        assertEquals(CHARGE, teamAccount(acme).used(), ledger(Team.subject(acme)));
        assertEquals(0, teamAccount(beta).used(), ledger(Team.subject(beta)));
    }

    /** A member leaves its team while its call runs: the team is charged. */
    @Test
    void aMemberLeavingMidCallChargesTheTeam() throws Exception {
        String acme = team("acme-");
        String alice = member(acme);
        HttpResponse<String> r = midCall(alice, () -> store.setTeam(alice, null));
        assertEquals(200, r.statusCode(), r.body());
        assertEquals(CHARGE, settled(alice).used(), ledger(alice));
        assertEquals(CHARGE, teamAccount(acme).used(), ledger(Team.subject(acme)));
    }

    /**
     * The team's plan is lowered to 1,000 while a member's call runs: the call is charged its usage, and a
     * team-mate's next call is refused naming the team.
     */
    @Test
    void aTeamPlanLoweredMidCallStillChargesAndThenRefusesNamingTheTeam() throws Exception {
        String acme = team("acme-");
        String alice = member(acme);
        String bob = member(acme);
        HttpResponse<String> r = midCall(alice, () -> store.setPlan(Team.subject(acme), 1_000));
        assertEquals(200, r.statusCode(), r.body());
        assertEquals(CHARGE, settled(alice).used(), ledger(alice));
        assertEquals(CHARGE, teamAccount(acme).used(), ledger(Team.subject(acme)));
        HttpResponse<String> next = TestHttp.send(call("/ai/chat", bob, 100, 10, "10"));
        assertEquals(429, next.statusCode(), next.body());
        assertTrue(next.body().contains("\"scope\":\"team\""), next.body());
        assertTrue(next.body().contains(acme), next.body());
        assertEquals(0, calls.of(bob));
    }

    /** Many members of a nearly spent team at once: no more served than the team's 1,000 left covers. */
    @Test
    void manyMembersOfANearlySpentTeamAtOnceAreNotServedPastIt() throws Exception {
        String acme = team("acme-");
        String first = member(acme);
        // 19,000 units: 1,600 in + 1,500 out at gpt-4o's rates
        HttpResponse<String> r0 = TestHttp.send(call("/ai/chat", first, 1_500, 1_600, "1500"));
        assertEquals(200, r0.statusCode(), r0.body());
        assertEquals(19_000, teamAccount(acme).used());
        List<String> members = new ArrayList<>();
        for (int i = 0; i < 12; i++) {
            members.add(member(acme));
        }
        HttpClient client = TestHttp.fresh();
        CountDownLatch go = new CountDownLatch(1);
        List<CompletableFuture<HttpResponse<String>>> fs = new ArrayList<>();
        for (String m : members) {
            fs.add(CompletableFuture.supplyAsync(() -> {
                try {
                    go.await();
                    return client.send(call("/ai/chat", m, 40, 20, "40"), HttpResponse.BodyHandlers.ofString());
                } catch (Exception e) {
                    throw new RuntimeException(e);
                }
            }));
        }
        go.countDown();
        int served = 0;
        List<Integer> statuses = new ArrayList<>();
        for (CompletableFuture<HttpResponse<String>> f : fs) {
            HttpResponse<String> r = f.get(60, TimeUnit.SECONDS);
            statuses.add(r.statusCode());
            if (r.statusCode() == 200) {
                served++;
            } else {
                assertTrue(r.body().contains("\"scope\":\"team\""), r.body());
            }
        }
        QuotaAccount t = teamAccount(acme);
        // each served call: 20 in + 40 out = 450 units
        assertEquals(19_000 + served * 450L, t.used(), statuses + " " + ledger(Team.subject(acme)));
        assertTrue(t.used() <= ALLOWANCE, kind() + ": served " + served + " " + statuses + ", team used " + t.used());
    }

    /** An Idempotency-Key reused after the member moved team: refused, no second model call, the new team untouched. */
    @Test
    void aKeyReusedAfterATeamChangeBuysNoSecondCall() throws Exception {
        String acme = team("acme-");
        String beta = team("beta-");
        String alice = member(acme);
        String key = "k-" + UUID.randomUUID();
        HttpResponse<String> r = TestHttp.send(call("/ai/chat", alice, 1_000, 1_000, "1000", "Idempotency-Key", key));
        assertEquals(200, r.statusCode(), r.body());
        store.setTeam(alice, beta);
        HttpResponse<String> again = TestHttp.send(call("/ai/chat", alice, 1_000, 1_000, "1000", "Idempotency-Key", key));
        assertEquals(409, again.statusCode(), again.body());
        HttpResponse<String> other = TestHttp.send(call("/ai/chat", alice, 900, 1_000, "900", "Idempotency-Key", key));
        assertEquals(409, other.statusCode(), other.body());
        assertEquals(1, calls.of(alice));
        assertEquals(CHARGE, settled(alice).used());
        assertEquals(CHARGE, teamAccount(acme).used());
        assertEquals(0, teamAccount(beta).used(), ledger(Team.subject(beta)));
    }

    /** A key first used while the team refused (the key not spent), reused after a move to a team with room. */
    @Test
    void aKeyRefusedByTheOldTeamIsServedByTheNewTeam() throws Exception {
        String acme = team("acme-");
        String beta = team("beta-");
        store.setPlan(Team.subject(acme), 100);
        String alice = member(acme);
        String key = "k-" + UUID.randomUUID();
        HttpResponse<String> r = TestHttp.send(call("/ai/chat", alice, 1_000, 1_000, "1000", "Idempotency-Key", key));
        assertEquals(429, r.statusCode(), r.body());
        assertTrue(r.body().contains("\"scope\":\"team\""), r.body());
        assertEquals("100", r.headers().firstValue("X-Quota-Limit").orElse("-"), r.headers().map().toString());
        store.setTeam(alice, beta);
        HttpResponse<String> again = TestHttp.send(call("/ai/chat", alice, 1_000, 1_000, "1000", "Idempotency-Key", key));
        assertEquals(200, again.statusCode(), again.body());
        assertEquals(CHARGE, settled(alice).used());
        assertEquals(CHARGE, teamAccount(beta).used());
        assertEquals(0, teamAccount(acme).used());
    }

    /** The user is the stricter: the 429 names the user. */
    @Test
    void theUserStricterThanItsTeamIsNamed() {
        String acme = team("acme-");
        String alice = member(acme);
        store.setPlan(alice, 100);
        HttpResponse<String> r = TestHttp.send(call("/ai/chat", alice, 1_000, 1_000, "1000"));
        assertEquals(429, r.statusCode(), r.body());
        assertTrue(r.body().contains("\"scope\":\"user\""), r.body());
        assertEquals(0, calls.of(alice));
    }

    /** Fitting on a nearly spent team: the budget is lowered to what the team has, not past it. */
    @Test
    void aFittedCallOfANearlySpentTeamIsNotServedPastTheTeam() throws Exception {
        String acme = team("acme-");
        String first = member(acme);
        HttpResponse<String> r0 = TestHttp.send(call("/ai/chat", first, 1_500, 1_600, "1500"));
        assertEquals(200, r0.statusCode(), r0.body());
        String bob = member(acme);
        HttpResponse<String> r = TestHttp.send(call("/fit/chat", bob, 4_000, 1, "budget"));
        QuotaAccount t = teamAccount(acme);
        assertTrue(t.used() <= ALLOWANCE, kind() + ": " + r.statusCode() + " capped " + r.headers().map() + " team used "
                + t.used() + ": " + ledger(Team.subject(acme)));
    }

    /** An answer naming a model the table does not know, the request naming gpt-4o. */
    @Test
    void anAnswerNamingAnUnknownModel() {
        String acme = team("acme-");
        String alice = member(acme);
        HttpResponse<String> r = TestHttp.send(call("/ai/chat", alice, 1_000, 1_000, "1000", "x-model", "prod-router-1"));
        assertEquals(200, r.statusCode(), r.body());
        long used = settled(alice).used();
        assertEquals(used, teamAccount(acme).used());
        assertEquals(1_000 + 4_000, used, "at the default rates: " + ledger(alice));
    }
}
