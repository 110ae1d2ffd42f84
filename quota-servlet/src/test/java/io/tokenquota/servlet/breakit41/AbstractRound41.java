package io.tokenquota.servlet.breakit41;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.tokenquota.servlet.QuotaFilter;
import io.tokenquota.servlet.testing.RelayedAnswers;
import io.tokenquota.servlet.testing.Deployment;
import io.tokenquota.servlet.testing.H2FilterRound;
import io.tokenquota.servlet.testing.TestHttp;
import jakarta.servlet.http.HttpServlet;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.io.PrintWriter;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.util.UUID;
import java.util.zip.Deflater;
import java.util.zip.DeflaterOutputStream;
import java.util.zip.GZIPOutputStream;
import org.junit.jupiter.api.Test;

/**
 * Round 41 of issue 11 ("no model call goes unpaid, nothing that never reached a model is charged"):
 * the answer side added in round 39 (AnswerDecoding, per-call sums, provisional output-only reports,
 * Perplexity's extra usage fields). Each endpoint relays an answer exactly as a real server writes it.
 */
abstract class AbstractRound41 extends H2FilterRound {

    static String subject() {
        return "u41-" + UUID.randomUUID().toString().substring(0, 12);
    }

    @Override
    protected Deployment deploy(QuotaFilter filter) {
        return Deployment.create()
                .filter("quota", filter, "/ai/*")
                .servlet("answers", new Answers(), "/ai/*");
    }

    static final String PROMPT_7000 = "The quick brown fox jumps over the lazy dog. ".repeat(700);

    // ------------------------------------------------------------------ the endpoints

    public static class Answers extends HttpServlet {
        /**
         * vLLM's batch output file ({@code vllm run-batch}, or a batch service on it), read back: the
         * client's input named one {@code custom_id} for three requests (vLLM documents "must be
         * unique" but does not check it), so the three completions it ran carry the same
         * {@code custom_id}, each with its own {@code id} and {@code request_id}.
         */
        @Override
        protected void doGet(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            if (!req.getRequestURI().endsWith("/files/vllm-batch-out/content")) {
                resp.sendError(404);
                return;
            }
            resp.setContentType("application/jsonl");
            StringBuilder b = new StringBuilder();
            for (int i = 0; i < 3; i++) {
                b.append("{\"id\":\"vllm-7c1e").append(i).append("\",\"custom_id\":\"request-1\",\"response\":{")
                        .append("\"status_code\":200,\"request_id\":\"vllm-batch-90a").append(i).append("\",\"body\":{")
                        .append("\"id\":\"chatcmpl-").append(i).append("\",\"object\":\"chat.completion\",\"created\":1753000000,")
                        .append("\"model\":\"meta-llama/Meta-Llama-3-8B-Instruct\",\"choices\":[{\"index\":0,\"message\":{")
                        .append("\"role\":\"assistant\",\"content\":\"...\"},\"finish_reason\":\"stop\"}],")
                        .append("\"usage\":{\"prompt_tokens\":1000,\"total_tokens\":3000,\"completion_tokens\":2000,")
                        .append("\"prompt_tokens_details\":null}}},\"error\":null}\n");
            }
            resp.getWriter().write(b.toString());
        }

        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            req.getInputStream().readAllBytes();
            String path = req.getRequestURI();
            if (path.endsWith("/asr")) {
                // a speech-to-text model (Whisper behind Hugging Face's inference API) answering raw audio
                resp.setContentType("application/json");
                resp.getWriter().write("{\"text\":\"\"}");
            } else if (path.endsWith("/sglang/v1/chat/completions")) {
                sglang(resp, true);
            } else if (path.endsWith("/sglang-plain/v1/chat/completions")) {
                sglang(resp, false);
            } else if (path.contains("/model/anthropic.") && path.endsWith("/invoke-with-response-stream")) {
                claudeEventStream(resp);
            } else if (path.endsWith("/gzmembers/v1/chat/completions")) {
                gzipMembers(resp);
            } else if (path.endsWith("/rawdeflate/v1/chat/completions")) {
                rawDeflate(resp);
            } else if (path.endsWith("/llamacpp/completion")) {
                llamaCppStreamedPrompts(resp);
            } else if (path.endsWith("/tgi/generate")) {
                tgiGenerate(resp);
            } else if (path.endsWith("/ollama/api/generate")) {
                ollamaCachedLongAnswer(resp);
            } else {
                resp.sendError(404);
            }
        }

        /**
         * SGLang's OpenAI-compatible chat completion for a reasoning model (Qwen3, DeepSeek-R1 with
         * {@code --reasoning-parser}): {@code UsageInfo} carries {@code reasoning_tokens} at the top of
         * the usage object, a part of {@code completion_tokens}; {@code total_tokens} is prompt plus
         * completion (sglang/srt/entrypoints/openai/usage_processor.py, {@code calculate_token_usage}).
         */
        private static void sglang(HttpServletResponse resp, boolean withReasoningCount) throws IOException {
            resp.setContentType("application/json");
            resp.getWriter().write("{\"id\":\"0f9a\",\"object\":\"chat.completion\",\"created\":1753000000,"
                    + "\"model\":\"Qwen/Qwen3-32B\",\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\","
                    + "\"content\":\"42.\",\"reasoning_content\":\"Let me think...\",\"tool_calls\":null},"
                    + "\"logprobs\":null,\"finish_reason\":\"stop\",\"matched_stop\":151645}],"
                    + "\"usage\":{\"prompt_tokens\":20,\"total_tokens\":1520,\"completion_tokens\":1500,"
                    + "\"prompt_tokens_details\":null" + (withReasoningCount ? ",\"reasoning_tokens\":1200" : "")
                    + "},\"metadata\":{\"weight_version\":\"default\"}}");
        }

        /**
         * Bedrock's InvokeModelWithResponseStream with an Anthropic model, relayed as Bedrock sends it
         * (binary event stream, each chunk's Anthropic event base64 under {@code bytes}): the prompt is
         * counted by {@code message_start}'s {@code message.usage}, the output by {@code message_delta},
         * and the last chunk adds Bedrock's invocation metrics with both.
         */
        private static void claudeEventStream(HttpServletResponse resp) throws IOException {
            resp.setContentType("application/vnd.amazon.eventstream");
            resp.setHeader("x-amzn-bedrock-content-type", "application/json");
            OutputStream out = resp.getOutputStream();
            out.write(RelayedAnswers.awsEventStreamChunk("{\"type\":\"message_start\",\"message\":{\"id\":\"msg_bdrk_01\",\"type\":\"message\","
                    + "\"role\":\"assistant\",\"model\":\"claude-sonnet-4-20250514\",\"content\":[],\"stop_reason\":null,"
                    + "\"stop_sequence\":null,\"usage\":{\"input_tokens\":7000,\"output_tokens\":1}}}"));
            out.write(RelayedAnswers.awsEventStreamChunk("{\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}"));
            out.write(RelayedAnswers.awsEventStreamChunk("{\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"Summary...\"}}"));
            out.write(RelayedAnswers.awsEventStreamChunk("{\"type\":\"content_block_stop\",\"index\":0}"));
            out.write(RelayedAnswers.awsEventStreamChunk("{\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\",\"stop_sequence\":null},"
                    + "\"usage\":{\"output_tokens\":300}}"));
            out.write(RelayedAnswers.awsEventStreamChunk("{\"type\":\"message_stop\",\"amazon-bedrock-invocationMetrics\":{\"inputTokenCount\":7000,"
                    + "\"outputTokenCount\":300,\"invocationLatency\":4100,\"firstByteLatency\":350}}"));
        }

        /**
         * A relay that compresses a stream event by event: each event is a gzip member of its own
         * (RFC 1952 section 2.2: a gzip file is a series of members), which every gzip reader (curl,
         * browsers, Java's GZIPInputStream, Python's gzip) decodes as one body. The usage is in the
         * last member.
         */
        private static void gzipMembers(HttpServletResponse resp) throws IOException {
            resp.setContentType("text/event-stream");
            resp.setHeader("Content-Encoding", "gzip");
            OutputStream out = resp.getOutputStream();
            String[] events = {
                "data: {\"id\":\"chatcmpl-1\",\"object\":\"chat.completion.chunk\",\"model\":\"gpt-4o\",\"choices\":[{\"index\":0,"
                        + "\"delta\":{\"role\":\"assistant\",\"content\":\"A long story\"},\"finish_reason\":null}],\"usage\":null}\n\n",
                "data: {\"id\":\"chatcmpl-1\",\"object\":\"chat.completion.chunk\",\"model\":\"gpt-4o\",\"choices\":[{\"index\":0,"
                        + "\"delta\":{},\"finish_reason\":\"stop\"}],\"usage\":null}\n\n",
                "data: {\"id\":\"chatcmpl-1\",\"object\":\"chat.completion.chunk\",\"model\":\"gpt-4o\",\"choices\":[],"
                        + "\"usage\":{\"prompt_tokens\":15,\"completion_tokens\":8985,\"total_tokens\":9000}}\n\n",
                "data: [DONE]\n\n"};
            for (String e : events) {
                ByteArrayOutputStream member = new ByteArrayOutputStream();
                try (GZIPOutputStream gz = new GZIPOutputStream(member)) {
                    gz.write(e.getBytes(StandardCharsets.UTF_8));
                }
                out.write(member.toByteArray());
                out.flush();
            }
        }

        /**
         * {@code Content-Encoding: deflate} as raw deflate without the zlib wrapper (what IIS and
         * several older servers send; browsers and curl accept both forms).
         */
        private static void rawDeflate(HttpServletResponse resp) throws IOException {
            resp.setContentType("application/json");
            resp.setHeader("Content-Encoding", "deflate");
            Deflater raw = new Deflater(Deflater.DEFAULT_COMPRESSION, true);
            DeflaterOutputStream out = new DeflaterOutputStream(resp.getOutputStream(), raw);
            out.write(("{\"id\":\"chatcmpl-1\",\"object\":\"chat.completion\",\"model\":\"gpt-4o\",\"choices\":[{\"index\":0,"
                    + "\"message\":{\"role\":\"assistant\",\"content\":\"A long story...\"},\"finish_reason\":\"stop\"}],"
                    + "\"usage\":{\"prompt_tokens\":15,\"completion_tokens\":8985,\"total_tokens\":9000}}")
                    .getBytes(StandardCharsets.UTF_8));
            out.finish();
        }

        /**
         * llama.cpp's native {@code /completion} given four prompts with {@code "stream": true}: the
         * prompts' chunks are interleaved server-sent events, each with its prompt's {@code index}, its
         * running {@code tokens_predicted} and its {@code tokens_evaluated}; each prompt's last chunk
         * says {@code "stop": true}.
         */
        private static void llamaCppStreamedPrompts(HttpServletResponse resp) throws IOException {
            resp.setContentType("text/event-stream");
            PrintWriter w = resp.getWriter();
            for (int step = 1; step <= 2; step++) {
                for (int i = 0; i < 4; i++) {
                    boolean last = step == 2;
                    w.write("data: {\"index\":" + i + ",\"content\":\"" + (last ? "" : "Once") + "\",\"tokens\":[],"
                            + "\"stop\":" + last + ",\"id_slot\":" + i + ",\"tokens_predicted\":" + (last ? 500 : 1)
                            + ",\"tokens_evaluated\":1500"
                            + (last ? ",\"model\":\"llama-3.1-8b-instruct\",\"stop_type\":\"limit\",\"truncated\":false,"
                                    + "\"tokens_cached\":1999,\"timings\":{\"prompt_n\":1500,\"predicted_n\":500}" : "")
                            + "}\n\n");
                }
                w.flush();
            }
        }

        /**
         * Hugging Face TGI's {@code /generate} with {@code details}: {@code generated_tokens} counts the
         * output only; the 7,000-token prompt the model read is counted nowhere in the answer.
         */
        private static void tgiGenerate(HttpServletResponse resp) throws IOException {
            resp.setContentType("application/json");
            resp.getWriter().write("{\"generated_text\":\"Once upon a time ... the end.\",\"details\":{"
                    + "\"finish_reason\":\"length\",\"generated_tokens\":7000,\"seed\":null}}");
        }

        /**
         * Ollama's {@code /api/generate} for a prompt it has in its KV cache (the same long document sent
         * again): {@code prompt_eval_count} is left out, {@code eval_count} counts a long answer.
         */
        private static void ollamaCachedLongAnswer(HttpServletResponse resp) throws IOException {
            resp.setContentType("application/json; charset=utf-8");
            resp.getWriter().write("{\"model\":\"llama3.1\",\"created_at\":\"2026-12-02T03:30:00.0Z\","
                    + "\"response\":\"Once upon a time ... the end.\",\"done\":true,\"done_reason\":\"stop\","
                    + "\"total_duration\":97655712500,\"load_duration\":725667,\"prompt_eval_duration\":1000,"
                    + "\"eval_count\":7000,\"eval_duration\":95078000000}");
        }
    }


    // ------------------------------------------------------------------ helpers

    private long charged(String path, String body) {
        String s = subject();
        HttpResponse<String> r = TestHttp.postJson(container.uri(path), s, body);
        assertEquals(200, r.statusCode(), r.body());
        return settled(s).used();
    }

    private void chargedAtLeast(String path, String body, long billed) {
        String s = subject();
        HttpResponse<String> r = TestHttp.postJson(container.uri(path), s, body);
        assertEquals(200, r.statusCode(), r.body());
        long used = settled(s).used();
        assertTrue(used >= billed, "the answer shows this call cost at least " + billed
                + " tokens; the filter charged " + used + ": " + ledger(s));
    }

    // ------------------------------------------------------------------ the breaks

    /**
     * Over-charge. SGLang puts {@code reasoning_tokens} at the top of its OpenAI usage object, as a
     * part of {@code completion_tokens} ({@code total_tokens} = prompt + completion = 1,520). The rule
     * added for Perplexity adds any top-level {@code reasoning_tokens} to prompt + completion: the
     * same answer costs 1,520 without the field and 2,720 with it: 1,200 tokens charged that no model
     * produced.
     */
    @Test
    void sglangReasoningTokensAreNotChargedTwice() {
        String body = "{\"model\":\"Qwen/Qwen3-32B\",\"messages\":[{\"role\":\"user\",\"content\":\"What is 6 times 7?\"}]}";
        long control = charged("/ai/sglang-plain/v1/chat/completions", body);
        assertEquals(1520, control, "control: the answer without the reasoning count is charged its total");
        long used = charged("/ai/sglang/v1/chat/completions", body);
        assertEquals(1520, used, "SGLang's usage says total_tokens 1520 (reasoning_tokens 1200 are inside completion_tokens "
                + "1500); the filter charged " + used);
    }

    /**
     * Under-charge. A relayed Bedrock binary event stream of an Anthropic model: its payloads are read
     * as a JSON document stream, where {@code message_start}'s {@code message.usage} (the prompt, 7,000)
     * is not read (only an event's is), the {@code message_delta} usage (300 output) fixes the format
     * as Anthropic, and Bedrock's invocation metrics in the last chunk (7,300) are then ignored as
     * another format: 300 charged for 7,300.
     */
    @Test
    void aRelayedBedrockClaudeEventStreamIsChargedItsPrompt() {
        chargedAtLeast("/ai/raw/model/anthropic.claude-sonnet-4-20250514-v1:0/invoke-with-response-stream",
                "{\"anthropic_version\":\"bedrock-2023-05-31\",\"max_tokens\":300,\"messages\":[{\"role\":\"user\","
                        + "\"content\":\"" + PROMPT_7000 + "\"}]}", 7000 + 300);
    }

    /**
     * Under-charge. A gzip body of several members (one per event, as a relay that compresses each
     * flushed event writes): the inflater stops at the end of the first member, so the usage in the
     * last one is never read, and the call is charged its estimate (about 1,000) for 9,000.
     */
    @Test
    void aMultiMemberGzipStreamIsChargedItsUsage() {
        chargedAtLeast("/ai/gzmembers/v1/chat/completions", "{\"model\":\"gpt-4o\",\"stream\":true,"
                + "\"stream_options\":{\"include_usage\":true},\"messages\":[{\"role\":\"user\","
                + "\"content\":\"Write a very long story.\"}]}", 9000);
    }

    /**
     * Under-charge. {@code Content-Encoding: deflate} sent as raw deflate (no zlib header): the inflater
     * expects zlib, fails on the first byte, and the call is charged its estimate (about 1,000) for 9,000.
     */
    @Test
    void aRawDeflateAnswerIsChargedItsUsage() {
        chargedAtLeast("/ai/rawdeflate/v1/chat/completions", "{\"model\":\"gpt-4o\",\"messages\":[{\"role\":\"user\","
                + "\"content\":\"Write a very long story.\"}]}", 9000);
    }

    /**
     * Under-charge (documented decision argued: "llama.cpp's answer to a list of prompts ... add their
     * calls up"). The same four-prompt request streamed: its chunks name each prompt by {@code index}
     * like the array's elements, but only array elements are told apart, so the last chunk's counts
     * (one prompt, 2,000) are charged for four prompts (8,000).
     */
    @Test
    void aStreamedLlamaCppMultiPromptCompletionIsChargedEveryPrompt() {
        String prompt = "The quick brown fox jumps over the lazy dog. ".repeat(150);
        chargedAtLeast("/ai/llamacpp/completion", "{\"prompt\":[\"" + prompt + "1\",\"" + prompt + "2\",\"" + prompt + "3\",\""
                + prompt + "4\"],\"n_predict\":500,\"stream\":true}", 4 * 2000);
    }

    /**
     * Under-charge. TGI's {@code details.generated_tokens} counts the output alone; the rule charges
     * {@code max(generated, estimate)}, so a 7,000-token prompt with 7,000 generated tokens (no
     * {@code max_new_tokens}: TGI writes up to its limit) is charged about 8,000 (the estimate: prompt +
     * the default output budget) for about 14,000 read and written.
     */
    @Test
    void tgiGeneratedTokensAreChargedBesideThePrompt() {
        chargedAtLeast("/ai/tgi/generate", "{\"inputs\":\"" + PROMPT_7000 + "\",\"parameters\":{\"temperature\":0.7,"
                + "\"details\":true}}", 7000 + 6000);
    }

    /**
     * Under-charge (the round-39 rule for Ollama's cached prompt, with a long answer): without
     * {@code prompt_eval_count}, the report (7,000 output) is charged {@code max(report, estimate)},
     * about 8,000, so the 7,000-token prompt round 39 holds owed is free whenever the output is at
     * least the estimate.
     */
    @Test
    void anOllamaCachedPromptIsChargedBesideALongAnswer() {
        chargedAtLeast("/ai/ollama/api/generate", "{\"model\":\"llama3.1\",\"stream\":false,\"prompt\":\"" + PROMPT_7000 + "\"}",
                7000 + 6000);
    }

    /**
     * Under-charge by the client's own choice. A batch results file whose lines share one
     * {@code custom_id} (three completions vLLM ran for three input lines the client gave the same id)
     * is charged one line: "a call reported twice counts its last report" takes three calls for one,
     * 3,000 charged for 9,000.
     */
    @Test
    void batchResultsWithARepeatedCustomIdAreEachCharged() {
        String s = subject();
        HttpResponse<String> r = TestHttp.get(container.uri("/ai/files/vllm-batch-out/content"), "x-user-id", s);
        assertEquals(200, r.statusCode(), r.body());
        long used = settled(s).used();
        assertTrue(used >= 3 * 3000, "the results file reports three completions of 3,000 tokens (distinct ids and "
                + "request_ids); the filter charged " + used + ": " + ledger(s));
    }

    /**
     * Over-charge. One second of quiet 16 kHz 16-bit PCM sent raw ({@code audio/L16}, as Hugging Face's
     * speech-to-text inference API takes it) passes the UTF-16 zero-byte test and the noise share, so
     * it is estimated as 16,000 characters of text; the same samples behind a 44-byte WAV header are
     * binary and cost the fallback. The model read the same second of audio both times.
     */
    @Test
    void rawPcmAudioCostsNoMoreThanTheSameAudioAsWav() {
        byte[] pcm = new byte[32_000];
        java.util.Random random = new java.util.Random(41);
        for (int i = 0; i < pcm.length; i += 2) {
            // room tone: samples within +-255
            int sample = i == 0 ? 0x40 : random.nextInt(511) - 255;
            pcm[i] = (byte) sample;
            pcm[i + 1] = (byte) (sample >> 8);
        }
        java.nio.ByteBuffer wav = java.nio.ByteBuffer.allocate(44 + pcm.length).order(java.nio.ByteOrder.LITTLE_ENDIAN);
        wav.put("RIFF".getBytes(StandardCharsets.US_ASCII)).putInt(36 + pcm.length).put("WAVE".getBytes(StandardCharsets.US_ASCII))
                .put("fmt ".getBytes(StandardCharsets.US_ASCII)).putInt(16).putShort((short) 1).putShort((short) 1)
                .putInt(16_000).putInt(32_000).putShort((short) 2).putShort((short) 16)
                .put("data".getBytes(StandardCharsets.US_ASCII)).putInt(pcm.length).put(pcm);
        String asWav = subject();
        String asPcm = subject();
        HttpResponse<String> a = TestHttp.post(container.uri("/ai/asr"), wav.array(), "x-user-id", asWav,
                "Content-Type", "audio/wav");
        HttpResponse<String> b = TestHttp.post(container.uri("/ai/asr"), pcm, "x-user-id", asPcm,
                "Content-Type", "audio/L16;rate=16000");
        assertEquals(200, a.statusCode(), a.body());
        assertEquals(200, b.statusCode(), b.body());
        long wavCost = settled(asWav).used();
        long pcmCost = settled(asPcm).used();
        assertTrue(pcmCost <= wavCost, "one second of audio cost " + wavCost + " as WAV and " + pcmCost + " as raw PCM: "
                + ledger(asPcm));
    }
}
