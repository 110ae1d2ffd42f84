package io.tokenquota.servlet.breakit370;

import static org.junit.jupiter.api.Assertions.assertAll;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.tokenquota.QuotaAccount;
import io.tokenquota.QuotaPolicy;
import io.tokenquota.memory.InMemoryQuotaStore;
import io.tokenquota.servlet.QuotaFilter;
import io.tokenquota.servlet.testing.ContextApp;
import io.tokenquota.servlet.testing.Deployment;
import io.tokenquota.servlet.testing.H2FilterRound;
import io.tokenquota.servlet.testing.Ledgers;
import io.tokenquota.servlet.testing.ModelCalls;
import io.tokenquota.servlet.testing.TestHttp;
import java.net.http.HttpResponse;
import java.time.YearMonth;
import java.time.ZoneOffset;
import java.util.UUID;
import org.junit.jupiter.api.Test;

/**
 * Round 370 of issue 11: two quota filters, each over its own store, on one request.
 *
 * <p>docs/servlet.md ("The next call sees the previous call's charge") names the set-up: "filters on different
 * stores for the same subject ids" (they "count each other's calls too (conservatively)"), and docs/decisions.md
 * ("Several quota filters on one request") says each filter on a request "hold[s] and charge[s] its own subject";
 * only a call reaching another filter's protected path "for the same subject (two filters over one store ...)" is
 * passed through by the second filter. Here the host meters its agent routes on a ledger of their own (an agents
 * budget, an {@link InMemoryQuotaStore} with its own allowance) beside the round's chat ledger (H2): the round's
 * filter protects {@code /ai/} on the H2 store, filter {@code quota-agents} protects {@code /ai/agents/} and
 * {@code /agents/} on the agents store, both with the same subject resolver, both mapped on every path as the README
 * maps the filter. A request to {@code /ai/agents/run} is one REQUEST dispatch through both, and one model call that
 * each ledger must be charged for.
 *
 * <p>Shapes: the request is an OpenAI Chat Completions request ({@code model}, {@code messages}:
 * platform.openai.com/docs/api-reference/chat/create); the answer a {@code chat.completion} object with its
 * {@code usage} (1,200 prompt + 300 completion tokens: platform.openai.com/docs/api-reference/chat/object), written
 * by the fixtures' {@link ContextApp.Model}.
 */
abstract class AbstractRound370 extends H2FilterRound {
    static final long PROMPT = 1_200;
    static final long COMPLETION = 300;
    static final long USAGE = PROMPT + COMPLETION;
    /** The agents ledger's monthly allowance. */
    static final long AGENTS_ALLOWANCE = 2_000;
    static final String ASK = "{\"model\":\"gpt-4o\",\"messages\":[{\"role\":\"user\",\"content\":\"Plan a weekend in Lisbon\"}]}";

    final ModelCalls calls = new ModelCalls();
    /** The agents' own ledger. */
    final InMemoryQuotaStore agents = new InMemoryQuotaStore(
            QuotaPolicy.builder().defaultAllocation(AGENTS_ALLOWANCE).build());

    @Override
    protected Deployment deploy(QuotaFilter ai) {
        QuotaFilter agentsFilter = filterFor(agents, "/ai/agents/").protect("/agents/").build();
        return Deployment.create()
                .filter("quota-ai", ai, "/*")
                .filter("quota-agents", agentsFilter, "/*")
                .servlet("chat", new ContextApp.Model(calls, "chatcmpl-370", PROMPT, COMPLETION),
                        "/ai/chat/completions", "/ai/agents/run", "/agents/run");
    }

    static String subject() {
        return "u370-" + UUID.randomUUID().toString().substring(0, 12);
    }

    QuotaAccount agentsSettled(String s) {
        return Ledgers.settled(agents, s);
    }

    String agentsLedger(String s) {
        return Ledgers.events(agents, s, YearMonth.now(ZoneOffset.UTC)).toString();
    }

    /** One call to {@code path}: 200, one model call, the chat ledger charged {@code chat} and the agents ledger {@code agent}. */
    void assertCharged(String path, long chat, long agent, String story) {
        String s = subject();
        HttpResponse<String> r = TestHttp.postJson(container.uri(path), s, ASK);
        QuotaAccount a = settled(s);
        QuotaAccount g = agentsSettled(s);
        String figures = kind() + ": " + story + ": status " + r.statusCode() + ", model calls " + calls.of(s)
                + ", chat ledger used " + a.used() + ", agents ledger used " + g.used() + "; chat " + ledger(s)
                + "; agents " + agentsLedger(s);
        assertAll(() -> assertEquals(200, r.statusCode(), figures),
                () -> assertEquals(1, calls.of(s), figures),
                () -> assertEquals(chat, a.used(), "chat ledger: " + figures),
                () -> assertEquals(agent, g.used(), "agents ledger: " + figures));
    }

    // ------------------------------------------------------------------ controls: one filter's prefix each

    /** Control: a chat call under {@code /ai/} alone: the chat ledger charged 1,500, the agents ledger nothing. */
    @Test
    void controlAChatCallIsChargedOnTheChatLedgerOnly() {
        assertCharged("/ai/chat/completions", USAGE, 0, "a call under /ai/ alone");
    }

    /** Control: an agent call under {@code /agents/} alone: the agents ledger charged 1,500, the chat ledger nothing. */
    @Test
    void controlAnAgentCallIsChargedOnTheAgentsLedgerOnly() {
        assertCharged("/agents/run", 0, USAGE, "a call under /agents/ alone");
    }

    /**
     * Control: agent calls under {@code /agents/} alone, one after another, on the agents allowance of 2,000: the
     * agents ledger stops them (the first is charged 1,500; a next one is served only while its hold fits).
     */
    @Test
    void controlAgentCallsUnderTheAgentsPrefixStopAtTheAgentsAllowance() {
        assertAgentsAllowanceHolds("/agents/run", "agent calls under /agents/ alone");
    }

    // ------------------------------------------------------------------ findings: one request under both

    /**
     * The agent route under both filters' prefixes, one model call. Rule: each filter on a request holds and charges
     * its own subject on its own ledger (docs/decisions.md "Several quota filters on one request"); the pass-through
     * is for a second filter over the same store (ibid., round 325/363). Expected: 200, the chat ledger charged
     * 1,500 and the agents ledger charged 1,500.
     */
    @Test
    void aCallUnderBothFiltersIsChargedOnEachFiltersLedger() {
        assertCharged("/ai/agents/run", USAGE, USAGE, "a call under /ai/ (chat ledger) and /ai/agents/ (agents ledger)");
    }

    /**
     * The same, one call after another: the agents allowance (2,000) must stop the agent route as it stops
     * {@code /agents/run} (the control): at most one call's overrun past it, every served call charged its 1,500.
     */
    @Test
    void agentCallsUnderBothFiltersStopAtTheAgentsAllowance() {
        assertAgentsAllowanceHolds("/ai/agents/run", "agent calls under /ai/ and /ai/agents/");
    }

    /** Four calls to {@code path} in turn: the agents ledger charged 1,500 for each one served, within one call's overrun. */
    void assertAgentsAllowanceHolds(String path, String story) {
        String s = subject();
        int served = 0;
        StringBuilder statuses = new StringBuilder();
        for (int i = 0; i < 4; i++) {
            HttpResponse<String> r = TestHttp.postJson(container.uri(path), s, ASK);
            statuses.append(r.statusCode()).append(' ');
            if (r.statusCode() == 200) {
                served++;
            }
        }
        QuotaAccount g = agentsSettled(s);
        int n = served;
        String figures = kind() + ": " + story + ": statuses " + statuses + ", model calls " + calls.of(s)
                + ", agents ledger used " + g.used() + " of " + g.limit() + "; agents " + agentsLedger(s);
        assertAll(() -> assertEquals(n, calls.of(s), figures),
                () -> assertEquals(USAGE * n, g.used(), figures),
                () -> assertTrue(g.used() <= AGENTS_ALLOWANCE + USAGE, figures),
                () -> assertTrue(n < 4, figures));
    }
}
