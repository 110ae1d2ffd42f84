package io.tokenquota.servlet.breakit138;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.tokenquota.estimator.DefaultTokenEstimator;
import io.tokenquota.servlet.QuotaFilter;
import io.tokenquota.servlet.testing.Deployment;
import io.tokenquota.servlet.testing.H2FilterRound;
import io.tokenquota.servlet.testing.ModelCalls;
import io.tokenquota.servlet.testing.TestHttp;
import jakarta.servlet.http.HttpServlet;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;
import java.io.OutputStream;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.ConcurrentHashMap;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Disabled;
import org.junit.jupiter.api.Test;

/**
 * Round 138 of issue 11 ("no model call goes unpaid, nothing that never reached a model is charged"):
 * the request side. Real servers take request fields that make the model read far more than the
 * request's text: Ollama's {@code /api/generate} {@code context} (the token ids of the conversation so
 * far, returned by the previous call and sent back by the client), Ollama's per-request Go
 * {@code template} and vLLM's per-request Jinja {@code chat_template}, both of which the server expands
 * into the prompt the model reads. A call that reports no usage (an OpenAI-style stream without
 * {@code stream_options.include_usage}, an Ollama stream cut by a runner error before its last object)
 * is charged the hold's estimate: if the estimate does not see what the model reads, the call is
 * charged a fraction of it.
 */
abstract class AbstractRound138 extends H2FilterRound {
    /** Why two of this round's tests are disabled: the open part of issue 11 they show. */
    static final String OPEN_SERVER_TEMPLATE = "issue 11, open: a template the request sends for the server to build"
            + " its prompt with (Ollama's template, vLLM's chat_template) may repeat the conversation; the estimate"
            + " counts the template's text and the conversation once each (docs/decisions.md, \"Templates a request"
            + " sends (open)\")";

    static final ObjectMapper JSON = new ObjectMapper();
    static final DefaultTokenEstimator TOKENS = new DefaultTokenEstimator();
    static final String OLLAMA_MODEL = "llama3.1:8b";
    static final String VLLM_MODEL = "Qwen/Qwen2.5-7B-Instruct";
    static final Pattern RANGE = Pattern.compile("range\\((\\d+)\\)");
    static final String PARAGRAPH = "The quarterly report shows that revenue from the northern region grew by "
            + "eleven percent, while costs in logistics rose faster than expected because of fuel prices and "
            + "delayed shipments from two suppliers. The board asked for a plan to recover the margin before "
            + "the next review, including renegotiated contracts and a smaller warehouse footprint. ";

    final ModelCalls calls = new ModelCalls();
    /** What the model read for each subject's calls, in tokens (by the library's own estimator). */
    final Map<String, Long> read = new ConcurrentHashMap<>();

    static String subject() {
        return "u138-" + UUID.randomUUID().toString().substring(0, 12);
    }

    /** English text of about {@code tokens} tokens, by the library's own estimator. */
    static String text(long tokens) {
        StringBuilder b = new StringBuilder();
        while (TOKENS.estimate(b) < tokens) {
            b.append(PARAGRAPH);
        }
        return b.toString().trim();
    }

    @Override
    protected Deployment deploy(QuotaFilter filter) {
        return Deployment.create()
                .filter("quota", filter, "/*")
                .servlet("model", new Model(), "/ai/*");
    }

    /**
     * The model server behind the relay. {@code POST /api/generate} is Ollama's: the model reads the
     * request's {@code context} token ids followed by the prompt, or the prompt as the request's
     * {@code template} places it ({@code {{ .Prompt }}} each time it appears); it streams NDJSON and the
     * runner dies after three chunks (Ollama then writes {@code {"error": …}} and ends the stream: no
     * counts). {@code POST /v1/chat/completions} is vLLM's: the request's {@code chat_template}, when
     * given, lays out the messages ({@code range(N)} times over); it streams chat chunks and
     * {@code [DONE]}, with no usage since the client did not ask for it.
     */
    class Model extends HttpServlet {
        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            JsonNode body = JSON.readTree(req.getInputStream());
            String subject = req.getHeader("x-user-id");
            calls.count(subject);
            OutputStream out = resp.getOutputStream();
            if ("/api/generate".equals(req.getPathInfo())) {
                String prompt = body.path("prompt").asText();
                long tokens;
                if (body.hasNonNull("template")) {
                    String laidOut = body.get("template").asText().replace("{{ .Prompt }}", prompt)
                            .replace("{{ .System }}", body.path("system").asText());
                    tokens = TOKENS.estimate(laidOut);
                } else {
                    tokens = body.path("context").size() + TOKENS.estimate(prompt);
                }
                read.merge(subject, tokens, Long::sum);
                resp.setContentType("application/x-ndjson");
                for (String word : new String[] {"The", " plan", " starts"}) {
                    out.write(("{\"model\":\"" + OLLAMA_MODEL + "\",\"created_at\":\"2025-05-01T10:00:00Z\","
                            + "\"response\":\"" + word + "\",\"done\":false}\n").getBytes(StandardCharsets.UTF_8));
                    out.flush();
                }
                out.write("{\"error\":\"llama runner process has terminated: signal: killed\"}\n"
                        .getBytes(StandardCharsets.UTF_8));
                return;
            }
            if ("/v1/chat/completions".equals(req.getPathInfo())) {
                StringBuilder said = new StringBuilder();
                body.path("messages").forEach(m -> said.append(m.path("content").asText()).append('\n'));
                long times = 1;
                if (body.hasNonNull("chat_template")) {
                    Matcher m = RANGE.matcher(body.get("chat_template").asText());
                    times = m.find() ? Long.parseLong(m.group(1)) : 1;
                }
                read.merge(subject, times * TOKENS.estimate(said), Long::sum);
                resp.setContentType("text/event-stream");
                String id = "chatcmpl-" + UUID.randomUUID().toString().replace("-", "");
                for (String word : new String[] {"The", " plan", " starts"}) {
                    out.write(("data: {\"id\":\"" + id + "\",\"object\":\"chat.completion.chunk\",\"created\":1746093600,"
                            + "\"model\":\"" + VLLM_MODEL + "\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"" + word
                            + "\"},\"logprobs\":null,\"finish_reason\":null}]}\n\n").getBytes(StandardCharsets.UTF_8));
                    out.flush();
                }
                out.write(("data: {\"id\":\"" + id + "\",\"object\":\"chat.completion.chunk\",\"created\":1746093600,"
                        + "\"model\":\"" + VLLM_MODEL + "\",\"choices\":[{\"index\":0,\"delta\":{},\"logprobs\":null,"
                        + "\"finish_reason\":\"length\"}]}\n\ndata: [DONE]\n\n").getBytes(StandardCharsets.UTF_8));
                return;
            }
            resp.sendError(404);
        }
    }

    long call(String subject, String path, String body) {
        HttpResponse<String> r = TestHttp.postJson(container.uri("/ai" + path), subject, body);
        assertEquals(200, r.statusCode(), r.body());
        assertEquals(1, calls.of(subject), "model calls");
        return settled(subject).used();
    }

    static void paid(String subject, long used, long modelRead, String ledger) {
        // the estimator's own error (within 10%) is allowed for; the model's output is not even counted
        assertTrue(used >= modelRead * 9 / 10, "the model read " + modelRead + " tokens; charged " + used
                + " (allowance " + ALLOWANCE + "); ledger " + ledger);
    }

    /**
     * Ollama's {@code /api/generate} continues a conversation through {@code context}: the token ids the
     * previous call returned in its last object, which clients (ollama-python's {@code generate(context=…)},
     * LangChain's Ollama LLM) send back with the next prompt, and which the model reads before it. A
     * client sends a 4-word prompt with a 12,000-id {@code context} (a long conversation, or ids it made
     * up: any ids in the vocabulary are read) and {@code num_predict} 64; the stream dies after three
     * chunks (the runner killed: Ollama writes {@code {"error": …}} and ends, no counts). The model read
     * 12,000+ tokens; the call should be charged at least 10,800 (90%) and is charged what the estimate
     * saw: the prompt, the budget and the three words (69 here, of 12,005 read). The estimator counts a number only in the
     * conversation or a text field ({@code RequestEstimator}, {@code VALUE_NUMBER_INT}: {@code saysText()}
     * or {@code TEXT_FIELDS}); {@code context} is neither.
     */
    @Test
    void ollamaContextIdsAreReadButNotHeld() throws Exception {
        String s = subject();
        StringBuilder ids = new StringBuilder();
        for (int i = 0; i < 12_000; i++) {
            ids.append(i == 0 ? "" : ",").append(128_000 + (i * 7919) % 100_000);
        }
        String body = "{\"model\":\"" + OLLAMA_MODEL + "\",\"prompt\":\"And what comes next?\",\"context\":[" + ids
                + "],\"options\":{\"num_predict\":64}}";
        long used = call(s, "/api/generate", body);
        paid(s, used, read.get(s), ledger(s));
    }

    /**
     * Control: the same Ollama call with the conversation written into the prompt (about 12,000 tokens
     * of text), cut the same way, is charged at least 90% of what the model read.
     */
    @Test
    void ollamaPromptTextIsHeld() throws Exception {
        String s = subject();
        String body = "{\"model\":\"" + OLLAMA_MODEL + "\",\"prompt\":" + JSON.writeValueAsString(text(12_000))
                + ",\"options\":{\"num_predict\":64}}";
        long used = call(s, "/api/generate", body);
        paid(s, used, read.get(s), ledger(s));
    }

    /**
     * Ollama's {@code /api/generate} takes a per-request {@code template} (a Go template that "overrides
     * what is defined in the Modelfile"). A client sends a prompt of about 400 tokens and a template of
     * 30 {@code {{ .Prompt }}} (about 200 characters): the server lays the prompt out 30 times, and the
     * model reads about 12,000 tokens. The stream dies after three chunks (no counts). The call should be
     * charged at least 90% of the 12,000 and is charged the estimate of the body's text: the prompt once,
     * the template's own characters, the budget (615 here, of 12,624 read).
     */
    @Disabled(OPEN_SERVER_TEMPLATE)
    @Test
    void ollamaTemplateRepeatsThePromptUnheld() throws Exception {
        String s = subject();
        String template = "{{ .System }}" + "{{ .Prompt }}\n".repeat(30);
        String body = "{\"model\":\"" + OLLAMA_MODEL + "\",\"prompt\":" + JSON.writeValueAsString(text(400))
                + ",\"template\":" + JSON.writeValueAsString(template) + ",\"options\":{\"num_predict\":64}}";
        long used = call(s, "/api/generate", body);
        paid(s, used, read.get(s), ledger(s));
    }

    /**
     * vLLM's OpenAI-compatible chat endpoint takes a per-request {@code chat_template} (a Jinja template;
     * served with {@code --trust-request-chat-template} in recent versions, by default before). A client
     * sends one user message of about 400 tokens, {@code max_tokens} 64, {@code "stream": true} without
     * {@code stream_options} (so vLLM, as OpenAI, reports no usage at all), and the template
     * {@code {% for _ in range(30) %}{% for m in messages %}{{ m['content'] }}…}: the model reads the
     * message 30 times, about 12,000 tokens. The stream ends normally with {@code [DONE]}, no usage: the
     * charge is the estimate. It should be at least 90% of the 12,000 and is the message once, the
     * template's characters and the budget (529 here, of 12,630 read).
     */
    @Disabled(OPEN_SERVER_TEMPLATE)
    @Test
    void vllmChatTemplateLoopIsUnheld() throws Exception {
        String s = subject();
        String template = "{% for _ in range(30) %}{% for m in messages %}<|im_start|>{{ m['role'] }}\n"
                + "{{ m['content'] }}<|im_end|>\n{% endfor %}{% endfor %}<|im_start|>assistant\n";
        String body = "{\"model\":\"" + VLLM_MODEL + "\",\"messages\":[{\"role\":\"user\",\"content\":"
                + JSON.writeValueAsString(text(400)) + "}],\"max_tokens\":64,\"stream\":true,\"chat_template\":"
                + JSON.writeValueAsString(template) + "}";
        long used = call(s, "/v1/chat/completions", body);
        paid(s, used, read.get(s), ledger(s));
    }

    /**
     * Control: the same vLLM stream without {@code chat_template}, its one message of about 12,000
     * tokens, is charged at least 90% of what the model read.
     */
    @Test
    void vllmPlainMessageIsHeld() throws Exception {
        String s = subject();
        String body = "{\"model\":\"" + VLLM_MODEL + "\",\"messages\":[{\"role\":\"user\",\"content\":"
                + JSON.writeValueAsString(text(12_000)) + "}],\"max_tokens\":64,\"stream\":true}";
        long used = call(s, "/v1/chat/completions", body);
        paid(s, used, read.get(s), ledger(s));
    }
}
