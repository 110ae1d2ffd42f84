package io.tokenquota.servlet.breakit410;

import static org.junit.jupiter.api.Assertions.assertEquals;

import io.tokenquota.ModelWeights;
import io.tokenquota.QuotaAccount;
import io.tokenquota.servlet.QuotaFilter;
import io.tokenquota.servlet.testing.ChatCompletions;
import io.tokenquota.servlet.testing.Deployment;
import io.tokenquota.servlet.testing.ModelCallRound;
import io.tokenquota.servlet.testing.TestHttp;
import jakarta.servlet.http.HttpServlet;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import org.junit.jupiter.api.Test;

/**
 * Round 410 of issue 11 ("no model call goes unpaid"): per-model weights ({@code QuotaFilter.Builder.modelWeights},
 * README "Per-model weights", "Which model is charged") for providers that name the model in the request's
 * <b>path</b> only, and whose answer names no model.
 *
 * <p>The rule: the charge is at "the model the answer names ..., else the dearest of the models the request
 * names", and "a request can name its model in several places and an endpoint reads one of them by its own rule
 * ... so every one is a candidate" (README). The filter reads three path shapes ({@code RequestEstimator.MODEL_PATHS}:
 * Gemini/Vertex {@code models/{model}:verb}, Bedrock {@code /model/{id}/converse...}, Azure
 * {@code /openai/deployments/{name}/...}). Two more real APIs put the model in the path and nowhere else:
 * <ul>
 *   <li>Cloudflare Workers AI's REST API, {@code POST /client/v4/accounts/{account_id}/ai/run/{model}} with
 *       {@code {model}} such as {@code @cf/meta/llama-3.1-70b-instruct} written unescaped in the path
 *       (developers.cloudflare.com/workers-ai/get-started/rest-api/; the model's page
 *       developers.cloudflare.com/workers-ai/models/llama-3.1-70b-instruct/). Its answer is Cloudflare's API
 *       envelope {@code {"result":{"response":…,"usage":{"prompt_tokens","completion_tokens","total_tokens"}},
 *       "success":true,"errors":[],"messages":[]}}: no model (the same shape as breakit32's {@code WorkersAi}).</li>
 *   <li>Replicate's {@code POST /v1/models/{model_owner}/{model_name}/predictions}
 *       (replicate.com/docs/reference/http#models.predictions.create), whose body is {@code {"input":{…},
 *       "stream":true}}; its stream (replicate.com/docs/topics/predictions/streaming) is {@code event: output}
 *       events and an {@code event: done}: neither a model nor token counts (breakit32's {@code ReplicateStream}).</li>
 * </ul>
 * The request names its model only in the path and the answer names none, so the call is weighed at the table's
 * default: the operator's row for the 70B model is never applied.
 */
abstract class AbstractRound410 extends ModelCallRound {
    /** The 70B rows dear (8 a token of every kind), everything else (the default) 1 a token. */
    static final ModelWeights TABLE = ModelWeights.builder()
            .model("llama-3.1-70b*", ModelWeights.Rates.of("8", "8", "8", "8"))
            .model("meta-llama-3-70b*", ModelWeights.Rates.of("8", "8", "8", "8"))
            .defaults(ModelWeights.Rates.of("1", "1", "1", "1"))
            .build();
    static final long RATE = 8;

    static final String WORKERS_RUN = "/ai/cloudflare/client/v4/accounts/a1/ai/run/@cf/meta/llama-3.1-70b-instruct";
    /** Workers AI's OpenAI-compatible endpoint (developers.cloudflare.com/workers-ai/configuration/open-ai-compatibility/). */
    static final String WORKERS_OPENAI = "/ai/cloudflare/client/v4/accounts/a1/ai/v1/chat/completions";
    static final String REPLICATE = "/ai/replicate/v1/models/meta/meta-llama-3-70b-instruct/predictions";
    /** The same Replicate relay under a prefix weighed one unit a token: what the call costs unweighted. */
    static final String REPLICATE_PLAIN = "/ai/plain/v1/models/meta/meta-llama-3-70b-instruct/predictions";

    static final long PROMPT = 40;
    static final long COMPLETION = 60;
    static final String MESSAGES = "\"messages\":[{\"role\":\"user\",\"content\":\"What is the capital of France?\"}]";

    @Override
    protected Deployment deploy(QuotaFilter unused) {
        QuotaFilter weighted = filterFor("/ai/").modelWeights(TABLE).modelWeights("/ai/plain/", ONE_UNIT_A_TOKEN).build();
        return Deployment.create()
                .filter("weighted", weighted, "/*")
                .servlet("cloudflare", new WorkersAi(), "/ai/cloudflare/*")
                .servlet("replicate", new Replicate(), "/ai/replicate/*")
                .servlet("plain", new Replicate(), "/ai/plain/*");
    }

    /** Workers AI: {@code /ai/run/...} answers in Cloudflare's envelope; {@code /ai/v1/chat/completions} as OpenAI. */
    class WorkersAi extends HttpServlet {
        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            req.getInputStream().readAllBytes();
            calls.count(req.getHeader("x-user-id"));
            resp.setContentType("application/json");
            if (req.getRequestURI().endsWith("/chat/completions")) {
                // OpenAI's chat.completion object (platform.openai.com/docs/api-reference/chat/object), as
                // Workers AI's OpenAI-compatible endpoint answers, naming the model the request named
                resp.getWriter().write(ChatCompletions.completion("id-410", "@cf/meta/llama-3.1-70b-instruct", "Paris.",
                        PROMPT, COMPLETION));
            } else {
                resp.getWriter().write("{\"result\":{\"response\":\"Paris.\",\"tool_calls\":[],"
                        + "\"usage\":{\"prompt_tokens\":" + PROMPT + ",\"completion_tokens\":" + COMPLETION
                        + ",\"total_tokens\":" + (PROMPT + COMPLETION) + "}},"
                        + "\"success\":true,\"errors\":[],\"messages\":[]}");
            }
        }
    }

    /**
     * Replicate: with {@code "stream": true} in the body, the prediction's server-sent events (40 {@code output}
     * events, fewer tokens than the 1,000 asked, then {@code done}); else the finished prediction ({@code Prefer: wait}), which names its
     * {@code model} and reports {@code metrics.input_token_count} / {@code output_token_count}
     * (replicate.com/docs/reference/http#predictions.get; breakit32's shape).
     */
    class Replicate extends HttpServlet {
        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            String body = new String(req.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
            calls.count(req.getHeader("x-user-id"));
            if (body.contains("\"stream\":true")) {
                resp.setContentType("text/event-stream");
                java.io.PrintWriter w = resp.getWriter();
                for (int i = 0; i < 40; i++) {
                    w.write("event: output\nid: " + i + "\ndata: Once upon a time, there was a long story.\n\n");
                }
                w.write("event: done\ndata: {}\n\n");
                w.flush();
                return;
            }
            resp.setContentType("application/json");
            resp.getWriter().write("{\"id\":\"gm3qorzdhgbfurvjtvhg6dckhu\",\"model\":\"meta/meta-llama-3-70b-instruct\","
                    + "\"version\":\"fbfb20b472b2f3bdd101412a9f70a0ed4fc0ced78a77ff00970ee7a2383c575d\","
                    + "\"input\":{\"prompt\":\"Write a very long story.\",\"max_tokens\":1000},"
                    + "\"logs\":\"\",\"output\":[\"Once\",\" upon\",\" a\",\" time\",\"...\"],\"data_removed\":false,"
                    + "\"error\":null,\"status\":\"succeeded\",\"created_at\":\"2025-01-01T00:00:00.000Z\","
                    + "\"started_at\":\"2025-01-01T00:00:00.100Z\",\"completed_at\":\"2025-01-01T00:01:30.000Z\","
                    + "\"urls\":{\"cancel\":\"https://api.replicate.com/v1/predictions/gm3/cancel\","
                    + "\"get\":\"https://api.replicate.com/v1/predictions/gm3\"},"
                    + "\"metrics\":{\"batch_size\":1,\"input_token_count\":" + PROMPT + ",\"output_token_count\":1000,"
                    + "\"predict_time\":89.9,\"time_to_first_token\":0.2,\"tokens_per_second\":89.0,"
                    + "\"total_time\":90.0}}");
        }
    }

    HttpResponse<String> post(String path, String s, String body) {
        return TestHttp.postJson(container.uri(path), s, body);
    }

    void assertUsed(String s, HttpResponse<String> r, long expected, String what) {
        QuotaAccount a = settled(s);
        assertEquals(200, r.statusCode(), figures(s, r, a));
        assertEquals(1, calls.of(s), figures(s, r, a));
        assertEquals(expected, a.used(), kind() + ": " + what + ": " + figures(s, r, a));
    }

    // ------------------------------------------------------------------ Workers AI: the model in /ai/run/{model}

    /**
     * Found and fixed: {@code POST .../ai/run/@cf/meta/llama-3.1-70b-instruct} ({@code max_tokens} 1,000); Workers AI
     * reports 40 prompt + 60 completion tokens and names no model. The only model the request names is the path's
     * 70B, whose row weighs 8 a token: 100 x 8 = 800 units. The filter does not read the path and charges the
     * table's default, 100.
     */
    @Test
    void workersAiRunPathModelIsWeighed() {
        String s = subject();
        HttpResponse<String> r = post(WORKERS_RUN, s, "{" + MESSAGES + ",\"max_tokens\":1000}");
        assertUsed(s, r, (PROMPT + COMPLETION) * RATE, "Workers AI ran @cf/meta/llama-3.1-70b-instruct (the path's"
                + " model, row llama-3.1-70b* at 8) for 40 + 60 tokens: 800 units");
    }

    /** Control: the same model named in the body of Workers AI's OpenAI-compatible endpoint: 800 units. */
    @Test
    void workersAiOpenAiEndpointBodyModelIsWeighed() {
        String s = subject();
        HttpResponse<String> r = post(WORKERS_OPENAI, s,
                "{\"model\":\"@cf/meta/llama-3.1-70b-instruct\"," + MESSAGES + ",\"max_tokens\":1000}");
        assertUsed(s, r, (PROMPT + COMPLETION) * RATE, "the body's model @cf/meta/llama-3.1-70b-instruct");
    }

    // ------------------------------------------------------------------ Replicate: the model in /models/{owner}/{name}

    static final String STORY = "{\"stream\":true,\"input\":{\"prompt\":\"Write a very long story.\",\"max_tokens\":1000}}";

    /**
     * Found and fixed: a streamed Replicate prediction of {@code meta/meta-llama-3-70b-instruct} (the path's model) has no
     * usage and names no model, so it is charged its hold (1,010 tokens: 10 input, the 1,000 asked; its text is less). At the 70B row's 8 a token of
     * every kind that is 8 times what the same call costs one unit a token (measured on {@code /ai/plain/}); the
     * filter charges the default's 1 a token instead.
     */
    @Test
    void replicateStreamPathModelIsWeighed() {
        String plain = subject();
        HttpResponse<String> unweighted = post(REPLICATE_PLAIN, plain, STORY);
        assertEquals(200, unweighted.statusCode(), unweighted.body());
        long tokens = settled(plain).used();
        String s = subject();
        HttpResponse<String> r = post(REPLICATE, s, STORY);
        assertUsed(s, r, tokens * RATE, "the stream of meta/meta-llama-3-70b-instruct (row meta-llama-3-70b* at 8)"
                + " costs " + tokens + " tokens one unit a token, so " + tokens * RATE + " units");
    }

    /** Control: the finished prediction names its model: 40 + 1,000 tokens at 8, 8,320 units. */
    @Test
    void replicatePredictionAnswerModelIsWeighed() {
        String s = subject();
        HttpResponse<String> r = post(REPLICATE, s, "{\"input\":{\"prompt\":\"Write a very long story.\",\"max_tokens\":1000}}");
        assertUsed(s, r, (PROMPT + 1_000) * RATE, "the prediction's model meta/meta-llama-3-70b-instruct");
    }
}
