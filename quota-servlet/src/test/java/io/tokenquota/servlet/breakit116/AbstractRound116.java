package io.tokenquota.servlet.breakit116;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.tokenquota.QuotaAccount;
import io.tokenquota.servlet.QuotaFilter;
import io.tokenquota.servlet.testing.Deployment;
import io.tokenquota.servlet.testing.HangUps;
import io.tokenquota.servlet.testing.ModelCallRound;
import io.tokenquota.servlet.testing.ModelCalls;
import io.tokenquota.servlet.testing.SpringMvc;
import io.tokenquota.servlet.testing.TestHttp;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;
import java.io.OutputStream;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.springframework.http.MediaType;
import org.springframework.http.ResponseEntity;
import org.springframework.web.bind.annotation.PathVariable;
import org.springframework.web.bind.annotation.PostMapping;
import org.springframework.web.bind.annotation.RequestBody;
import org.springframework.web.bind.annotation.RequestHeader;
import org.springframework.web.bind.annotation.RestController;

/**
 * Round 116 of issue 11 ("no model call goes unpaid, nothing that never reached a model is charged"):
 * a new user who read only the README puts the filter in front of a Spring MVC application as it
 * shows (the filter on every path, {@code registerByServletName} while the context starts) and then
 * uses the service as a hostile client. The application: a task endpoint whose task name is a path
 * variable and whose answer is the model's structured JSON; a streaming chat relay that asks its
 * provider for {@code include_usage} and cancels the provider call when its client hangs up; a relay
 * to a Hugging Face TGI server that passes TGI's answer and headers on. Two attacks of the round are
 * not kept as tests, since they meet rules the docs set on purpose: a {@code DeferredResult} timing out
 * with Spring's 503 while the model goes on is released (5xx without usage; {@code releaseOnError(false)}
 * charges it), and a relay answering 200 with its provider's error JSON is charged the estimate (a
 * model can write error-shaped JSON too).
 */
abstract class AbstractRound116 extends ModelCallRound {
    static final ModelCalls CALLS = new ModelCalls();
    static final HangUps HANG_UPS = new HangUps();
    AbstractRound116() {
        super(CALLS);
    }

    @Override
    protected Deployment deploy(QuotaFilter filter) {
        return SpringMvc.behind(filter, App.class).onStartup(filter::registerByServletName);
    }

    /** A long document (about 2,000 tokens of text) for the task endpoint. */
    static final String DOCUMENT = ("Invoice 2024-113 from Lisbon Tiles Lda. for 40 square metres of azulejos, due in thirty days. ")
            .repeat(100);

    @RestController
    public static class App {
        /**
         * Runs a task the client names on the client's document: the model gets the task name and the
         * document and answers with structured JSON, which the endpoint returns as it is (Spring AI's
         * {@code .entity(Map.class)}). The provider's usage is not in that JSON (the filter charges such an
         * answer its estimate). For a counting task the model answers {@code {"count": n}}.
         */
        @PostMapping("/tasks/{task}")
        public Map<String, Object> task(@PathVariable("task") String task, @RequestHeader("x-user-id") String user,
                                        @RequestBody String document) {
            CALLS.count(user);
            return Map.of("count", 7);
        }

        /**
         * A streaming chat relay: asks the provider for a stream with {@code include_usage}, relays each
         * chunk as it arrives (the model writes 8,000 tokens, 100 a chunk), and cancels the provider
         * call when a write fails because its client has gone: the usage chunk then never comes.
         */
        @PostMapping("/chat/stream")
        public void stream(@RequestHeader("x-user-id") String user, @RequestBody String body, HttpServletResponse resp)
                throws IOException {
            CALLS.count(user);
            resp.setContentType("text/event-stream");
            OutputStream out = resp.getOutputStream();
            for (int chunk = 0; chunk < 80; chunk++) {
                out.write(("data: {\"id\":\"chatcmpl-9\",\"object\":\"chat.completion.chunk\",\"model\":\"gpt-4o\",\"choices\":"
                        + "[{\"index\":0,\"delta\":{\"content\":\"" + "wave ".repeat(100) + "\"}}],\"usage\":null}\n\n")
                        .getBytes(StandardCharsets.UTF_8));
                out.flush();
            }
            out.write(("data: {\"id\":\"chatcmpl-9\",\"object\":\"chat.completion.chunk\",\"model\":\"gpt-4o\",\"choices\":"
                    + "[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}],\"usage\":null}\n\n").getBytes(StandardCharsets.UTF_8));
            out.flush();
            HANG_UPS.relayUntilGone(user, out, ": keep-alive\n\n",
                    "data: {\"id\":\"chatcmpl-9\",\"object\":\"chat.completion.chunk\",\"model\":\"gpt-4o\",\"choices\":[],"
                            + "\"usage\":{\"prompt_tokens\":20,\"completion_tokens\":8000,\"total_tokens\":8020}}\n\ndata: [DONE]\n\n");
        }

        /**
         * A relay to a Hugging Face TGI server's {@code /generate}: the application puts its 15,000-token
         * handbook before the client's question, and passes TGI's answer and its token-count headers on.
         * TGI reports the counts in {@code x-prompt-tokens} and {@code x-generated-tokens}; its body carries
         * {@code details} only when asked for.
         */
        @PostMapping("/tgi/generate")
        public ResponseEntity<String> tgi(@RequestHeader("x-user-id") String user, @RequestBody String body) {
            CALLS.count(user);
            return ResponseEntity.ok()
                    .header("x-compute-type", "1-nvidia-a10g")
                    .header("x-compute-time", "4.2")
                    .header("x-prompt-tokens", "15040")
                    .header("x-generated-tokens", "300")
                    .contentType(MediaType.APPLICATION_JSON)
                    .body("{\"generated_text\":\"Refunds are granted within thirty days of purchase, on presentation of the receipt.\"}");
        }

    }

    static final String ASK = "{\"model\":\"gpt-4o\",\"messages\":[{\"role\":\"user\",\"content\":\"Write the longest story you can about a lighthouse.\"}]}";
    static final String ASK_STREAM = "{\"model\":\"gpt-4o\",\"stream\":true,\"stream_options\":{\"include_usage\":true},"
            + "\"messages\":[{\"role\":\"user\",\"content\":\"Write the longest story you can about a lighthouse.\"}]}";

    HttpResponse<String> post(String path, String s, String body) {
        return TestHttp.postJson(container.uri(path), s, body);
    }

    // ------------------------------------------------------------------ tests

    /**
     * Control: the task endpoint at an ordinary task name. The model's structured answer carries no
     * usage, so the call is charged its estimate.
     */
    @Test
    void aTaskIsChargedItsEstimate() {
        String s = subject();
        HttpResponse<String> r = post("/ai/spring/tasks/count_invoices", s, "{\"document\":\"" + DOCUMENT + "\"}");
        QuotaAccount a = settled(s);
        assertEquals(200, r.statusCode(), figures(s, r, a));
        assertEquals(1, CALLS.of(s), figures(s, r, a));
        assertTrue(a.used() >= 1_000, figures(s, r, a));
    }

    /**
     * The attack: the client names its task {@code count_tokens}, so the path ends like Anthropic's
     * token-counting path, and asks the model to count something; the model's structured answer
     * {@code {"count": 7}} looks like a tokenizer's answer. The model read the whole document and wrote
     * its answer, but the call must not cost less than the same task under another name.
     */
    @Test
    void aTaskNamedLikeATokenCountIsChargedAsAnyTask() {
        String control = subject();
        HttpResponse<String> c = post("/ai/spring/tasks/count_invoices", control, "{\"document\":\"" + DOCUMENT + "\"}");
        QuotaAccount ca = settled(control);
        String s = subject();
        HttpResponse<String> r = post("/ai/spring/tasks/count_tokens", s, "{\"document\":\"" + DOCUMENT + "\"}");
        QuotaAccount a = settled(s);
        assertEquals(200, c.statusCode(), figures(control, c, ca));
        assertEquals(200, r.statusCode(), figures(s, r, a));
        assertEquals(1, CALLS.of(s), figures(s, r, a));
        assertEquals(ca.used(), a.used(), "the same model call under the task name count_tokens: " + figures(s, r, a)
                + "; under count_invoices it cost " + ca.used());
    }

    /**
     * A chat asks for a stream and names no output budget (the model writes as long as it likes), reads
     * the whole answer up to its {@code finish_reason} and hangs up before the provider's usage chunk.
     * The client has 8,000 tokens of the model's text; the call must cost at least what it read.
     */
    @Test
    void aStreamWithoutBudgetReadToItsEndAndHungUpPaysForWhatItRead() throws Exception {
        String s = subject();
        String seen = HANG_UPS.postAndHangUpAfter(container.port(), "/ai/spring/chat/stream", s, ASK_STREAM,
                "\"finish_reason\":\"stop\"");
        assertPaidForWhatItRead(s, seen, "wave ", 8_000, "a stream without budget read to its end");
    }

    /**
     * A relay to TGI passes its answer on with TGI's token-count headers ({@code x-prompt-tokens: 15040},
     * {@code x-generated-tokens: 300}); the body, as TGI writes it without {@code details}, has no counts.
     * The call read 15,340 tokens and must be charged them, as the filter reads Bedrock's count headers.
     */
    @Test
    void aTgiAnswerWithItsCountsInHeadersIsChargedThem() {
        String s = subject();
        HttpResponse<String> r = post("/ai/spring/tgi/generate", s,
                "{\"inputs\":\"What does the handbook say about refunds?\",\"parameters\":{\"max_new_tokens\":300}}");
        QuotaAccount a = settled(s);
        assertEquals(200, r.statusCode(), figures(s, r, a));
        assertEquals("15040", r.headers().firstValue("x-prompt-tokens").orElse("-"), figures(s, r, a));
        assertEquals(1, CALLS.of(s), figures(s, r, a));
        assertTrue(a.used() >= 15_340, figures(s, r, a));
    }
}
