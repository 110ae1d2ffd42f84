package io.tokenquota.servlet.breakit293;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.tokenquota.servlet.QuotaFilter;
import io.tokenquota.servlet.testing.Deployment;
import io.tokenquota.servlet.testing.GeminiVideoModel;
import io.tokenquota.servlet.testing.H264Files;
import io.tokenquota.servlet.testing.ModelCallRound;
import io.tokenquota.servlet.testing.TestHttp;
import jakarta.servlet.http.HttpServlet;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.util.Base64;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import org.junit.jupiter.api.Test;

/**
 * Round 293 of issue 11 ("no model call goes unpaid, nothing that never reached a model is charged"): the rules
 * the last eight commits added, tried from both sides.
 *
 * <p><b>1. Video read from an MP4's video tracks (rounds 287, 291), but not from a fragmented MP4.</b> A video is
 * held at Gemini's 263 tokens a second of its video tracks ({@code stts} at the {@code mdhd} timescale), "wherever a
 * video is not transcribed: in {@code inlineData}, in an application's own field ..." (docs/decisions.md, "Video is
 * priced as Gemini reads it"). A fragmented MP4 ({@code mvex} in its {@code moov}; its samples in {@code moof} +
 * {@code mdat} fragments, its sample tables empty) is not read: {@code Mp4Duration.tracks} answers
 * {@code Tracks(-1, 0)}, so the file is held as <i>sound</i> by its size at 16 kbit/s (32 tokens a second), its
 * pictures at nothing. That is neither the video's length nor a bound of it: a low-bitrate screen recording is held
 * far below 263 a second, a camera clip far above. Fragmented MP4 is what browsers record and what streaming muxers
 * write: Safari's {@code MediaRecorder} writes {@code video/mp4} as fragmented MP4 (gpac/mp4box.js#360: "fragmented
 * MP4 files created by MediaRecorder in (iOS) Safari. They have a duration of 0"; WebAV-Tech/WebAV#15: a browser
 * recording "is a Fragment mp4 (fMP4), the video duration is the cumulative value of all fragment durations"),
 * and FFmpeg writes it with {@code -movflags frag_keyframe+empty_moov+default_base_moof} (the flags Media Source
 * Extensions need; libavformat/movenc.c {@code mov_write_ftyp_tag}: major brand {@code iso5}, "Required when using
 * default-base-is-moof", compatible {@code iso6} for the {@code tfdt} boxes). Gemini takes such a file inline as
 * {@code video/mp4} (ai.google.dev/gemini-api/docs/video-understanding, "Pass video data inline") and bills 263
 * tokens a second (ai.google.dev/gemini-api/docs/tokens, "Multimodal tokens"), as round 291's mock does.
 *
 * <p><b>2. Mistral conversations held at what their last call read, by the path</b> (commit e07c425:
 * {@code ProviderState.APPENDED_CONVERSATION}, {@code "/conversations/([^/]+)(?:/restart)?/?$"}, applied to every
 * request whatever its method). The same path is also the conversation object's own: Mistral's
 * {@code GET /v1/conversations/{conversation_id}} ("retrieve a conversation entity with its attributes") and
 * {@code DELETE /v1/conversations/{conversation_id}} ("Delete a conversation"), client-python
 * {@code docs/sdks/conversations/README.md}, operations {@code agents_api_v1_conversations_get} and
 * {@code agents_api_v1_conversations_delete} ({@code mistral.beta.conversations.get(...)}, {@code .delete(...)});
 * and OpenAI's Conversations API: {@code GET}, {@code POST} (update its {@code metadata}) and {@code DELETE}
 * {@code /v1/conversations/{conversation_id}} (developers.openai.com/api/reference, "Conversations": update takes
 * {@code metadata} and returns {@code object { id, created_at, metadata, object }}; Azure AI Foundry serves the same
 * at {@code POST /openai/v1/conversations/{conversation_id}}, learn.microsoft.com/azure/foundry/reference/rest/
 * update-conversation; openai-python {@code client.conversations.retrieve / update / delete}), answered with
 * {@code {"id": "conv_…", "object": "conversation", "created_at": …, "metadata": {…}}} or
 * {@code {"id": "conv_…", "object": "conversation.deleted", "deleted": true}}. None runs a model, yet each is now held
 * at the whole conversation: an honest client with less than that left is refused 429 for reading, tagging or
 * deleting its conversation, and Mistral's delete (answered {@code 204} with no body, charged its estimate by the
 * 204 rule) is charged the whole conversation.
 */
abstract class AbstractRound293 extends ModelCallRound {

    static final ObjectMapper JSON = new ObjectMapper();
    /** Gemini's rate for video, tokens a second. */
    static final long VIDEO_RATE = 263;
    static final long OUTPUT = 300;
    static final String GEMINI = "/ai/gemini/v1beta/models/gemini-2.5-flash:generateContent";
    static final String DESCRIBE = "/ai/app/video/describe";
    static final String MISTRAL = "/ai/mistral/v1/conversations";
    static final String OPENAI = "/ai/openai/v1";
    static final String QUESTION = "Summarize what happens in this screen recording, step by step.";
    static final String ANSWER = "The recording opens the settings page, turns on two-factor sign-in and saves.";

    /** What each file plays, in seconds, by its base64: what Gemini's decoder finds in it. */
    static final Map<String, Long> PLAYS = new ConcurrentHashMap<>();

    /** What the model billed the application's calls, by subject (the usage its controller drops). */
    final Map<String, Long> reported = new ConcurrentHashMap<>();

    @Override
    protected Deployment deploy(QuotaFilter filter) {
        return filteredByServletName(filter)
                .servlet("gemini", new GeminiVideoModel(calls, PLAYS::get, ANSWER, OUTPUT), "/ai/gemini/*")
                .servlet("describe", new Describe(), "/ai/app/*")
                .servlet("mistral", new Mistral(), "/ai/mistral/*")
                .servlet("openai", new OpenAi(), "/ai/openai/*");
    }

    static long textTokens(String text) {
        return GeminiVideoModel.textTokens(text);
    }

    // ------------------------------------------------------------------ the models

    /**
     * An application's endpoint taking a browser's recording as JSON, {@code {"video": <data: URL>, "question": …}}
     * ({@code FileReader.readAsDataURL(blob)} of the {@code MediaRecorder}'s blob), that sends it to Gemini and
     * returns the text alone, no usage (Spring AI's {@code .call().content()}, as round 291's).
     */
    class Describe extends HttpServlet {
        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            JsonNode body = JSON.readTree(req.getInputStream());
            String url = body.get("video").asText();
            long seconds = PLAYS.get(url.substring(url.indexOf(',') + 1));
            calls.count(req.getHeader("x-user-id"));
            reported.put(req.getHeader("x-user-id"), VIDEO_RATE * seconds + textTokens(QUESTION) + OUTPUT);
            resp.setContentType("text/plain;charset=UTF-8");
            resp.getWriter().write(ANSWER);
        }
    }

    /** The tokens a Mistral conversation's start read, by subject (set by the test before it starts one). */
    final Map<String, Long> started = new ConcurrentHashMap<>();

    /**
     * Mistral's Conversations API (client-python {@code docs/sdks/conversations/README.md}): a start
     * ({@code POST /v1/conversations}) and an append ({@code POST /v1/conversations/{id}}) run the model and answer a
     * {@code conversation.response} with {@code usage}; a get answers the conversation entity
     * ({@code ModelConversation}: {@code object: "conversation"}); a delete answers {@code 204} with no body.
     */
    class Mistral extends HttpServlet {
        @Override
        protected void service(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            req.getInputStream().readAllBytes();
            String s = req.getHeader("x-user-id");
            String path = req.getPathInfo();
            String id = "conv_" + s;
            switch (req.getMethod()) {
                case "POST" -> {
                    calls.count(s);
                    long read = path.equals("/v1/conversations") ? started.get(s) : started.get(s) + 200;
                    resp.setContentType("application/json");
                    resp.getOutputStream().write(("{\"object\":\"conversation.response\",\"conversation_id\":\"" + id
                            + "\",\"outputs\":[{\"object\":\"entry\",\"type\":\"message.output\",\"created_at\":"
                            + "\"2026-12-01T10:00:01Z\",\"completed_at\":\"2026-12-01T10:00:02Z\",\"id\":\"msg_0293\","
                            + "\"agent_id\":null,\"model\":\"mistral-medium-2508\",\"role\":\"assistant\",\"content\":"
                            + "\"Noted: the committee's figures for Q3.\"}],\"usage\":{\"prompt_tokens\":" + read
                            + ",\"completion_tokens\":40,\"total_tokens\":" + (read + 40)
                            + ",\"connector_tokens\":null,\"connectors\":null}}").getBytes(StandardCharsets.UTF_8));
                }
                case "GET" -> {
                    resp.setContentType("application/json");
                    resp.getOutputStream().write(("{\"object\":\"conversation\",\"id\":\"" + id + "\","
                            + "\"created_at\":\"2026-12-01T10:00:00Z\",\"updated_at\":\"2026-12-01T10:00:02Z\","
                            + "\"model\":\"mistral-medium-2508\",\"instructions\":null,\"tools\":[],\"completion_args\":"
                            + "{\"stop\":null,\"presence_penalty\":null,\"frequency_penalty\":null,\"temperature\":null,"
                            + "\"top_p\":null,\"max_tokens\":null,\"random_seed\":null,\"prediction\":null,"
                            + "\"response_format\":null,\"tool_choice\":\"auto\"},\"name\":null,\"description\":null}")
                            .getBytes(StandardCharsets.UTF_8));
                }
                case "DELETE" -> resp.setStatus(204);
                default -> resp.sendError(405);
            }
        }
    }

    /**
     * OpenAI's Responses and Conversations APIs: a Response in a conversation ({@code "conversation": "conv_…"})
     * runs the model and reports its usage; a conversation read or updated answers the conversation object, a
     * conversation deleted {@code conversation.deleted} (platform.openai.com/docs/api-reference/conversations).
     */
    class OpenAi extends HttpServlet {
        @Override
        protected void service(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            req.getInputStream().readAllBytes();
            String s = req.getHeader("x-user-id");
            String path = req.getPathInfo();
            String id = "conv_" + s.replace("-", "");
            resp.setContentType("application/json");
            String answer;
            if (path.equals("/v1/responses")) {
                calls.count(s);
                long read = started.get(s);
                answer = "{\"id\":\"resp_0293" + s.replace("-", "") + "\",\"object\":\"response\",\"created_at\":1764583200,"
                        + "\"status\":\"completed\",\"model\":\"gpt-4.1-2025-04-14\",\"output\":[{\"type\":\"message\","
                        + "\"id\":\"msg_0293\",\"status\":\"completed\",\"role\":\"assistant\",\"content\":[{\"type\":"
                        + "\"output_text\",\"text\":\"Noted: the committee's figures for Q3.\",\"annotations\":[]}]}],"
                        + "\"conversation\":{\"id\":\"" + id + "\"},\"usage\":{\"input_tokens\":" + read
                        + ",\"input_tokens_details\":{\"cached_tokens\":0},\"output_tokens\":40,"
                        + "\"output_tokens_details\":{\"reasoning_tokens\":0},\"total_tokens\":" + (read + 40) + "}}";
            } else if (req.getMethod().equals("DELETE")) {
                answer = "{\"id\":\"" + id + "\",\"object\":\"conversation.deleted\",\"deleted\":true}";
            } else {
                answer = "{\"id\":\"" + id + "\",\"object\":\"conversation\",\"created_at\":1764583100,"
                        + "\"metadata\":{\"topic\":\"q3-report\"}}";
            }
            resp.getOutputStream().write(answer.getBytes(StandardCharsets.UTF_8));
        }
    }

    // ------------------------------------------------------------------ the media

    /** A faststart MP4 ({@link H264Files#faststart}). */
    static byte[] mp4(int seconds, int fps, int frameBytes) {
        return register(H264Files.faststart(seconds, fps, frameBytes), seconds);
    }

    /**
     * The same video as a fragmented MP4, as FFmpeg's {@code -movflags frag_keyframe+empty_moov+default_base_moof}
     * writes it (and Safari's {@code MediaRecorder} records {@code video/mp4}): a keyframe and a fragment a second.
     */
    static byte[] fragmented(int seconds, int fps, int frameBytes) {
        return register(H264Files.fragmented(seconds, fps, fps, frameBytes, true), seconds);
    }

    static byte[] register(byte[] video, long seconds) {
        PLAYS.put(b64(video), seconds);
        return video;
    }

    static String b64(byte[] bytes) {
        return Base64.getEncoder().encodeToString(bytes);
    }

    static String gemini(byte[] video) {
        return "{\"contents\":[{\"role\":\"user\",\"parts\":[{\"inlineData\":{\"mimeType\":\"video/mp4\",\"data\":\""
                + b64(video) + "\"}},{\"text\":\"" + QUESTION + "\"}]}],\"generationConfig\":{\"maxOutputTokens\":" + OUTPUT + "}}";
    }

    static String describe(byte[] video) {
        return "{\"video\":\"data:video/mp4;base64," + b64(video) + "\",\"question\":\"" + QUESTION + "\"}";
    }

    /** What Gemini bills a call of {@code seconds} of video with the question. */
    static long billed(long seconds) {
        return VIDEO_RATE * seconds + textTokens(QUESTION) + OUTPUT;
    }

    // ------------------------------------------------------------------ video: the attacks

    /**
     * A one-minute screen recording at one frame a second (3,000-byte frames, round 291's recording), recorded as
     * fragmented MP4, uploaded to an application that answers without usage: a whole answer without usage is
     * charged its estimate, and the documented estimate of a video in an application's own field is 263 a second
     * (15,780 for 60 s). The filter does not read the fragmented file's video and holds its 180 KB as sound at
     * 16 kbit/s (91 s at 32 a second) and charges 4,004 with the question and the output budget.
     */
    @Test
    void aFragmentedRecordingAnsweredWithoutUsageIsChargedItsVideo() {
        String s = subject();
        HttpResponse<String> r = TestHttp.postJson(container.uri(DESCRIBE), s, describe(fragmented(60, 1, 3_000)));
        assertEquals(200, r.statusCode(), r.body());
        assertEquals(1, calls.of(s));
        long used = settled(s).used();
        assertTrue(used >= VIDEO_RATE * 60, kind() + ": a 60 s fragmented MP4 screen recording Gemini billed "
                + reported.get(s) + " for, answered without usage, charged " + used + ": " + ledger(s));
    }

    /**
     * An honest user with 10,217 tokens left sends a 5-second camera clip (30 frames a second, 4,500-byte frames:
     * about 1 Mbit/s, 677 KB) recorded by Safari as fragmented MP4, inline to Gemini: Gemini bills 5 x 263 + the
     * question + 300 = 1,630, which fits. The filter holds the file's bytes as 339 s of sound (11,155 with the
     * question and the output budget) and refuses it 429. The same clip written with its sample tables is served (the control below).
     */
    @Test
    void aShortFragmentedClipThatFitsIsServed() {
        String s = subject();
        HttpResponse<String> first = TestHttp.postJson(container.uri(GEMINI), s, gemini(mp4(36, 1, 3_000)));
        assertEquals(200, first.statusCode(), first.body());
        assertEquals(billed(36), settled(s).used(), kind() + ": the first call's usage: " + ledger(s));
        HttpResponse<String> r = TestHttp.postJson(container.uri(GEMINI), s, gemini(fragmented(5, 30, 4_500)));
        assertEquals(200, r.statusCode(), kind() + ": a 5 s clip Gemini bills " + billed(5) + " for, with "
                + (ALLOWANCE - billed(36)) + " left, answered " + r.statusCode() + " " + r.body() + ": " + ledger(s));
        assertEquals(billed(36) + billed(5), settled(s).used(), kind() + ": " + ledger(s));
    }

    /** Control: the same 5-second clip with its sample tables ({@code -movflags +faststart}) is served and charged its usage. */
    @Test
    void controlTheSameClipNotFragmentedIsServed() {
        String s = subject();
        HttpResponse<String> first = TestHttp.postJson(container.uri(GEMINI), s, gemini(mp4(36, 1, 3_000)));
        assertEquals(200, first.statusCode(), first.body());
        HttpResponse<String> r = TestHttp.postJson(container.uri(GEMINI), s, gemini(mp4(5, 30, 4_500)));
        assertEquals(200, r.statusCode(), r.body());
        assertEquals(billed(36) + billed(5), settled(s).used(), kind() + ": " + ledger(s));
    }

    /** Control: the same one-minute recording with its sample tables, answered without usage, is charged its video. */
    @Test
    void controlARecordingNotFragmentedIsChargedItsVideo() {
        String s = subject();
        HttpResponse<String> r = TestHttp.postJson(container.uri(DESCRIBE), s, describe(mp4(60, 1, 3_000)));
        assertEquals(200, r.statusCode(), r.body());
        long used = settled(s).used();
        assertTrue(used >= VIDEO_RATE * 60, kind() + ": a 60 s MP4 answered without usage charged " + used + ": " + ledger(s));
    }

    // ------------------------------------------------------------------ conversations: the attacks

    private HttpResponse<String> send(String method, String path, String s, String json) {
        HttpRequest.Builder b = TestHttp.requestAs(container.uri(path), s);
        if (json != null) {
            b.header("Content-Type", "application/json");
        }
        return TestHttp.send(b.method(method, json == null ? HttpRequest.BodyPublishers.noBody()
                : HttpRequest.BodyPublishers.ofString(json)).build());
    }

    /** A Mistral conversation started by {@code s} whose start read {@code read} tokens: its id. */
    private String mistralStarted(String s, long read) {
        started.put(s, read);
        HttpResponse<String> start = TestHttp.postJson(container.uri(MISTRAL), s,
                "{\"model\":\"mistral-medium-latest\",\"inputs\":\"Here are the committee's Q3 figures: ...\",\"store\":true}");
        assertEquals(200, start.statusCode(), start.body());
        assertEquals(read + 40, settled(s).used(), kind() + ": the start's usage: " + ledger(s));
        return "conv_" + s;
    }

    /**
     * Mistral's {@code beta.conversations.get(conversation_id)} after a start that read 15,000 tokens (15,040 used,
     * 4,960 left): a read of the conversation's attributes, no model. It is held at the whole conversation (16,040)
     * and refused 429.
     */
    @Test
    void aMistralConversationReadIsNotRefused() {
        String s = subject();
        String id = mistralStarted(s, 15_000);
        HttpResponse<String> r = send("GET", MISTRAL + "/" + id, s, null);
        assertEquals(200, r.statusCode(), kind() + ": GET of the conversation's attributes answered " + r.statusCode()
                + " " + r.body() + ": " + ledger(s));
        assertEquals(15_040, settled(s).used(), kind() + ": " + ledger(s));
        assertEquals(1, calls.of(s));
    }

    /**
     * Mistral's {@code beta.conversations.delete(conversation_id)} after a start that read 8,000 tokens: a delete,
     * answered {@code 204} with no body, no model. It was held at the whole conversation and, as a 204, charged it:
     * 9,040. An answer with no body at a path the client chose is charged the estimate (docs/decisions.md: nothing
     * tells it from a model call answered so), which for a delete is the 1,000 fallback, never the conversation.
     */
    @Test
    void aMistralConversationDeletedIsNotChargedTheConversation() {
        String s = subject();
        String id = mistralStarted(s, 8_000);
        HttpResponse<String> r = send("DELETE", MISTRAL + "/" + id, s, null);
        assertEquals(204, r.statusCode(), r.body());
        assertEquals(1, calls.of(s));
        long used = settled(s).used();
        assertTrue(used - 8_040 <= 1_000, kind() + ": deleting the conversation (no model call) charged " + (used - 8_040)
                + ": " + ledger(s));
    }

    /** A Responses call of {@code s} in an OpenAI conversation that read {@code read} tokens: the conversation's id. */
    private String openAiConversation(String s, long read) {
        started.put(s, read);
        String id = "conv_" + s.replace("-", "");
        HttpResponse<String> r = TestHttp.postJson(container.uri(OPENAI + "/responses"), s,
                "{\"model\":\"gpt-4.1\",\"conversation\":\"" + id + "\",\"input\":\"Summarize the committee's Q3 figures.\"}");
        assertEquals(200, r.statusCode(), r.body());
        assertEquals(read + 40, settled(s).used(), kind() + ": the Response's usage: " + ledger(s));
        return id;
    }

    /**
     * OpenAI's {@code client.conversations.update(conversation_id, metadata=…)} ({@code POST /v1/conversations/{id}}
     * with {@code {"metadata": …}}) after a Response in that conversation that read 15,000 tokens: no model runs. It
     * is held at the whole conversation and refused 429.
     */
    @Test
    void anOpenAiConversationTaggedIsNotRefused() {
        String s = subject();
        String id = openAiConversation(s, 15_000);
        HttpResponse<String> r = TestHttp.postJson(container.uri(OPENAI + "/conversations/" + id), s,
                "{\"metadata\":{\"topic\":\"q3-report\"}}");
        assertEquals(200, r.statusCode(), kind() + ": updating the conversation's metadata answered " + r.statusCode()
                + " " + r.body() + ": " + ledger(s));
        assertEquals(15_040, settled(s).used(), kind() + ": " + ledger(s));
    }

    /** OpenAI's {@code client.conversations.delete(conversation_id)} after the same Response: refused 429. */
    @Test
    void anOpenAiConversationDeletedIsNotRefused() {
        String s = subject();
        String id = openAiConversation(s, 15_000);
        HttpResponse<String> r = send("DELETE", OPENAI + "/conversations/" + id, s, null);
        assertEquals(200, r.statusCode(), kind() + ": deleting the conversation answered " + r.statusCode()
                + " " + r.body() + ": " + ledger(s));
        assertEquals(15_040, settled(s).used(), kind() + ": " + ledger(s));
    }

    /** Control: Mistral's append (the model reads the conversation again) is served and charged its usage. */
    @Test
    void controlAMistralAppendIsChargedItsUsage() {
        String s = subject();
        String id = mistralStarted(s, 8_000);
        HttpResponse<String> r = TestHttp.postJson(container.uri(MISTRAL + "/" + id), s,
                "{\"inputs\":\"And what opens Q4?\",\"store\":true}");
        assertEquals(200, r.statusCode(), r.body());
        assertEquals(2, calls.of(s));
        assertEquals(8_040 + 8_240, settled(s).used(), kind() + ": " + ledger(s));
    }
}
