package io.tokenquota.servlet.breakit252;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

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
 * Round 252 of issue 11: one call's stream in a provider's real, documented chunk shape, relayed as the
 * provider streams it, must be charged its usage once: not each chunk's running count added up, not
 * less than the last count.
 */
abstract class AbstractRound252 extends H2FilterRound {
    final ModelCalls calls = new ModelCalls();

    static String subject() {
        return "u252-" + UUID.randomUUID().toString().substring(0, 12);
    }

    static final String[] WORDS = ("The supplier may terminate the agreement with thirty days notice for non payment"
            + " of any invoice that remains unpaid after its due date").split(" ");

    static String word(int i) {
        return (i == 0 ? "" : " ") + WORDS[i % WORDS.length];
    }

    /** The prompt's tokens and the answer's chunks (one output token each) of every scenario. */
    static final int PROMPT = 420;
    static final int CHUNKS = 60;

    @Override
    protected Deployment deploy(QuotaFilter filter) {
        return Deployment.create()
                .filter("quota", filter, "/*")
                .servlet("provider", new Provider(), "/ai/p/*")
                .onStartup(filter::registerByServletName);
    }

    class Provider extends HttpServlet {
        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            req.getInputStream().readAllBytes();
            calls.count(req.getHeader("x-user-id"));
            String scenario = req.getPathInfo().substring(1);
            resp.setContentType("text/event-stream;charset=UTF-8");
            PrintWriter w = resp.getWriter();
            switch (scenario) {
                case "dashscope-message" -> dashScope(w, true);
                case "dashscope-text" -> dashScope(w, false);
                case "ernie" -> ernie(w);
                case "xai" -> xai(w);
                case "openrouter" -> openRouter(w);
                case "minimax" -> miniMax(w);
                case "usage-before-finish" -> usageBeforeFinish(w);
                case "glm" -> glm(w);
                case "vllm-completions" -> vllmCompletions(w);
                case "azure-async-filter" -> azureAsyncFilter(w);
                default -> throw new IllegalArgumentException(scenario);
            }
        }
    }

    /**
     * DashScope's own text-generation API streamed ({@code X-DashScope-SSE: enable}, as its Java and Python SDKs
     * call it): every event {@code id:}, {@code event:result}, a {@code :HTTP_STATUS/200} comment and the data,
     * each with the running usage, {@code finish_reason} the string {@code "null"} until the last.
     */
    static void dashScope(PrintWriter w, boolean message) {
        for (int i = 0; i < CHUNKS; i++) {
            boolean last = i == CHUNKS - 1;
            String reason = last ? "stop" : "null";
            String output = message
                    ? "{\"choices\":[{\"message\":{\"content\":\"" + word(i) + "\",\"role\":\"assistant\"},\"finish_reason\":\""
                            + reason + "\"}]}"
                    : "{\"finish_reason\":\"" + reason + "\",\"text\":\"" + word(i) + "\"}";
            w.write("id:" + (i + 1) + "\nevent:result\n:HTTP_STATUS/200\ndata:{\"output\":" + output + ",\"usage\":{\"total_tokens\":"
                    + (PROMPT + i + 1) + ",\"output_tokens\":" + (i + 1) + ",\"input_tokens\":" + PROMPT
                    + ",\"prompt_tokens_details\":{\"cached_tokens\":0}},\"request_id\":\"5bef2d2a-5d35-9b25-8b2b-a6a5e2b3c7d1\"}\n\n");
            w.flush();
        }
    }

    /**
     * Baidu Qianfan's ERNIE chat streamed: every chunk {@code "object": "chat.completion"} under one id, the
     * prompt counted in each, the completion on the last ({@code is_end}).
     */
    static void ernie(PrintWriter w) {
        for (int i = 0; i < CHUNKS; i++) {
            boolean last = i == CHUNKS - 1;
            long completion = last ? CHUNKS : 0;
            w.write("data: {\"id\":\"as-zfgsdvxqtu\",\"object\":\"chat.completion\",\"created\":1693896426,\"sentence_id\":" + i
                    + ",\"is_end\":" + last + ",\"is_truncated\":false,\"result\":\"" + word(i) + "\",\"need_clear_history\":false,"
                    + "\"finish_reason\":\"" + (last ? "stop" : "normal") + "\",\"usage\":{\"prompt_tokens\":" + PROMPT
                    + ",\"completion_tokens\":" + completion + ",\"total_tokens\":" + (PROMPT + completion) + "}}\n\n");
            w.flush();
        }
    }

    /** xAI's chat stream: the running usage on every chunk, then a last chunk without choices repeating it. */
    static void xai(PrintWriter w) {
        String id = "923d4779-8674-4a1e-a509-b9ecc58263a9";
        for (int i = 0; i <= CHUNKS; i++) {
            boolean fin = i == CHUNKS;
            long out = Math.min(i + 1, CHUNKS);
            String choice = fin ? "{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}"
                    : "{\"index\":0,\"delta\":{\"content\":\"" + word(i) + "\"" + (i == 0 ? ",\"role\":\"assistant\"" : "") + "}}";
            w.write("data: {\"id\":\"" + id + "\",\"object\":\"chat.completion.chunk\",\"created\":1764152777,\"model\":"
                    + "\"grok-4-1-fast-non-reasoning\",\"choices\":[" + choice + "],\"usage\":{\"prompt_tokens\":" + PROMPT
                    + ",\"completion_tokens\":" + out + ",\"total_tokens\":" + (PROMPT + out) + ",\"prompt_tokens_details\":"
                    + "{\"text_tokens\":" + PROMPT + ",\"audio_tokens\":0,\"image_tokens\":0,\"cached_tokens\":0},"
                    + "\"completion_tokens_details\":{\"reasoning_tokens\":0,\"audio_tokens\":0,\"accepted_prediction_tokens\":0,"
                    + "\"rejected_prediction_tokens\":0},\"num_sources_used\":0},\"system_fingerprint\":\"fp_174298dd8e\"}\n\n");
            w.flush();
        }
        w.write("data: {\"id\":\"" + id + "\",\"object\":\"chat.completion.chunk\",\"created\":1764152777,\"model\":"
                + "\"grok-4-1-fast-non-reasoning\",\"choices\":[],\"usage\":{\"prompt_tokens\":" + PROMPT + ",\"completion_tokens\":"
                + CHUNKS + ",\"total_tokens\":" + (PROMPT + CHUNKS) + ",\"num_sources_used\":0},\"system_fingerprint\":\"fp_174298dd8e\"}\n\n");
        w.write("data: [DONE]\n\n");
        w.flush();
    }

    /** OpenRouter's stream: processing comments, the chunks, the finish, then the usage with its cost. */
    static void openRouter(PrintWriter w) {
        String head = "{\"id\":\"gen-1735689600-abcdEFGHijklMNOP\",\"provider\":\"Fireworks\",\"model\":\"deepseek/deepseek-chat\","
                + "\"object\":\"chat.completion.chunk\",\"created\":1735689600,\"choices\":[";
        w.write(": OPENROUTER PROCESSING\n\n: OPENROUTER PROCESSING\n\n");
        for (int i = 0; i < CHUNKS; i++) {
            w.write("data: " + head + "{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"" + word(i)
                    + "\"},\"finish_reason\":null,\"native_finish_reason\":null,\"logprobs\":null}]}\n\n");
            if (i % 20 == 0) {
                w.write(": OPENROUTER PROCESSING\n\n");
            }
            w.flush();
        }
        w.write("data: " + head + "{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\"},\"finish_reason\":\"stop\","
                + "\"native_finish_reason\":\"stop\",\"logprobs\":null}]}\n\n");
        w.write("data: " + head + "{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\"},\"finish_reason\":null,"
                + "\"native_finish_reason\":null,\"logprobs\":null}],\"usage\":{\"prompt_tokens\":" + PROMPT + ",\"completion_tokens\":"
                + CHUNKS + ",\"total_tokens\":" + (PROMPT + CHUNKS) + ",\"cost\":0.0001932,\"is_byok\":false,\"prompt_tokens_details\":"
                + "{\"cached_tokens\":0},\"cost_details\":{\"upstream_inference_cost\":null},\"completion_tokens_details\":"
                + "{\"reasoning_tokens\":0}}}\n\n");
        w.write("data: [DONE]\n\n");
        w.flush();
    }

    /**
     * MiniMax's chatcompletion_v2 streamed: chunks, then a last {@code chat.completion} under the same id with
     * the whole message and the usage.
     */
    static void miniMax(PrintWriter w) {
        String id = "04ecb5d9b1921ae0fb0e8da9017a5474";
        StringBuilder all = new StringBuilder();
        for (int i = 0; i < CHUNKS; i++) {
            all.append(word(i));
            w.write("data: {\"id\":\"" + id + "\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"" + word(i) + "\",\"role\":"
                    + "\"assistant\",\"name\":\"MiniMax AI\",\"audio_content\":\"\"}}],\"created\":1735689600,\"model\":"
                    + "\"MiniMax-Text-01\",\"object\":\"chat.completion.chunk\",\"usage\":{\"total_tokens\":0,\"total_characters\":0},"
                    + "\"input_sensitive\":false,\"output_sensitive\":false,\"input_sensitive_type\":0,\"output_sensitive_type\":0,"
                    + "\"output_sensitive_int\":0}\n\n");
            w.flush();
        }
        w.write("data: {\"id\":\"" + id + "\",\"choices\":[{\"finish_reason\":\"stop\",\"index\":0,\"message\":{\"content\":\"" + all
                + "\",\"role\":\"assistant\",\"name\":\"MiniMax AI\",\"audio_content\":\"\"}}],\"created\":1735689600,\"model\":"
                + "\"MiniMax-Text-01\",\"object\":\"chat.completion\",\"usage\":{\"total_tokens\":" + (PROMPT + CHUNKS)
                + ",\"total_characters\":0,\"prompt_tokens\":" + PROMPT + ",\"completion_tokens\":" + CHUNKS + "},"
                + "\"input_sensitive\":false,\"output_sensitive\":false,\"input_sensitive_type\":0,\"output_sensitive_type\":0,"
                + "\"output_sensitive_int\":0,\"base_resp\":{\"status_code\":0,\"status_msg\":\"\"}}\n\n");
        w.flush();
    }

    static String chunk(String id, String choices, String usage) {
        return "data: {\"id\":\"" + id + "\",\"object\":\"chat.completion.chunk\",\"created\":1735689600,\"model\":\"gpt-4o-2024-08-06\","
                + "\"choices\":[" + choices + "]" + (usage == null ? "" : ",\"usage\":" + usage) + "}\n\n";
    }

    static final String FINAL_USAGE = "{\"prompt_tokens\":" + PROMPT + ",\"completion_tokens\":" + CHUNKS + ",\"total_tokens\":"
            + (PROMPT + CHUNKS) + "}";

    /**
     * A server that sends the usage-only chunk ({@code choices: []}) just before the chunk that finishes the
     * choice (cortiq-server's {@code streaming::usage_chunk}: "sent just before the finish chunk"), under the
     * same id; the finishing chunk's delta is empty and names no role: it begins nothing.
     */
    static void usageBeforeFinish(PrintWriter w) {
        String id = "chatcmpl-u252";
        for (int i = 0; i < CHUNKS; i++) {
            w.write(chunk(id, "{\"index\":0,\"delta\":{\"content\":\"" + word(i) + "\"},\"finish_reason\":null}", null));
        }
        w.write(chunk(id, "", FINAL_USAGE));
        w.write(chunk(id, "{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}", null));
        w.write("data: [DONE]\n\n");
        w.flush();
    }

    /** Azure OpenAI with the asynchronous content filter: annotations of the finished choice after the usage chunk. */
    static void azureAsyncFilter(PrintWriter w) {
        String id = "chatcmpl-az252";
        w.write("data: {\"choices\":[],\"created\":0,\"id\":\"\",\"model\":\"\",\"object\":\"\",\"prompt_filter_results\":[{\"prompt_index\":0,"
                + "\"content_filter_results\":{\"hate\":{\"filtered\":false,\"severity\":\"safe\"}}}]}\n\n");
        for (int i = 0; i < CHUNKS; i++) {
            w.write(chunk(id, "{\"index\":0,\"delta\":{" + (i == 0 ? "\"role\":\"assistant\"," : "") + "\"content\":\"" + word(i)
                    + "\"},\"finish_reason\":null,\"content_filter_results\":{}}", null));
        }
        w.write(chunk(id, "{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\",\"content_filter_results\":{}}", null));
        w.write(chunk(id, "", FINAL_USAGE));
        w.write("data: {\"choices\":[{\"content_filter_offsets\":{\"check_offset\":0,\"start_offset\":0,\"end_offset\":400},"
                + "\"content_filter_results\":{\"hate\":{\"filtered\":false,\"severity\":\"safe\"}},\"finish_reason\":null,\"index\":0}],"
                + "\"created\":0,\"id\":\"\",\"model\":\"\",\"object\":\"\"}\n\n");
        w.write("data: [DONE]\n\n");
        w.flush();
    }

    /**
     * Z.ai's GLM chat stream: chunks without an {@code object} label, the role in every delta, and (GLM-5.x)
     * the cumulative usage on every chunk, the finish reason on the last.
     */
    static void glm(PrintWriter w) {
        for (int i = 0; i < CHUNKS; i++) {
            boolean last = i == CHUNKS - 1;
            w.write("data: {\"id\":\"20260919153012a1b2c3d4e5f64a7b\",\"created\":1758266212,\"model\":\"glm-5.3\",\"choices\":[{\"index\":0,"
                    + (last ? "\"finish_reason\":\"stop\"," : "") + "\"delta\":{\"role\":\"assistant\",\"content\":\"" + word(i) + "\"}}],"
                    + "\"usage\":{\"prompt_tokens\":" + PROMPT + ",\"completion_tokens\":" + (i + 1) + ",\"total_tokens\":" + (PROMPT + i + 1)
                    + ",\"prompt_tokens_details\":{\"cached_tokens\":0}}}\n\n");
            w.flush();
        }
        w.write("data: [DONE]\n\n");
        w.flush();
    }

    /** vLLM's completions endpoint with continuous usage stats: running usage beside every chunk's text. */
    static void vllmCompletions(PrintWriter w) {
        for (int i = 0; i < CHUNKS; i++) {
            boolean last = i == CHUNKS - 1;
            w.write("data: {\"id\":\"cmpl-146db2f386ec4cd2bec44e657604c9eb\",\"object\":\"text_completion\",\"created\":1762209902,"
                    + "\"model\":\"ibm-granite/granite-3.0-8b-instruct\",\"choices\":[{\"index\":0,\"text\":\"" + word(i) + "\",\"logprobs\":null,"
                    + "\"finish_reason\":" + (last ? "\"stop\"" : "null") + ",\"stop_reason\":null}],\"usage\":{\"prompt_tokens\":" + PROMPT
                    + ",\"total_tokens\":" + (PROMPT + i + 1) + ",\"completion_tokens\":" + (i + 1) + "}}\n\n");
            w.flush();
        }
        w.write("data: {\"id\":\"cmpl-146db2f386ec4cd2bec44e657604c9eb\",\"object\":\"text_completion\",\"created\":1762209902,"
                + "\"model\":\"ibm-granite/granite-3.0-8b-instruct\",\"choices\":[],\"usage\":{\"prompt_tokens\":" + PROMPT
                + ",\"total_tokens\":" + (PROMPT + CHUNKS) + ",\"completion_tokens\":" + CHUNKS + "}}\n\n");
        w.write("data: [DONE]\n\n");
        w.flush();
    }

    @Test
    void aGlmStreamWithUsageOnEveryChunkIsChargedItsLastCountOnce() {
        assertChargedOnce("glm", String.format(CHAT, "glm-5.3"));
    }

    @Test
    void aVllmCompletionsStreamWithContinuousUsageIsChargedItsLastCountOnce() {
        assertChargedOnce("vllm-completions", "{\"model\":\"ibm-granite/granite-3.0-8b-instruct\",\"prompt\":\"Summarise the termination"
                + " clause.\",\"stream\":true,\"stream_options\":{\"include_usage\":true,\"continuous_usage_stats\":true}}");
    }

    /** The attack: one 480-token call whose usage chunk precedes its finish chunk is charged 480, not another call's estimate. */
    @Test
    void aUsageChunkBeforeTheFinishIsChargedOnce() {
        assertChargedOnce("usage-before-finish", String.format(CHAT, "gpt-4o"));
    }

    @Test
    void azureAnnotationsAfterTheUsageChunkAreNoOtherCall() {
        assertChargedOnce("azure-async-filter", String.format(CHAT, "gpt-4o"));
    }

    static final String CHAT = "{\"model\":\"%s\",\"stream\":true,\"messages\":[{\"role\":\"user\",\"content\":"
            + "\"Summarise the termination clause of the supplier agreement.\"}]}";

    void assertChargedOnce(String scenario, String body) {
        String s = subject();
        HttpResponse<String> r = TestHttp.postJson(container.uri("/ai/p/" + scenario), s, body);
        assertEquals(200, r.statusCode(), r.body());
        assertEquals(1, calls.of(s), "the provider was called once");
        long used = settled(s).used();
        long usage = PROMPT + CHUNKS;
        assertTrue(used >= usage && used <= usage + 50, scenario + ": one call reporting " + usage + " tokens is charged it, charged "
                + used + ": " + ledger(s));
    }

    /** DashScope's native stream, {@code result_format: message}, {@code incremental_output: true}: 480 tokens. */
    @Test
    void aDashScopeNativeMessageStreamIsChargedItsLastCountOnce() {
        assertChargedOnce("dashscope-message", "{\"model\":\"qwen-plus\",\"input\":{\"messages\":[{\"role\":\"user\",\"content\":"
                + "\"Summarise the termination clause of the supplier agreement.\"}]},\"parameters\":{\"result_format\":\"message\","
                + "\"incremental_output\":true}}");
    }

    /** DashScope's native stream in its default text format: 480 tokens. */
    @Test
    void aDashScopeNativeTextStreamIsChargedItsLastCountOnce() {
        assertChargedOnce("dashscope-text", "{\"model\":\"qwen-turbo\",\"input\":{\"prompt\":"
                + "\"Summarise the termination clause of the supplier agreement.\"},\"parameters\":{\"incremental_output\":true}}");
    }

    /** ERNIE's stream: 480 tokens. */
    @Test
    void anErnieStreamIsChargedItsLastCountOnce() {
        assertChargedOnce("ernie", "{\"stream\":true,\"messages\":[{\"role\":\"user\",\"content\":"
                + "\"Summarise the termination clause of the supplier agreement.\"}]}");
    }

    @Test
    void anXaiStreamIsChargedItsLastCountOnce() {
        assertChargedOnce("xai", String.format(CHAT, "grok-4-1-fast-non-reasoning"));
    }

    @Test
    void anOpenRouterStreamIsChargedItsUsageOnce() {
        assertChargedOnce("openrouter", String.format(CHAT, "deepseek/deepseek-chat"));
    }

    @Test
    void aMiniMaxStreamIsChargedItsUsageOnce() {
        assertChargedOnce("minimax", String.format(CHAT, "MiniMax-Text-01"));
    }
}
