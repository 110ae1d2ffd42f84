package io.tokenquota.servlet.breakit156;

import static org.junit.jupiter.api.Assertions.assertEquals;

import io.tokenquota.QuotaAccount;
import io.tokenquota.servlet.QuotaFilter;
import io.tokenquota.servlet.testing.Deployment;
import io.tokenquota.servlet.testing.H2FilterRound;
import io.tokenquota.servlet.testing.ModelCalls;
import io.tokenquota.servlet.testing.TestHttp;
import jakarta.servlet.http.HttpServlet;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;
import java.io.PrintWriter;
import java.net.http.HttpResponse;
import java.util.UUID;
import org.junit.jupiter.api.Test;

/**
 * Round 156 of issue 11 ("no model call goes unpaid, nothing that never reached a model is charged"):
 * a figure reported through {@code X-Quota-Actual-Tokens} before a {@code reset()} now survives the
 * reset, and by rule 1 a handler's figure is the whole charge: usage read from the answer written after
 * the reset is then not charged at all. A handler that reports its first model call's figure (its
 * answer, an HTML page, carries no usage, as the README asks), drops that answer with {@code reset()}
 * and falls back to relaying a second model call as the provider answered it (JSON or a stream, with
 * the provider's usage) pays only for the first call. The client chooses the prompt, so it can keep the
 * first call short and make the second as long as its budget lets the model write.
 */
abstract class AbstractRound156 extends H2FilterRound {
    static final ModelCalls CALLS = new ModelCalls();

    /** The first model call's figure, reported by the handler before the reset. */
    static final long FIRST = 4_000;
    /** The second model call's usage, in the provider's answer relayed after the reset. */
    static final long SECOND = 12_000;

    static final String CHAT = "{\"model\":\"gpt-4.1\",\"max_tokens\":200,\"messages\":[{\"role\":\"user\","
            + "\"content\":\"Summarise our Q3 report in two sentences.\"}]}";
    static final String USAGE_JSON = "{\"prompt_tokens\":2000,\"completion_tokens\":10000,\"total_tokens\":12000}";
    static final String COMPLETION = "{\"id\":\"chatcmpl-156b\",\"object\":\"chat.completion\",\"created\":1764770000,"
            + "\"model\":\"gpt-4.1\",\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\",\"content\":"
            + "\"Revenue grew while costs fell; the outlook is stable.\"},\"finish_reason\":\"stop\"}],\"usage\":"
            + USAGE_JSON + "}";

    static String subject() {
        return "u156-" + UUID.randomUUID().toString().substring(0, 12);
    }

    @Override
    protected Deployment deploy(QuotaFilter filter) {
        return Deployment.create()
                .filter("quota", filter, "/*")
                .servlet("summary", new Summary(), "/ai/v1/*")
                .onStartup(filter::registerByServletName);
    }

    static String html() {
        StringBuilder page = new StringBuilder("<!doctype html><html><body><h1>Q3 summary</h1><ol>");
        for (int i = 1; i <= 20; i++) {
            page.append("<li>Source ").append(i).append(": quarterly report, revenue and costs by region</li>");
        }
        return page.toString();
    }

    static void stream(HttpServletResponse resp) throws IOException {
        resp.setContentType("text/event-stream;charset=UTF-8");
        PrintWriter out = resp.getWriter();
        String[] words = {"Revenue", " grew", " while", " costs", " fell."};
        for (String w : words) {
            out.write("data: {\"id\":\"chatcmpl-156s\",\"object\":\"chat.completion.chunk\",\"created\":1764770000,"
                    + "\"model\":\"gpt-4.1\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"" + w
                    + "\"},\"finish_reason\":null}]}\n\n");
        }
        out.write("data: {\"id\":\"chatcmpl-156s\",\"object\":\"chat.completion.chunk\",\"created\":1764770000,"
                + "\"model\":\"gpt-4.1\",\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}\n\n");
        out.write("data: {\"id\":\"chatcmpl-156s\",\"object\":\"chat.completion.chunk\",\"created\":1764770000,"
                + "\"model\":\"gpt-4.1\",\"choices\":[],\"usage\":" + USAGE_JSON + "}\n\n");
        out.write("data: [DONE]\n\n");
        out.flush();
    }

    /**
     * A summary endpoint written as plain servlets are. Each model call is counted per subject.
     * <ul>
     *   <li>{@code /page}: one model call; its answer is rendered as HTML, so the servlet reports the
     *   call's 4,000 tokens through the header; the template fails, the page is dropped with
     *   {@code reset()}, and the servlet falls back to asking the model again and relaying the provider's
     *   JSON completion as it came (usage 12,000);</li>
     *   <li>{@code /moderated}: one model call reported (4,000), refused by the moderation check before
     *   anything is written, dropped with {@code reset()}; the model is asked again and its stream is
     *   relayed as the provider sent it, usage chunk included (12,000);</li>
     *   <li>{@code /json} and {@code /stream}: the relays alone, one model call each (12,000).</li>
     * </ul>
     */
    static class Summary extends HttpServlet {
        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            req.getInputStream().readAllBytes();
            String user = req.getHeader("x-user-id");
            String path = req.getPathInfo() == null ? "" : req.getPathInfo();
            switch (path) {
                case "/page" -> {
                    CALLS.count(user);
                    resp.setHeader(QuotaFilter.ACTUAL_TOKENS_HEADER, Long.toString(FIRST));
                    resp.setContentType("text/html;charset=UTF-8");
                    resp.getWriter().write(html());
                    // the template's footer throws: drop the page, relay a fresh completion instead
                    resp.reset();
                    CALLS.count(user);
                    resp.setContentType("application/json");
                    resp.getWriter().write(COMPLETION);
                }
                case "/moderated" -> {
                    CALLS.count(user);
                    resp.setHeader(QuotaFilter.ACTUAL_TOKENS_HEADER, Long.toString(FIRST));
                    resp.setHeader("X-Model", "gpt-4.1");
                    // the moderation check flags the first output: nothing of it goes out, regenerate
                    resp.reset();
                    CALLS.count(user);
                    stream(resp);
                }
                case "/json" -> {
                    CALLS.count(user);
                    resp.setContentType("application/json");
                    resp.getWriter().write(COMPLETION);
                }
                case "/stream" -> {
                    CALLS.count(user);
                    stream(resp);
                }
                default -> resp.sendError(404);
            }
        }
    }

    private void assertCharged(String path, int modelCalls, long charge, String what) {
        String s = subject();
        HttpResponse<String> r = TestHttp.postJson(container.uri(path), s, CHAT);
        QuotaAccount a = settled(s);
        int calls = CALLS.of(s);
        assertEquals(200, r.statusCode(), r.body());
        assertEquals(modelCalls, calls);
        assertEquals(charge, a.used(), what + ": " + ledger(s));
    }

    /**
     * Attack (under-charge): the first model call (4,000) is reported through the header because its
     * answer is an HTML page; the page fails and is dropped with {@code reset()}; a second model call is
     * relayed as the provider's JSON with its usage of 12,000. Both calls reached the model: 16,000.
     * The figure that survived the reset stands for the whole request, and the 12,000 the client
     * received an answer for are never charged.
     */
    @Test
    void aCompletionRelayedAfterAResetIsChargedBesideTheFigure() {
        assertCharged("/ai/v1/page", 2, FIRST + SECOND, "a reported call (4,000) then a relayed completion (12,000)");
    }

    /**
     * Attack (under-charge): a moderation refusal of the first output (4,000, reported) then a
     * regenerated answer streamed as the provider sent it, usage chunk included (12,000): 16,000.
     */
    @Test
    void aStreamRegeneratedAfterAResetIsChargedBesideTheFigure() {
        assertCharged("/ai/v1/moderated", 2, FIRST + SECOND, "a reported call (4,000) then a relayed stream (12,000)");
    }

    /** Control: the JSON relay alone is charged its usage. */
    @Test
    void theRelayedCompletionAloneIsChargedItsUsage() {
        assertCharged("/ai/v1/json", 1, SECOND, "one relayed completion");
    }

    /** Control: the streamed relay alone is charged its usage. */
    @Test
    void theRelayedStreamAloneIsChargedItsUsage() {
        assertCharged("/ai/v1/stream", 1, SECOND, "one relayed stream");
    }
}
