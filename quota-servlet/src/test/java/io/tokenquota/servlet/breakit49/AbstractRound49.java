package io.tokenquota.servlet.breakit49;

import static io.tokenquota.servlet.testing.JsonTree.quoted;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.tokenquota.servlet.QuotaFilter;
import io.tokenquota.servlet.testing.Deployment;
import io.tokenquota.servlet.testing.H2FilterRound;
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
import org.junit.jupiter.api.Test;

/**
 * Round 49 of issue 11 ("no model call goes unpaid, nothing that never reached a model is charged"):
 * honest, mainstream OpenAI, Anthropic and Gemini requests against this session's new rules (budgets
 * read at any depth and in JSON texts, the 422 {@code output-budget-too-large} refusal, the output cap's
 * rewrite, the token-count release). Each mock endpoint reads the request as the provider does and
 * answers with the provider's usage (the legacy completions stream carries none, as OpenAI's does
 * without {@code include_usage}).
 */
abstract class AbstractRound49 extends H2FilterRound {
    static final ObjectMapper JSON = new ObjectMapper();
    /** The budget each request reached the endpoint with, by subject. */
    static final Map<String, Long> SENT = new ConcurrentHashMap<>();

    static String subject() {
        return "u49-" + UUID.randomUUID().toString().substring(0, 12);
    }


    @Override
    protected Deployment deploy(QuotaFilter filter) {
        return Deployment.create()
                .filter("quota", filter, "/ai/*")
                .servlet("models", new Models(), "/ai/*");
    }

    public static class Models extends HttpServlet {
        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            String path = req.getRequestURI();
            byte[] raw = req.getInputStream().readAllBytes();
            if (path.endsWith("/triton/v2/models/vllm_model/infer")) {
                tritonBinary(req, raw, resp);
                return;
            }
            JsonNode body = JSON.readTree(raw);
            String subject = req.getHeader("x-user-id");
            if (path.endsWith("/v1/responses")) {
                long out = Math.min(40, body.path("max_output_tokens").asLong(40));
                write(resp, "{\"id\":\"resp_49\",\"object\":\"response\",\"status\":\"completed\",\"model\":\"gpt-4.1-mini\","
                        + "\"output\":[{\"type\":\"message\",\"role\":\"assistant\",\"content\":[{\"type\":\"output_text\","
                        + "\"text\":\"It asks gpt-4o for a long story.\"}]}],"
                        + "\"usage\":{\"input_tokens\":90,\"output_tokens\":" + out + ",\"total_tokens\":" + (90 + out) + "}}");
            } else if (path.endsWith("/v1/chat/completions")) {
                write(resp, "{\"id\":\"chatcmpl-49\",\"object\":\"chat.completion\",\"model\":\"gpt-4.1\","
                        + "\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\",\"content\":\"{}\"},\"finish_reason\":\"stop\"}],"
                        + "\"usage\":{\"prompt_tokens\":180,\"completion_tokens\":60,\"total_tokens\":240}}");
            } else if (path.endsWith("/v1/completions")) {
                // OpenAI's legacy completions stream without include_usage: no usage; the model writes its budget
                long budget = body.path("max_tokens").asLong(16);
                SENT.put(subject, budget);
                resp.setContentType("text/event-stream");
                OutputStream out = resp.getOutputStream();
                for (long i = 0; i < budget; i += 10) {
                    out.write(("data: {\"id\":\"cmpl-49\",\"object\":\"text_completion\",\"model\":\"gpt-3.5-turbo-instruct\","
                            + "\"choices\":[{\"text\":\"" + " word".repeat(10) + "\",\"index\":0,\"finish_reason\":null}]}\n\n")
                            .getBytes(StandardCharsets.UTF_8));
                }
                out.write("data: [DONE]\n\n".getBytes(StandardCharsets.UTF_8));
            } else if (path.endsWith("/triton/v2/models/vllm_json/infer")) {
                long budget = 16;
                for (JsonNode input : body.path("inputs")) {
                    if ("sampling_parameters".equals(input.path("name").asText())) {
                        budget = JSON.readTree(input.path("data").path(0).asText()).path("max_tokens").asLong(16);
                    }
                }
                write(resp, "{\"model_name\":\"vllm_model\",\"model_version\":\"1\",\"outputs\":[{\"name\":\"text_output\","
                        + "\"datatype\":\"BYTES\",\"shape\":[1],\"data\":[" + quoted("word ".repeat((int) budget)) + "]}]}");
            } else if (path.endsWith("/count-tokens:rawPredict")) {
                // Claude on Vertex AI: Anthropic's count, free
                write(resp, "{\"input_tokens\":14}");
            } else if (path.endsWith("/count-tokens")) {
                // Bedrock Runtime's CountTokens: free
                write(resp, "{\"inputTokens\":14}");
            } else if (path.endsWith("/tokenize")) {
                // vLLM's OpenAI-compatible server: its tokenizer, no model
                write(resp, "{\"count\":9,\"max_model_len\":32768,\"tokens\":[791,4062,14198,39935,35308,927,279,16053,5679],"
                        + "\"token_strs\":null}");
            } else if (path.endsWith(":countTokens")) {
                write(resp, "{\"totalTokens\":31,\"promptTokensDetails\":[{\"modality\":\"TEXT\",\"tokenCount\":31}]}");
            } else if (path.endsWith(":computeTokens")) {
                // Vertex AI's tokenizer: the prompt's tokens and ids, no model
                write(resp, "{\"tokensInfo\":[{\"tokens\":[\"VGhl\",\"IHF1aWNr\",\"IGJyb3du\",\"IGZveA==\"],"
                        + "\"tokenIds\":[\"651\",\"4320\",\"8426\",\"25341\"],\"role\":\"user\"}]}");
            } else if (path.endsWith(":generateContent")) {
                write(resp, "{\"candidates\":[{\"content\":{\"role\":\"model\",\"parts\":[{\"text\":\"Fixed the typo.\"}]},"
                        + "\"finishReason\":\"STOP\",\"index\":0}],\"usageMetadata\":{\"promptTokenCount\":70,"
                        + "\"candidatesTokenCount\":30,\"totalTokenCount\":100},\"modelVersion\":\"gemini-2.5-flash\"}");
            } else if (path.endsWith("/anthropic/v1/messages")) {
                // Anthropic's Messages API checks extended thinking's budget against max_tokens
                long max = body.path("max_tokens").asLong();
                JsonNode thinking = body.path("thinking");
                if ("enabled".equals(thinking.path("type").asText()) && thinking.path("budget_tokens").asLong() >= max) {
                    resp.setStatus(400);
                    write(resp, "{\"type\":\"error\",\"error\":{\"type\":\"invalid_request_error\",\"message\":"
                            + "\"`max_tokens` must be greater than `thinking.budget_tokens`. Please consult our documentation at"
                            + " https://docs.claude.com/en/docs/build-with-claude/extended-thinking#max-tokens-and-context-window-size\"}}");
                    return;
                }
                write(resp, "{\"id\":\"msg_49\",\"type\":\"message\",\"role\":\"assistant\",\"model\":\"claude-sonnet-4-5\","
                        + "\"content\":[{\"type\":\"thinking\",\"thinking\":\"...\",\"signature\":\"sig\"},{\"type\":\"text\",\"text\":\"Proof.\"}],"
                        + "\"stop_reason\":\"end_turn\",\"usage\":{\"input_tokens\":40,\"output_tokens\":900}}");
            } else {
                resp.sendError(404);
            }
        }

        /**
         * Triton's vLLM backend over KServe v2 with the binary tensor data extension, as
         * {@code tritonclient.http} sends every input by default ({@code set_data_from_numpy(…,
         * binary_data=True)}): a JSON header of {@code Inference-Header-Content-Length} bytes naming each
         * input's {@code binary_data_size}, then the tensors' bytes (a BYTES element: a 4-byte
         * little-endian length and its bytes). {@code sampling_parameters} is vLLM's SamplingParams as a
         * JSON text, which the backend {@code json.loads}. The answer's {@code text_output} has no counts.
         */
        private static void tritonBinary(HttpServletRequest req, byte[] raw, HttpServletResponse resp) throws IOException {
            int headerLength = Integer.parseInt(req.getHeader("Inference-Header-Content-Length"));
            JsonNode header = JSON.readTree(java.util.Arrays.copyOfRange(raw, 0, headerLength));
            java.nio.ByteBuffer data = java.nio.ByteBuffer.wrap(raw, headerLength, raw.length - headerLength)
                    .order(java.nio.ByteOrder.LITTLE_ENDIAN);
            long budget = 16;
            for (JsonNode input : header.path("inputs")) {
                int size = input.path("parameters").path("binary_data_size").asInt();
                byte[] tensor = new byte[size];
                data.get(tensor);
                if ("sampling_parameters".equals(input.path("name").asText())) {
                    java.nio.ByteBuffer element = java.nio.ByteBuffer.wrap(tensor).order(java.nio.ByteOrder.LITTLE_ENDIAN);
                    int length = element.getInt();
                    budget = JSON.readTree(new String(tensor, 4, length, StandardCharsets.UTF_8)).path("max_tokens").asLong(16);
                }
            }
            write(resp, "{\"model_name\":\"vllm_model\",\"model_version\":\"1\",\"outputs\":[{\"name\":\"text_output\","
                    + "\"datatype\":\"BYTES\",\"shape\":[1],\"data\":[" + quoted("word ".repeat((int) budget)) + "]}]}");
        }

        private static void write(HttpServletResponse resp, String json) throws IOException {
            resp.setContentType("application/json");
            resp.getOutputStream().write(json.getBytes(StandardCharsets.UTF_8));
        }
    }

    /** A logged chat request, as an LLM-ops tool stores it: a JSON text. */
    static final String LOGGED_REQUEST = "{\"model\":\"gpt-4o\",\"max_tokens\":32768,\"messages\":[{\"role\":\"user\","
            + "\"content\":\"Write a long story about a lighthouse keeper.\"}]}";

    /** A KServe v2 BYTES element of the binary tensor data extension: its length (4 bytes, little-endian), its bytes. */
    static byte[] bytesElement(String text) {
        byte[] bytes = text.getBytes(StandardCharsets.UTF_8);
        return java.nio.ByteBuffer.allocate(4 + bytes.length).order(java.nio.ByteOrder.LITTLE_ENDIAN)
                .putInt(bytes.length).put(bytes).array();
    }

    /**
     * {@code tritonclient.http}'s {@code infer} of Triton's vLLM backend, its inputs as binary tensors
     * (the client's default): {@code sampling_parameters} {@code {"max_tokens": 8000}} rides in the
     * binary section after the JSON header, where the filter does not look. Held at the 1,000 default;
     * the model writes 8,000 tokens and the answer has no counts.
     */
    @Test
    void aTritonBinaryTensorBudgetIsHeld() throws IOException {
        String s = subject();
        byte[] prompt = bytesElement("Write a very long story.");
        byte[] stream = {0};
        byte[] sampling = bytesElement("{\"max_tokens\": 8000, \"temperature\": 0.7}");
        byte[] header = ("{\"inputs\":[{\"name\":\"text_input\",\"shape\":[1],\"datatype\":\"BYTES\",\"parameters\":"
                + "{\"binary_data_size\":" + prompt.length + "}},{\"name\":\"stream\",\"shape\":[1],\"datatype\":\"BOOL\","
                + "\"parameters\":{\"binary_data_size\":1}},{\"name\":\"sampling_parameters\",\"shape\":[1],\"datatype\":\"BYTES\","
                + "\"parameters\":{\"binary_data_size\":" + sampling.length + "}}],\"outputs\":[{\"name\":\"text_output\","
                + "\"parameters\":{\"binary_data\":false}}]}").getBytes(StandardCharsets.UTF_8);
        java.io.ByteArrayOutputStream body = new java.io.ByteArrayOutputStream();
        body.write(header);
        body.write(prompt);
        body.write(stream);
        body.write(sampling);
        HttpResponse<String> r = TestHttp.post(container.uri("/ai/triton/v2/models/vllm_model/infer"), body.toByteArray(),
                "x-user-id", s, "Inference-Header-Content-Length", Integer.toString(header.length));
        assertEquals(200, r.statusCode(), r.body());
        long used = settled(s).used();
        assertTrue(used >= 8_000, "the model wrote 8,000 tokens without counts; charged " + used + ": " + ledger(s));
    }

    /**
     * The JSON-text settings of Triton's vLLM backend ({@code sampling_parameters}, a BYTES tensor in
     * JSON) are read only up to 64 KiB: white space inside the JSON text (which {@code json.loads}
     * skips and a tokenizer all but ignores) pushes it past that, and its {@code max_tokens: 8000} is
     * not held. The answer has no counts: charged the default budget.
     */
    @Test
    void paddedSamplingParametersAreStillHeld() {
        String s = subject();
        String settings = "{\"max_tokens\": 8000," + " ".repeat(70_000) + "\"temperature\": 0.7}";
        HttpResponse<String> r = post("/ai/triton/v2/models/vllm_json/infer", s,
                "{\"inputs\":[{\"name\":\"text_input\",\"datatype\":\"BYTES\",\"shape\":[1],\"data\":[\"Write a very long story.\"]},"
                        + "{\"name\":\"sampling_parameters\",\"datatype\":\"BYTES\",\"shape\":[1],\"data\":[" + quoted(settings) + "]}]}");
        assertEquals(200, r.statusCode(), r.body());
        long used = settled(s).used();
        assertTrue(used >= 8_000, "the model wrote 8,000 tokens without counts; charged " + used + ": " + ledger(s));
    }

    /**
     * Claude on Vertex AI counts tokens at {@code publishers/anthropic/models/count-tokens:rawPredict}
     * ("there is no charge for using the count-tokens endpoint"), answering Anthropic's
     * {@code {"input_tokens": …}}: the path is none of the three the filter knows, so the count is
     * charged as a model call.
     */
    @Test
    void aClaudeOnVertexTokenCountIsNotCharged() {
        String s = subject();
        HttpResponse<String> r = post("/ai/v1/projects/p/locations/us-east5/publishers/anthropic/models/count-tokens:rawPredict", s,
                "{\"model\":\"claude-sonnet-4-5@20250929\",\"messages\":[{\"role\":\"user\",\"content\":\"how many tokens are in this request?\"}]}");
        assertEquals(200, r.statusCode(), r.body());
        assertEquals(0, settled(s).used(), "Vertex's count-tokens runs the tokenizer and calls no model: " + ledger(s));
    }

    /**
     * Bedrock Runtime's {@code CountTokens} ({@code POST /model/{modelId}/count-tokens}, free), beside
     * {@code /model/{modelId}/invoke} and {@code /converse} on the model's own path: its answer
     * {@code {"inputTokens": …}} is no count the filter knows; charged as a model call.
     */
    @Test
    void aBedrockTokenCountIsNotCharged() {
        String s = subject();
        HttpResponse<String> r = post("/ai/model/anthropic.claude-sonnet-4-5-20250929-v1:0/count-tokens", s,
                "{\"input\":{\"converse\":{\"messages\":[{\"role\":\"user\",\"content\":[{\"text\":\"how many tokens are in this request?\"}]}]}}}");
        assertEquals(200, r.statusCode(), r.body());
        assertEquals(0, settled(s).used(), "Bedrock's CountTokens runs the tokenizer and calls no model: " + ledger(s));
    }

    /**
     * vLLM's OpenAI-compatible server tokenizes at {@code POST /tokenize} (beside {@code /v1/chat/completions},
     * under the prefix a gateway protects; llama.cpp and SGLang have the same): no model runs, yet the
     * answer carries no usage and is charged as a model call.
     */
    @Test
    void aVllmTokenizeCallIsNotCharged() {
        String s = subject();
        HttpResponse<String> r = post("/ai/tokenize", s, "{\"model\":\"meta-llama/Llama-3.1-8B-Instruct\","
                + "\"prompt\":\"The quick brown fox jumps over the lazy dog\"}");
        assertEquals(200, r.statusCode(), r.body());
        assertEquals(0, settled(s).used(), "vLLM's /tokenize runs the tokenizer and calls no model: " + ledger(s));
    }

    private HttpResponse<String> post(String path, String subject, String body) {
        return TestHttp.postJson(container.uri(path), subject, body);
    }

    /**
     * {@code POST /v1/responses {"instructions": "…", "input": "<a JSON text>", "max_output_tokens": 300}}:
     * an LLM-ops tool asks a model to describe a logged request, sending the log line (a JSON object's
     * text) as the input string. OpenAI reads {@code input} as the user's text; the filter reads the
     * text's {@code max_tokens: 32768} as this request's budget and refuses it (422) as above the cap.
     */
    @Test
    void aJsonTextInputIsNotTheRequestsBudget() {
        String s = subject();
        HttpResponse<String> r = post("/ai/v1/responses", s, "{\"model\":\"gpt-4.1-mini\",\"instructions\":\"You review logged"
                + " API requests. Say in one sentence what the request asks for.\",\"input\":" + quoted(LOGGED_REQUEST)
                + ",\"max_output_tokens\":300}");
        assertEquals(200, r.statusCode(), "an honest request for 300 output tokens was refused: " + r.body());
        assertEquals(130, settled(s).used(), ledger(s));
    }

    /**
     * {@code POST /v1/completions {"prompt": "<a JSON text>", "max_tokens": 100, "stream": true}}: a JSON
     * document completed by the legacy completions API; a stream without {@code include_usage} carries no
     * usage and is charged its hold, which should be the prompt plus the 100 tokens asked for. The
     * filter reads the prompt's own {@code max_tokens: 12000} as the request's budget and charges it.
     */
    @Test
    void aJsonPromptIsNotChargedItsOwnMaxTokens() {
        String s = subject();
        String prompt = "{\"model\":\"gpt-4o\",\"max_tokens\":12000,\"temperature\":0.2,\"comment\":\"";
        HttpResponse<String> r = post("/ai/v1/completions", s, "{\"model\":\"gpt-3.5-turbo-instruct\",\"prompt\":"
                + quoted(prompt + "the settings of our summariser\"}") + ",\"max_tokens\":100,\"stream\":true}");
        assertEquals(200, r.statusCode(), r.body());
        assertEquals(100, SENT.get(s));
        long used = settled(s).used();
        assertTrue(used < 1_000, "the endpoint was asked for 100 tokens of a ~30-token prompt and wrote them; charged "
                + used + ": " + ledger(s));
    }

    /**
     * OpenAI Predicted Outputs ({@code prediction: {"type": "content", "content": "<the file>"}}), made for
     * regenerating a file with small edits: here a JSON settings file whose own {@code max_tokens} is
     * 32768. OpenAI reads the prediction as text the answer will likely repeat; the filter reads it as
     * this request's budget and refuses a request for 2,000 output tokens (422).
     */
    @Test
    void aPredictedJsonFileIsNotTheRequestsBudget() {
        String s = subject();
        String file = "{\n  \"model\": \"gpt-4o\",\n  \"temperature\": 0.2,\n  \"max_tokens\": 32768,\n  \"stream\": true\n}\n";
        HttpResponse<String> r = post("/ai/v1/chat/completions", s, "{\"model\":\"gpt-4.1\",\"messages\":[{\"role\":\"user\","
                + "\"content\":" + quoted("Change the model to gpt-4.1 in this file. Answer with the whole file only.\n\n" + file)
                + "}],\"prediction\":{\"type\":\"content\",\"content\":" + quoted(file) + "},\"max_completion_tokens\":2000}");
        assertEquals(200, r.statusCode(), "an honest request for 2,000 output tokens was refused: " + r.body());
        assertEquals(240, settled(s).used(), ledger(s));
    }

    /**
     * Gemini's {@code models/{model}:countTokens} as the Google AI JavaScript SDK
     * ({@code model.countTokens}) and Python {@code google-generativeai} send it: the whole
     * {@code generateContentRequest}, with the model's {@code generationConfig} (Gemini 2.5 writes up to
     * 65,536 tokens). A token count calls no model and is free; the filter reads the nested
     * {@code maxOutputTokens} and refuses the count (422).
     */
    @Test
    void aGeminiCountOfAGenerateContentRequestIsNotRefused() {
        String s = subject();
        HttpResponse<String> r = post("/ai/v1beta/models/gemini-2.5-pro:countTokens", s, "{\"generateContentRequest\":{"
                + "\"model\":\"models/gemini-2.5-pro\",\"contents\":[{\"role\":\"user\",\"parts\":[{\"text\":\"The quick brown fox"
                + " jumps over the lazy dog.\"}]}],\"generationConfig\":{\"maxOutputTokens\":65536,\"temperature\":1}}}");
        assertEquals(200, r.statusCode(), "a token count calls no model, yet was refused: " + r.body());
        assertEquals(0, settled(s).used(), ledger(s));
    }

    /**
     * Gemini {@code generateContent} whose {@code systemInstruction} is written as JSON (a persona with
     * its limits, a common way of writing one): the model reads it as text. The filter reads its
     * {@code max_length} as the request's budget and refuses a request for 512 output tokens (422).
     */
    @Test
    void aJsonSystemInstructionIsNotTheRequestsBudget() {
        String s = subject();
        String persona = "{\"role\":\"copy editor\",\"language\":\"en-GB\",\"max_length\":20000,\"rules\":[\"fix typos only\"]}";
        HttpResponse<String> r = post("/ai/v1beta/models/gemini-2.5-flash:generateContent", s, "{\"systemInstruction\":{"
                + "\"parts\":[{\"text\":" + quoted(persona) + "}]},\"contents\":[{\"role\":\"user\",\"parts\":[{\"text\":"
                + "\"Teh report is due on Friday.\"}]}],\"generationConfig\":{\"maxOutputTokens\":512}}");
        assertEquals(200, r.statusCode(), "an honest request for 512 output tokens was refused: " + r.body());
        assertEquals(100, settled(s).used(), ledger(s));
    }

    /**
     * Vertex AI's {@code :computeTokens} (the tokenizer beside {@code :countTokens} on the model's own
     * path; the Google GenAI SDK's {@code models.compute_tokens}): it calls no model, yet its answer has
     * no usage and is charged as a model call.
     */
    @Test
    void aVertexComputeTokensCallIsNotCharged() {
        String s = subject();
        HttpResponse<String> r = post("/ai/v1/projects/p/locations/us-central1/publishers/google/models/gemini-2.5-flash"
                + ":computeTokens", s, "{\"contents\":[{\"role\":\"user\",\"parts\":[{\"text\":\"The quick brown fox\"}]}]}");
        assertEquals(200, r.statusCode(), r.body());
        assertEquals(0, settled(s).used(), "computeTokens runs the tokenizer and calls no model: " + ledger(s));
    }

    /**
     * Anthropic extended thinking as documented ({@code max_tokens} above {@code thinking.budget_tokens}):
     * {@code max_tokens: 32000, thinking.budget_tokens: 20000} on Claude Sonnet 4.5 (64,000 output
     * tokens). The cap's rewrite lowers {@code max_tokens} to 16,384 and leaves the thinking budget, so a
     * valid request reaches Anthropic invalid and is answered 400 ("max_tokens must be greater than
     * thinking.budget_tokens"). The filter should lower the thinking budget with it or refuse the request
     * itself (422), never turn it into one the provider refuses.
     */
    @Test
    void theCapsRewriteDoesNotBreakAnExtendedThinkingRequest() {
        String s = subject();
        HttpResponse<String> r = post("/ai/anthropic/v1/messages", s, "{\"model\":\"claude-sonnet-4-5\",\"max_tokens\":32000,"
                + "\"thinking\":{\"type\":\"enabled\",\"budget_tokens\":20000},\"messages\":[{\"role\":\"user\",\"content\":"
                + "\"Prove that there are infinitely many primes.\"}]}");
        assertNotEquals(400, r.statusCode(), "the forwarded body was made invalid by the cap's rewrite: " + r.body());
    }
}
