package io.tokenquota.servlet.breakit32;

import static io.tokenquota.servlet.testing.RelayedAnswers.called;
import static io.tokenquota.servlet.testing.RelayedAnswers.calls;
import static org.junit.jupiter.api.Assertions.assertEquals;

import io.tokenquota.QuotaAccount;
import io.tokenquota.servlet.QuotaFilter;
import io.tokenquota.servlet.testing.Deployment;
import io.tokenquota.servlet.testing.H2FilterRound;
import io.tokenquota.servlet.testing.TestHttp;
import jakarta.servlet.http.HttpServlet;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;
import java.net.http.HttpResponse;
import java.util.UUID;
import org.junit.jupiter.api.Test;

/**
 * Round 32 of issue 11 ("no model call goes unpaid, nothing that never reached a model is charged"):
 * providers whose request budget and answer usage sit where the filter does not look.
 */
abstract class AbstractRound32 extends H2FilterRound {

    /**
     * A relay of Replicate's predictions API ({@code POST /v1/models/{owner}/{name}/predictions} with
     * {@code Prefer: wait}): the model's settings are under {@code input} (Replicate's official Llama 3
     * models read {@code input.max_tokens}), and the finished prediction reports its tokens in
     * {@code metrics.input_token_count} / {@code metrics.output_token_count}. The model writes what the
     * request asked for: {@code input.max_tokens} tokens.
     */
    public static class Replicate extends HttpServlet {
        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            called(req);
            resp.setContentType("application/json");
            resp.getWriter().write("{\"id\":\"gm3qorzdhgbfurvjtvhg6dckhu\",\"model\":\"meta/meta-llama-3-70b-instruct\","
                    + "\"version\":\"fbfb20b472b2f3bdd101412a9f70a0ed4fc0ced78a77ff00970ee7a2383c575d\","
                    + "\"input\":{\"prompt\":\"Write a very long story.\",\"max_tokens\":8000},"
                    + "\"logs\":\"\",\"output\":[\"Once\",\" upon\",\" a\",\" time\",\"...\"],\"data_removed\":false,"
                    + "\"error\":null,\"status\":\"succeeded\",\"created_at\":\"2025-01-01T00:00:00.000Z\","
                    + "\"started_at\":\"2025-01-01T00:00:00.100Z\",\"completed_at\":\"2025-01-01T00:01:30.000Z\","
                    + "\"urls\":{\"cancel\":\"https://api.replicate.com/v1/predictions/gm3/cancel\","
                    + "\"get\":\"https://api.replicate.com/v1/predictions/gm3\"},"
                    + "\"metrics\":{\"batch_size\":1,\"input_token_count\":40,\"output_token_count\":8000,"
                    + "\"predict_time\":89.9,\"time_to_first_token\":0.2,\"tokens_per_second\":89.0,"
                    + "\"total_time\":90.0}}");
        }
    }

    /**
     * A relay of IBM watsonx.ai's text generation ({@code POST /ml/v1/text/generation}): the answer
     * reports {@code results[].input_token_count} and {@code results[].generated_token_count}.
     */
    public static class Watsonx extends HttpServlet {
        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            called(req);
            resp.setContentType("application/json");
            resp.getWriter().write("{\"model_id\":\"ibm/granite-3-8b-instruct\",\"model_version\":\"1.1.0\","
                    + "\"created_at\":\"2025-01-01T00:00:00.000Z\",\"results\":[{\"generated_text\":\"Paris.\","
                    + "\"generated_token_count\":60,\"input_token_count\":40,\"stop_reason\":\"eos_token\"}]}");
        }
    }

    /**
     * A relay of Cloudflare Workers AI's REST API ({@code POST /client/v4/accounts/{id}/ai/run/@cf/...}):
     * Cloudflare's API envelope puts the model's answer, and its usage, under {@code result}.
     */
    public static class WorkersAi extends HttpServlet {
        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            called(req);
            resp.setContentType("application/json");
            resp.getWriter().write("{\"result\":{\"response\":\"Paris.\",\"tool_calls\":[],"
                    + "\"usage\":{\"prompt_tokens\":40,\"completion_tokens\":60,\"total_tokens\":100}},"
                    + "\"success\":true,\"errors\":[],\"messages\":[]}");
        }
    }

    /**
     * A relay of Replicate's stream ({@code GET} of the prediction's {@code urls.stream}, or the
     * prediction created with {@code "stream": true} and relayed): {@code output} events carrying the
     * text and a {@code done} event; Replicate's stream reports no token counts. The model writes
     * {@code input.max_tokens} (8,000) tokens.
     */
    public static class ReplicateStream extends HttpServlet {
        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            called(req);
            resp.setContentType("text/event-stream");
            java.io.PrintWriter w = resp.getWriter();
            for (int i = 0; i < 200; i++) {
                w.write("event: output\nid: " + i + "\ndata: Once upon a time, there was a long story.\n\n");
            }
            w.write("event: done\ndata: {}\n\n");
            w.flush();
        }
    }

    @Override
    protected Deployment deploy(QuotaFilter filter) {
        return Deployment.create()
                .filter("quota", filter, "/*")
                .servlet("replicate", new Replicate(), "/ai/replicate/*")
                .servlet("replicate-stream", new ReplicateStream(), "/ai/replicate-stream/*")
                .servlet("watsonx", new Watsonx(), "/ai/watsonx/*")
                .servlet("workers", new WorkersAi(), "/ai/cloudflare/*");
    }

    static String subject() {
        return "u32-" + UUID.randomUUID().toString().substring(0, 12);
    }

    HttpResponse<String> post(String path, String subject, String body) {
        return TestHttp.postJson(container.uri(path), subject, body);
    }

    void assertCharged(String s, long expected, String what) {
        assertEquals(1, calls(s), "one model call was made");
        QuotaAccount a = settled(s);
        assertEquals(expected, a.used(), what + "; the ledger charged " + a.used() + ": " + ledger(s));
    }

    // ------------------------------------------------------------------ 1. Replicate: budget under input, usage in metrics

    /**
     * {@code POST /ai/replicate/models/meta/meta-llama-3-70b-instruct/predictions} with
     * {@code {"input":{"prompt":"Write a very long story.","max_tokens":8000}}}: the estimate does not
     * read the budget under {@code input} (it holds input + the 1,000 default) and the sniffer does not
     * read Replicate's {@code metrics}: an 8,040-token call is charged about 1,010.
     */
    @Test
    void replicatePredictionIsChargedItsUsage() {
        String s = subject();
        HttpResponse<String> r = post("/ai/replicate/models/meta/meta-llama-3-70b-instruct/predictions", s,
                "{\"input\":{\"prompt\":\"Write a very long story.\",\"max_tokens\":8000}}");
        assertEquals(200, r.statusCode(), r.body());
        assertCharged(s, 8_040, "Replicate reported 40 input + 8,000 output tokens");
    }

    // ------------------------------------------------------------------ 2. watsonx.ai: usage in results[]

    /**
     * {@code POST /ai/watsonx/ml/v1/text/generation} with {@code parameters.max_new_tokens: 8000}: the
     * model wrote 60 tokens and watsonx reported 40 + 60; the sniffer does not read
     * {@code results[].input_token_count / generated_token_count}, so the 100-token call is charged
     * the 8,000-token budget of its estimate.
     */
    @Test
    void watsonxGenerationIsChargedItsUsage() {
        String s = subject();
        HttpResponse<String> r = post("/ai/watsonx/ml/v1/text/generation?version=2024-05-01", s,
                "{\"model_id\":\"ibm/granite-3-8b-instruct\",\"project_id\":\"p-1\",\"input\":\"What is the capital"
                        + " of France?\",\"parameters\":{\"decoding_method\":\"greedy\",\"max_new_tokens\":8000}}");
        assertEquals(200, r.statusCode(), r.body());
        assertCharged(s, 100, "watsonx.ai reported 40 input + 60 generated tokens");
    }

    // ------------------------------------------------------------------ 3. Cloudflare Workers AI: usage under result

    /**
     * {@code POST /ai/cloudflare/client/v4/accounts/a1/ai/run/@cf/meta/llama-3.1-8b-instruct} with
     * {@code max_tokens: 8000}: Workers AI reported {@code result.usage} 40 + 60; charged the estimate.
     */
    @Test
    void cloudflareWorkersAiIsChargedItsUsage() {
        String s = subject();
        HttpResponse<String> r = post("/ai/cloudflare/client/v4/accounts/a1/ai/run/@cf/meta/llama-3.1-8b-instruct", s,
                "{\"messages\":[{\"role\":\"user\",\"content\":\"What is the capital of France?\"}],\"max_tokens\":8000}");
        assertEquals(200, r.statusCode(), r.body());
        assertCharged(s, 100, "Workers AI reported 40 prompt + 60 completion tokens");
    }

    // ------------------------------------------------------------------ 4. Replicate stream: the budget under input

    /**
     * {@code POST /ai/replicate-stream/models/meta/meta-llama-3-70b-instruct/predictions} with
     * {@code {"stream":true,"input":{"prompt":"Write a very long story.","max_tokens":8000}}}: the stream
     * has no usage, so the estimate is charged, and the estimate holds the 1,000 default instead of the
     * 8,000-token budget the request asked for under {@code input}, where Replicate reads it (also
     * {@code input.max_new_tokens} on its older models): 7,000 of the tokens the model wrote are free.
     */
    @Test
    void replicateBudgetUnderInputIsHeldAndCharged() {
        String s = subject();
        HttpResponse<String> r = post("/ai/replicate-stream/models/meta/meta-llama-3-70b-instruct/predictions", s,
                "{\"stream\":true,\"input\":{\"prompt\":\"Write a very long story.\",\"max_tokens\":8000}}");
        assertEquals(200, r.statusCode(), r.body());
        assertEquals(1, calls(s), "one model call was made");
        QuotaAccount a = settled(s);
        org.junit.jupiter.api.Assertions.assertTrue(a.used() >= 8_000, "the request asked Replicate for 8,000 output"
                + " tokens under input.max_tokens and the answer reported no usage; the ledger charged " + a.used()
                + ": " + ledger(s));
    }
}
