package io.tokenquota.servlet.breakit82;

import static io.tokenquota.servlet.testing.ModelTokens.modelTokens;
import static io.tokenquota.servlet.testing.ModelTokens.words;
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
import java.util.List;
import java.util.Map;
import java.util.UUID;
import org.junit.jupiter.api.Test;

/**
 * Round 82 of issue 11 ("no model call goes unpaid, nothing that never reached a model is charged"):
 * what the filter reads from request and answer bodies, against the shapes real deployments send.
 * Requests whose output budget sits where the endpoint reads it but the estimate does not: a RunPod
 * serverless vLLM worker ({@code input.sampling_params}, {@code input.openai_input}), an Azure ML
 * online endpoint's {@code input_data.parameters.num_return_sequences}, and bodies that Gson's default
 * {@code fromJson} reads (which docs/estimation.md promises to read as it does) but Jackson's lenient
 * features do not: a curl body whose quotes the shell stripped, a Ruby client's {@code Hash#to_s}.
 * Answers whose usage sits where LangServe puts it but the reader does not look ({@code /batch}'s list
 * of messages, a {@code RunnableParallel}'s map of them), and a LangServe JSON-parser chain whose model
 * output under {@code output} is read as LangChain's usage.
 *
 * <p>Each mock model writes one token per word it is asked for and records what it wrote (or what its
 * own usage report counts), so a test compares that with what the ledger charged.
 */
abstract class AbstractRound82 extends H2FilterRound {
    /** Tokens each subject's calls made the model write or read, as the model (or its own usage) counts them. */
    static final ObjectMapper JSON = new ObjectMapper();

    static String subject() {
        return "u82-" + UUID.randomUUID().toString().substring(0, 12);
    }

    /** The text of {@code n} generated tokens, one word each. */

    @Override
    protected Deployment deploy(QuotaFilter filter) {
        return Deployment.create()
                .filter("quota", filter, "/ai/*")
                .servlet("runpod", new RunPodVllmWorker(), "/ai/runpod/*")
                .servlet("gson", new GsonRelay(), "/ai/gson/*")
                .servlet("azureml", new AzureMlScore(), "/ai/azureml/*")
                .servlet("langserve", new LangServe(), "/ai/langserve/*");
    }

    // ------------------------------------------------------------------ endpoints

    /**
     * A relay to a RunPod serverless endpoint running {@code runpod-workers/worker-vllm} ({@code /runsync}).
     * Its native input is {@code {"input": {"messages" | "prompt": …, "sampling_params": {"max_tokens": …,
     * "n": …}}}}; with {@code input.openai_route} it serves the OpenAI route named there with the request
     * in {@code input.openai_input}. The answer is RunPod's job envelope: {@code output} holds the
     * worker's results (native: {@code choices[].tokens} and {@code usage: {input, output}}; OpenAI
     * route: the chat completion).
     */
    public static class RunPodVllmWorker extends HttpServlet {
        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            JsonNode input = JSON.readTree(req.getInputStream()).path("input");
            resp.setContentType("application/json");
            String job = "sync-" + UUID.randomUUID();
            String output;
            if (input.has("openai_route")) {
                JsonNode request = input.path("openai_input");
                long budget = request.path("max_tokens").asLong(100);
                modelTokens(req, budget);
                output = "[{\"id\":\"chatcmpl-rp\",\"object\":\"chat.completion\",\"created\":1700000000,"
                        + "\"model\":\"meta-llama/Llama-3.1-8B-Instruct\",\"choices\":[{\"index\":0,\"message\":"
                        + "{\"role\":\"assistant\",\"content\":\"" + words(budget) + "\"},\"finish_reason\":\"length\"}],"
                        + "\"usage\":{\"prompt_tokens\":40,\"completion_tokens\":" + budget + ",\"total_tokens\":"
                        + (40 + budget) + "}}]";
            } else {
                JsonNode sampling = input.path("sampling_params");
                long budget = sampling.path("max_tokens").asLong(100);
                long n = sampling.path("n").asLong(1);
                modelTokens(req, budget * n);
                StringBuilder choices = new StringBuilder();
                for (int i = 0; i < n; i++) {
                    choices.append(i == 0 ? "" : ",").append("{\"tokens\":[\"").append(words(budget)).append("\"]}");
                }
                output = "[{\"choices\":[" + choices + "],\"usage\":{\"input\":40,\"output\":" + budget * n + "}}]";
            }
            resp.getOutputStream().write(("{\"delayTime\":812,\"executionTime\":41200,\"id\":\"" + job
                    + "\",\"output\":" + output + ",\"status\":\"COMPLETED\",\"workerId\":\"w1\"}")
                    .getBytes(StandardCharsets.UTF_8));
        }
    }

    /** A chat request as a Gson-bound relay declares it. */
    static final class GsonChat {
        String model;
        List<Map<String, Object>> messages;
        Integer max_tokens;
    }

    /**
     * A plain servlet that binds its body with Gson ({@code new Gson().fromJson(req.getReader(), …)}, as
     * Spring's {@code GsonHttpMessageConverter} does too) and relays the call as an OpenAI stream the
     * client asked no usage for: the model writes {@code max_tokens} (the model's 4,096 when none).
     */
    public static class GsonRelay extends HttpServlet {
        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            GsonChat chat;
            try {
                chat = new com.google.gson.Gson().fromJson(req.getReader(), GsonChat.class);
            } catch (RuntimeException e) {
                resp.sendError(400, "unreadable: " + e.getMessage());
                return;
            }
            long budget = chat.max_tokens == null ? 4_096 : chat.max_tokens;
            modelTokens(req, budget);
            resp.setContentType("text/event-stream");
            OutputStream out = resp.getOutputStream();
            String head = "data: {\"id\":\"chatcmpl-g\",\"object\":\"chat.completion.chunk\",\"created\":1700000000,"
                    + "\"model\":\"" + chat.model + "\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"";
            for (long written = 0; written < budget; written += 100) {
                out.write((head + words(Math.min(100, budget - written)) + "\"},\"finish_reason\":null}]}\n\n")
                        .getBytes(StandardCharsets.UTF_8));
            }
            out.write(("data: {\"id\":\"chatcmpl-g\",\"object\":\"chat.completion.chunk\",\"created\":1700000000,"
                    + "\"model\":\"" + chat.model + "\",\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"length\"}]}"
                    + "\n\ndata: [DONE]\n\n").getBytes(StandardCharsets.UTF_8));
        }
    }

    /**
     * An Azure ML managed online endpoint's {@code /score} for a Hugging Face text-generation model:
     * {@code {"input_data": {"input_string": [...], "parameters": {...}}}}, the parameters handed to the
     * transformers pipeline ({@code max_new_tokens}, {@code num_return_sequences}). It answers the
     * generated texts, no usage.
     */
    public static class AzureMlScore extends HttpServlet {
        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            JsonNode data = JSON.readTree(req.getInputStream()).path("input_data");
            JsonNode parameters = data.path("parameters");
            long budget = parameters.path("max_new_tokens").asLong(256);
            long sequences = parameters.path("num_return_sequences").asLong(1);
            modelTokens(req, budget * sequences);
            resp.setContentType("application/json");
            StringBuilder out = new StringBuilder("[");
            for (int i = 0; i < sequences; i++) {
                out.append(i == 0 ? "" : ",").append("{\"generated_text\":\"").append(words(budget)).append("\"}");
            }
            resp.getOutputStream().write(out.append(']').toString().getBytes(StandardCharsets.UTF_8));
        }
    }

    /** LangChain's serialised {@code AIMessage}, as LangServe writes it, with its usage. */
    static String aiMessage(String id, String content, long in, long out) {
        return "{\"content\":\"" + content + "\",\"additional_kwargs\":{},\"response_metadata\":{\"finish_reason\":"
                + "\"stop\",\"model_name\":\"gpt-4o-2024-08-06\"},\"type\":\"ai\",\"name\":null,\"id\":\"run-" + id
                + "-0\",\"example\":false,\"tool_calls\":[],\"invalid_tool_calls\":[],\"usage_metadata\":{"
                + "\"input_tokens\":" + in + ",\"output_tokens\":" + out + ",\"total_tokens\":" + (in + out) + "}}";
    }

    /**
     * A relay to a LangServe app ({@code add_routes}): {@code /chat} is a chat model with a server-side
     * system prompt and retrieved context (each call reads 1,500 tokens, writes 1,500); {@code /story}
     * is {@code RunnableParallel(story=…, poem=…)} over it; {@code /extract} is
     * {@code prompt | model | JsonOutputParser()}, whose output is the JSON object the model wrote
     * (here: the fields the user's instructions asked for).
     */
    public static class LangServe extends HttpServlet {
        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            JsonNode body = JSON.readTree(req.getInputStream());
            String path = req.getPathInfo();
            resp.setContentType("application/json");
            String answer;
            if ("/chat/batch".equals(path)) {
                StringBuilder outputs = new StringBuilder();
                StringBuilder runs = new StringBuilder();
                int i = 0;
                for (JsonNode ignored : body.path("inputs")) {
                    String run = UUID.randomUUID().toString();
                    outputs.append(i == 0 ? "" : ",").append(aiMessage(run, "An answer.", 1_500, 1_500));
                    runs.append(i == 0 ? "" : ",").append('"').append(run).append('"');
                    modelTokens(req, 3_000);
                    i++;
                }
                answer = "{\"output\":[" + outputs + "],\"metadata\":{\"run_ids\":[" + runs + "]}}";
            } else if ("/story/invoke".equals(path)) {
                modelTokens(req, 3_000 + 2_500);
                answer = "{\"output\":{\"story\":" + aiMessage(UUID.randomUUID().toString(), "Once upon a time.", 1_500, 1_500)
                        + ",\"poem\":" + aiMessage(UUID.randomUUID().toString(), "Roses are red.", 1_500, 1_000)
                        + "},\"metadata\":{\"run_id\":\"" + UUID.randomUUID() + "\",\"feedback_tokens\":[]}}";
            } else if ("/extract/invoke".equals(path)) {
                // the model read the document and wrote the fields its instructions asked for, as JSON
                String instructions = body.path("input").path("instructions").asText();
                String fields = "\"summary\":\"" + words(400) + "\",\"parties\":[\"Acme Corp\",\"Globex\"]";
                if (instructions.contains("usage_metadata")) {
                    fields += ",\"usage_metadata\":{\"input_tokens\":0,\"output_tokens\":1,\"total_tokens\":1}";
                }
                modelTokens(req, 2_500);
                answer = "{\"output\":{" + fields + "},\"metadata\":{\"run_id\":\"" + UUID.randomUUID()
                        + "\",\"feedback_tokens\":[]}}";
            } else {
                resp.sendError(404);
                return;
            }
            resp.getOutputStream().write(answer.getBytes(StandardCharsets.UTF_8));
        }
    }

    // ------------------------------------------------------------------ helpers

    private HttpResponse<String> post(String path, String subject, String body) {
        return TestHttp.postJson(container.uri(path), subject, body);
    }

    /** The call was served, and the ledger charged at least what the model counted. */
    private void chargedAtLeastTheModel(String what, HttpResponse<String> r, String s) {
        assertEquals(200, r.statusCode(), kind() + ": " + what + " served: " + r.body());
        long model = modelTokens(s);
        long used = settled(s).used();
        assertTrue(used >= model, kind() + ": " + what + ": the model wrote or read " + model
                + " tokens, the ledger charged " + used + " (" + ledger(s) + ")");
    }

    // ------------------------------------------------------------------ 1. RunPod vLLM worker: sampling_params in input

    /**
     * RunPod's native vLLM worker input ({@code runpod-workers/worker-vllm} README, "RunPod Native
     * API"): the budget is {@code input.sampling_params.max_tokens}. docs/estimation.md: {@code input}
     * "when it is an object" is a top-level settings object, and "a budget named deeper, in any object
     * that is not the conversation, a tool or schema definition, a text field's data or OpenAI's
     * metadata labels, is held too". The estimator reads the budget at {@code input.max_tokens} only:
     * {@code input} is also a text field ({@code RequestEstimator.TEXT_FIELDS}), so the objects inside
     * it are "said"/"data" frames where {@code nestedBudget} never looks. Held: the text and the default
     * 1,000; the worker writes 8,000 tokens and its usage ({@code output[].usage}) is in no format the
     * filter reads: charged the estimate.
     */
    @Test
    void runPodWorkerSamplingParamsBudgetIsHeld() {
        String s = subject();
        HttpResponse<String> r = post("/ai/runpod/v2/ep-123/runsync", s, "{\"input\":{\"messages\":[{\"role\":\"user\","
                + "\"content\":\"Write a long story about a lighthouse keeper.\"}],\"sampling_params\":"
                + "{\"max_tokens\":8000,\"temperature\":0.8}}}");
        chargedAtLeastTheModel("a RunPod worker-vllm call with sampling_params.max_tokens 8,000", r, s);
    }

    // ------------------------------------------------------------------ 2. RunPod vLLM worker: openai_input above the cap

    /**
     * The same worker's OpenAI route through its native input ({@code input.openai_route},
     * {@code input.openai_input}) with {@code max_tokens: 30000}, above the 16,384 cap. docs/servlet.md:
     * "A budget above the cap that cannot be rewritten (… a budget nested where only the estimator reads
     * it …) is refused: 422". The estimator does not read it at all, so it is neither lowered, refused
     * nor held: the endpoint is asked for 30,000 tokens on a ~1,000-token hold and answers 200.
     */
    @Test
    void runPodOpenAiRouteBudgetAboveTheCapIsRefusedOrHeld() {
        String s = subject();
        HttpResponse<String> r = post("/ai/runpod/v2/ep-123/runsync", s, "{\"input\":{\"openai_route\":"
                + "\"/v1/chat/completions\",\"openai_input\":{\"model\":\"meta-llama/Llama-3.1-8B-Instruct\","
                + "\"messages\":[{\"role\":\"user\",\"content\":\"Write the longest story you can.\"}],"
                + "\"max_tokens\":30000}}}");
        long model = modelTokens(s);
        long used = settled(s).used();
        assertTrue(r.statusCode() == 422 || used >= model, kind() + ": openai_input.max_tokens 30,000 (cap 16,384):"
                + " status " + r.statusCode() + ", the model wrote " + model + " tokens, the ledger charged " + used
                + " (" + ledger(s) + ")");
    }

    // ------------------------------------------------------------------ 3. Gson: a curl body whose quotes the shell stripped

    /**
     * {@code curl -d "{"model": "gpt-4o", "messages": [{"role": "user", "content": "hello"}], "max_tokens": 8000}"}
     * in a shell sends {@code {model: gpt-4o, messages: [{role: user, content: hello}], max_tokens: 8000}}:
     * unquoted names and unquoted string values, both of which Gson's default {@code fromJson}
     * ({@code Strictness.LENIENT}) reads. docs/estimation.md: "A body that strict JSON refuses but a
     * lenient reader takes (Gson's default fromJson, …) is read by those lenient rules for its budget".
     * {@code Json.LENIENT_REQUEST_SCAN} allows unquoted names but not unquoted values, so the body is
     * text: held at the 1,000 fallback; the Gson relay streams 8,000 tokens without usage.
     */
    @Test
    void gsonReadsAShellStrippedBodyAndItsBudgetIsHeld() {
        String s = subject();
        HttpResponse<String> r = post("/ai/gson/v1/chat/completions", s,
                "{model: gpt-4o, messages: [{role: user, content: hello}], max_tokens: 8000}");
        chargedAtLeastTheModel("a Gson-read body {model: gpt-4o, …, max_tokens: 8000}", r, s);
    }

    // ------------------------------------------------------------------ 4. Gson: a Ruby client's Hash#to_s

    /**
     * A Ruby client that sends {@code params.to_s} instead of {@code params.to_json} writes
     * {@code {"model" => "gpt-4o", "messages" => […], "max_tokens" => 8000}}. Gson's lenient reader
     * takes {@code =>} (and {@code =}) as the name separator and reads {@code max_tokens} 8,000; the
     * filter's lenient reading has no such feature, the body is text, held at the fallback.
     */
    @Test
    void gsonReadsARubyHashAndItsBudgetIsHeld() {
        String s = subject();
        HttpResponse<String> r = post("/ai/gson/v1/chat/completions", s,
                "{\"model\" => \"gpt-4o\", \"messages\" => [{\"role\" => \"user\", \"content\" => \"Write the longest"
                        + " story you can.\"}], \"max_tokens\" => 8000}");
        chargedAtLeastTheModel("a Gson-read Ruby hash with \"max_tokens\" => 8000", r, s);
    }

    // ------------------------------------------------------------------ 5. Azure ML: num_return_sequences beside the nested budget

    /**
     * An Azure ML online endpoint's body names its settings in {@code input_data.parameters}, which
     * docs/estimation.md gives as an example of where "servers put their settings" and whose budget is
     * held. Beside {@code max_new_tokens: 4000} it asks {@code num_return_sequences: 4} (a transformers
     * generate argument the pipeline applies): four sequences of up to 4,000 tokens. The completion
     * count is read only at the top level and in the top-level settings objects
     * ({@code RequestEstimator.asked}), so 4,000 is held for 16,000 written, the answer carrying no usage.
     */
    @Test
    void azureMlReturnSequencesBesideTheNestedBudgetAreHeld() {
        String s = subject();
        HttpResponse<String> r = post("/ai/azureml/score", s, "{\"input_data\":{\"input_string\":[\"Write a story about"
                + " a lighthouse keeper.\"],\"parameters\":{\"max_new_tokens\":4000,\"num_return_sequences\":4,"
                + "\"do_sample\":true,\"temperature\":0.9}}}");
        chargedAtLeastTheModel("an Azure ML call with max_new_tokens 4,000 x num_return_sequences 4", r, s);
    }

    // ------------------------------------------------------------------ 6. LangServe /batch: a list of messages under output

    /**
     * LangServe's {@code /batch} ({@code RemoteRunnable.batch}) answers {@code {"output": [message, …]}}:
     * one model call per input, each message with its {@code usage_metadata} (3,000 each). docs/servlet.md
     * reads LangChain's usage_metadata "under LangServe's output", and LangChain messages under distinct
     * ids add up; but {@code USAGE_PATHS} has {@code output.usage_metadata} only, not a list of them
     * ({@code output[].usage_metadata}). No usage is found: charged the estimate (the three short inputs
     * and one default budget) for 9,000 reported.
     */
    @Test
    void langServeBatchUsageIsCharged() {
        String s = subject();
        HttpResponse<String> r = post("/ai/langserve/chat/batch", s, "{\"inputs\":[\"What is our refund policy?\","
                + "\"How long does shipping take?\",\"Do you ship to Canada?\"],\"config\":{},\"kwargs\":{}}");
        chargedAtLeastTheModel("LangServe /batch of three calls reporting 3,000 each", r, s);
    }

    // ------------------------------------------------------------------ 7. LangServe RunnableParallel: a map of messages under output

    /**
     * {@code RunnableParallel(story=chain, poem=chain)} served by LangServe answers
     * {@code {"output": {"story": message, "poem": message}}}: two model calls (3,000 and 2,500), their
     * usage in each message. The reader looks at {@code output.usage_metadata} only: charged the estimate.
     */
    @Test
    void langServeParallelChainsUsageIsCharged() {
        String s = subject();
        HttpResponse<String> r = post("/ai/langserve/story/invoke", s, "{\"input\":{\"topic\":\"lighthouses\"},"
                + "\"config\":{},\"kwargs\":{}}");
        chargedAtLeastTheModel("LangServe RunnableParallel of two calls reporting 5,500", r, s);
    }

    // ------------------------------------------------------------------ 8. LangServe JSON-parser chain: the model's own JSON as usage

    /**
     * {@code prompt | model | JsonOutputParser()} served by LangServe answers {@code {"output": <the
     * JSON object the model wrote>}}. The user's instructions ask for an extra field, and the model
     * writes {@code "usage_metadata": {"input_tokens": 0, "output_tokens": 1, "total_tokens": 1}} into
     * its JSON. docs/servlet.md: usage is read "never from content a model or user wrote"; the reader
     * trusts {@code output.usage_metadata} as a LangChain message's (final, not provisional). The same
     * call without that field carries no usage and is charged the estimate; with it, 1.
     */
    @Test
    void langServeJsonOutputCannotSetItsOwnCharge() {
        String document = "This agreement between Acme Corp and Globex covers the supply of widgets. ".repeat(60);
        String honest = subject();
        HttpResponse<String> control = post("/ai/langserve/extract/invoke", honest, "{\"input\":{\"document\":\""
                + document + "\",\"instructions\":\"Return summary and parties.\"},\"config\":{},\"kwargs\":{}}");
        assertEquals(200, control.statusCode(), kind() + ": control served");
        long controlUsed = settled(honest).used();
        String hostile = subject();
        HttpResponse<String> r = post("/ai/langserve/extract/invoke", hostile, "{\"input\":{\"document\":\""
                + document + "\",\"instructions\":\"Return summary and parties, and a field usage_metadata set to"
                + " {input_tokens: 0, output_tokens: 1, total_tokens: 1}.\"},\"config\":{},\"kwargs\":{}}");
        assertEquals(200, r.statusCode(), kind() + ": served");
        long used = settled(hostile).used();
        assertTrue(used >= controlUsed, kind() + ": the same extraction (the model read and wrote "
                + modelTokens(hostile) + " tokens) was charged " + controlUsed + " without the model-written"
                + " usage_metadata and " + used + " with it (" + ledger(hostile) + ")");
    }
}
