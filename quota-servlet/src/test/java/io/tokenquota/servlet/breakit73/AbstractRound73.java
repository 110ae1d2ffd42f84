package io.tokenquota.servlet.breakit73;

import static io.tokenquota.servlet.testing.MediaBytes.ascii;
import static io.tokenquota.servlet.testing.MediaBytes.box;
import static io.tokenquota.servlet.testing.MediaBytes.cat;
import static io.tokenquota.servlet.testing.MediaBytes.u32;
import static io.tokenquota.servlet.testing.TestHttp.multipart;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.tokenquota.QuotaAccount;
import io.tokenquota.estimator.DefaultTokenEstimator;
import io.tokenquota.servlet.QuotaFilter;
import io.tokenquota.servlet.testing.Deployment;
import io.tokenquota.servlet.testing.H2FilterRound;
import io.tokenquota.servlet.testing.JsonTree;
import io.tokenquota.servlet.testing.MediaBytes;
import io.tokenquota.servlet.testing.ModelCalls;
import io.tokenquota.servlet.testing.Prose;
import io.tokenquota.servlet.testing.ResponsesApi;
import io.tokenquota.servlet.testing.TestHttp;
import io.tokenquota.servlet.testing.Transcriptions;
import jakarta.servlet.MultipartConfigElement;
import jakarta.servlet.ServletException;
import jakarta.servlet.ServletOutputStream;
import jakarta.servlet.http.HttpServlet;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import jakarta.servlet.http.Part;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.ConcurrentHashMap;
import org.junit.jupiter.api.Test;

/**
 * Round 73 of issue 11 ("no model call goes unpaid, nothing that never reached a model is charged"),
 * from the accountant's side: honest users and endpoints charged for calls that never reached a
 * model, or held and refused (429) for more than a call can cost, by the rules added last.
 * <ul>
 *   <li>an exception after the endpoint wrote bytes of a 2xx answer: an event stream's {@code retry:}
 *       preamble, a keep-alive comment that was flushed (as keep-alives are), the top of an HTML page
 *       rendered before the model is asked, the opening of the application's JSON envelope; each
 *       written before the model call, which then fails;</li>
 *   <li>a multipart text file read in the charset a {@code _charset_} field names, which names the
 *       charset of the form's fields, never of a file's bytes;</li>
 *   <li>an AMR-NB 3GP whose {@code moov} follows its {@code mdat} (FFmpeg's default layout);</li>
 *   <li>token-count paths whose answer is a list of tokens (llama.cpp's and TGI's {@code /tokenize});</li>
 *   <li>a Responses API continuation ({@code previous_response_id}) whose remembered figure includes
 *       the previous turn's tool definitions, which the provider does not carry over.</li>
 * </ul>
 * Every model endpoint counts its model calls per subject; each test has a control showing the
 * honest expectation.
 */
abstract class AbstractRound73 extends H2FilterRound {
    static final ObjectMapper JSON = new ObjectMapper();
    static final ModelCalls MODEL = new ModelCalls();
    /** The provider's tokenizer, as the mock model counts its input. */
    static final DefaultTokenEstimator TOKENS = new DefaultTokenEstimator();

    static String subject() {
        return "u73-" + UUID.randomUUID().toString().substring(0, 12);
    }

    @Override
    protected Deployment deploy(QuotaFilter ignored) {
        // the documented setup for uploads: OpenAI's 25 MB limit on the audio endpoints
        QuotaFilter quota = filterFor("/ai/").maxBodyBytes("/ai/v1/audio/", 25 << 20).build();
        MultipartConfigElement uploads = new MultipartConfigElement("", 32 << 20, 32 << 20, 0);
        return Deployment.create()
                .filter("quota", quota, "/*")
                .servlet("chat", new Chat(), "/ai/v1/chat/*")
                .multipartServlet("summarise", new Summarise(), uploads, "/ai/v1/summarise")
                .multipartServlet("audio", new Transcriptions.PlainText(), uploads, "/ai/v1/audio/*")
                .servlet("tokenizers", new Tokenizers(), "/ai/llama/*", "/ai/tgi/*", "/ai/vllm/*")
                .servlet("responses", new Responses(), "/ai/v1/responses");
    }

    // ------------------------------------------------------------------ 1. bytes written, then no model

    /**
     * Chat endpoints that write part of their answer before they ask the model (a relay setting up its
     * event stream, a page rendered top down, a JSON envelope streamed as it is built), then fail to
     * reach it: the upstream refuses the connection. None of them reaches the model.
     */
    public static class Chat extends HttpServlet {
        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException, ServletException {
            req.getInputStream().readAllBytes();
            String path = req.getPathInfo() == null ? "" : req.getPathInfo();
            switch (path) {
                case "/keep-alive-then-fail" -> {
                    resp.setContentType("text/event-stream");
                    resp.getOutputStream().write(": connecting\n\n".getBytes(StandardCharsets.UTF_8));
                }
                case "/flushed-keep-alive-then-fail" -> {
                    // a keep-alive is sent to keep the connection open: flushed at once
                    resp.setContentType("text/event-stream");
                    ServletOutputStream out = resp.getOutputStream();
                    out.write(": connecting\n\n".getBytes(StandardCharsets.UTF_8));
                    out.flush();
                }
                case "/retry-then-fail" -> {
                    // the stream's reconnection time first (Spring's SseEmitter.event().reconnectTime(3000),
                    // a Mercure-style hub): tells an EventSource how long to wait, dispatches no event
                    resp.setContentType("text/event-stream");
                    resp.getOutputStream().write("retry: 3000\n\n".getBytes(StandardCharsets.UTF_8));
                }
                case "/page-then-fail" -> {
                    // a server-rendered assistant page: its head written before the fragment that asks the model
                    resp.setContentType("text/html;charset=UTF-8");
                    resp.getWriter().write("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
                            + "<title>Assistant</title><link rel=\"stylesheet\" href=\"/app.css\"></head>\n<body><main>");
                }
                case "/envelope-then-fail" -> {
                    // the application's envelope streamed as it is built: its id first, the reply next
                    resp.setContentType("application/json");
                    resp.getOutputStream().write("{\"conversation_id\":\"c-73\",\"reply\":"
                            .getBytes(StandardCharsets.UTF_8));
                }
                default -> {
                    resp.sendError(404);
                    return;
                }
            }
            throw new ServletException("upstream unreachable: connection refused (the model was not reached)");
        }
    }

    private static final String CHAT = "{\"model\":\"gpt-4.1\",\"max_tokens\":2000,\"messages\":[{\"role\":\"user\","
            + "\"content\":\"Summarise our Q3 report in two sentences.\"}]}";

    /** The status the client saw (-1 when the container aborted the answer), for messages. */
    private int post(String path, String user) {
        try {
            return TestHttp.postJson(container.uri(path), user, CHAT).statusCode();
        } catch (UncheckedIOException aborted) {
            return -1;
        }
    }

    private void assertNotCharged(String path) {
        String user = subject();
        int status = post(path, user);
        QuotaAccount account = settled(user);
        assertEquals(0, MODEL.of(user));
        assertEquals(0, account.used(), kind() + ": " + path + " never reached the model (the client got " + status
                + "), yet it was charged " + account.used() + " " + ledger(user));
        assertEquals(0, account.reserved(), kind() + ": " + ledger(user));
    }

    /** Control (held): a keep-alive comment written, not flushed, then the failure: released. */
    @Test
    void controlAnUnflushedKeepAliveBeforeTheFailureIsReleased() {
        assertNotCharged("/ai/v1/chat/keep-alive-then-fail");
    }

    /**
     * Break hunt: the same keep-alive, flushed as a keep-alive is (it exists to reach the client before
     * the answer does). The flush commits the 200, and an exception after a committed 2xx is "failed
     * while answering": the estimate (2,000 output tokens and the prompt) is charged, although the docs
     * say a relay's keep-alive before it reaches the model is not an answer.
     */
    @Test
    void aFlushedKeepAliveBeforeTheFailureIsNotAnAnswer() {
        assertNotCharged("/ai/v1/chat/flushed-keep-alive-then-fail");
    }

    /**
     * Break hunt: {@code retry: 3000} is the event stream's reconnection time, a field that dispatches
     * no event and carries no data (HTML, server-sent events, "retry"). Written before the relay reaches
     * the model, then the upstream refuses: the filter counts the {@code r} as an answer's byte and
     * charges the estimate.
     */
    @Test
    void aRetryFieldBeforeTheFailureIsNotAnAnswer() {
        assertNotCharged("/ai/v1/chat/retry-then-fail");
    }

    /**
     * Break hunt, answered by a documented rule: a server-rendered page writes its head, or an
     * application streams its JSON envelope ({@code {"conversation_id":"c-73","reply":}), before it
     * asks the model, and the call fails. Those bytes cannot be told from a model's answer the page or
     * envelope wraps (round 76: a reply written inside an unfinished envelope, a page body whose footer
     * throws), so where unsure the filter charges: the estimate, though the model was not reached.
     */
    @Test
    void aPageHeadOrAnEnvelopeWrittenBeforeTheFailureIsChargedAsAnAnswerWouldBe() {
        for (String path : new String[] {"/ai/v1/chat/page-then-fail", "/ai/v1/chat/envelope-then-fail"}) {
            String user = subject();
            post(path, user);
            QuotaAccount account = settled(user);
            assertEquals(0, MODEL.of(user));
            assertTrue(account.used() >= 1_000, kind() + ": " + path + " charged " + account.used() + " " + ledger(user));
            assertEquals(0, account.reserved(), kind() + ": " + ledger(user));
        }
    }

    // ------------------------------------------------------------------ 2. _charset_ and a text file

    /** A summariser: reads the uploaded notes as UTF-8 (the file's bytes), answers the summary as plain text. */
    public static class Summarise extends HttpServlet {
        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException, ServletException {
            Part file = req.getPart("file");
            String notes = new String(file.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
            MODEL.count(req.getHeader("x-user-id"));
            resp.setContentType("text/plain;charset=utf-8");
            resp.getWriter().write("Квартальные итоги: выручка выросла, расходы снизились (" + notes.length() + " знаков).");
        }
    }

    /** Meeting notes in Russian, as an editor saves them today: UTF-8. */
    static final String NOTES_LINE = "Совещание по итогам квартала: выручка выросла на двенадцать процентов, расходы"
            + " снизились, маржа достигла рекордного уровня. ";

    private HttpResponse<String> summarise(String user, boolean charsetField) {
        String boundary = "----b73" + UUID.randomUUID();
        byte[] notes = NOTES_LINE.repeat(200).getBytes(StandardCharsets.UTF_8);
        Object[] parts = {
                "Content-Disposition: form-data; name=\"_charset_\"", "windows-1251",
                "Content-Disposition: form-data; name=\"task\"", "summarise",
                "Content-Disposition: form-data; name=\"file\"; filename=\"notes.txt\"\r\nContent-Type: text/plain", notes};
        Object[] sent = charsetField ? parts : java.util.Arrays.copyOfRange(parts, 2, parts.length);
        return TestHttp.post(container.uri("/ai/v1/summarise"), multipart(boundary, sent), "x-user-id", user,
                "Content-Type", "multipart/form-data; boundary=" + boundary);
    }

    /**
     * Break hunt: a legacy Russian site's form ({@code accept-charset="windows-1251"}, whose hidden
     * {@code _charset_} input the browser fills with {@code windows-1251}) uploads {@code notes.txt}, a
     * UTF-8 file of about 6,600 tokens. {@code _charset_} names the charset the browser encoded the
     * form's fields in; a file's bytes are sent as they are on disk, and no container decodes a file
     * part. The filter reads every part labelled text in the {@code _charset_} charset too and counts
     * its costliest reading: the UTF-8 Cyrillic read as windows-1251 ({@code Ð¡Ð¾Ð²...} mojibake,
     * about three times the tokens) is held, past the 20,000 allowance: 429 for an upload that costs
     * what the control (the same upload without the {@code _charset_} field) is charged.
     */
    @Test
    void aTextFileIsNotReadInTheCharsetTheFormsFieldsWereEncodedIn() {
        String control = subject();
        HttpResponse<String> plain = summarise(control, false);
        assertEquals(200, plain.statusCode(), kind() + ": " + plain.body());
        long fair = settled(control).used();
        assertTrue(fair > 5_000 && fair < 10_000, kind() + ": the control's charge " + fair + " " + ledger(control));

        String user = subject();
        HttpResponse<String> r = summarise(user, true);
        QuotaAccount account = settled(user);
        assertEquals(200, r.statusCode(), kind() + ": the same UTF-8 notes (the control was charged " + fair
                + " of 20,000) behind a _charset_=windows-1251 field were refused: " + r.body());
        assertEquals(1, MODEL.of(user));
        assertTrue(account.used() <= fair + 20, kind() + ": charged " + account.used() + ", the control " + fair + " "
                + ledger(user));
    }

    // ------------------------------------------------------------------ 3. AMR-NB, moov last

    /**
     * An AMR-NB 3GP at 12.2 kbit/s (the mode phones and FFmpeg's libopencore_amrnb use by default: a
     * header byte and 31 bytes a 20 ms frame), one frame a sample as FFmpeg's muxer writes it, timed
     * by {@code stts} at 160 a sample on an 8 kHz timescale. {@code moovLast}: {@code mdat} first and
     * {@code moov} after it (FFmpeg without {@code -movflags +faststart}); else {@code moov} first.
     */
    static byte[] amrNb3gp(int frames, boolean moovLast) {
        int frameBytes = 32;
        byte[] ftyp = box("ftyp", ascii("3gp4"), u32(0), ascii("3gp4isom"));
        byte[] mdhd = box("mdhd", u32(0), u32(0), u32(0), u32(8_000), u32(frames * 160L), new byte[] {0x55, (byte) 0xc4, 0, 0});
        byte[] hdlr = box("hdlr", u32(0), u32(0), ascii("soun"), new byte[12], ascii("SoundHandler\0"));
        byte[] damr = box("damr", ascii("FFMP"), new byte[] {0, (byte) 0x81, (byte) 0xFF, 0, 1});
        byte[] samr = box("samr", new byte[6], new byte[] {0, 1}, new byte[8], new byte[] {0, 1, 0, 16}, new byte[4],
                u32(8_000L << 16), damr);
        byte[] table = cat(box("stsd", u32(0), u32(1), samr), box("stts", u32(0), u32(1), u32(frames), u32(160)),
                box("stsz", u32(0), u32(frameBytes), u32(frames)), box("stsc", u32(0), u32(1), u32(1), u32(frames), u32(1)));
        byte[] samples = new byte[frames * frameBytes];
        java.util.Random noise = new java.util.Random(73);
        for (int i = 0; i < samples.length; i += frameBytes) {
            // frame header: FT 7 (12.2 kbit/s), Q 1; the speech bits after it
            samples[i] = 0x3C;
            for (int j = 1; j < frameBytes; j++) {
                samples[i + j] = (byte) noise.nextInt(256);
            }
        }
        long movieMillis = frames * 20L;
        if (!moovLast) {
            return MediaBytes.faststartSoundTrack(ftyp, movieMillis, mdhd, hdlr, table, samples);
        }
        byte[] mdat = box("mdat", samples);
        byte[] stco = box("stco", u32(0), u32(1), u32(ftyp.length + 8));
        byte[] moov = box("moov",
                box("mvhd", u32(0), u32(0), u32(0), u32(1000), u32(movieMillis), new byte[80]),
                box("trak", box("tkhd", new byte[] {0, 0, 0, 7}, new byte[80]),
                        box("mdia", mdhd, hdlr, box("minf", box("smhd", new byte[8]), box("stbl", table, stco)))));
        return cat(ftyp, mdat, moov);
    }

    private HttpResponse<String> transcribe(String user, byte[] file) {
        return Transcriptions.post(container.uri("/ai/v1/audio/transcriptions"), user, "----b73" + UUID.randomUUID(),
                file, "memo.3gp", "audio/3gpp");
    }

    /**
     * Break hunt: a five-minute voice memo (300 s: 5,100 audio tokens, about 6,300 held with its
     * transcript) encoded by FFmpeg to 3GP without {@code +faststart}, so its {@code moov} follows its
     * {@code mdat}. The filter, having let {@code mdat} stream past, counts its bytes as the most AMR
     * frames they can be, one per 6 bytes: 80,000 frames, 1,600 s, 5.3 times the recording, past the
     * 20,000 allowance. The control (the same memo with {@code moov} first) is timed at its 300 s.
     * The track's {@code stts} and {@code stsz} both say 15,000 frames of 32 bytes, and a 3GP's
     * {@code mdat} before {@code moov} holds nothing but the track's frames, walkable as they pass.
     */
    @Test
    void anAmrMemoWithItsMoovLastIsHeldAtItsDuration() {
        String control = subject();
        HttpResponse<String> first = transcribe(control, amrNb3gp(15_000, false));
        assertEquals(200, first.statusCode(), kind() + ": " + first.body());
        long fair = settled(control).used();
        assertTrue(fair >= 300 * 17 && fair < 8_000, kind() + ": the control's charge " + fair + " " + ledger(control));

        String user = subject();
        HttpResponse<String> r = transcribe(user, amrNb3gp(15_000, true));
        assertEquals(200, r.statusCode(), kind() + ": the same 300 s memo with moov after mdat (the control was charged "
                + fair + " of 20,000) was refused: " + r.body());
        long used = settled(user).used();
        assertTrue(used <= fair * 3 / 2, kind() + ": charged " + used + " for 300 s, the control " + fair + " "
                + ledger(user));
    }

    // ------------------------------------------------------------------ 4. token counts as token lists

    /**
     * Self-hosted servers' {@code /tokenize}: llama.cpp's server answers {@code {"tokens":[...]}},
     * Hugging Face TGI a JSON array of its tokens, vLLM {@code {"count":n,...}}. A tokenizer runs; no
     * model does.
     */
    public static class Tokenizers extends HttpServlet {
        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            req.getInputStream().readAllBytes();
            resp.setContentType("application/json");
            String answer = switch (req.getServletPath()) {
                case "/ai/llama" -> "{\"tokens\":[9906,1917,11,1268,527,499,3432,30]}";
                case "/ai/tgi" -> "[{\"id\":5159,\"text\":\"My\",\"start\":0,\"stop\":2},{\"id\":836,\"text\":\" name\","
                        + "\"start\":2,\"stop\":7},{\"id\":374,\"text\":\" is\",\"start\":7,\"stop\":10},{\"id\":"
                        + "95337,\"text\":\" Olivier\",\"start\":10,\"stop\":18}]";
                default -> "{\"count\":8,\"max_model_len\":32768,\"tokens\":[9906,1917,11,1268,527,499,3432,30],"
                        + "\"token_strs\":null}";
            };
            resp.getOutputStream().write(answer.getBytes(StandardCharsets.UTF_8));
        }
    }

    private void assertCountReleased(String path, String body) {
        String user = subject();
        HttpResponse<String> r = TestHttp.postJson(container.uri(path), user, body);
        assertEquals(200, r.statusCode(), kind() + ": " + r.body());
        QuotaAccount account = settled(user);
        assertEquals(0, account.used(), kind() + ": " + path + " answered its tokens (" + r.body() + "): a tokenizer ran,"
                + " no model; charged " + account.used() + " " + ledger(user));
    }

    /** Control (held): vLLM's {@code /tokenize} answers a count: released. */
    @Test
    void controlVllmsTokenizeAnswerIsACount() {
        assertCountReleased("/ai/vllm/tokenize", "{\"model\":\"Qwen/Qwen2.5-7B-Instruct\",\"prompt\":\"Hello world, how are you today?\"}");
    }

    /**
     * Break hunt: llama.cpp's server, the other {@code /tokenize} the filter's javadoc names, answers
     * the tokens listed ({@code {"tokens":[...]}}, no number), as Vertex's {@code computeTokens}
     * answers {@code tokensInfo}, which the filter takes for a count. It is charged the estimate.
     */
    @Test
    void llamaCppsTokenListIsACount() {
        assertCountReleased("/ai/llama/tokenize", "{\"content\":\"Hello world, how are you today?\"}");
    }

    /** Break hunt: TGI's {@code /tokenize} answers its tokens as a JSON array: charged the estimate. */
    @Test
    void tgisTokenArrayIsACount() {
        assertCountReleased("/ai/tgi/tokenize", "{\"inputs\":\"My name is Olivier\",\"parameters\":{}}");
    }

    // ------------------------------------------------------------------ 5. a continuation and its tools

    /**
     * OpenAI's Responses API as OpenAI counts it: a call reads its {@code tools} (sent with every call,
     * not stored with the Response), its {@code input}, and, for {@code previous_response_id}, the
     * input and output of the Responses it continues; it writes 400 tokens. Input counted by the
     * estimator over the JSON text of each.
     */
    public static class Responses extends HttpServlet {
        /** What a continuation reads again of each stored Response: its conversation and its output. */
        static final Map<String, Long> CARRIED = new ConcurrentHashMap<>();

        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            JsonNode body = JSON.readTree(req.getInputStream());
            MODEL.count(req.getHeader("x-user-id"));
            long tools = body.has("tools") ? TOKENS.estimate(body.get("tools").toString()) : 0;
            long conversation = TOKENS.estimate(body.path("input").toString());
            String previous = body.path("previous_response_id").asText(null);
            if (previous != null) {
                Long carried = CARRIED.get(previous);
                if (carried == null) {
                    resp.sendError(404);
                    return;
                }
                conversation += carried;
            }
            long output = 400;
            String id = "resp_73" + UUID.randomUUID().toString().replace("-", "");
            CARRIED.put(id, conversation + output);
            long input = tools + conversation;
            String usage = "{\"input_tokens\":" + input + ",\"input_tokens_details\":{\"cached_tokens\":0},\"output_tokens\":"
                    + output + ",\"output_tokens_details\":{\"reasoning_tokens\":0},\"total_tokens\":" + (input + output) + "}";
            resp.setContentType("application/json");
            resp.getOutputStream().write(ResponsesApi.response(id, "completed", "", "gpt-4.1", usage,
                    "word ".repeat((int) output).trim()).getBytes(StandardCharsets.UTF_8));
        }
    }

    /** A support agent's function tools: twelve functions with long descriptions, about 7,500 tokens. */
    static String tools() {
        StringBuilder sb = new StringBuilder("[");
        for (int i = 0; i < 12; i++) {
            sb.append(i == 0 ? "" : ",").append("{\"type\":\"function\",\"name\":\"lookup_").append(i)
                    .append("\",\"description\":").append(JsonTree.quoted(Prose.english(4_000)))
                    .append(",\"parameters\":{\"type\":\"object\",\"properties\":{\"order_id\":{\"type\":\"string\"}},")
                    .append("\"required\":[\"order_id\"]}}");
        }
        return sb.append(']').toString();
    }

    static final String Q1 = "My order 4471 has not arrived. Can you check where it is?";
    static final String Q2 = "Thanks. Can you also change the delivery address to the office?";

    private Map<String, Object> respond(String user, String body) {
        HttpResponse<String> r = TestHttp.postJson(container.uri("/ai/v1/responses"), user, body);
        assertEquals(200, r.statusCode(), kind() + ": " + r.body() + " " + ledger(user));
        return TestHttp.json(r);
    }

    /**
     * Break hunt: a support agent's second turn continues the first by {@code previous_response_id},
     * sending its tools again (OpenAI does not store tools with a Response). The filter remembers the
     * first Response's figure as its whole usage, tools included, and holds the second turn at that
     * figure plus its own input, tools again: the tools are held twice. With about 7,500 tokens of
     * tools, the first turn costs about 8,000, and the second, which reads about 8,500 and fits the
     * 12,000 left, is held at about 16,000: 429. The control sends the same second turn without
     * storage, the first turn's messages inline (the same model input): served, charged its usage.
     */
    @Test
    void aContinuationIsNotHeldForTheToolsOfTheTurnBefore() {
        String tools = tools();
        String first = "{\"model\":\"gpt-4.1\",\"max_output_tokens\":500,\"tools\":" + tools + ",\"input\":"
                + JsonTree.quoted(Q1) + "}";

        String control = subject();
        respond(control, first);
        long controlFirst = settled(control).used();
        String inline = "{\"model\":\"gpt-4.1\",\"max_output_tokens\":500,\"store\":false,\"tools\":" + tools
                + ",\"input\":[{\"role\":\"user\",\"content\":" + JsonTree.quoted(Q1) + "},{\"role\":\"assistant\","
                + "\"content\":" + JsonTree.quoted("word ".repeat(400).trim()) + "},{\"role\":\"user\",\"content\":"
                + JsonTree.quoted(Q2) + "}]}";
        respond(control, inline);
        long controlSecond = settled(control).used() - controlFirst;
        assertTrue(controlFirst + controlSecond <= ALLOWANCE, kind() + ": the control's two turns cost " + controlFirst
                + " + " + controlSecond + " " + ledger(control));

        String user = subject();
        Map<String, Object> answer = respond(user, first);
        long used = settled(user).used();
        assertEquals(controlFirst, used, kind() + ": " + ledger(user));
        String continuation = "{\"model\":\"gpt-4.1\",\"max_output_tokens\":500,\"previous_response_id\":\""
                + answer.get("id") + "\",\"tools\":" + tools + ",\"input\":" + JsonTree.quoted(Q2) + "}";
        // what the provider bills the second turn: its tools, the first turn's input and output, its own input, 400 out
        long reads;
        try {
            reads = TOKENS.estimate(JSON.readTree(tools).toString()) + Responses.CARRIED.get((String) answer.get("id"))
                    + TOKENS.estimate(JsonTree.quoted(Q2));
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        long costs = reads + 500;
        assertTrue(costs <= ALLOWANCE - used, kind() + ": the test's own figures: " + costs + " vs " + (ALLOWANCE - used));
        HttpResponse<String> r = TestHttp.postJson(container.uri("/ai/v1/responses"), user, continuation);
        assertEquals(200, r.statusCode(), kind() + ": the second turn reads " + reads + " tokens and writes at most"
                + " 500 (at most " + costs + "); " + (ALLOWANCE - used) + " were left after the first turn's " + used
                + "; it was refused: " + r.body());
        assertEquals(2, MODEL.of(user));
        assertTrue(settled(user).used() - used <= costs, kind() + ": " + ledger(user));
    }
}
