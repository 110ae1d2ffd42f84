package io.tokenquota.servlet.testing;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.tokenquota.QuotaAccount;
import io.tokenquota.servlet.QuotaFilter;
import jakarta.servlet.http.HttpServlet;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;
import java.io.OutputStream;
import java.net.http.HttpResponse;

/**
 * A round on an agent service whose tool loop runs server-side and whose one HTTP answer relays every
 * model call it makes, one after the other, each with the usage its provider billed for it. The agent
 * reads pages a tool fetches between the calls, and the user chooses what to have read: the three model
 * calls use {@link #STEPS} (2,000 + 100, 5,000 + 100 and 8,000 + 400 tokens, 15,600 in all, on the 20,000
 * allowance); the user's own request is one line. The service is {@code /ai/agents/{format}}, the round
 * saying how each format relays a call; {@code ?steps=1} runs only the last call (a question that needs
 * no tool).
 */
public abstract class AgentLoopRound extends ModelCallRound {
    /** The model calls' usage: {input, output}. */
    protected static final long[][] STEPS = {{2_000, 100}, {5_000, 100}, {8_000, 400}};
    /** What the three calls used together. */
    protected static final long AGENT_USAGE = 15_600;

    protected static final String ANSWER = "Revenue grew in every quarter; costs fell in the third.";
    protected static final String QUESTION = "Read the three quarterly reports at example.com and compare them.";

    @Override
    protected Deployment deploy(QuotaFilter filter) {
        return Deployment.create()
                .filter("quota", filter, "/*")
                .servlet("agents", new AgentRelay(), "/ai/agents/*")
                .onStartup(filter::registerByServletName);
    }

    /** The page the tool fetches after model call {@code step}. */
    protected static String url(int step) {
        return "https://example.com/report/" + step;
    }

    /** Relays model call {@code step} ({@code last} answers, the others call the tool) as {@code format} does. */
    protected abstract void relayCall(String format, OutputStream out, int step, boolean last) throws IOException;

    /** The Content-Type of {@code format}'s answer: an event stream unless the round says otherwise. */
    protected String contentType(String format) {
        return "text/event-stream";
    }

    /** What {@code format} writes after the last call: nothing unless the round says otherwise. */
    protected void endAnswer(String format, OutputStream out) throws IOException {
    }

    /** The user's request to the agent in {@code format}: the one-line {@link #QUESTION}. */
    protected abstract String request(String format);

    /**
     * The agent service. Every model call is counted, then relayed ({@link #relayCall}); the tools run
     * between the calls, server-side.
     */
    class AgentRelay extends HttpServlet {
        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            req.getInputStream().readAllBytes();
            String user = req.getHeader("x-user-id");
            String format = req.getPathInfo().substring(1);
            int first = "1".equals(req.getParameter("steps")) ? STEPS.length - 1 : 0;
            resp.setContentType(contentType(format));
            resp.setCharacterEncoding("UTF-8");
            OutputStream out = resp.getOutputStream();
            for (int step = first; step < STEPS.length; step++) {
                calls.count(user);
                relayCall(format, out, step, step == STEPS.length - 1);
            }
            endAnswer(format, out);
        }
    }

    /**
     * The agent in {@code format} makes its three model calls and is served its answer: the subject must be
     * charged every call, {@link #AGENT_USAGE}. A failure names {@code why}.
     */
    protected void chargedEveryCall(String format, String why) {
        String s = subject();
        HttpResponse<String> r = TestHttp.postJson(container.uri("/ai/agents/" + format), s, request(format));
        assertEquals(200, r.statusCode(), r.body());
        assertTrue(r.body().contains(ANSWER), "the agent's answer was served");
        assertEquals(3, calls.of(s), "three model calls");
        QuotaAccount a = settled(s);
        assertEquals(AGENT_USAGE, a.used(), kind() + ", " + why + ": three model calls reported 2,100 + 5,100 + 8,400 = "
                + "15,600 tokens, each its own; charged " + a.used() + " of " + a.limit() + "; " + ledger(s));
    }

    /** The agent in {@code format} answers with its last model call alone: charged that call, 8,400. */
    protected void chargedOneCall(String format) {
        String s = subject();
        HttpResponse<String> r = TestHttp.postJson(container.uri("/ai/agents/" + format + "?steps=1"), s, request(format));
        assertEquals(200, r.statusCode(), r.body());
        assertEquals(1, calls.of(s), "one model call");
        QuotaAccount a = settled(s);
        assertEquals(8_400, a.used(), kind() + ", " + format + ": one call reported 8,400; charged " + a.used() + "; " + ledger(s));
    }
}
