package io.tokenquota.servlet.breakit43;

import static io.tokenquota.servlet.testing.JsonTree.quoted;
import static org.junit.jupiter.api.Assertions.assertEquals;
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
import java.util.UUID;
import org.junit.jupiter.api.Test;

/**
 * Round 43 of issue 11 ("no model call goes unpaid, nothing that never reached a model is charged"):
 * under-charging, as a hostile client with only the text. Model servers whose request
 * budgets sat where the estimator did not read them (Triton's KServe v2 tensors, Azure ML's
 * {@code input_data}, MLflow's {@code params} and {@code dataframe_records}, OpenLLM's
 * {@code llm_config}, Clarifai's {@code output_info.params}, LMDeploy's {@code request_output_len}),
 * answers that report usage where the sniffer did not look (LangChain, the Vercel AI SDK's data
 * stream, Moonshot, LMDeploy, Dify, Coze, Spring AI's native cache counts, Tencent Hunyuan), and an
 * answer whose first bytes are keep-alive white space.
 * Each endpoint reads the request as the real server does and writes what the model wrote; the
 * model writes the whole budget it was given (about one token per {@code "word "}).
 */
abstract class AbstractRound43 extends H2FilterRound {

    static String subject() {
        return "u43-" + UUID.randomUUID().toString().substring(0, 12);
    }

    @Override
    protected Deployment deploy(QuotaFilter filter) {
        return Deployment.create()
                .filter("quota", filter, "/ai/*")
                .servlet("models", new Models(), "/ai/*");
    }

    static final ObjectMapper JSON = new ObjectMapper();

    /** {@code n} tokens of model text (one per word). */
    static String words(long n) {
        return "word ".repeat((int) n);
    }


    // ------------------------------------------------------------------ the endpoints

    public static class Models extends HttpServlet {
        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            JsonNode body = JSON.readTree(req.getInputStream());
            String path = req.getRequestURI();
            if (path.endsWith("/triton/v2/models/ensemble/infer")) {
                triton(body, resp);
            } else if (path.endsWith("/triton/v2/models/ensemble/generate")) {
                long n = body.path("max_tokens").asLong(16);
                resp.setContentType("application/json");
                resp.getWriter().write("{\"model_name\":\"ensemble\",\"model_version\":\"1\",\"text_output\":"
                        + quoted(words(n)) + "}");
            } else if (path.endsWith("/azureml/score")) {
                // an Azure ML managed online endpoint (Llama 2 chat and other Model Catalog deployments):
                // {"input_data": {"input_string": [...], "parameters": {...}}}
                long n = body.path("input_data").path("parameters").path("max_new_tokens").asLong(256);
                resp.setContentType("application/json");
                resp.getWriter().write("{\"output\":" + quoted(words(n)) + "}");
            } else if (path.endsWith("/mlflow/invocations")) {
                // MLflow's scoring server (mlflow models serve, Databricks Model Serving) with inference
                // params (MLflow 2.6+): {"inputs": [...], "params": {"max_new_tokens": ...}}
                long n = body.path("params").path("max_new_tokens").asLong(256);
                resp.setContentType("application/json");
                resp.getWriter().write("{\"predictions\":[" + quoted(words(n)) + "]}");
            } else if (path.endsWith("/databricks/invocations")) {
                // MLflow's dataframe_records input: each record is a row of the model's input columns
                long n = body.path("dataframe_records").path(0).path("max_tokens").asLong(256);
                resp.setContentType("application/json");
                resp.getWriter().write("{\"predictions\":[{\"candidates\":[" + quoted(words(n)) + "]}]}");
            } else if (path.endsWith("/openllm/v1/generate")) {
                // OpenLLM's (BentoML) generate API: {"prompt": "...", "llm_config": {"max_new_tokens": ...}};
                // the answer lists the outputs and the prompt's token ids, no counts
                long n = body.path("llm_config").path("max_new_tokens").asLong(128);
                resp.setContentType("application/json");
                resp.getWriter().write("{\"prompt\":\"\",\"finished\":true,\"outputs\":[{\"index\":0,\"text\":"
                        + quoted(words(n)) + ",\"cumulative_logprob\":0.0,\"finish_reason\":\"length\"}]}");
            } else if (path.endsWith("/outputs")) {
                // Clarifai's model outputs API: inference params under model.model_version.output_info.params
                long n = body.path("model").path("model_version").path("output_info").path("params")
                        .path("max_tokens").asLong(512);
                resp.setContentType("application/json");
                resp.getWriter().write("{\"status\":{\"code\":10000,\"description\":\"Ok\"},\"outputs\":[{\"id\":\"o1\","
                        + "\"status\":{\"code\":10000},\"data\":{\"text\":{\"raw\":" + quoted(words(n)) + "}}}]}");
            } else if (path.endsWith("/langchain/chat")) {
                langChainMessage(resp);
            } else if (path.endsWith("/langserve/invoke")) {
                langServeInvoke(resp);
            } else if (path.endsWith("/api/chat")) {
                vercelDataStream(resp);
            } else if (path.endsWith("/v1/chat/interactive")) {
                // LMDeploy's api_server interactive API: the budget is request_output_len; the answer
                // counts the output (tokens) and the prompt (input_tokens, history_tokens)
                long n = body.path("request_output_len").asLong(512);
                resp.setContentType("application/json");
                resp.getWriter().write("{\"text\":" + quoted(words(n)) + ",\"tokens\":" + n
                        + ",\"input_tokens\":40,\"history_tokens\":0,\"finish_reason\":\"length\"}");
            } else if (path.endsWith("/moonshot/v1/chat/completions")) {
                moonshotStream(resp);
            } else if (path.endsWith("/springai/claude")) {
                springAiClaude(resp);
            } else if (path.endsWith("/dify/v1/chat-messages")) {
                dify(body, resp);
            } else if (path.endsWith("/coze/v3/chat")) {
                coze(resp);
            } else if (path.endsWith("/hunyuan")) {
                hunyuan(resp);
            } else if (path.endsWith("/padded")) {
                padded(resp, req.getParameter("type"), Integer.parseInt(req.getParameter("pad")));
            } else {
                resp.sendError(404);
            }
        }

        /**
         * Triton Inference Server's KServe v2 protocol in front of a TensorRT-LLM ensemble
         * ({@code POST /v2/models/ensemble/infer}): every input, the output budget too, is a named
         * tensor in {@code inputs} ({@code {"name": "max_tokens", "datatype": "INT32", "shape": [1, 1],
         * "data": [[8000]]}}); the answer is the {@code text_output} tensor, with no counts.
         */
        private static void triton(JsonNode body, HttpServletResponse resp) throws IOException {
            long n = 16;
            for (JsonNode input : body.path("inputs")) {
                if ("max_tokens".equals(input.path("name").asText())) {
                    JsonNode data = input.path("data");
                    while (data.isArray()) {
                        data = data.path(0);
                    }
                    n = data.asLong(16);
                }
            }
            resp.setContentType("application/json");
            resp.getWriter().write("{\"model_name\":\"ensemble\",\"model_version\":\"1\",\"outputs\":[{\"name\":"
                    + "\"text_output\",\"datatype\":\"BYTES\",\"shape\":[1,1],\"data\":[" + quoted(words(n)) + "]}]}");
        }

        /** A LangChain {@code AIMessage} as pydantic serialises it (its usage in {@code usage_metadata}). */
        static String aiMessage() {
            return "{\"content\":" + quoted(words(8000)) + ",\"additional_kwargs\":{\"refusal\":null},"
                    + "\"response_metadata\":{\"token_usage\":{\"completion_tokens\":8000,\"prompt_tokens\":40,"
                    + "\"total_tokens\":8040},\"model_name\":\"gpt-4o-mini-2024-07-18\",\"finish_reason\":\"stop\"},"
                    + "\"type\":\"ai\",\"name\":null,\"id\":\"run-3f1c7e2a-0b5d-4e8f-9a6b-1c2d3e4f5a6b-0\",\"example\":false,"
                    + "\"tool_calls\":[],\"invalid_tool_calls\":[],\"usage_metadata\":{\"input_tokens\":40,"
                    + "\"output_tokens\":8000,\"total_tokens\":8040,\"input_token_details\":{\"audio\":0,\"cache_read\":0},"
                    + "\"output_token_details\":{\"audio\":0,\"reasoning\":0}}}";
        }

        /**
         * A Python backend (FastAPI) whose chat route returns LangChain's {@code AIMessage} as it is
         * ({@code response_model=AIMessage}, or {@code message.model_dump()}): the call's counts are
         * LangChain's {@code usage_metadata} ({@code input_tokens}, {@code output_tokens},
         * {@code total_tokens}) at the top of the answer, beside {@code response_metadata.token_usage}.
         */
        private static void langChainMessage(HttpServletResponse resp) throws IOException {
            resp.setContentType("application/json");
            resp.getWriter().write(aiMessage());
        }

        /** LangServe's {@code /invoke} of a chat chain: {@code {"output": <AIMessage>, "metadata": {…}}}. */
        private static void langServeInvoke(HttpServletResponse resp) throws IOException {
            resp.setContentType("application/json");
            resp.getWriter().write("{\"output\":" + aiMessage() + ",\"metadata\":{\"run_id\":"
                    + "\"3f1c7e2a-0b5d-4e8f-9a6b-1c2d3e4f5a6b\",\"feedback_tokens\":[]}}");
        }

        /**
         * The Vercel AI SDK's data stream protocol ({@code toDataStreamResponse()}, what its
         * {@code useChat} reads; {@code text/plain; charset=utf-8} with {@code x-vercel-ai-data-stream: v1}):
         * one part per line, {@code 0:} text, {@code e:} the end of a step and {@code d:} the end of
         * the message, each with {@code usage} ({@code promptTokens}, {@code completionTokens}).
         */
        private static void vercelDataStream(HttpServletResponse resp) throws IOException {
            resp.setContentType("text/plain; charset=utf-8");
            resp.setHeader("x-vercel-ai-data-stream", "v1");
            java.io.PrintWriter w = resp.getWriter();
            w.write("f:{\"messageId\":\"msg-9QmZxk1yR2sT3uV4\"}\n");
            for (int i = 0; i < 80; i++) {
                w.write("0:" + quoted(words(100)) + "\n");
                w.flush();
            }
            w.write("e:{\"finishReason\":\"stop\",\"usage\":{\"promptTokens\":40,\"completionTokens\":8000},"
                    + "\"isContinued\":false}\n");
            w.write("d:{\"finishReason\":\"stop\",\"usage\":{\"promptTokens\":40,\"completionTokens\":8000}}\n");
        }

        /**
         * Moonshot's (Kimi) chat completion stream: the counts come, without any
         * {@code stream_options}, in the last chunk's {@code choices[0].usage} (not a top-level
         * {@code usage}, as OpenAI puts them). The model wrote 8,000 tokens.
         */
        private static void moonshotStream(HttpServletResponse resp) throws IOException {
            resp.setContentType("text/event-stream");
            java.io.PrintWriter w = resp.getWriter();
            String head = "{\"id\":\"chatcmpl-67500eb0c51af667d5968f74\",\"object\":\"chat.completion.chunk\","
                    + "\"created\":1733299889,\"model\":\"kimi-k2-0905-preview\",\"choices\":[{\"index\":0,";
            w.write("data: " + head + "\"delta\":{\"role\":\"assistant\",\"content\":\"\"},\"finish_reason\":null}]}\n\n");
            for (int i = 0; i < 80; i++) {
                w.write("data: " + head + "\"delta\":{\"content\":" + quoted(words(100)) + "},\"finish_reason\":null}]}\n\n");
                w.flush();
            }
            w.write("data: " + head + "\"delta\":{},\"finish_reason\":\"stop\",\"usage\":{\"prompt_tokens\":40,"
                    + "\"completion_tokens\":8000,\"total_tokens\":8040}}],\"system_fingerprint\":\"fpv0_c26222aa\"}\n\n");
            w.write("data: [DONE]\n\n");
        }

        /**
         * A Spring {@code @RestController} returning Spring AI's {@code ChatResponse}
         * ({@code chatClient.prompt(...).call().chatResponse()}) from its Anthropic model, the
         * document in the prompt marked for Anthropic's prompt cache: Spring AI's
         * {@code AnthropicChatModel} builds {@code new DefaultUsage(inputTokens, outputTokens,
         * inputTokens + outputTokens, nativeUsage)}, so {@code metadata.usage.totalTokens} leaves the
         * cache out; Anthropic's own counts, the 14,000 cached tokens with them, are in
         * {@code metadata.usage.nativeUsage}.
         */
        private static void springAiClaude(HttpServletResponse resp) throws IOException {
            resp.setContentType("application/json");
            String result = "{\"metadata\":{\"contentFilters\":[],\"empty\":true,\"finishReason\":\"end_turn\"},"
                    + "\"output\":{\"media\":[],\"messageType\":\"ASSISTANT\",\"metadata\":{\"messageType\":\"ASSISTANT\"},"
                    + "\"text\":" + quoted(words(300)) + ",\"toolCalls\":[]}}";
            resp.getWriter().write("{\"metadata\":{\"empty\":false,\"id\":\"msg_01XFDUDYJgAACzvnptvVoYEL\","
                    + "\"model\":\"claude-sonnet-4-20250514\",\"promptMetadata\":[],\"rateLimit\":{\"requestsLimit\":0,"
                    + "\"requestsRemaining\":0,\"requestsReset\":\"PT0S\",\"tokensLimit\":0,\"tokensRemaining\":0,"
                    + "\"tokensReset\":\"PT0S\"},\"usage\":{\"promptTokens\":12,\"completionTokens\":300,\"totalTokens\":312,"
                    + "\"nativeUsage\":{\"input_tokens\":12,\"output_tokens\":300,\"cache_creation_input_tokens\":0,"
                    + "\"cache_read_input_tokens\":14000}}},\"result\":" + result + ",\"results\":[" + result + "]}");
        }

        /**
         * Dify's chat app API ({@code POST /v1/chat-messages}): the request names no budget (the app's
         * model settings do); the answer reports the call in {@code metadata.usage}, in OpenAI's names
         * ({@code prompt_tokens}, {@code completion_tokens}, {@code total_tokens}, beside prices) — in
         * blocking mode in the answer, in streaming mode in the {@code message_end} event.
         */
        private static void dify(JsonNode body, HttpServletResponse resp) throws IOException {
            String usage = "\"metadata\":{\"usage\":{\"prompt_tokens\":40,\"prompt_unit_price\":\"0.001\","
                    + "\"prompt_price_unit\":\"0.001\",\"prompt_price\":\"0.0000400\",\"completion_tokens\":8000,"
                    + "\"completion_unit_price\":\"0.002\",\"completion_price_unit\":\"0.001\",\"completion_price\":\"0.0160000\","
                    + "\"total_tokens\":8040,\"total_price\":\"0.0160400\",\"currency\":\"USD\",\"latency\":41.2}}";
            String ids = "\"conversation_id\":\"45701982-8118-4bc5-8e9b-64562b4555f2\",\"message_id\":"
                    + "\"9da23599-e713-473b-982c-4328d4f5c78a\",\"task_id\":\"a8a7d1c2-1b2c-4d5e-8f90-123456789abc\"";
            if (!"streaming".equals(body.path("response_mode").asText())) {
                resp.setContentType("application/json");
                resp.getWriter().write("{\"event\":\"message\"," + ids + ",\"id\":\"9da23599-e713-473b-982c-4328d4f5c78a\","
                        + "\"mode\":\"chat\",\"answer\":" + quoted(words(8000)) + "," + usage + ",\"created_at\":1705407629}");
                return;
            }
            resp.setContentType("text/event-stream");
            java.io.PrintWriter w = resp.getWriter();
            for (int i = 0; i < 80; i++) {
                w.write("data: {\"event\":\"message\"," + ids + ",\"answer\":" + quoted(words(100))
                        + ",\"created_at\":1705407629}\n\n");
                w.flush();
            }
            w.write("data: {\"event\":\"message_end\"," + ids + "," + usage + "}\n\n");
        }

        /**
         * Coze's chat API v3 ({@code POST /v3/chat}, streaming): the {@code conversation.chat.completed}
         * event's chat object reports {@code usage} as {@code token_count}, {@code input_count} and
         * {@code output_count}.
         */
        private static void coze(HttpServletResponse resp) throws IOException {
            resp.setContentType("text/event-stream");
            java.io.PrintWriter w = resp.getWriter();
            String ids = "\"id\":\"7382159487131697202\",\"conversation_id\":\"7381473525342978089\",\"bot_id\":\"7379462189365198898\"";
            w.write("event:conversation.chat.created\ndata:{" + ids + ",\"status\":\"created\"}\n\n");
            for (int i = 0; i < 80; i++) {
                w.write("event:conversation.message.delta\ndata:{" + ids + ",\"role\":\"assistant\",\"type\":\"answer\","
                        + "\"content\":" + quoted(words(100)) + ",\"content_type\":\"text\"}\n\n");
                w.flush();
            }
            w.write("event:conversation.chat.completed\ndata:{" + ids + ",\"completed_at\":1718609575,\"status\":\"completed\","
                    + "\"usage\":{\"token_count\":8040,\"output_count\":8000,\"input_count\":40}}\n\n");
            w.write("event:done\ndata:\"[DONE]\"\n\n");
        }

        /**
         * Tencent Hunyuan's ChatCompletions (Tencent Cloud API 3.0, what tencentcloud-sdk-java calls):
         * the answer sits in the API's {@code Response} envelope, its counts in {@code Response.Usage}
         * ({@code PromptTokens}, {@code CompletionTokens}, {@code TotalTokens}); the request names no
         * output budget (the API has none). The model wrote 8,000 tokens.
         */
        private static void hunyuan(HttpServletResponse resp) throws IOException {
            resp.setContentType("application/json");
            resp.getWriter().write("{\"Response\":{\"RequestId\":\"5c5e2a3e-1f0b-4d6e-9d1f-0a0b0c0d0e0f\","
                    + "\"Note\":\"以上内容为AI生成，不代表开发者立场\",\"Id\":\"5c5e2a3e-1f0b-4d6e-9d1f-0a0b0c0d0e0f\","
                    + "\"Created\":1753000000,\"Choices\":[{\"Index\":0,\"FinishReason\":\"stop\",\"Message\":{"
                    + "\"Role\":\"assistant\",\"Content\":" + quoted(words(8000)) + "}}],"
                    + "\"Usage\":{\"PromptTokens\":40,\"CompletionTokens\":8000,\"TotalTokens\":8040}}}");
        }

        /**
         * A relay of a server that keeps a slow non-streamed answer's connection alive with white space
         * before the JSON (oMLX's {@code _with_json_keepalive} yields a space first and one every 10 s of
         * prefill; other local servers write blank lines while they load the model): {@code pad} spaces,
         * each flushed as it comes; the relay passes the bytes on, labelled {@code type} (none when
         * absent). The answer is an OpenAI chat completion of 9,040 tokens.
         */
        private static void padded(HttpServletResponse resp, String type, int pad) throws IOException {
            if (type != null) {
                resp.setContentType(type);
            }
            OutputStream out = resp.getOutputStream();
            for (int i = 0; i < pad; i++) {
                out.write(' ');
                out.flush();
            }
            out.write(("{\"id\":\"chatcmpl-43\",\"object\":\"chat.completion\",\"created\":1753000000,\"model\":\"qwen2.5-7b\","
                    + "\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\",\"content\":" + quoted(words(9000))
                    + "},\"finish_reason\":\"stop\"}],\"usage\":{\"prompt_tokens\":40,\"completion_tokens\":9000,"
                    + "\"total_tokens\":9040}}").getBytes(StandardCharsets.UTF_8));
        }
    }

    // ------------------------------------------------------------------ helpers

    private void chargedAtLeast(String path, String body, long billed) {
        String s = subject();
        HttpResponse<String> r = TestHttp.postJson(container.uri(path), s, body);
        assertEquals(200, r.statusCode(), r.body());
        long used = settled(s).used();
        assertTrue(used >= billed, "the model wrote (and its server billed) at least " + billed
                + " tokens; the filter charged " + used + ": " + ledger(s));
    }

    // ------------------------------------------------------------------ the breaks

    /**
     * {@code POST /ai/triton/v2/models/ensemble/infer} (Triton's KServe v2 protocol, TensorRT-LLM's
     * ensemble) with the output budget as the {@code max_tokens} input tensor
     * ({@code {"name":"max_tokens","datatype":"INT32","shape":[1,1],"data":[[8000]]}}): the estimator
     * reads budgets only as named fields, so it holds the 1,000 default; the answer's
     * {@code text_output} tensor carries no counts, so the estimate is charged: about 7,000 of the
     * 8,000 tokens written are free. (Control: the same model through Triton's generate extension,
     * {@code "max_tokens": 8000} as a field, is charged its 8,000.)
     */
    @Test
    void aTritonKserveMaxTokensTensorIsHeld() {
        chargedAtLeast("/ai/triton/v2/models/ensemble/generate",
                "{\"text_input\":\"Write a very long story.\",\"max_tokens\":8000,\"bad_words\":\"\",\"stop_words\":\"\"}",
                8000);
        chargedAtLeast("/ai/triton/v2/models/ensemble/infer",
                "{\"inputs\":[{\"name\":\"text_input\",\"datatype\":\"BYTES\",\"shape\":[1,1],\"data\":[[\"Write a very long story.\"]]},"
                        + "{\"name\":\"max_tokens\",\"datatype\":\"INT32\",\"shape\":[1,1],\"data\":[[8000]]},"
                        + "{\"name\":\"bad_words\",\"datatype\":\"BYTES\",\"shape\":[1,1],\"data\":[[\"\"]]},"
                        + "{\"name\":\"stop_words\",\"datatype\":\"BYTES\",\"shape\":[1,1],\"data\":[[\"\"]]}]}",
                8000);
    }

    /**
     * {@code POST /ai/azureml/score} (an Azure ML online endpoint of a Model Catalog Llama) with
     * {@code {"input_data":{"input_string":[…],"parameters":{"max_new_tokens":8000}}}}: the estimator
     * reads a config object's budget only at the top level, so {@code input_data.parameters} is not
     * read: held at the 1,000 default, the answer ({@code {"output": …}}) has no counts, and about
     * 7,000 of the 8,000 tokens are free.
     */
    @Test
    void anAzureMlInputDataBudgetIsHeld() {
        chargedAtLeast("/ai/azureml/score",
                "{\"input_data\":{\"input_string\":[{\"role\":\"user\",\"content\":\"Write a very long story.\"}],"
                        + "\"parameters\":{\"temperature\":0.8,\"max_new_tokens\":8000,\"do_sample\":true}}}",
                8000);
    }

    /**
     * {@code POST /ai/mlflow/invocations} (MLflow's scoring server, Databricks Model Serving, a
     * transformers text-generation model) with inference params
     * {@code {"inputs":["Write a very long story."],"params":{"max_new_tokens":8000}}}: {@code params}
     * is not one of the estimator's config objects: held at the 1,000 default, the answer
     * ({@code predictions}) has no counts.
     */
    @Test
    void anMlflowParamsBudgetIsHeld() {
        chargedAtLeast("/ai/mlflow/invocations",
                "{\"inputs\":[\"Write a very long story.\"],\"params\":{\"max_new_tokens\":8000,\"temperature\":0.7}}",
                8000);
    }

    /**
     * {@code POST /ai/databricks/invocations} with MLflow's {@code dataframe_records} input
     * ({@code {"dataframe_records":[{"prompt":"…","max_tokens":8000}]}}, a Databricks served LLM's
     * llm/v1/completions signature as rows): the budget is a column of the record, not read.
     */
    @Test
    void aDataframeRecordsBudgetIsHeld() {
        chargedAtLeast("/ai/databricks/invocations",
                "{\"dataframe_records\":[{\"prompt\":\"Write a very long story.\",\"max_tokens\":8000,\"temperature\":0.7}]}",
                8000);
    }

    /**
     * {@code POST /ai/openllm/v1/generate} (OpenLLM's generate API) with
     * {@code {"prompt":"…","llm_config":{"max_new_tokens":8000}}}: {@code llm_config} is not one of the
     * estimator's config objects: held at the 1,000 default; the answer has no counts.
     */
    @Test
    void anOpenLlmConfigBudgetIsHeld() {
        chargedAtLeast("/ai/openllm/v1/generate",
                "{\"prompt\":\"Write a very long story.\",\"llm_config\":{\"max_new_tokens\":8000,\"temperature\":0.7}}",
                8000);
    }

    /**
     * {@code POST /ai/clarifai/v2/users/meta/apps/Llama-3/models/llama-3-70b/outputs} (Clarifai's
     * outputs API) with the inference params at {@code model.model_version.output_info.params}
     * ({@code max_tokens: 8000}): not read; held at the 1,000 default, the answer has no counts.
     */
    @Test
    void aClarifaiOutputInfoBudgetIsHeld() {
        chargedAtLeast("/ai/clarifai/v2/users/meta/apps/Llama-3/models/llama-3-70b/outputs",
                "{\"inputs\":[{\"data\":{\"text\":{\"raw\":\"Write a very long story.\"}}}],"
                        + "\"model\":{\"model_version\":{\"output_info\":{\"params\":{\"temperature\":0.7,\"max_tokens\":8000}}}}}",
                8000);
    }

    /**
     * {@code POST /ai/langchain/chat}: a Python backend returns LangChain's {@code AIMessage}, whose
     * {@code usage_metadata} says 8,040 tokens. The sniffer looks at a top-level {@code usage_metadata}
     * but takes it for Gemini's snake_case spelling ({@code total_token_count}...), finds none of
     * those names, and reads nothing: the request names no budget (the backend sets it), so the call
     * is charged its estimate, about 1,000.
     */
    @Test
    void aLangChainAiMessageUsageMetadataIsCharged() {
        chargedAtLeast("/ai/langchain/chat", "{\"message\":\"Write a very long story.\"}", 8040);
    }

    /**
     * {@code POST /ai/langserve/invoke} (LangServe's invoke endpoint of a chat chain,
     * {@code {"input": {"topic": "…"}}}): the answer is {@code {"output": <AIMessage>, "metadata": …}},
     * the call's counts at {@code output.usage_metadata}: not read, about 1,000 charged for 8,040.
     */
    @Test
    void aLangServeInvokeUsageIsCharged() {
        chargedAtLeast("/ai/langserve/invoke", "{\"input\":{\"topic\":\"a very long story\"},\"config\":{},\"kwargs\":{}}", 8040);
    }

    /**
     * {@code POST /ai/api/chat} relaying a Vercel AI SDK data stream ({@code useChat}'s protocol): the
     * counts are in the {@code e:} and {@code d:} parts' {@code usage}; the body starts {@code f:}, like
     * neither JSON nor an event stream, so nothing is read: about 1,000 charged for 8,040.
     */
    @Test
    void aVercelAiDataStreamUsageIsCharged() {
        chargedAtLeast("/ai/api/chat", "{\"messages\":[{\"role\":\"user\",\"content\":\"Write a very long story.\"}]}", 8040);
    }

    /**
     * {@code POST /ai/lmdeploy/v1/chat/interactive} (LMDeploy's api_server) with
     * {@code {"prompt":"…","session_id":7,"request_output_len":8000,"ignore_eos":true}}: the budget's name
     * {@code request_output_len} (also the TensorRT-LLM / TurboMind tensor's older name) is not one the
     * estimator reads, and the answer's counts ({@code tokens} 8,000, {@code input_tokens} 40) are not
     * read: the 1,000 default is held and charged for 8,040 billed tokens.
     */
    @Test
    void anLmdeployRequestOutputLenIsHeldOrItsCountsCharged() {
        chargedAtLeast("/ai/lmdeploy/v1/chat/interactive",
                "{\"prompt\":\"Write a very long story.\",\"session_id\":7,\"interactive_mode\":false,"
                        + "\"request_output_len\":8000,\"ignore_eos\":true,\"stream\":false}",
                8040);
    }

    /**
     * {@code POST /ai/moonshot/v1/chat/completions} with {@code "stream": true} and no
     * {@code max_tokens} (Kimi K2's default budget is the server's): Moonshot reports the usage of every
     * stream, in the last chunk's {@code choices[0].usage}; the sniffer reads only a top-level
     * {@code usage}, so the call is charged its estimate (about 1,000) for 8,040 reported tokens. This
     * is not the documented "stream whose client asked for no usage": the provider reported it.
     */
    @Test
    void aMoonshotStreamUsageInItsChoiceIsCharged() {
        chargedAtLeast("/ai/moonshot/v1/chat/completions",
                "{\"model\":\"kimi-k2-0905-preview\",\"stream\":true,\"messages\":[{\"role\":\"user\",\"content\":\"Write a very long story.\"}]}",
                8040);
    }

    /**
     * {@code POST /ai/springai/claude} with a 14,000-token document (the app sends it to Claude with
     * {@code cache_control}, as it does on every question about that document): the filter's estimate
     * holds about 15,000, but the answer, Spring AI's {@code ChatResponse}, reports
     * {@code metadata.usage.totalTokens} 312 (Spring AI's Anthropic usage leaves the cache out) and the
     * 14,000 cached tokens only in {@code metadata.usage.nativeUsage.cache_read_input_tokens}. The filter
     * takes the 312 as the final count: the item 5 (cached input charged as 312) again, through
     * the envelope of the Java stack's own AI library.
     */
    @Test
    void aSpringAiClaudeAnswerIsChargedItsCachedInput() {
        String document = "The quick brown fox jumps over the lazy dog. ".repeat(1400);
        chargedAtLeast("/ai/springai/claude",
                "{\"question\":\"Summarise the document.\",\"document\":" + quoted(document) + "}", 14312);
    }

    /**
     * {@code POST /ai/dify/v1/chat-messages} (Dify's chat app API, {@code {"query": …, "inputs": {},
     * "user": …}}, blocking and streaming): Dify reports the call at {@code metadata.usage} with
     * OpenAI's names; the sniffer reads {@code metadata.usage} only in Bedrock's names (a relayed
     * ConverseStream's {@code inputTokens}...), finds none, and reads nothing: about 1,000 charged for
     * 8,040, in both modes.
     */
    @Test
    void aDifyMetadataUsageIsCharged() {
        chargedAtLeast("/ai/dify/v1/chat-messages",
                "{\"inputs\":{},\"query\":\"Write a very long story.\",\"response_mode\":\"blocking\",\"conversation_id\":\"\",\"user\":\"abc-123\"}",
                8040);
        chargedAtLeast("/ai/dify/v1/chat-messages",
                "{\"inputs\":{},\"query\":\"Write a very long story.\",\"response_mode\":\"streaming\",\"conversation_id\":\"\",\"user\":\"abc-123\"}",
                8040);
    }

    /**
     * {@code POST /ai/coze/v3/chat} (Coze's chat API, streamed): the {@code conversation.chat.completed}
     * event reports {@code usage.token_count} 8,040; a top-level {@code usage} without any name the
     * sniffer knows is taken for an empty Anthropic one and reads as nothing: about 1,000 charged.
     */
    @Test
    void aCozeChatUsageIsCharged() {
        chargedAtLeast("/ai/coze/v3/chat",
                "{\"bot_id\":\"7379462189365198898\",\"user_id\":\"123\",\"stream\":true,\"auto_save_history\":true,"
                        + "\"additional_messages\":[{\"role\":\"user\",\"content\":\"Write a very long story.\",\"content_type\":\"text\"}]}",
                8040);
    }

    /**
     * {@code POST /ai/hunyuan} (Tencent Hunyuan ChatCompletions, {@code {"Model":"hunyuan-turbo",
     * "Messages":[…]}}): the answer reports {@code Response.Usage.TotalTokens} 8,040; the sniffer reads
     * no {@code Response.Usage}, the request names no budget, so the call is charged its estimate
     * (about 1,000): 7,000 billed tokens free.
     */
    @Test
    void aHunyuanResponseUsageIsCharged() {
        chargedAtLeast("/ai/hunyuan",
                "{\"Model\":\"hunyuan-turbo\",\"Messages\":[{\"Role\":\"user\",\"Content\":\"Write a very long story.\"}],"
                        + "\"Stream\":false}",
                8040);
    }

    /**
     * {@code POST /ai/padded} relayed from a server that writes keep-alive spaces before its JSON
     * answer (oMLX's {@code _with_json_keepalive} yields {@code " "} at once and another after each 10 s
     * of prefill, then the JSON; usage 9,040): two spaces, the relay flushing each chunk as it comes
     * and setting no Content-Type (a label-less answer is one the filter believes). The first flush
     * commits the response; at the second write the sniffer chooses its format from a head that is
     * white space only ({@code "  "}), finds neither JSON nor events, and with no label to decide
     * reads nothing more: the call is charged its estimate (about 1,000) for 9,040. (Control: the same
     * answer without the spaces is charged 9,040; one space alone is also read.)
     */
    @Test
    void anUnlabelledAnswerAfterKeepAliveSpacesIsChargedItsUsage() {
        chargedAtLeast("/ai/padded?pad=0", "{\"model\":\"qwen2.5-7b\",\"messages\":[{\"role\":\"user\",\"content\":\"Hi\"}]}", 9040);
        chargedAtLeast("/ai/padded?pad=2", "{\"model\":\"qwen2.5-7b\",\"messages\":[{\"role\":\"user\",\"content\":\"Hi\"}]}", 9040);
    }

    /**
     * The same answer relayed under {@code text/plain}: usage read under a label that does not agree is
     * provisional (charged {@code max(usage, estimate)}), so without the space the 9,040 are charged
     * (control); after two flushed keep-alive spaces nothing is read and about 1,000 are charged.
     */
    @Test
    void aMislabelledAnswerAfterKeepAliveSpacesIsChargedItsUsage() {
        chargedAtLeast("/ai/padded?pad=0&type=text/plain", "{\"messages\":[{\"role\":\"user\",\"content\":\"Hi\"}]}", 9040);
        chargedAtLeast("/ai/padded?pad=2&type=text/plain", "{\"messages\":[{\"role\":\"user\",\"content\":\"Hi\"}]}", 9040);
    }
}
