package io.tokenquota.servlet.breakit115;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.tokenquota.QuotaAccount;
import io.tokenquota.estimator.DefaultTokenEstimator;
import io.tokenquota.servlet.QuotaFilter;
import io.tokenquota.servlet.testing.Deployment;
import io.tokenquota.servlet.testing.JsonTree;
import io.tokenquota.servlet.testing.MediaBytes;
import io.tokenquota.servlet.testing.ModelCallRound;
import io.tokenquota.servlet.testing.Prose;
import io.tokenquota.servlet.testing.TestHttp;
import jakarta.servlet.http.HttpServlet;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.Test;

/**
 * Round 115 of issue 11: what the filter learns from earlier answers and adds to later holds (a
 * reasoning effort named without a budget, the provider's own tools), and speech charged by its
 * length. One user's call can make a shared figure so large that other users with room are refused;
 * a tool or an effort named in another way is never held at what the model reads or writes; and a
 * speech answer's length is read wrong in the provider's own formats (raw PCM, ADTS AAC, streamed
 * FLAC), or read from audio no model wrote.
 */
abstract class AbstractRound115 extends ModelCallRound {
    static final ObjectMapper JSON = new ObjectMapper();
    static final DefaultTokenEstimator TOKENS = new DefaultTokenEstimator();
    /** Seconds of speech each subject was sent. */
    final Map<String, AtomicLong> speechSeconds = new ConcurrentHashMap<>();

    @Override
    protected Deployment deploy(QuotaFilter filter) {
        return Deployment.create()
                .filter("quota", filter, "/*")
                .servlet("provider", new Provider(), "/ai/*")
                .onStartup(filter::registerByServletName);
    }

    // ------------------------------------------------------------------ mock provider

    /** What a one-line question's web search reads in (a few result pages). */
    static final long SEARCH_TOKENS = 2_000;
    /** What a "read every page" web search reads in. */
    static final long CRAWL_TOKENS = 150_000;
    /** What Gemini's grounding (Google Search and URL context) reads in for a question. */
    static final long GROUNDING_TOKENS = 12_000;
    /** What a high-effort reasoning call writes on an ordinary question (mostly reasoning). */
    static final long ORDINARY_REASONING = 3_000;
    /** What a high-effort reasoning call writes when told to go through every case. */
    static final long EXHAUSTIVE_REASONING = 60_000;
    /** What Gemini at thinking level high writes on a proof (mostly thoughts). */
    static final long GEMINI_THOUGHTS = 12_000;

    class Provider extends HttpServlet {
        @Override
        protected void doGet(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            String path = req.getPathInfo();
            if (path.startsWith("/v1/files/") && path.endsWith("/content")) {
                // a file the user uploaded earlier (a meeting recording), read back: no model runs
                resp.setContentType("audio/wav");
                MediaBytes.writeWav(resp.getOutputStream(), 600, MediaBytes.silentSecond());
                return;
            }
            resp.sendError(404);
        }

        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            String path = req.getPathInfo();
            String user = req.getHeader("x-user-id");
            JsonNode body = JSON.readTree(req.getInputStream());
            calls.count(user);
            if (path.equals("/v1/chat/completions")) {
                chat(body, resp);
            } else if (path.equals("/v1/responses")) {
                responses(body, resp);
            } else if (path.startsWith("/v1beta/models/") && path.endsWith(":generateContent")) {
                gemini(body, resp);
            } else if (path.equals("/v1/audio/speech")) {
                speech(user, body, resp);
            } else {
                resp.sendError(404);
            }
        }
    }

    /** OpenAI chat completions; a high reasoning effort without a budget reasons as long as the question needs. */
    static void chat(JsonNode body, HttpServletResponse resp) throws IOException {
        String text = body.path("messages").toString();
        long prompt = TOKENS.estimate(text);
        long output = 300;
        long reasoning = 0;
        if ("high".equals(body.path("reasoning_effort").asText()) && !body.has("max_completion_tokens")) {
            output = text.contains("every case") ? EXHAUSTIVE_REASONING : ORDINARY_REASONING;
            reasoning = output - 300;
        }
        resp.setContentType("application/json");
        resp.getWriter().write("{\"id\":\"chatcmpl-" + UUID.randomUUID().toString().replace("-", "") + "\",\"object\":"
                + "\"chat.completion\",\"model\":\"" + body.path("model").asText() + "\",\"choices\":[{\"index\":0,"
                + "\"message\":{\"role\":\"assistant\",\"content\":\"" + "word ".repeat(300).trim() + "\"},"
                + "\"finish_reason\":\"stop\"}],\"usage\":{\"prompt_tokens\":" + prompt + ",\"completion_tokens\":" + output
                + ",\"total_tokens\":" + (prompt + output) + ",\"completion_tokens_details\":{\"reasoning_tokens\":"
                + reasoning + "}}}");
    }

    /** OpenAI Responses with the hosted web search: the model reads the pages it found as input. */
    static void responses(JsonNode body, HttpServletResponse resp) throws IOException {
        String question = body.path("input").asText();
        long input = TOKENS.estimate(question);
        for (JsonNode tool : body.path("tools")) {
            if (tool.path("type").asText().startsWith("web_search")) {
                input += question.contains("every page") ? CRAWL_TOKENS : SEARCH_TOKENS;
            }
        }
        long output = 300;
        resp.setContentType("application/json");
        resp.getWriter().write("{\"id\":\"resp_" + UUID.randomUUID().toString().replace("-", "") + "\",\"object\":"
                + "\"response\",\"status\":\"completed\",\"model\":\"gpt-4.1\",\"output\":[{\"type\":\"web_search_call\","
                + "\"id\":\"ws_1\",\"status\":\"completed\"},{\"type\":\"message\",\"id\":\"msg_1\",\"role\":\"assistant\","
                + "\"status\":\"completed\",\"content\":[{\"type\":\"output_text\",\"text\":\"" + "word ".repeat(300).trim()
                + "\",\"annotations\":[]}]}],\"usage\":{\"input_tokens\":" + input + ",\"input_tokens_details\":"
                + "{\"cached_tokens\":0},\"output_tokens\":" + output + ",\"output_tokens_details\":{\"reasoning_tokens\":0},"
                + "\"total_tokens\":" + (input + output) + "}}");
    }

    /**
     * Gemini {@code generateContent}: Google Search and URL context (whether named in one Tool object or
     * in two) make the model read {@link #GROUNDING_TOKENS} (reported as {@code toolUsePromptTokenCount});
     * a thinking level of high without {@code maxOutputTokens} writes {@link #GEMINI_THOUGHTS}.
     */
    static void gemini(JsonNode body, HttpServletResponse resp) throws IOException {
        long prompt = TOKENS.estimate(body.path("contents").toString());
        long tool = 0;
        for (JsonNode t : body.path("tools")) {
            if (t.has("googleSearch") || t.has("google_search") || t.has("urlContext") || t.has("url_context")) {
                tool = GROUNDING_TOKENS;
            }
        }
        JsonNode thinking = body.path("generationConfig").path("thinkingConfig");
        long thoughts = "high".equalsIgnoreCase(thinking.path("thinkingLevel").asText())
                && !body.path("generationConfig").has("maxOutputTokens") ? GEMINI_THOUGHTS : 0;
        long candidates = 300;
        resp.setContentType("application/json");
        resp.getWriter().write("{\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"" + "word ".repeat(300).trim()
                + "\"}],\"role\":\"model\"},\"finishReason\":\"STOP\",\"index\":0}],\"usageMetadata\":{\"promptTokenCount\":"
                + prompt + ",\"candidatesTokenCount\":" + candidates + ",\"toolUsePromptTokenCount\":" + tool
                + ",\"thoughtsTokenCount\":" + thoughts + ",\"totalTokenCount\":" + (prompt + candidates + tool + thoughts)
                + "},\"modelVersion\":\"gemini-3-pro-preview\"}");
    }

    /** Speech a voice reads at 150 words a minute: 2.5 words a second. */
    static final double WORDS_PER_SECOND = 2.5;

    /**
     * OpenAI text to speech in the format asked ({@code wav}, {@code pcm}: raw 24 kHz 16-bit mono
     * little-endian samples, {@code aac}: ADTS frames, {@code flac}: streamed, so its STREAMINFO states no
     * total), as long as the text takes to read; no usage.
     */
    void speech(String user, JsonNode body, HttpServletResponse resp) throws IOException {
        String text = body.path("input").asText();
        long seconds = (long) Math.ceil(text.split("\\s+").length / WORDS_PER_SECOND);
        speechSeconds.computeIfAbsent(user, u -> new AtomicLong()).addAndGet(seconds);
        String format = body.path("response_format").asText("mp3");
        OutputStream out = resp.getOutputStream();
        switch (format) {
            case "wav" -> {
                resp.setContentType("audio/wav");
                MediaBytes.writeWav(out, seconds, MediaBytes.silentSecond());
            }
            case "pcm" -> {
                resp.setContentType("audio/pcm");
                writePcm(out, seconds);
            }
            case "aac" -> {
                resp.setContentType("audio/aac");
                writeAdts(out, seconds);
            }
            case "flac" -> {
                resp.setContentType("audio/flac");
                writeStreamedFlac(out, seconds);
            }
            default -> throw new IllegalArgumentException(format);
        }
        out.flush();
    }

    /** 24 kHz 16-bit mono little-endian samples, a voice-like tone, no header (OpenAI's {@code pcm}). */
    static void writePcm(OutputStream out, long seconds) throws IOException {
        int rate = 24_000;
        byte[] second = new byte[rate * 2];
        for (int i = 0; i < rate; i++) {
            double t = i / (double) rate;
            short s = (short) (6000 * Math.sin(2 * Math.PI * 180 * t) * (0.6 + 0.4 * Math.sin(2 * Math.PI * 3 * t)));
            second[2 * i] = (byte) s;
            second[2 * i + 1] = (byte) (s >> 8);
        }
        for (long k = 0; k < seconds; k++) {
            out.write(second);
        }
    }

    /** AAC-LC in ADTS frames, 24 kHz mono, 1,024 samples a frame, 400 bytes each (75 kbit/s). */
    static void writeAdts(OutputStream out, long seconds) throws IOException {
        int frameLength = 400;
        long frames = (seconds * 24_000 + 1023) / 1024;
        byte[] frame = new byte[frameLength];
        frame[0] = (byte) 0xFF;
        frame[1] = (byte) 0xF1; // MPEG-4, layer 0, no CRC
        frame[2] = (byte) ((1 << 6) | (6 << 2)); // AAC LC, 24 kHz, channel config high bit 0
        frame[3] = (byte) ((1 << 6) | (frameLength >> 11)); // one channel
        frame[4] = (byte) ((frameLength >> 3) & 0xFF);
        frame[5] = (byte) (((frameLength & 7) << 5) | 0x1F);
        frame[6] = (byte) 0xFC;
        for (int i = 7; i < frameLength; i++) {
            frame[i] = (byte) (0x21 + (i * 7) % 90); // coded spectral data, no 0xFF
        }
        for (long f = 0; f < frames; f++) {
            out.write(frame);
        }
    }

    /**
     * FLAC as an encoder writing to a pipe makes it: STREAMINFO states 24 kHz mono 16-bit and, since the
     * encoder cannot seek back, a total of 0 samples; then frames of 4,096 samples (170.7 ms), 2,000 bytes
     * each (about 94 kbit/s, speech's usual FLAC rate).
     */
    static void writeStreamedFlac(OutputStream out, long seconds) throws IOException {
        ByteArrayOutputStream head = new ByteArrayOutputStream();
        head.write("fLaC".getBytes(StandardCharsets.US_ASCII));
        head.write(new byte[] {(byte) 0x80, 0, 0, 34}); // last metadata block, STREAMINFO, 34 bytes
        byte[] info = new byte[34];
        info[0] = 0x10; // min block 4096
        info[2] = 0x10; // max block 4096
        long rate = 24_000;
        // 20 bits rate, 3 bits channels-1 (0), 5 bits bps-1 (15), 36 bits total samples (0)
        info[10] = (byte) (rate >> 12);
        info[11] = (byte) (rate >> 4);
        info[12] = (byte) (((rate & 0xF) << 4) | (0 << 1) | (15 >> 4));
        info[13] = (byte) ((15 & 0xF) << 4);
        head.write(info);
        out.write(head.toByteArray());
        long frames = (seconds * rate + 4095) / 4096;
        for (long f = 0; f < frames; f++) {
            ByteArrayOutputStream frame = new ByteArrayOutputStream();
            frame.write(0xFF);
            frame.write(0xF8); // fixed block size
            frame.write((12 << 4) | 7); // 4,096 samples, 24 kHz
            frame.write((0 << 4) | (4 << 1)); // mono, 16-bit
            frame.write(new String(Character.toChars((int) f)).getBytes(StandardCharsets.UTF_8)); // frame number
            byte[] header = frame.toByteArray();
            frame.write(crc8(header));
            byte[] rest = new byte[2_000 - header.length - 1];
            for (int i = 0; i < rest.length; i++) {
                rest[i] = (byte) (0x11 + (i * 13) % 200); // subframes, no 0xFF
            }
            frame.write(rest);
            out.write(frame.toByteArray());
        }
    }

    static int crc8(byte[] b) {
        int crc = 0;
        for (byte x : b) {
            crc ^= x & 0xFF;
            for (int i = 0; i < 8; i++) {
                crc = (crc & 0x80) != 0 ? ((crc << 1) ^ 0x07) & 0xFF : (crc << 1) & 0xFF;
            }
        }
        return crc;
    }

    // ------------------------------------------------------------------ requests

    HttpResponse<String> post(String path, String user, String body) {
        return TestHttp.postJson(container.uri(path), user, body);
    }

    /** A speech call of {@code words} words in {@code format}: the charge and the seconds sent. */
    long[] speak(String format, int words) {
        String user = subject();
        String text = "word ".repeat(words).trim();
        HttpResponse<String> r = post("/ai/v1/audio/speech", user, "{\"model\":\"gpt-4o-mini-tts\",\"voice\":\"alloy\","
                + "\"response_format\":\"" + format + "\",\"input\":" + JsonTree.quoted(text) + "}");
        assertEquals(200, r.statusCode(), kind() + ": speech in " + format + " answered " + r.statusCode());
        long seconds = speechSeconds.get(user).get();
        return new long[] {settled(user).used(), seconds};
    }

    // ------------------------------------------------------------------ 1. shared figures inflated

    static final String O3_QUESTION = "{\"model\":\"o3\",\"reasoning_effort\":\"high\",\"messages\":[{\"role\":\"user\","
            + "\"content\":\"Prove that there are infinitely many primes of the form 4k+3.\"}]}";

    /**
     * Break hunt: the reasoning figure is kept by model and effort for every user, and never shrinks.
     * One user (a throwaway account) sends {@code o3} at {@code reasoning_effort: "high"} without a budget
     * and asks it to go through every case of a huge enumeration: the model writes 60,000 tokens, which
     * that account is charged (past its own allowance, once). From then on every other user's
     * {@code o3}/high call without a budget is held at 60,000 and refused with 429, though such a call
     * writes 3,000 and the user has the whole 20,000 left.
     */
    @Test
    void oneUsersLongReasoningCallGetsEveryoneElsesReasoningCallsRefused() {
        String control = subject();
        assertEquals(200, post("/ai/v1/chat/completions", control, O3_QUESTION).statusCode(),
                "an ordinary o3/high call is served before the long one");
        String attacker = subject();
        int first = post("/ai/v1/chat/completions", attacker, "{\"model\":\"o3\",\"reasoning_effort\":\"high\","
                + "\"messages\":[{\"role\":\"user\",\"content\":\"Work through every case of every 12-vertex graph and"
                + " list each one's chromatic polynomial.\"}]}").statusCode();
        String honest = subject();
        HttpResponse<String> r = post("/ai/v1/chat/completions", honest, O3_QUESTION);
        assertEquals(200, r.statusCode(), kind() + ": after another user's long call (answered " + first + ", charged "
                + settled(attacker).used() + "), a fresh user with " + ALLOWANCE + " left asking an ordinary o3/high"
                + " question (it writes " + ORDINARY_REASONING + ") answered " + r.statusCode() + ", model calls "
                + calls.of(honest) + ", charged " + settled(honest).used() + "; " + r.body());
    }

    static final String SEARCH_QUESTION = "{\"model\":\"gpt-4.1\",\"input\":\"What is the weather in Paris today?\","
            + "\"tools\":[{\"type\":\"web_search\"}],\"max_output_tokens\":300}";

    /**
     * Break hunt: what the hosted web search reads in is kept by the tool's name alone ({@code web_search})
     * for every user, and never shrinks. One user asks the search to read every page of forty sites in
     * full: 150,000 input tokens, charged to that account once. Every other user's web search call is then
     * held at about 150,000 and refused with 429, though a one-line question's search reads 2,000 and the
     * user has the whole allowance left.
     */
    @Test
    void oneUsersHugeSearchGetsEveryoneElsesWebSearchRefused() {
        String control = subject();
        assertEquals(200, post("/ai/v1/responses", control, SEARCH_QUESTION).statusCode(),
                "an ordinary web search call is served before the huge one");
        String attacker = subject();
        int first = post("/ai/v1/responses", attacker, "{\"model\":\"gpt-4.1\",\"input\":\"Read every page of these forty"
                + " sites in full and summarise them.\",\"tools\":[{\"type\":\"web_search\"}],\"max_output_tokens\":300}")
                .statusCode();
        String honest = subject();
        HttpResponse<String> r = post("/ai/v1/responses", honest, SEARCH_QUESTION);
        assertEquals(200, r.statusCode(), kind() + ": after another user's huge search (answered " + first + ", charged "
                + settled(attacker).used() + "), a fresh user with " + ALLOWANCE + " left asking a one-line question with"
                + " web search (it reads " + SEARCH_TOKENS + ") answered " + r.statusCode() + ", model calls "
                + calls.of(honest) + ", charged " + settled(honest).used() + "; " + r.body());
    }

    // ------------------------------------------------------------------ 2. the same state under another name

    static String geminiTools(String tools) {
        return "{\"contents\":[{\"role\":\"user\",\"parts\":[{\"text\":\"Summarise what changed in EU battery"
                + " regulation this year, with sources.\"}]}],\"tools\":" + tools + "}";
    }

    static final String GEMINI = "/ai/v1beta/models/gemini-2.5-flash:generateContent";

    /**
     * Break hunt: Gemini's Tool is one object whose members are the tools it enables; a client names
     * Google Search and URL context in one object ({@code [{"googleSearch": {}, "urlContext": {}}]})
     * rather than two. The model reads 12,000 tokens of pages each call ({@code toolUsePromptTokenCount}).
     * A tool object with two members is taken for no tool at all, so no figure is ever learnt: every call
     * is held at its one-line question and the default budget (1,018), so the second is served with 7,676
     * left: 24,648 charged on a 20,000 allowance.
     */
    @Test
    void geminiGroundingToolsInOneToolObjectAreNeverHeld() {
        String user = subject();
        List<Integer> statuses = postTimes(3, GEMINI, user, geminiTools("[{\"googleSearch\":{},\"urlContext\":{}}]"));
        assertWithinAllowance(user, "Gemini calls naming Google Search and URL context in one Tool object", statuses);
    }

    /** Control: the same tools in two Tool objects are learnt from the first call and stop at the allowance. */
    @Test
    void controlGeminiGroundingToolsInTwoObjectsStopAtTheAllowance() {
        String user = subject();
        List<Integer> statuses = postTimes(3, GEMINI, user, geminiTools("[{\"googleSearch\":{}},{\"urlContext\":{}}]"));
        assertWithinAllowance(user, "Gemini calls naming Google Search and URL context in two Tool objects", statuses);
    }

    /**
     * Break hunt: Gemini's reasoning effort is {@code generationConfig.thinkingConfig.thinkingLevel}
     * ({@code "high"}, Gemini 3), not {@code reasoning_effort}. Without {@code maxOutputTokens} the model
     * thinks as long as it needs: 12,000 thought tokens on a proof. The filter learns efforts only under
     * OpenAI's names, so every such call is held at the default budget (1,000): the second call is served
     * with 7,673 left: 24,654 charged on a 20,000 allowance, and so on every month.
     */
    @Test
    void geminiThinkingLevelHighWithoutABudgetIsNeverHeldAtWhatItWrites() {
        String user = subject();
        List<Integer> statuses = postTimes(3, "/ai/v1beta/models/gemini-3-pro-preview:generateContent", user,
                "{\"contents\":[{\"role\":\"user\",\"parts\":[{\"text\":\"Prove that there are infinitely many primes"
                        + " of the form 4k+3.\"}]}],\"generationConfig\":{\"thinkingConfig\":{\"thinkingLevel\":\"high\"}}}");
        assertWithinAllowance(user, "Gemini calls at thinking level high without a budget", statuses);
    }

    // ------------------------------------------------------------------ 3. speech charged by its length

    /** 150 words: 60 seconds of speech. */
    static final int MINUTE_OF_WORDS = 150;

    /**
     * Break hunt: OpenAI's {@code response_format: "pcm"} is raw 24 kHz 16-bit samples (384 kbit/s), no
     * header. The filter measures no format in it and takes its bytes at the size rule (16 kbit/s), so one
     * minute of speech is taken for 24 minutes: charged 24,480 (past the whole allowance) where the
     * same minute as WAV is charged 1,153.
     */
    @Test
    void aMinuteOfPcmSpeechIsChargedAsAMinute() {
        long[] wav = speak("wav", MINUTE_OF_WORDS);
        long[] pcm = speak("pcm", MINUTE_OF_WORDS);
        assertTrue(pcm[0] <= wav[0] + 100, kind() + ": " + pcm[1] + " s of speech as pcm charged " + pcm[0]
                + "; the same " + wav[1] + " s as wav charged " + wav[0]);
    }

    /**
     * Break hunt: OpenAI's {@code response_format: "aac"} is AAC in ADTS frames (here 75 kbit/s). The
     * filter reads no ADTS header and takes the bytes at the size rule (16 kbit/s): a minute of speech is
     * charged as almost five (4,784) where the same minute as WAV is charged 1,153.
     */
    @Test
    void aMinuteOfAacSpeechIsChargedAsAMinute() {
        long[] wav = speak("wav", MINUTE_OF_WORDS);
        long[] aac = speak("aac", MINUTE_OF_WORDS);
        assertTrue(aac[0] <= wav[0] + 100, kind() + ": " + aac[1] + " s of speech as aac charged " + aac[0]
                + "; the same " + wav[1] + " s as wav charged " + wav[0]);
    }

    /**
     * Break hunt: speech streamed as FLAC ({@code response_format: "flac"}) comes from an encoder writing
     * to a pipe: its STREAMINFO states no total (0 samples). The filter trusts a FLAC header to state the
     * whole length, so it counts only the frames of the first 64 KB it keeps (about 5.6 s) and never
     * scales by the bytes that follow: six minutes of speech (4.2 MB) are charged the estimate, 1,907,
     * where the same six minutes as WAV are charged 6,117.
     */
    @Test
    void sixMinutesOfStreamedFlacSpeechAreChargedAsSixMinutes() {
        long[] wav = speak("wav", 6 * MINUTE_OF_WORDS);
        long[] flac = speak("flac", 6 * MINUTE_OF_WORDS);
        assertTrue(flac[0] >= wav[0] - 100, kind() + ": " + flac[1] + " s of speech as streamed flac charged " + flac[0]
                + "; the same " + wav[1] + " s as wav charged " + wav[0]);
    }

    /**
     * Break hunt: the user downloads a meeting recording they uploaded earlier
     * ({@code GET /v1/files/{id}/content}, ten minutes of WAV) through the same gateway. No model runs; a
     * body-less GET on a protected path is charged its estimate (the 1,000 fallback, as the docs say of a
     * poll). The answer is audio, so it is charged as speech the model wrote: 10,200 tokens, half the
     * month's allowance, for reading back one's own file (10,194 charged).
     */
    @Test
    void downloadingAStoredRecordingIsNotChargedAsSpeechTheModelWrote() {
        String user = subject();
        HttpResponse<String> r = TestHttp.send(TestHttp.requestAs(container.uri("/ai/v1/files/file-rec115/content"), user)
                .GET().build());
        assertEquals(200, r.statusCode());
        long used = settled(user).used();
        assertTrue(used <= 1_000, kind() + ": reading back a stored 600 s recording (no model call) charged " + used
                + "; " + ledger(user));
    }
}
