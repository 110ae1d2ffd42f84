package io.tokenquota.servlet.breakit38;

import static io.tokenquota.servlet.testing.RelayedAnswers.called;
import static io.tokenquota.servlet.testing.RelayedAnswers.calls;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.tokenquota.HoldRequest;
import io.tokenquota.QuotaAccount;
import io.tokenquota.servlet.QuotaFilter;
import io.tokenquota.servlet.testing.Deployment;
import io.tokenquota.servlet.testing.H2FilterRound;
import io.tokenquota.servlet.testing.RelayedAnswers;
import io.tokenquota.servlet.testing.TestHttp;
import jakarta.servlet.http.HttpServlet;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.net.http.HttpResponse;
import java.nio.ByteBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.Charset;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Base64;
import java.util.Collections;
import java.util.List;
import java.util.Locale;
import java.util.UUID;
import java.util.zip.GZIPInputStream;
import java.util.zip.GZIPOutputStream;
import java.util.zip.InflaterInputStream;
import org.junit.jupiter.api.Test;

/**
 * Round 38 of issue 11 ("no model call goes unpaid, nothing that never reached a model is charged"):
 * the request side again: content codings, text the filter calls binary, an identity header that
 * names two subjects in one line, base64 text the endpoint decodes.
 */
abstract class AbstractRound38 extends H2FilterRound {
    static final ObjectMapper MAPPER = new ObjectMapper();

    static String subject() {
        return "u38-" + UUID.randomUUID().toString().substring(0, 12);
    }

    static void openAiJson(HttpServletResponse resp, long prompt, long completion) throws IOException {
        resp.setContentType("application/json");
        resp.getWriter().write(RelayedAnswers.completionJson("ok", prompt, completion));
    }

    // ------------------------------------------------------------------ endpoints

    /**
     * A chat endpoint that honours request content codings as RFC 9110 section 8.4 defines them: the
     * codings of every {@code Content-Encoding} field line, in the order applied (a recipient combines
     * several field lines into one list, section 5.3), undone last first.
     */
    public static class DecodingChat extends HttpServlet {
        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            List<String> codings = new ArrayList<>();
            for (String line : Collections.list(req.getHeaders("Content-Encoding"))) {
                for (String c : line.split(",")) {
                    if (!c.isBlank()) {
                        codings.add(c.trim().toLowerCase(Locale.ROOT));
                    }
                }
            }
            InputStream in = req.getInputStream();
            for (int i = codings.size() - 1; i >= 0; i--) {
                switch (codings.get(i)) {
                    case "gzip", "x-gzip" -> in = new GZIPInputStream(in);
                    case "deflate" -> in = new InflaterInputStream(in);
                    case "identity" -> { }
                    default -> {
                        resp.sendError(415);
                        return;
                    }
                }
            }
            JsonNode body = MAPPER.readTree(in);
            called(req);
            long prompt = 0;
            for (JsonNode m : body.path("messages")) {
                prompt += m.path("content").asText().length() / 4 + 1;
            }
            openAiJson(resp, prompt, body.path("max_tokens").asLong(1_000));
        }
    }


    /**
     * A text endpoint of a deployment whose users write in a legacy encoding: a body that names no
     * charset and is not UTF-8 is read in the deployment's charset (Windows-31J in Japan, GB18030 in
     * China, EUC-KR in Korea), the classic servlet "SetCharacterEncodingFilter" default of such
     * applications; with {@code detectUtf16}, a body whose first two bytes hold one zero byte is read
     * as UTF-16 in that byte order (RFC 4627's detection, as charset detectors such as ICU's do).
     */
    public static class LegacyTextPrompt extends HttpServlet {
        private final Charset legacy;
        private final boolean detectUtf16;

        LegacyTextPrompt(Charset legacy, boolean detectUtf16) {
            this.legacy = legacy;
            this.detectUtf16 = detectUtf16;
        }

        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            byte[] bytes = req.getInputStream().readAllBytes();
            String text;
            if (req.getCharacterEncoding() != null) {
                text = new String(bytes, Charset.forName(req.getCharacterEncoding()));
            } else if (detectUtf16 && bytes.length >= 2 && bytes[0] == 0 && bytes[1] != 0) {
                text = new String(bytes, StandardCharsets.UTF_16BE);
            } else if (detectUtf16 && bytes.length >= 2 && bytes[0] != 0 && bytes[1] == 0) {
                text = new String(bytes, StandardCharsets.UTF_16LE);
            } else {
                try {
                    text = StandardCharsets.UTF_8.newDecoder().decode(ByteBuffer.wrap(bytes)).toString();
                } catch (CharacterCodingException notUtf8) {
                    text = new String(bytes, legacy);
                }
            }
            called(req);
            // CJK: about a token a character; other text: four characters a token
            long cjk = text.codePoints().filter(c -> c >= 0x3000).count();
            openAiJson(resp, cjk + (text.length() - cjk) / 4 + 1, 100);
        }
    }

    /**
     * A local server's native generate API that names its output budget otherwise than the estimator
     * knows: KoboldCpp's {@code /api/v1/generate} ({@code max_length}: "number of tokens to generate"),
     * Aleph Alpha's {@code /complete} ({@code maximum_tokens}, {@code n}), Cohere's legacy
     * {@code /v1/generate} ({@code max_tokens}, {@code num_generations}). Answers as KoboldCpp does,
     * {@code {"results":[{"text":...}]}}, with no usage report: the call is charged its estimate.
     */
    public static class NativeGenerate extends HttpServlet {
        static final java.util.Map<String, Long> WRITTEN = new java.util.concurrent.ConcurrentHashMap<>();

        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            JsonNode body = MAPPER.readTree(req.getInputStream());
            called(req);
            long budget = body.has("max_length") ? body.path("max_length").asLong()
                    : body.has("maximum_tokens") ? body.path("maximum_tokens").asLong() : body.path("max_tokens").asLong(100);
            long n = body.has("num_generations") ? body.path("num_generations").asLong() : body.path("n").asLong(1);
            WRITTEN.put(req.getHeader("x-user-id"), budget * n);
            resp.setContentType("application/json");
            StringBuilder results = new StringBuilder("{\"results\":[");
            for (int i = 0; i < n; i++) {
                results.append(i == 0 ? "" : ",").append("{\"text\":\"").append("word ".repeat((int) Math.min(budget, 20_000))).append("\"}");
            }
            resp.getWriter().write(results.append("]}").toString());
        }
    }

    /**
     * Gemini {@code generateContent}: a text document sent as {@code inlineData} with a {@code text/*}
     * MIME type (Gemini's document understanding takes TXT, Markdown, HTML, CSV inline) is read as its
     * text: the model reads, and Gemini bills, its decoded characters.
     */
    public static class GeminiGenerate extends HttpServlet {
        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            JsonNode body = MAPPER.readTree(req.getInputStream());
            called(req);
            long prompt = 0;
            for (JsonNode content : body.path("contents")) {
                for (JsonNode part : content.path("parts")) {
                    if (part.has("text")) {
                        prompt += part.path("text").asText().length() / 4 + 1;
                    }
                    JsonNode inline = part.path("inlineData");
                    if (inline.path("mimeType").asText().startsWith("text/")) {
                        String text = new String(Base64.getDecoder().decode(inline.path("data").asText()), StandardCharsets.UTF_8);
                        prompt += text.length() / 4 + 1;
                    } else if (!inline.isMissingNode()) {
                        prompt += 258;
                    }
                }
            }
            long out = body.path("generationConfig").path("maxOutputTokens").asLong(100);
            resp.setContentType("application/json");
            resp.getWriter().write("{\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"ok\"}],\"role\":\"model\"}}],"
                    + "\"usageMetadata\":{\"promptTokenCount\":" + prompt + ",\"candidatesTokenCount\":" + out
                    + ",\"totalTokenCount\":" + (prompt + out) + "}}");
        }
    }

    /**
     * A Spring-style generate endpoint, {@code generate(@RequestBody Prompt p,
     * @RequestParam(name = "max_tokens", defaultValue = "256") int maxTokens)}: the prompt in the JSON
     * body, the budget in the query string (read through {@code getParameter}, which holds the query
     * string's parameters on a JSON POST). Streams its answer without a usage report.
     */
    public static class QueryBudgetGenerate extends HttpServlet {
        static final java.util.Map<String, Long> WRITTEN = new java.util.concurrent.ConcurrentHashMap<>();

        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            JsonNode body = MAPPER.readTree(req.getInputStream());
            called(req);
            String q = req.getParameter("max_tokens");
            long budget = q != null ? Long.parseLong(q) : body.path("max_tokens").asLong(256);
            WRITTEN.put(req.getHeader("x-user-id"), budget);
            resp.setContentType("text/event-stream");
            resp.getWriter().write("data: {\"text\":\"" + body.path("prompt").asText().length() + "\"}\n\n"
                    + "data: {\"text\":\"" + "word ".repeat((int) Math.min(budget, 20_000)) + "\"}\n\n");
        }
    }

    @Override
    protected Deployment deploy(QuotaFilter filter) {
        return Deployment.create()
                .filter("quota", filter, "/*")
                .servlet("decoding", new DecodingChat(), "/ai/decoding/chat")
                .servlet("text", new RelayedAnswers.ReaderPrompt(), "/ai/text")
                .servlet("ja", new LegacyTextPrompt(Charset.forName("Windows-31J"), false), "/ai/ja/text")
                .servlet("utf16", new LegacyTextPrompt(StandardCharsets.UTF_8, true), "/ai/detect/text")
                .servlet("native", new NativeGenerate(), "/ai/native/generate")
                .servlet("qbudget", new QueryBudgetGenerate(), "/ai/qbudget/generate")
                .servlet("gemini", new GeminiGenerate(), "/ai/gemini/generateContent");
    }

    // ------------------------------------------------------------------ helpers

    /** English prose of about {@code chars} characters (~1 token per 4.5 characters). */
    static String prose(int chars) {
        String[] words = ("the committee reviewed quarterly results and noted that revenue in northern regions grew"
                + " while costs for logistics shipping and warehousing rose sharply because fuel prices climbed"
                + " during winter months so management proposed new contracts with regional carriers").split(" ");
        StringBuilder sb = new StringBuilder(chars + 16);
        int i = 0;
        while (sb.length() < chars) {
            sb.append(words[i % words.length]);
            i++;
            sb.append(i % 17 == 0 ? ". " : " ");
        }
        return sb.toString();
    }

    static String json(String s) {
        try {
            return MAPPER.writeValueAsString(s);
        } catch (IOException e) {
            throw new IllegalStateException(e);
        }
    }

    static byte[] gzip(byte[] bytes) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        try (GZIPOutputStream gz = new GZIPOutputStream(out)) {
            gz.write(bytes);
        } catch (IOException e) {
            throw new IllegalStateException(e);
        }
        return out.toByteArray();
    }

    static String chatRequest(String content, int maxTokens) {
        return "{\"model\":\"gpt-4o\",\"max_tokens\":" + maxTokens
                + ",\"messages\":[{\"role\":\"user\",\"content\":" + json(content) + "}]}";
    }

    /**
     * A call that costs far more than the 20,000-token allowance must be refused before the model runs
     * (the issue's item 1: a body held at the fallback, served, charged 154,751 on a 20,000 allowance).
     */
    void assertRefusedAsTooBig(String path, byte[] body, String what, String... headers) {
        String s = subject();
        String[] all = new String[headers.length + 2];
        all[0] = "x-user-id";
        all[1] = s;
        System.arraycopy(headers, 0, all, 2, headers.length);
        HttpResponse<String> r = TestHttp.post(container.uri(path), body, all);
        QuotaAccount a = settled(s);
        assertEquals(0, calls(s), what + ": the hold must see what the endpoint reads, so a " + ALLOWANCE
                + "-token allowance cannot buy this call; got " + r.statusCode() + " after a hold of "
                + r.headers().firstValue("X-Quota-Remaining").map(rem -> (ALLOWANCE - Long.parseLong(rem)) + " tokens").orElse("?")
                + ", model calls " + calls(s) + ", charged " + a.used() + " (" + ledger(s) + ")");
        assertTrue(r.statusCode() == 429 || r.statusCode() == 413 || r.statusCode() == 415,
                what + ": " + r.statusCode());
    }

    // ------------------------------------------------------------------ 1. content codings on two field lines

    /**
     * {@code POST /ai/decoding/chat} with a 600 KB chat body (~130,000 tokens) gzipped twice and
     * labelled {@code Content-Encoding: gzip} on two field lines. RFC 9110 makes two field lines one
     * list ({@code gzip, gzip}); an endpoint that decodes request codings undoes both and the model reads
     * the whole prompt. The filter reads only the first line ({@code getHeader}), inflates once, finds
     * compressed bytes ("binary") and holds the 1,000 fallback. The same codings on one line are
     * refused with 415 (control), as is a single gzip of the same body (control: 429).
     */
    @Test
    void aBodyGzippedTwiceWithTwoContentEncodingLinesIsEstimated() {
        byte[] json = chatRequest("Summarise this report: " + prose(600_000), 500).getBytes(StandardCharsets.UTF_8);
        assertRefusedAsTooBig("/ai/decoding/chat", gzip(json), "control: gzipped once",
                "Content-Type", "application/json", "Content-Encoding", "gzip");
        assertRefusedAsTooBig("/ai/decoding/chat", gzip(gzip(json)), "control: gzipped twice, one field line",
                "Content-Type", "application/json", "Content-Encoding", "gzip, gzip");
        assertRefusedAsTooBig("/ai/decoding/chat", gzip(gzip(json)), "gzipped twice, two Content-Encoding field lines",
                "Content-Type", "application/json", "Content-Encoding", "gzip", "Content-Encoding", "gzip");
    }

    /**
     * The same with the body 4 MB inflated (four times the 1 MiB body limit): the first line's gzip
     * inflates to a few kilobytes, so the limit is never reached and the filter serves the call at the
     * fallback.
     */
    @Test
    void aBodyGzippedTwiceWithTwoContentEncodingLinesPassesTheBodyLimit() {
        byte[] json = chatRequest("Summarise this report: " + prose(4_000_000), 500).getBytes(StandardCharsets.UTF_8);
        assertRefusedAsTooBig("/ai/decoding/chat", gzip(gzip(json)), "a 4 MB body gzipped twice, two field lines",
                "Content-Type", "application/json", "Content-Encoding", "gzip", "Content-Encoding", "gzip");
    }

    // ------------------------------------------------------------------ 2. text the filter calls binary

    /**
     * {@code POST /ai/ja/text} with a 300,000-character Japanese text (~300,000 tokens) in
     * Windows-31J (Shift_JIS), unlabelled, as Japanese Windows tools write it; the endpoint reads an
     * unlabelled non-UTF-8 body in Windows-31J. The filter's UTF-8 reading fails; its byte-by-byte
     * ISO-8859-1 reading sees Shift_JIS lead bytes 0x81-0x9F as C1 control characters (nearly every
     * kana and most kanji start with one) and calls the body binary: held at the 1,000 fallback.
     * The same text labelled {@code charset=Shift_JIS} is refused (control).
     */
    @Test
    void anUnlabelledShiftJisTextIsEstimated() {
        String[] words = {"委員会は", "四半期の", "結果を", "検討し、", "北部地域の", "売上が", "伸びた", "一方で、",
                "物流と", "倉庫の", "費用が", "急増した", "ことに", "注目した。", "経営陣は", "新しい", "契約を", "提案した。"};
        StringBuilder sb = new StringBuilder();
        for (int i = 0; sb.length() < 300_000; i++) {
            sb.append(words[i % words.length]);
        }
        byte[] sjis = sb.toString().getBytes(Charset.forName("Windows-31J"));
        assertRefusedAsTooBig("/ai/ja/text", sjis, "control: labelled Shift_JIS", "Content-Type", "text/plain; charset=Shift_JIS");
        assertRefusedAsTooBig("/ai/ja/text", sjis, "unlabelled Shift_JIS", "Content-Type", "text/plain");
    }

    /**
     * {@code POST /ai/detect/text} with 300 KB of English prose (~65,000 tokens) in UTF-16LE without a
     * byte order mark, unlabelled (PowerShell's and .NET's {@code Encoding.Unicode} writers, a Windows
     * clipboard dump), to an endpoint that detects UTF-16 by where the zero bytes of the first
     * character are (RFC 4627's rule, the same one the filter's {@code BodyText.detected} applies to
     * answers, and what charset detectors do). The filter takes a zero byte in every other place for
     * binary unless a byte order mark names UTF-16: held at the 1,000 fallback. Labelled
     * {@code charset=UTF-16LE} it is refused (control).
     */
    @Test
    void anUnlabelledUtf16TextWithoutAByteOrderMarkIsEstimated() {
        String text = prose(300_000);
        assertRefusedAsTooBig("/ai/detect/text", text.getBytes(StandardCharsets.UTF_16LE), "control: labelled UTF-16LE",
                "Content-Type", "text/plain; charset=UTF-16LE");
        assertRefusedAsTooBig("/ai/detect/text", text.getBytes(StandardCharsets.UTF_16LE), "unlabelled UTF-16LE without a BOM",
                "Content-Type", "text/plain");
    }

    // ------------------------------------------------------------------ native generate APIs

    void assertChargedWhatWasWritten(String body, String what) {
        String s = subject();
        HttpResponse<String> r = TestHttp.post(container.uri("/ai/native/generate"), body.getBytes(StandardCharsets.UTF_8),
                "x-user-id", s, "Content-Type", "application/json");
        if (r.statusCode() == 429) {
            return;
        }
        assertEquals(200, r.statusCode(), r.body());
        long written = NativeGenerate.WRITTEN.get(s);
        long charged = settled(s).used();
        assertTrue(charged >= written, what + ": the model wrote " + written + " tokens (no usage in the answer), "
                + "the call was charged " + charged + ": " + ledger(s));
    }

    /** KoboldCpp {@code POST /api/v1/generate {"prompt":…,"max_length":16000}}: held and charged the default 1,000. */
    @Test
    void koboldMaxLengthBudgetIsHeld() {
        assertChargedWhatWasWritten("{\"prompt\":\"Write a long story about a lighthouse.\",\"max_length\":16000,"
                + "\"max_context_length\":32768}", "KoboldCpp max_length 16,000");
    }

    /** Aleph Alpha {@code POST /complete {"prompt":…,"maximum_tokens":16000}}. */
    @Test
    void alephAlphaMaximumTokensBudgetIsHeld() {
        assertChargedWhatWasWritten("{\"model\":\"luminous-base\",\"prompt\":\"Write a long story about a lighthouse.\","
                + "\"maximum_tokens\":16000}", "Aleph Alpha maximum_tokens 16,000");
    }

    /** Cohere's legacy {@code POST /v1/generate {"prompt":…,"max_tokens":4000,"num_generations":5}}. */
    @Test
    void cohereNumGenerationsIsHeld() {
        assertChargedWhatWasWritten("{\"model\":\"command\",\"prompt\":\"Write a long story about a lighthouse.\","
                + "\"max_tokens\":3500,\"num_generations\":5}", "Cohere num_generations 5 of 3,500");
    }

    /**
     * {@code POST /ai/qbudget/generate?max_tokens=16000} with the JSON body {@code {"prompt":"Write a
     * long story."}}: the endpoint binds the prompt from the body and the budget from the query string
     * ({@code @RequestParam}). The filter reads a query string's budget only when the body is not JSON,
     * so the call is held (and, with no usage in the stream, charged) the default 1,000 while the
     * model writes 16,000. The same budget in the body is held (control, via the estimator's rules).
     */
    @Test
    void aQueryStringBudgetBesideAJsonBodyIsHeld() {
        String s = subject();
        HttpResponse<String> r = TestHttp.post(container.uri("/ai/qbudget/generate?max_tokens=16000"),
                "{\"prompt\":\"Write a long story about a lighthouse.\"}".getBytes(StandardCharsets.UTF_8),
                "x-user-id", s, "Content-Type", "application/json");
        if (r.statusCode() == 429) {
            return;
        }
        assertEquals(200, r.statusCode(), r.body());
        long written = QueryBudgetGenerate.WRITTEN.get(s);
        long charged = settled(s).used();
        assertTrue(charged >= written, "the endpoint wrote " + written + " tokens (budget from ?max_tokens, no usage), "
                + "the call was charged " + charged + ": " + ledger(s));
    }

    // ------------------------------------------------------------------ 3. base64 text the endpoint decodes

    /**
     * Gemini {@code generateContent} with a 600 KB plain-text document (~130,000 tokens) sent as
     * {@code inlineData} {@code {"mimeType":"text/plain","data":"<base64>"}}, the documented way to give
     * Gemini a TXT file inline. Gemini reads and bills its text; the filter counts any base64 payload
     * as one 258-token media item: held at 258 plus the default budget.
     */
    @Test
    void aTextDocumentSentAsInlineDataIsEstimated() {
        String doc = Base64.getEncoder().encodeToString(prose(600_000).getBytes(StandardCharsets.UTF_8));
        String body = "{\"contents\":[{\"role\":\"user\",\"parts\":[{\"inlineData\":{\"mimeType\":\"text/plain\",\"data\":\""
                + doc + "\"}},{\"text\":\"Summarise this document.\"}]}]}";
        assertRefusedAsTooBig("/ai/gemini/generateContent", body.getBytes(StandardCharsets.UTF_8),
                "a 600 KB text document as inlineData", "Content-Type", "application/json");
    }

    // ------------------------------------------------------------------ 4. two subjects in one identity line

    /**
     * The trusted proxy appends its identity header to any the client sent (Apache
     * {@code RequestHeader append}, Envoy's default append, HAProxy {@code add-header} folded by the
     * next hop): the client's {@code x-user-id: anyone-<random>} and the proxy's {@code alice} arrive as
     * one field line {@code anyone-<random>, alice}. The resolver refuses the same two values on two
     * lines ("one of them is forged, and we cannot tell which"), but one comma-joined line, which RFC
     * 9110 makes the same list, is taken as a new subject with a fresh allowance: alice, who has nothing
     * left, gets model calls charged to an account nobody owns, a new one per request.
     */
    @Test
    void anIdentityHeaderNamingTwoSubjectsOnOneLineIsRefused() {
        String alice = subject();
        store.consume(HoldRequest.of(alice, ALLOWANCE).build());
        byte[] body = chatRequest("Write a haiku.", 50).getBytes(StandardCharsets.UTF_8);
        HttpResponse<String> twoLines = TestHttp.post(container.uri("/ai/decoding/chat"), body,
                "x-user-id", "anyone-" + UUID.randomUUID(), "x-user-id", alice, "Content-Type", "application/json");
        assertEquals(401, twoLines.statusCode(), "control: two identity lines");
        String joined = "anyone-" + UUID.randomUUID() + ", " + alice;
        HttpResponse<String> oneLine = TestHttp.post(container.uri("/ai/decoding/chat"), body,
                "x-user-id", joined, "Content-Type", "application/json");
        assertTrue(oneLine.statusCode() == 401 || oneLine.statusCode() == 429,
                "alice has no tokens left, yet a comma-joined identity line got " + oneLine.statusCode()
                        + " and was charged to the account '" + joined + "': " + ledger(joined));
    }
}
