package io.tokenquota.servlet.breakit123;

import static io.tokenquota.servlet.testing.EventStreams.HUNDRED;
import static io.tokenquota.servlet.testing.EventStreams.write;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.tokenquota.QuotaAccount;
import io.tokenquota.estimator.DefaultTokenEstimator;
import io.tokenquota.servlet.QuotaFilter;
import io.tokenquota.servlet.testing.Deployment;
import io.tokenquota.servlet.testing.EventStreams;
import io.tokenquota.servlet.testing.HangUps;
import io.tokenquota.servlet.testing.ModelCallRound;
import io.tokenquota.servlet.testing.OpenAiFiles;
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
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.Test;

/**
 * Round 123 of issue 11: two rules that just landed. (1) A stream without an output budget cut before
 * its usage is charged at least its input and the new text its deltas carried: streams whose new text
 * sits in delta fields the rule does not read, and a budget the client names that the relay does not
 * pass on. (2) An OpenAI batch's input file uploaded through the protected path is remembered and the
 * creation naming it is held its requests: the same file uploaded through OpenAI's other upload API
 * (Uploads, for files sent in parts), also under the protected prefix.
 */
abstract class AbstractRound123 extends ModelCallRound {
    static final ObjectMapper JSON = new ObjectMapper();
    static final DefaultTokenEstimator TOKENS = new DefaultTokenEstimator();
    final HangUps hangUps = new HangUps();

    /** OpenAI's Files and Uploads APIs: the batch input files. */
    final OpenAiFiles openAi = new OpenAiFiles();
    /** Tokens the model spent on each subject's batches. */
    final Map<String, AtomicLong> batchTokens = new ConcurrentHashMap<>();

    @Override
    protected Deployment deploy(QuotaFilter filter) {
        return Deployment.create()
                .filter("quota", filter, "/*")
                .multipartServlet("provider", new Provider(), new jakarta.servlet.MultipartConfigElement(""), "/ai/*")
                .onStartup(filter::registerByServletName);
    }

    static final String END = "THE-END";
    static final String STORY = "Write the longest story you can about a lighthouse.";

    // ------------------------------------------------------------------ mock provider and relays

    class Provider extends HttpServlet {
        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            String path = req.getPathInfo();
            String user = req.getHeader("x-user-id");
            if (openAi.serve(path, req, resp)) {
                return;
            }
            String body = new String(req.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
            switch (path) {
                case "/fn/v1/chat/completions" -> functionCall(user, resp, true);
                case "/text/v1/chat/completions" -> functionCall(user, resp, false);
                case "/audio/v1/chat/completions" -> audioChat(user, resp);
                case "/claude/v1/messages" -> claude(user, resp);
                case "/vercel/api/chat" -> vercelToolInput(user, resp);
                case "/v1/batches" -> batch(user, JSON.readTree(body), resp);
                default -> resp.sendError(404);
            }
        }
    }

    /**
     * A relay to OpenAI Chat Completions with a function (the {@code functions} / {@code function_call}
     * parameters, which OpenAI and the compatible servers still take): the model answers by calling
     * {@code save_story} with the story as its argument, 8,000 tokens in 80 chunks of
     * {@code delta.function_call.arguments}; the usage chunk ({@code stream_options.include_usage}) comes last.
     */
    void functionCall(String user, HttpServletResponse resp, boolean function) throws IOException {
        calls.count(user);
        resp.setContentType("text/event-stream");
        OutputStream out = resp.getOutputStream();
        String head = "data: {\"id\":\"chatcmpl-1\",\"object\":\"chat.completion.chunk\",\"created\":1714000000,"
                + "\"model\":\"gpt-4o-2024-08-06\",\"system_fingerprint\":\"fp_1\",\"choices\":[{\"index\":0,\"delta\":";
        write(out, head + "{\"role\":\"assistant\",\"content\":null,\"function_call\":{\"name\":\"save_story\",\"arguments\":\"\"},"
                + "\"refusal\":null},\"logprobs\":null,\"finish_reason\":null}],\"usage\":null}\n\n");
        write(out, head + "{\"function_call\":{\"arguments\":\"{\\\"story\\\":\\\"\"}},\"logprobs\":null,\"finish_reason\":null}],"
                + "\"usage\":null}\n\n");
        for (int chunk = 0; chunk < 80; chunk++) {
            String text = chunk == 79 ? HUNDRED + END + "\\\"}" : HUNDRED;
            write(out, head + (function ? "{\"function_call\":{\"arguments\":\"" + text + "\"}}" : "{\"content\":\"" + text + "\"}")
                    + ",\"logprobs\":null,\"finish_reason\":null}],\"usage\":null}\n\n");
        }
        write(out, head + "{},\"logprobs\":null,\"finish_reason\":\"function_call\"}],\"usage\":null}\n\n");
        hangUps.relayUntilGone(user, out, ": keep-alive\n\n",
                "data: {\"id\":\"chatcmpl-1\",\"object\":\"chat.completion.chunk\",\"created\":1714000000,\"model\":"
                        + "\"gpt-4o-2024-08-06\",\"choices\":[],\"usage\":{\"prompt_tokens\":60,\"completion_tokens\":8005,"
                        + "\"total_tokens\":8065}}\n\ndata: [DONE]\n\n");
    }

    /**
     * A relay to OpenAI Chat Completions with an audio model ({@code gpt-4o-audio-preview},
     * {@code modalities: ["text", "audio"]}, {@code audio.format: pcm16}), streamed as OpenAI streams it:
     * each chunk's {@code delta.audio} carries a piece of the transcript or of the audio data. The
     * transcript is 8,000 tokens in 80 chunks; the audio costs far more output tokens than its
     * transcript. The usage chunk comes last.
     */
    void audioChat(String user, HttpServletResponse resp) throws IOException {
        calls.count(user);
        resp.setContentType("text/event-stream");
        OutputStream out = resp.getOutputStream();
        String head = "data: {\"id\":\"chatcmpl-2\",\"object\":\"chat.completion.chunk\",\"created\":1714000000,"
                + "\"model\":\"gpt-4o-audio-preview-2024-12-17\",\"choices\":[{\"index\":0,\"delta\":";
        String pcm = java.util.Base64.getEncoder().encodeToString(new byte[2_400]);
        write(out, head + "{\"role\":\"assistant\",\"content\":null,\"refusal\":null},\"finish_reason\":null}]}\n\n");
        for (int chunk = 0; chunk < 80; chunk++) {
            String text = chunk == 79 ? HUNDRED + END : HUNDRED;
            write(out, head + "{\"audio\":{\"id\":\"audio_1\",\"transcript\":\"" + text + "\"}},\"finish_reason\":null}]}\n\n");
            write(out, head + "{\"audio\":{\"id\":\"audio_1\",\"data\":\"" + pcm + "\"}},\"finish_reason\":null}]}\n\n");
        }
        write(out, head + "{\"audio\":{\"id\":\"audio_1\",\"expires_at\":1714003600}},\"finish_reason\":\"stop\"}]}\n\n");
        hangUps.relayUntilGone(user, out, ": keep-alive\n\n",
                "data: {\"id\":\"chatcmpl-2\",\"object\":\"chat.completion.chunk\",\"created\":1714000000,\"model\":"
                        + "\"gpt-4o-audio-preview-2024-12-17\",\"choices\":[],\"usage\":{\"prompt_tokens\":60,"
                        + "\"completion_tokens\":40000,\"total_tokens\":40060,\"completion_tokens_details\":"
                        + "{\"audio_tokens\":32000,\"text_tokens\":8000}}}\n\ndata: [DONE]\n\n");
    }

    /**
     * A chat relay to Anthropic's Messages API that builds its own provider request: it takes the
     * client's messages and sets the model and its own {@code max_tokens} (64,000), whatever the client
     * sent. It streams the provider's events on and cancels the provider call when its client goes.
     * The model writes 8,000 tokens.
     */
    void claude(String user, HttpServletResponse resp) throws IOException {
        calls.count(user);
        resp.setContentType("text/event-stream");
        EventStreams.anthropicStoryUntilGone(hangUps, user, resp.getOutputStream());
    }

    /**
     * A chat route made with the Vercel AI SDK (v5) {@code toUIMessageStreamResponse()}: the model calls
     * a {@code writeDocument} tool whose input (the document) it writes as it goes, 8,000 tokens sent as
     * {@code tool-input-delta} parts' {@code inputTextDelta}, then {@code tool-input-available} with the
     * parsed input. The UI message stream carries no usage; the stream ends normally.
     */
    void vercelToolInput(String user, HttpServletResponse resp) throws IOException {
        calls.count(user);
        resp.setContentType("text/event-stream");
        resp.setHeader("x-vercel-ai-ui-message-stream", "v1");
        OutputStream out = resp.getOutputStream();
        write(out, "data: {\"type\":\"start\",\"messageId\":\"msg-7Qx2\"}\n\n"
                + "data: {\"type\":\"start-step\"}\n\n"
                + "data: {\"type\":\"tool-input-start\",\"toolCallId\":\"call_1\",\"toolName\":\"writeDocument\"}\n\n"
                + "data: {\"type\":\"tool-input-delta\",\"toolCallId\":\"call_1\",\"inputTextDelta\":\"{\\\"content\\\":\\\"\"}\n\n");
        for (int chunk = 0; chunk < 80; chunk++) {
            write(out, "data: {\"type\":\"tool-input-delta\",\"toolCallId\":\"call_1\",\"inputTextDelta\":\"" + HUNDRED + "\"}\n\n");
        }
        write(out, "data: {\"type\":\"tool-input-delta\",\"toolCallId\":\"call_1\",\"inputTextDelta\":\"\\\"}\"}\n\n"
                + "data: {\"type\":\"tool-input-available\",\"toolCallId\":\"call_1\",\"toolName\":\"writeDocument\","
                + "\"input\":{\"content\":\"" + HUNDRED.repeat(80) + "\"}}\n\n"
                + "data: {\"type\":\"finish-step\"}\n\n"
                + "data: {\"type\":\"finish\"}\n\n"
                + "data: [DONE]\n\n");
    }

    /**
     * OpenAI Batch: the requests are the lines of an input file named by id. The provider runs them
     * later; here at once, each line's input and the output its budget lets the model write counted
     * for the subject.
     */
    void batch(String user, JsonNode body, HttpServletResponse resp) throws IOException {
        openAi.batch(body, resp, request -> {
            calls.count(user);
            batchTokens.computeIfAbsent(user, u -> new AtomicLong())
                    .addAndGet(TOKENS.estimate(request.path("messages").toString()) + request.path("max_tokens").asLong(300));
        });
    }

    // ------------------------------------------------------------------ helpers

    String hangUpAfter(String s, String path, String body, String until) throws IOException {
        return hangUps.postAndHangUpAfter(container.port(), path, s, body, until);
    }

    HttpResponse<String> post(String path, String user, String body) {
        return TestHttp.postJson(container.uri(path), user, body);
    }

    // ------------------------------------------------------------------ 1. streams without a budget, cut

    /**
     * The attack: a chat relay to OpenAI; the client names no budget and passes a function
     * ({@code functions}, {@code function_call: {"name": "save_story"}}), so the model writes its
     * answer as the function's arguments: 8,000 tokens in {@code choices[].delta.function_call.arguments}
     * (the deprecated but served shape of tool calls). The client reads them all, hangs up before the
     * usage chunk, and must be charged at least the text the deltas carried (8,000), not its input and
     * the default budget (about 1,030).
     */
    @Test
    void aLegacyFunctionCallStreamCutBeforeItsUsagePaysForItsArguments() throws Exception {
        String s = subject();
        String seen = hangUpAfter(s, "/ai/fn/v1/chat/completions", "{\"model\":\"gpt-4o\",\"stream\":true,"
                + "\"stream_options\":{\"include_usage\":true},\"messages\":[{\"role\":\"user\",\"content\":\"" + STORY + "\"}],"
                + "\"functions\":[{\"name\":\"save_story\",\"parameters\":{\"type\":\"object\",\"properties\":{\"story\":"
                + "{\"type\":\"string\"}}}}],\"function_call\":{\"name\":\"save_story\"}}", "\"finish_reason\":\"function_call\"");
        assertPaidForWhatItRead(s, seen, "wave ", 8_000, "function_call stream");
    }

    /**
     * Control: the same relay and client, the model's 8,000 tokens as plain {@code delta.content}: the
     * cut stream is charged at least its text.
     */
    @Test
    void controlAPlainChatStreamCutBeforeItsUsagePaysForItsText() throws Exception {
        String s = subject();
        String seen = hangUpAfter(s, "/ai/text/v1/chat/completions", "{\"model\":\"gpt-4o\",\"stream\":true,"
                + "\"stream_options\":{\"include_usage\":true},\"messages\":[{\"role\":\"user\",\"content\":\"" + STORY
                + "\"}]}", "\"finish_reason\":\"function_call\"");
        assertPaidForWhatItRead(s, seen, "wave ", 8_000, "plain chat stream");
    }

    /**
     * The attack: a chat relay to OpenAI's audio model ({@code modalities: ["text", "audio"]}); the
     * client names no budget, reads the whole spoken answer (its transcript is 8,000 tokens, carried in
     * {@code choices[].delta.audio.transcript}; the audio itself bills 32,000 more) and hangs up before
     * the usage chunk. It must be charged at least its transcript, not its input and the default budget.
     */
    @Test
    void anAudioChatStreamCutBeforeItsUsagePaysForItsTranscript() throws Exception {
        String s = subject();
        String seen = hangUpAfter(s, "/ai/audio/v1/chat/completions", "{\"model\":\"gpt-4o-audio-preview\",\"stream\":true,"
                + "\"stream_options\":{\"include_usage\":true},\"modalities\":[\"text\",\"audio\"],\"audio\":{\"voice\":"
                + "\"alloy\",\"format\":\"pcm16\"},\"messages\":[{\"role\":\"user\",\"content\":\"" + STORY + "\"}]}",
                "\"finish_reason\":\"stop\"");
        assertPaidForWhatItRead(s, seen, "wave ", 8_000, "audio chat stream");
    }

    /**
     * The attack: the Anthropic relay sets its own {@code max_tokens} (64,000) whatever the client sends.
     * The client sends {@code "max_tokens": 1}, which the filter takes as the call's budget (so it counts
     * no delta text), reads the whole 8,000-token story and hangs up before {@code message_delta}. The
     * filter charges the budget it read (input and 1), though the text it saw pass is 8,000 tokens.
     */
    @Test
    void aBudgetTheRelayDoesNotPassOnDoesNotCapACutStreamsCharge() throws Exception {
        String s = subject();
        String seen = hangUpAfter(s, "/ai/claude/v1/messages", "{\"max_tokens\":1,\"stream\":true,\"messages\":[{\"role\":"
                + "\"user\",\"content\":\"" + STORY + "\"}]}", "content_block_stop");
        assertPaidForWhatItRead(s, seen, "wave ", 8_000, "Anthropic stream with a budget of 1 the relay replaced");
    }

    /**
     * The attack: a Vercel AI SDK v5 chat route (UI message stream, which carries no usage at all);
     * the client names no budget and asks for a document written through a tool, so the model writes
     * 8,000 tokens as {@code tool-input-delta} parts' {@code inputTextDelta}. The stream ends normally
     * and is charged its input and the default budget (about 1,020), not the text its deltas carried.
     */
    @Test
    void aVercelUiStreamOfToolInputIsChargedItsText() {
        String s = subject();
        HttpResponse<String> r = post("/ai/vercel/api/chat", s, "{\"messages\":[{\"id\":\"m1\",\"role\":\"user\",\"parts\":"
                + "[{\"type\":\"text\",\"text\":\"" + STORY + " Save it with writeDocument.\"}]}]}");
        QuotaAccount a = settled(s);
        assertEquals(200, r.statusCode(), figures(s, r, a));
        assertEquals(1, calls.of(s), figures(s, r, a));
        assertTrue(a.used() >= 8_000, kind() + ": the model wrote 8,000 tokens of tool input in the stream's deltas,"
                + " charged " + a.used() + " of " + a.limit() + ": " + ledger(s));
    }

    // ------------------------------------------------------------------ 2. a batch's input file, uploaded in parts

    /**
     * The attack: an OpenAI batch of ten chat requests of {@code max_tokens: 4000} (the model spends
     * 40,160). Uploaded as {@code POST /v1/files} with {@code purpose=batch}, its creation is refused on a
     * 20,000 allowance (the control). Uploaded instead through OpenAI's Uploads API under the same
     * protected prefix ({@code POST /v1/uploads} with {@code "purpose": "batch"}, one part, complete:
     * the answer nests the File object), the creation naming the same kind of file is held only its own
     * fields and the default budget, is served, and the batch runs for a fraction of what it spends.
     */
    @Test
    void aBatchFileUploadedInPartsIsChargedItsRequests() {
        String control = subject();
        HttpResponse<String> up = OpenAiFiles.uploadBatchFile(container, control, OpenAiFiles.batchFile(10));
        assertEquals(200, up.statusCode(), up.body());
        int refused = post("/ai/v1/batches", control, "{\"input_file_id\":\"" + TestHttp.json(up).get("id") + "\","
                + "\"endpoint\":\"/v1/chat/completions\",\"completion_window\":\"24h\"}").statusCode();
        assertEquals(429, refused, kind() + ": control: " + ledger(control));

        String s = subject();
        String jsonl = OpenAiFiles.batchFile(10);
        List<Object> steps = OpenAiFiles.uploadInParts(container, s, jsonl, jsonl.length()); // one part
        String file = (String) steps.get(steps.size() - 1);
        QuotaAccount uploaded = settled(s);
        HttpResponse<String> r = post("/ai/v1/batches", s, "{\"input_file_id\":\"" + file + "\",\"endpoint\":"
                + "\"/v1/chat/completions\",\"completion_window\":\"24h\"}");
        QuotaAccount a = settled(s);
        long spent = batchTokens.getOrDefault(s, new AtomicLong()).get();
        assertTrue(r.statusCode() != 200 || a.used() >= spent, kind() + ": upload steps " + steps.subList(0, steps.size() - 1)
                + " charged " + uploaded.used() + "; the batch creation answered " + r.statusCode() + ", " + calls.of(s)
                + " requests ran, the model spent " + spent + ", charged " + a.used() + " of " + a.limit() + " in all: "
                + ledger(s));
    }

    /**
     * An honest upload of a batch's input file (four requests) through OpenAI's Uploads API: create,
     * two parts, complete. None of it calls a model, as {@code POST /v1/files} with {@code purpose=batch}
     * does not, which is released; the subject must be charged nothing.
     */
    @Test
    void aBatchFileUploadedInPartsCostsNothing() {
        String s = subject();
        String jsonl = OpenAiFiles.batchFile(4);
        List<Object> steps = OpenAiFiles.uploadInParts(container, s, jsonl, (jsonl.length() + 1) / 2); // two parts
        QuotaAccount a = settled(s);
        assertEquals(0, calls.of(s), ledger(s));
        assertEquals(0, a.used(), kind() + ": an upload in parts answered " + steps.subList(0, steps.size() - 1)
                + " (no model called) was charged " + a.used() + " of " + a.limit() + ": " + ledger(s));
    }
}
