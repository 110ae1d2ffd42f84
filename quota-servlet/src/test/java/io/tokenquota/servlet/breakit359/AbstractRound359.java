package io.tokenquota.servlet.breakit359;

import static io.tokenquota.servlet.testing.TestHttp.fresh;
import static io.tokenquota.servlet.testing.TestHttp.readToDone;
import static io.tokenquota.servlet.testing.TestHttp.readUntil;
import static org.junit.jupiter.api.Assertions.assertAll;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

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
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.util.UUID;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;

/**
 * Round 359 of issue 11: team budgets through a filter that fits the output budget
 * ({@code fitOutputBudget(16)}, README "Fitting the output budget instead of refusing"). Member A's stream
 * is still running and its chunks already report running totals (vLLM's continuous usage stats) far
 * beyond its hold; the filter counts that excess against A's and the team's next calls (docs/decisions.md,
 * "The next call and the previous call's charge"; breakit89). Fitting reads the balance but not that
 * excess, so a fitted call that would fit what is really left is refused with 429 instead of being sent
 * with a smaller budget.
 *
 * <p>Shapes: the requests are OpenAI Chat Completions requests ({@code model}, {@code messages},
 * {@code max_tokens}, {@code stream}, {@code stream_options.include_usage}:
 * platform.openai.com/docs/api-reference/chat/create); a whole answer is a {@code chat.completion} with its
 * {@code usage} (platform.openai.com/docs/api-reference/chat/object); a stream is {@code chat.completion.chunk}
 * events ending in {@code data: [DONE]} (platform.openai.com/docs/api-reference/chat-streaming), each chunk
 * carrying the running {@code usage} as vLLM sends it with {@code stream_options.continuous_usage_stats}
 * (docs.vllm.ai, OpenAI-compatible server: "continuous_usage_stats").
 */
abstract class AbstractRound359 extends ModelCallRound {
    static final String PATH = "/ai/chat/completions";
    /** A's streamed call: 14,000 prompt tokens (a stored thread the estimate cannot see), 1,000 written. */
    static final long A_PROMPT = 14_000;
    static final long A_COMPLETION = 1_000;
    static final long A_USAGE = A_PROMPT + A_COMPLETION;
    /** The prompt the fitted call's model reports: the 8 the filter's estimator counts for {@link CountingModel#chat}. */
    static final long B_PROMPT = 8;

    /** A's relay waits here (by subject) after its chunk reporting the running totals, until the test opens it. */
    final SubjectGates after = new SubjectGates();

    @Override
    protected Deployment deploy(QuotaFilter ignored) {
        QuotaFilter fitting = filterFor("/ai/").fitOutputBudget(16).build();
        return Deployment.create()
                .filter("quota", fitting, "/ai/*")
                .servlet("model", new Model(), "/ai/*");
    }

    /** A chat model; {@code x-variant} says how it answers. */
    class Model extends CountedModel {
        @Override
        protected void answer(Call call) throws IOException {
            if (call.variant().equals("stream-running")) {
                // vLLM's continuous usage stats: the chunk carries the running totals; the relay then waits
                // (the model is still finishing) before the chunk with finish_reason and [DONE]
                call.streamRunningTotals("chatcmpl-359r", after, call.completion());
                return;
            }
            // "budget": the model writes the whole max_tokens it was sent (the fitted one, if fitted)
            String t = call.text();
            int i = t.indexOf("\"max_tokens\":") + "\"max_tokens\":".length();
            int k = i;
            while (k < t.length() && Character.isDigit(t.charAt(k))) {
                k++;
            }
            long budget = Long.parseLong(t.substring(i, k));
            ChatCompletions.writeWithLength(call.resp(), ChatCompletions.completion("chatcmpl-359-" + UUID.randomUUID(),
                    "gpt-4o-mini", "ok", call.prompt(), budget).getBytes(java.nio.charset.StandardCharsets.UTF_8));
        }
    }

    /** Two members of a new team with 100,000-token plans of their own; the team's plan is 20,000. */
    String[] team() {
        String a = subject();
        String b = subject();
        String team = "t359-" + UUID.randomUUID().toString().substring(0, 8);
        store.setPlan(a, 100_000);
        store.setPlan(b, 100_000);
        store.setPlan(Team.subject(team), ALLOWANCE);
        store.setTeam(a, team);
        store.setTeam(b, team);
        return new String[] {a, b, team};
    }

    /** A's stream: max_tokens 1,000 (1,008 held), reporting 15,000 tokens. */
    HttpRequest stream(String a) {
        return usageRequest(PATH, a, 1_000, A_PROMPT, A_COMPLETION, "stream-running");
    }

    /** A call asking max_tokens 8,000, whose model writes whatever budget it is sent. */
    HttpRequest fittable(String s) {
        return usageRequest(PATH, s, 8_000, B_PROMPT, 0, "budget");
    }

    /** {@code first}'s stream runs, its chunk having reported 15,000; {@code next} sends {@link #fittable} beside it. */
    HttpResponse<String> fittableBesideRunningStream(String first, String next) throws Exception {
        return after.whileShut(first, () -> {
            HttpResponse<Stream<String>> s = fresh().sendAsync(stream(first), HttpResponse.BodyHandlers.ofLines())
                    .get(10, TimeUnit.SECONDS);
            readUntil(s, line -> line.contains("\"usage\""), "the stream ended without usage");
            return fresh().send(fittable(next), HttpResponse.BodyHandlers.ofString());
        });
    }

    /**
     * The fitted call {@code r} of {@code b}, sent when 15,000 of {@code owner}'s 20,000 were spent (or running):
     * served with a fitted budget ({@code b}'s model calls {@code modelCalls} in all), and {@code owner} charged A's 15,000 plus
     * the fitted call's 8 + that budget, no more
     * than its 20,000.
     */
    void assertFittedToWhatIsLeft(String b, int modelCalls, String owner, HttpResponse<String> r, String what) throws Exception {
        QuotaAccount o = chargedAtLeast(owner, A_USAGE);
        String capped = r.headers().firstValue(QuotaFilter.OUTPUT_CAPPED_HEADER).orElse(null);
        String figures = kind() + ": " + what + ": status " + r.statusCode() + ", capped " + capped + ", "
                + calls.of(b) + " model calls of its subject, owner used " + o.used() + " of " + o.limit() + "; " + r.body();
        assertEquals(200, r.statusCode(), figures);
        assertAll(() -> assertEquals(modelCalls, calls.of(b), figures),
                () -> assertTrue(capped != null && Long.parseLong(capped) >= 16, figures),
                () -> assertEquals(A_USAGE + B_PROMPT + Long.parseLong(capped), settled(owner).used(), figures),
                () -> assertTrue(settled(owner).used() <= ALLOWANCE, figures));
    }

    // ------------------------------------------------------------------ a team-mate beside a running stream

    /**
     * Member A's stream runs and has reported 15,000 of the team's 20,000 (1,008 held); member B (100,000 of its
     * own) asks max_tokens 8,000 (8 input). What the team can still give is 5,000, which the filter knows (it
     * refuses an unfitted 8,000-token call for it: breakit89): fitting must send B's call with the budget that
     * fits it ("a request whose output budget does not fit the balance is sent with a smaller one instead of
     * getting 429, as long as its input plus minimumOutput per completion fits", README). It fits to the team's
     * ledger balance (18,992) instead, holds 8,008 unfitted, and then refuses for A's unlanded 13,992: 429
     * "requested 22000 tokens but only 5000 of 20000 of the team's are available". Right: max_tokens 4,992 sent
     * (8 + 4,992 = 5,000 held), 200, the team charged 15,000 + 5,000 = 20,000.
     */
    @Test
    void aTeamMatesFittedCallBesideARunningStreamIsFittedToWhatTheTeamHasLeft() throws Exception {
        String[] t = team();
        HttpResponse<String> r = fittableBesideRunningStream(t[0], t[1]);
        assertFittedToWhatIsLeft(t[1], 1, Team.subject(t[2]), r, "team-mate B's fitted call beside A's running stream");
    }

    /** Control: the same call once A's stream has ended and its 15,000 landed: fitted to the team's 5,000, served. */
    @Test
    void controlATeamMatesFittedCallAfterTheStreamLandedIsFitted() throws Exception {
        String[] t = team();
        readToDone(fresh().send(stream(t[0]), HttpResponse.BodyHandlers.ofLines()));
        chargedAtLeast(t[0], A_USAGE);
        HttpResponse<String> r = TestHttp.send(fittable(t[1]));
        assertFittedToWhatIsLeft(t[1], 1, Team.subject(t[2]), r, "team-mate B's fitted call after A's stream");
    }

    // ------------------------------------------------------------------ the member's own call beside its stream

    /**
     * The same for A's own second call (a team member whose team is the stricter account): fitting reads the
     * balance before the filter counts what A's running stream owes, and the call is refused with 429.
     */
    @Test
    void aMembersOwnFittedCallBesideItsRunningStreamIsFittedToWhatTheTeamHasLeft() throws Exception {
        String[] t = team();
        HttpResponse<String> r = fittableBesideRunningStream(t[0], t[0]);
        assertFittedToWhatIsLeft(t[0], 2, Team.subject(t[2]), r, "A's own fitted call beside its running stream");
    }

    /** Control: A's own fitted call after its stream landed: fitted and served. */
    @Test
    void controlAMembersOwnFittedCallAfterItsStreamLandedIsFitted() throws Exception {
        String[] t = team();
        readToDone(fresh().send(stream(t[0]), HttpResponse.BodyHandlers.ofLines()));
        chargedAtLeast(t[0], A_USAGE);
        HttpResponse<String> r = TestHttp.send(fittable(t[0]));
        assertFittedToWhatIsLeft(t[0], 2, Team.subject(t[2]), r, "A's own fitted call after its stream");
    }
}
