package io.tokenquota.servlet.breakit466;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.tokenquota.QuotaAccount;
import io.tokenquota.servlet.QuotaFilter;
import io.tokenquota.servlet.testing.Deployment;
import io.tokenquota.servlet.testing.GeminiInteractions;
import io.tokenquota.servlet.testing.ModelCallRound;
import io.tokenquota.servlet.testing.Prose;
import io.tokenquota.servlet.testing.TestHttp;
import jakarta.servlet.http.HttpServlet;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;
import java.net.URLDecoder;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import org.junit.jupiter.api.Test;

/**
 * Round 466 of issue 11 ("no model call goes unpaid"): Google's system parameters on a Google API path that
 * names no method with a colon, passed on by a transparent Gemini proxy.
 *
 * <p>Rounds 334 and 457 hid from the endpoint Google's system parameters that strip {@code usageMetadata}
 * ({@code fields}), change the format ({@code alt}) or wrap the answer as a script ({@code callback}); the
 * {@code $}-less spellings only on "a Google method path" ({@code models/x:generateContent}, a colon in the last
 * segment). Google's table (cloud.google.com/apis/docs/system-parameters) says these parameters "are available
 * across all Google REST APIs", with {@code fields} and {@code callback} ("JSONP callback parameter") as plain
 * spellings beside {@code $fields} and {@code $callback}. Gemini's Interactions API, which Google calls the
 * recommended API for new projects (ai.google.dev/gemini-api/docs/interactions), is served by the same front end
 * at {@code POST https://generativelanguage.googleapis.com/v1beta/interactions}: a REST collection path, no
 * colon. A client of a transparent proxy adds {@code ?fields=id,status,outputs} (the Interaction without its
 * {@code usage}) or {@code ?callback=cb} (the Interaction wrapped as {@code // API callback} then
 * {@code cb(<document>);}, as round 457 plays Google's JSONP), and the endpoint passes it on: the model ran, its
 * thinking and its answer are billed by Google, and the filter sees no usage.
 *
 * <p>The proxy is round 457's (headers but the hop-by-hop ones and the query string passed on, the provider's
 * status, Content-Type and bytes passed back); the answer is the Interaction resource ({@code id},
 * {@code object: "interaction"}, {@code status}, {@code outputs[]}, {@code usage} with
 * {@code total_input_tokens}, {@code total_output_tokens}, {@code total_thought_tokens}, {@code total_tokens}),
 * as google-genai's {@code _interactions/types/interaction.py} has it ({@link GeminiInteractions}).
 */
abstract class AbstractRound466 extends ModelCallRound {
    static final String INTERACTIONS = "/ai/gemini/v1beta/interactions";
    static final String ASK = "{" + GeminiInteractions.FLASH + ",\"input\":\"Explain how a B-tree splits a full node"
            + " when a key is inserted, and why the tree stays balanced.\"}";
    static final long INPUT = 24;
    /** The thinking Google bills and no client sees: the bulk of the call. */
    static final long THOUGHTS = 7_800;
    static final String TEXT = Prose.english(900).trim();
    static final long OUTPUT = 200;
    static final long TOTAL = INPUT + OUTPUT + THOUGHTS;

    @Override
    protected Deployment deploy(QuotaFilter filter) {
        return filteredAi(filter).servlet("gemini-proxy", new GeminiProxy(), "/ai/gemini/*");
    }

    /** The value of query parameter {@code name} (or its {@code $} spelling) in {@code query}; null: none. */
    static String parameter(String query, String name) {
        if (query == null) {
            return null;
        }
        for (String p : query.split("&")) {
            int eq = p.indexOf('=');
            String n = URLDecoder.decode(eq < 0 ? p : p.substring(0, eq), StandardCharsets.UTF_8);
            if (eq > 0 && (n.equals(name) || n.equals("$" + name))) {
                return URLDecoder.decode(p.substring(eq + 1), StandardCharsets.UTF_8);
            }
        }
        return null;
    }

    /**
     * The completed Interaction, as Google answers it; with a field mask that does not name {@code usage}
     * (a response field filter: only the listed top-level fields) the usage is left out.
     */
    static final String ID = "v1_ChdrR0hNYWJ1T0xvYTRuc0VQd3NLWTRRWRIX";

    static String interaction(String fields) {
        String outputs = "[{\"type\":\"text\",\"text\":\"" + TEXT + "\"}]";
        String usage = GeminiInteractions.usage(INPUT, OUTPUT, THOUGHTS);
        if (fields != null && !fields.contains("usage")) {
            usage = null;
        }
        return GeminiInteractions.interaction(ID, GeminiInteractions.FLASH,
                "completed", outputs, usage);
    }

    /**
     * A transparent proxy of the Gemini API; Google behind it is played in place: it answers the Interaction,
     * filtered by a {@code fields} mask, or as JSONP when the forwarded query string names a callback.
     */
    class GeminiProxy extends HttpServlet {
        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            req.getInputStream().readAllBytes();
            calls.count(req.getHeader("x-user-id"));
            String query = req.getQueryString();
            String body = interaction(parameter(query, "fields"));
            String cb = parameter(query, "callback");
            byte[] out;
            if (cb != null) {
                resp.setContentType("text/javascript; charset=UTF-8");
                out = ("// API callback\n" + cb + "(" + body + "\n);").getBytes(StandardCharsets.UTF_8);
            } else {
                resp.setContentType("application/json; charset=UTF-8");
                out = body.getBytes(StandardCharsets.UTF_8);
            }
            resp.getOutputStream().write(out);
        }

        /** A read of the stored interaction by its id ({@code GET interactions/{id}}): no model call. */
        @Override
        protected void doGet(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            if (!req.getRequestURI().endsWith("/interactions/" + ID)) {
                resp.sendError(404);
                return;
            }
            resp.setContentType("application/json; charset=UTF-8");
            resp.getOutputStream().write(interaction(parameter(req.getQueryString(), "fields")).getBytes(StandardCharsets.UTF_8));
        }
    }

    HttpResponse<String> ask(String s, String path) {
        return TestHttp.postJson(container.uri(path), s, ASK);
    }

    void assertChargedTheUsage(String s, QuotaAccount a, String what) {
        assertEquals(TOTAL, a.used(), kind() + ": " + what + ": Gemini billed " + TOTAL + " tokens (" + INPUT
                + " input, " + THOUGHTS + " thinking, " + OUTPUT + " output) for this interaction; charged " + a.used()
                + " of " + a.limit() + ": " + ledger(s));
    }

    /**
     * Finding: {@code fields} without {@code usage} on the Interactions path reached Google; no usage came back
     * (1,028 charged). Now hidden from the endpoint.
     */
    @Test
    void aFieldMaskOnTheInteractionsPathDoesNotMakeTheCallCheap() {
        String s = subject();
        HttpResponse<String> r = ask(s, INTERACTIONS + "?fields=id,status,outputs");
        QuotaAccount a = assertAnswered(s, r, 200, 1);
        // hidden from the endpoint, the mask never reaches Google, and the client gets the whole Interaction (as
        // with $fields below); the finding asserted the mask went through, which holds only while the bug does
        assertTrue(r.body().contains("\"total_tokens\":" + TOTAL), "the mask was hidden from the proxy: " + r.body());
        assertChargedTheUsage(s, a, "interactions?fields=id,status,outputs");
    }

    /** Finding: {@code callback=cb} on the Interactions path; the answer was JSONP (1,026 charged). Now hidden. */
    @Test
    void aJsonpCallbackOnTheInteractionsPathDoesNotMakeTheCallCheap() {
        String s = subject();
        HttpResponse<String> r = ask(s, INTERACTIONS + "?callback=cb");
        QuotaAccount a = assertAnswered(s, r, 200, 1);
        // hidden from the endpoint, the callback never reaches Google, and the client gets the plain JSON (round
        // 457's rule); the finding asserted the JSONP script, which Google writes only while the bug lets it through
        assertTrue(r.body().startsWith("{") && r.body().contains("\"total_tokens\":" + TOTAL), r.body());
        assertChargedTheUsage(s, a, "interactions?callback=cb");
    }

    /** Control: the {@code $}-spelt field mask is hidden on any path, and the call is charged its usage. */
    @Test
    void controlTheDollarFieldMaskOnTheInteractionsPathIsHidden() {
        String s = subject();
        HttpResponse<String> r = ask(s, INTERACTIONS + "?%24fields=id,status,outputs");
        QuotaAccount a = assertAnswered(s, r, 200, 1);
        assertTrue(r.body().contains("\"total_tokens\":" + TOTAL), r.body());
        assertChargedTheUsage(s, a, "interactions?$fields=id,status,outputs");
    }

    /**
     * Control (the fix hides {@code fields} on {@code interactions/{id}} too): the interaction read back by its id
     * with a field mask now carries its {@code usage} to the filter, and is no second call; the subject is charged
     * the interaction once.
     */
    @Test
    void controlTheInteractionReadBackWithAFieldMaskIsNotChargedAgain() {
        String s = subject();
        HttpResponse<String> r = ask(s, INTERACTIONS);
        assertChargedTheUsage(s, assertAnswered(s, r, 200, 1), "interactions");
        r = TestHttp.send(TestHttp.requestAs(container.uri(INTERACTIONS + "/" + ID + "?fields=id,status"), s).GET().build());
        QuotaAccount a = assertAnswered(s, r, 200, 1);
        assertTrue(r.body().contains("\"total_tokens\":" + TOTAL), "the mask was hidden from the proxy: " + r.body());
        assertChargedTheUsage(s, a, "interactions, then interactions/{id}?fields=id,status");
    }

    /** Control: the same interaction without system parameters is charged its usage. */
    @Test
    void controlTheInteractionIsChargedItsUsage() {
        String s = subject();
        HttpResponse<String> r = ask(s, INTERACTIONS);
        QuotaAccount a = assertAnswered(s, r, 200, 1);
        assertTrue(r.body().contains("\"total_tokens\":" + TOTAL), r.body());
        assertChargedTheUsage(s, a, "interactions");
    }
}
