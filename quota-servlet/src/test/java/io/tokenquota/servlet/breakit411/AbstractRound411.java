package io.tokenquota.servlet.breakit411;

import static org.junit.jupiter.api.Assertions.assertEquals;

import io.tokenquota.ModelWeights;
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
import java.util.UUID;
import org.junit.jupiter.api.Test;

/**
 * Round 411 of issue 11: a Bedrock InvokeModel relay ({@code /ai/bedrock/model/{modelId}/invoke} and
 * {@code /invoke-with-response-stream}, the paths of Bedrock Runtime's API reference) behind a filter
 * weighing by model, with a table written in Bedrock's model ids ({@code anthropic.claude-3-opus*},
 * {@code meta.llama3-1-405b*}), as rounds 29 and 249 write theirs.
 *
 * <p>A Meta Llama answer names no model (AWS Bedrock user guide, "Meta Llama models", response body:
 * {@code generation}, {@code prompt_token_count}, {@code generation_token_count}, {@code stop_reason}): the
 * path's model prices it. An Anthropic answer on Bedrock is Anthropic's Messages body, which names the
 * model in <em>Anthropic's</em> id, not Bedrock's (AWS Bedrock user guide, "Anthropic Claude Messages API",
 * response example {@code "id": "msg_bdrk_…", "model": "claude-3-5-sonnet-20240620"}; LiteLLM's Bedrock
 * pass-through test {@code INVOKE_BODY}: {@code "model": "claude-3-5-sonnet-20241022"} for the call to
 * {@code anthropic.claude-3-5-sonnet-20241022-v2:0}; its stream's {@code message_start} likewise). The
 * answer's name then wins over the path's (Weighing.weigh) and matches no row: the same Opus call the path
 * names is charged at the table's default.
 */
abstract class AbstractRound411 extends H2FilterRound {
    final ModelCalls calls = new ModelCalls();

    static final ModelWeights WEIGHTS = ModelWeights.builder()
            .model("anthropic.claude-3-opus*", ModelWeights.Rates.of("2", "2", "4", "4"))
            .model("meta.llama3-1-405b*", ModelWeights.Rates.of("2", "2", "4", "4"))
            .defaults(ModelWeights.Rates.of("1", "1", "1", "1"))
            .build();

    static final long INPUT = 1_200;
    static final long OUTPUT = 3_000;
    /** The call's usage at the path model's rates: 1,200 x 2 + 3,000 x 4. */
    static final long AT_PATH_MODEL = INPUT * 2 + OUTPUT * 4;

    static final String TEXT = "The termination clause allows thirty days' notice. ";

    static String subject() {
        return "u411-" + UUID.randomUUID().toString().substring(0, 12);
    }

    @Override
    protected Deployment deploy(QuotaFilter unused) {
        QuotaFilter weighted = filterFor("/ai/").modelWeights(WEIGHTS).build();
        return Deployment.create()
                .filter("weighted", weighted, "/*")
                .servlet("bedrock", new InvokeModel(), "/ai/bedrock/*");
    }

    /**
     * A relay of Bedrock Runtime's InvokeModel: the model id is the path's, the body the model family's
     * native one, answered as Bedrock answers it.
     */
    class InvokeModel extends HttpServlet {
        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            req.getInputStream().readAllBytes();
            String p = req.getPathInfo();
            if (p == null || !p.matches("/model/[^/]+/(invoke|invoke-with-response-stream|converse)")) {
                resp.sendError(404);
                return;
            }
            calls.count(req.getHeader("x-user-id"));
            String model = p.split("/")[2];
            boolean stream = p.endsWith("/invoke-with-response-stream");
            OutputStream out = resp.getOutputStream();
            if (p.endsWith("/converse")) {
                // Bedrock Runtime API reference, Converse: the answer names no model
                resp.setContentType("application/json");
                out.write(("{\"output\":{\"message\":{\"role\":\"assistant\",\"content\":[{\"text\":\""
                        + TEXT.repeat(200) + "\"}]}},\"stopReason\":\"end_turn\",\"usage\":{\"inputTokens\":" + INPUT
                        + ",\"outputTokens\":" + OUTPUT + ",\"totalTokens\":" + (INPUT + OUTPUT)
                        + "},\"metrics\":{\"latencyMs\":9120}}").getBytes(StandardCharsets.UTF_8));
            } else if (model.contains("meta.llama")) {
                // AWS Bedrock user guide, Meta Llama models, InvokeModel response body
                resp.setContentType("application/json");
                out.write(("{\"generation\":\"" + TEXT.repeat(200) + "\",\"prompt_token_count\":" + INPUT
                        + ",\"generation_token_count\":" + OUTPUT + ",\"stop_reason\":\"stop\"}")
                        .getBytes(StandardCharsets.UTF_8));
            } else if (!stream) {
                // AWS Bedrock user guide, Anthropic Claude Messages API, InvokeModel response body
                resp.setContentType("application/json");
                out.write(("{\"id\":\"msg_bdrk_01WpFc3918C93ZG9ZMKVqzCd\",\"type\":\"message\",\"role\":\"assistant\","
                        + "\"model\":\"claude-3-opus-20240229\",\"content\":[{\"type\":\"text\",\"text\":\""
                        + TEXT.repeat(200) + "\"}],\"stop_reason\":\"end_turn\",\"stop_sequence\":null,"
                        + "\"usage\":{\"input_tokens\":" + INPUT + ",\"output_tokens\":" + OUTPUT + "}}")
                        .getBytes(StandardCharsets.UTF_8));
            } else {
                // the chunks' bytes relayed as SSE, each Anthropic's streaming event; the last carries
                // Bedrock's amazon-bedrock-invocationMetrics (AWS Bedrock user guide, InvokeModelWithResponseStream)
                resp.setContentType("text/event-stream");
                StringBuilder sse = new StringBuilder();
                sse.append("event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":"
                        + "\"msg_bdrk_01WuFzkDbE9KWgiWakMRNKcA\",\"type\":\"message\",\"role\":\"assistant\","
                        + "\"content\":[],\"model\":\"claude-3-opus-20240229\",\"stop_reason\":null,"
                        + "\"stop_sequence\":null,\"usage\":{\"input_tokens\":" + INPUT + ",\"output_tokens\":1}}}\n\n");
                sse.append("event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,"
                        + "\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n");
                sse.append("event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,"
                        + "\"delta\":{\"type\":\"text_delta\",\"text\":\"" + TEXT.repeat(200) + "\"}}\n\n");
                sse.append("event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":0}\n\n");
                sse.append("event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":"
                        + "\"end_turn\",\"stop_sequence\":null},\"usage\":{\"output_tokens\":" + OUTPUT + "}}\n\n");
                sse.append("event: message_stop\ndata: {\"type\":\"message_stop\",\"amazon-bedrock-invocationMetrics\":"
                        + "{\"inputTokenCount\":" + INPUT + ",\"outputTokenCount\":" + OUTPUT
                        + ",\"invocationLatency\":9120,\"firstByteLatency\":410}}\n\n");
                out.write(sse.toString().getBytes(StandardCharsets.UTF_8));
            }
        }
    }

    /** Anthropic's Messages body as Bedrock takes it (AWS Bedrock user guide, Anthropic Claude Messages API). */
    static final String CLAUDE_BODY = "{\"anthropic_version\":\"bedrock-2023-05-31\",\"max_tokens\":4000,"
            + "\"messages\":[{\"role\":\"user\",\"content\":\"Summarise the contract's termination clauses.\"}]}";
    /** Meta Llama's body (AWS Bedrock user guide, Meta Llama models: prompt, max_gen_len). */
    static final String LLAMA_BODY = "{\"prompt\":\"<|begin_of_text|><|start_header_id|>user<|end_header_id|>\\n\\n"
            + "Summarise the contract's termination clauses.<|eot_id|><|start_header_id|>assistant<|end_header_id|>"
            + "\\n\\n\",\"max_gen_len\":4000,\"temperature\":0.5}";

    long invoke(String s, String path, String body) throws InterruptedException {
        HttpResponse<String> r = TestHttp.postJson(container.uri(path), s, body);
        assertEquals(200, r.statusCode(), r.body());
        assertEquals(1, calls.of(s));
        return settled(s).used();
    }

    /** Control: a Meta Llama 3.1 405B InvokeModel call; its answer names no model, the path's rates apply. */
    @Test
    void aLlamaInvokeCallIsChargedAtThePathsModel() throws Exception {
        String s = subject();
        long used = invoke(s, "/ai/bedrock/model/meta.llama3-1-405b-instruct-v1:0/invoke", LLAMA_BODY);
        assertEquals(AT_PATH_MODEL, used, ledger(s));
    }

    /** Control: the same Opus call by Converse (Bedrock Runtime API reference), whose answer names no model. */
    @Test
    void aClaudeConverseCallIsChargedAtThePathsModel() throws Exception {
        String s = subject();
        String body = "{\"messages\":[{\"role\":\"user\",\"content\":[{\"text\":\"Summarise the contract's"
                + " termination clauses.\"}]}],\"inferenceConfig\":{\"maxTokens\":4000}}";
        long used = invoke(s, "/ai/bedrock/model/anthropic.claude-3-opus-20240229-v1:0/converse", body);
        assertEquals(AT_PATH_MODEL, used, ledger(s));
    }

    /**
     * Found and fixed: Claude 3 Opus by InvokeModel, the same relay, the same usage. The answer names
     * {@code claude-3-opus-20240229} (Anthropic's id for the model the path names), which no row matches.
     */
    @Test
    void aClaudeInvokeCallIsChargedAtThePathsModel() throws Exception {
        String s = subject();
        long used = invoke(s, "/ai/bedrock/model/anthropic.claude-3-opus-20240229-v1:0/invoke", CLAUDE_BODY);
        assertEquals(AT_PATH_MODEL, used, "an Opus call (1,200 in, 3,000 out) at the Opus row's rates: " + ledger(s));
    }

    /** Found and fixed, streamed: message_start names the model as Anthropic does. */
    @Test
    void aClaudeInvokeStreamIsChargedAtThePathsModel() throws Exception {
        String s = subject();
        long used = invoke(s, "/ai/bedrock/model/anthropic.claude-3-opus-20240229-v1:0/invoke-with-response-stream",
                CLAUDE_BODY);
        assertEquals(AT_PATH_MODEL, used, "an Opus stream (1,200 in, 3,000 out) at the Opus row's rates: " + ledger(s));
    }

    /** Control: a Llama call by a cross-region inference profile's id ({@code us.meta…}). */
    @Test
    void aLlamaInvokeCallByItsProfileIsChargedAtThePathsModel() throws Exception {
        String s = subject();
        long used = invoke(s, "/ai/bedrock/model/us.meta.llama3-1-405b-instruct-v1:0/invoke", LLAMA_BODY);
        assertEquals(AT_PATH_MODEL, used, ledger(s));
    }
}
