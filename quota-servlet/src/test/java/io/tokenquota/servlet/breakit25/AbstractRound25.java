package io.tokenquota.servlet.breakit25;

import static io.tokenquota.servlet.testing.RelayedAnswers.called;
import static io.tokenquota.servlet.testing.RelayedAnswers.calls;
import static io.tokenquota.servlet.testing.RelayedAnswers.completionJson;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.tokenquota.QuotaAccount;
import io.tokenquota.servlet.QuotaFilter;
import io.tokenquota.servlet.testing.Deployment;
import io.tokenquota.servlet.testing.H2FilterRound;
import io.tokenquota.servlet.testing.SpringMvc;
import io.tokenquota.servlet.testing.TestHttp;
import jakarta.servlet.AsyncContext;
import jakarta.servlet.DispatcherType;
import jakarta.servlet.http.HttpServlet;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.util.UUID;
import org.junit.jupiter.api.Test;
import org.springframework.web.bind.annotation.PostMapping;
import org.springframework.web.bind.annotation.RequestBody;
import org.springframework.web.bind.annotation.RestController;

/**
 * Round 25 of issue 11 ("no model call goes unpaid, nothing that never reached a model is charged").
 */
abstract class AbstractRound25 extends H2FilterRound {
    static final String ASK = "{\"model\":\"gpt-4o\",\"messages\":[{\"role\":\"user\",\"content\":\"Write a very long story.\"}]}";
    static final String ANSWER = completionJson("Once upon a time...", 40, 12_000);

    @RestController
    public static class AiController {
        /** The usual quick proxy: the upstream's JSON answer relayed as a String. */
        @PostMapping("/proxy")
        public String proxy(@RequestBody String body, HttpServletRequest req) {
            called(req);
            return ANSWER;
        }

        /**
         * A relay of Bedrock Runtime's InvokeModel for Amazon Titan Text ({@code POST /model/amazon.titan-text-premier-v1:0/invoke}):
         * Titan counts {@code inputTextTokenCount} and each result's {@code tokenCount}.
         */
        @PostMapping(value = "/bedrock/model/amazon.titan-text-premier-v1:0/invoke", produces = "application/json")
        public String titan(@RequestBody String body, HttpServletRequest req) {
            called(req);
            return "{\"inputTextTokenCount\":40,\"results\":[{\"tokenCount\":8000,\"outputText\":\"Once upon a time...\","
                    + "\"completionReason\":\"LENGTH\"}]}";
        }

        /**
         * A relay of Bedrock Runtime's InvokeModel for Mistral Large: the body ({@code outputs}) carries
         * no counts; Bedrock reports every InvokeModel call's tokens in the response headers
         * {@code X-Amzn-Bedrock-Input-Token-Count} and {@code X-Amzn-Bedrock-Output-Token-Count}, which
         * the relay passes on with the body, as a pass-through proxy passes upstream headers.
         */
        @PostMapping(value = "/bedrock/model/mistral.mistral-large-2402-v1:0/invoke", produces = "application/json")
        public org.springframework.http.ResponseEntity<String> mistral(@RequestBody String body, HttpServletRequest req) {
            called(req);
            return org.springframework.http.ResponseEntity.ok()
                    .header("X-Amzn-Bedrock-Invocation-Latency", "61234")
                    .header("X-Amzn-Bedrock-Input-Token-Count", "40")
                    .header("X-Amzn-Bedrock-Output-Token-Count", "8000")
                    .body("{\"outputs\":[{\"text\":\"Once upon a time...\",\"stop_reason\":\"length\"}]}");
        }
    }

    /**
     * The servlet spec's own async example: {@code req.startAsync()}, the model called on a worker
     * thread, its answer written to {@code ctx.getResponse()} and {@code ctx.complete()}. Path
     * {@code /captured} writes to the {@code resp} parameter instead (the control).
     */
    public static class AsyncServlet extends HttpServlet {
        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            req.getInputStream().readAllBytes();
            called(req);
            boolean captured = String.valueOf(req.getPathInfo()).endsWith("/captured");
            AsyncContext ctx = req.startAsync();
            new Thread(() -> {
                try {
                    HttpServletResponse out = captured ? resp : (HttpServletResponse) ctx.getResponse();
                    out.setContentType("application/json");
                    out.getOutputStream().write(ANSWER.getBytes(StandardCharsets.UTF_8));
                } catch (IOException e) {
                    throw new UncheckedIOException(e);
                } finally {
                    ctx.complete();
                }
            }).start();
        }
    }

    /**
     * The other classic async shape: the model is called on a worker thread, its answer put in a
     * request attribute and {@code ctx.dispatch()}ed back to the servlet, which writes it.
     */
    public static class AsyncDispatchServlet extends HttpServlet {
        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            if (req.getDispatcherType() == DispatcherType.ASYNC) {
                resp.setContentType("application/json");
                resp.getOutputStream().write(((String) req.getAttribute("answer")).getBytes(StandardCharsets.UTF_8));
                return;
            }
            req.getInputStream().readAllBytes();
            called(req);
            AsyncContext ctx = req.startAsync();
            new Thread(() -> {
                ctx.getRequest().setAttribute("answer", ANSWER);
                ctx.dispatch();
            }).start();
        }
    }

    @Override
    protected Deployment deploy(QuotaFilter filter) {
        return SpringMvc.behind(filter, AiController.class)
                .servlet("async", new AsyncServlet(), "/ai/async/*")
                .servlet("asyncDispatch", new AsyncDispatchServlet(), "/ai/async-dispatch/*");
    }

    static String subject() {
        return "u25-" + UUID.randomUUID().toString().substring(0, 12);
    }

    HttpResponse<String> post(String path, String subject, String body, String... headers) {
        return TestHttp.postJson(container.uri(path), subject, body, headers);
    }

    /**
     * Spring's StringHttpMessageConverter writes a relayed String in the charset of the client's
     * {@code Accept}. A charset Java can only decode ({@code ISO-2022-CN}, {@code x-JISAutoDetect})
     * makes {@code String.getBytes} throw UnsupportedOperationException after the handler ran (the
     * model answered 12,040 tokens): the request ends in an exception before anything was committed,
     * and the filter releases the hold as "failed before answering". Any client gets model calls for
     * free with one header. Control: the same call with {@code Accept: application/json} is charged.
     */
    @Test
    void decodeOnlyAcceptCharsetMakesARelayedCallFree() {
        String control = subject();
        HttpResponse<String> ok = post("/ai/spring/proxy", control, ASK, "Accept", "application/json");
        assertEquals(200, ok.statusCode());
        assertEquals(12_040, settled(control).used(), "control (" + ledger(control) + ")");

        String s = subject();
        HttpResponse<String> r = post("/ai/spring/proxy", s, ASK, "Accept", "text/plain;charset=ISO-2022-CN");
        assertEquals(1, calls(s), "the handler ran: the model was called");
        QuotaAccount a = settled(s);
        assertTrue(a.used() > 0, "the model was called (status " + r.statusCode() + "), the call was charged "
                + a.used() + " (" + ledger(s) + ")");
    }

    void assertAsyncCharged(String path, String what) {
        String s = subject();
        HttpResponse<String> r = post(path, s, ASK);
        assertEquals(200, r.statusCode(), r.body());
        assertTrue(r.body().contains("\"total_tokens\":12040"), r.body());
        assertEquals(1, calls(s));
        QuotaAccount a = settled(s);
        assertTrue(a.used() >= 12_040, what + ": the answer reported 12,040 tokens, the call was charged "
                + a.used() + " (" + ledger(s) + ")");
    }

    /**
     * {@code startAsync()} initialises the AsyncContext with the container's original (unwrapped)
     * request and response (Servlet spec, ServletRequest#startAsync()); {@code ctx.getResponse()} is
     * not the filter's wrapper, so the answer's usage is never seen and the call is charged its
     * estimate (~1,010) instead of 12,040.
     */
    @Test
    void asyncWriteToTheAsyncContextsResponseIsCharged() {
        // control: the same worker writing to the response the servlet was given is charged 12,040
        assertAsyncCharged("/ai/async/captured", "control");
        assertAsyncCharged("/ai/async/ctx", "written to ctx.getResponse()");
    }

    /**
     * {@code startAsync()} then {@code ctx.dispatch()}: the ASYNC dispatch runs with the original
     * request and response, which the filter (already handled) does not wrap again; the answer written
     * then is never read.
     */
    @Test
    void asyncDispatchedAnswerIsCharged() {
        assertAsyncCharged("/ai/async-dispatch/x", "written in the async dispatch");
    }

    /**
     * Bedrock InvokeModel with Amazon Titan Text: the client asks {@code textGenerationConfig.maxTokenCount:
     * 8192} (Titan's own budget name, which the estimate does not read: it holds input + the 1,000 default)
     * and the answer counts {@code inputTextTokenCount} 40 and {@code results[].tokenCount} 8,000, which the
     * sniffer does not read either: an 8,040-token call is charged ~1,0xx.
     */
    @Test
    void bedrockTitanInvokeModelIsChargedItsUsage() {
        String s = subject();
        HttpResponse<String> r = post("/ai/spring/bedrock/model/amazon.titan-text-premier-v1:0/invoke", s,
                "{\"inputText\":\"Write a very long story.\",\"textGenerationConfig\":{\"maxTokenCount\":8192,\"temperature\":0.7}}");
        assertEquals(200, r.statusCode(), r.body());
        assertEquals(1, calls(s));
        QuotaAccount a = settled(s);
        assertTrue(a.used() >= 8_040, "Titan asked for 8,192 and reported 40 + 8,000 tokens, the call was charged "
                + a.used() + " (" + ledger(s) + ")");
    }

    /**
     * Bedrock InvokeModel with Mistral Large (default max_tokens 8,192 on Bedrock): no counts in the body,
     * the tokens are in Bedrock's {@code X-Amzn-Bedrock-Input-Token-Count} / {@code -Output-Token-Count}
     * response headers, relayed; charged the estimate (input + 1,000) for 8,040 tokens.
     */
    @Test
    void bedrockInvokeModelTokenCountHeadersAreCharged() {
        String s = subject();
        HttpResponse<String> r = post("/ai/spring/bedrock/model/mistral.mistral-large-2402-v1:0/invoke", s,
                "{\"prompt\":\"<s>[INST] Write a very long story. [/INST]\"}");
        assertEquals(200, r.statusCode(), r.body());
        assertEquals("8000", r.headers().firstValue("X-Amzn-Bedrock-Output-Token-Count").orElse(""));
        QuotaAccount a = settled(s);
        assertTrue(a.used() >= 8_040, "Bedrock reported 40 + 8,000 tokens in its headers, the call was charged "
                + a.used() + " (" + ledger(s) + ")");
    }
}
