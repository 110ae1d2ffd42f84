package io.tokenquota.servlet.breakit188;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.tokenquota.servlet.QuotaFilter;
import io.tokenquota.servlet.testing.ChatCompletions;
import io.tokenquota.servlet.testing.CutChatRelay;
import io.tokenquota.servlet.testing.Deployment;
import io.tokenquota.servlet.testing.H2FilterRound;
import io.tokenquota.servlet.testing.ModelCalls;
import io.tokenquota.servlet.testing.TestHttp;
import jakarta.servlet.http.HttpServlet;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.util.UUID;
import org.junit.jupiter.api.Test;

/**
 * Round 188 of issue 11: text the model reads that the request estimate leaves out. Wherever the filter
 * charges the estimate (an answer without usage, such as Spring AI's {@code call().content()} as
 * {@code text/plain}; a stream cut before its usage) the model's reading of it goes unpaid. Five ways,
 * each beside a control that sends the same text where the estimator counts it:
 *
 * <ol>
 *   <li>A prompt in "fancy" Unicode letters. Font generators ("𝐛𝐨𝐥𝐝 𝐭𝐞𝐱𝐭" for social media bios and
 *       posts, and a common trick to get past keyword filters) write Latin text in the Mathematical
 *       Alphanumeric Symbols block: 𝐀 is U+1D400, 𝐚 U+1D41A, 𝟎 U+1D7CE. Models read it as plain English,
 *       and the provider bills it: under {@code o200k_base} each such letter is its four UTF-8 bytes,
 *       mostly two to three tokens. The minutes below, six times over in Mathematical Bold (11,306 UTF-16
 *       chars), are 11,367 tokens under {@code o200k_base} (jtokkit 1.1.0, {@code countTokensOrdinary});
 *       {@code DefaultTokenEstimator} gives them 2,408 (it rates these letters as an uncalibrated
 *       script's, 0.38 a letter). Round 187 made hidden text cost what the model reads; visible text in
 *       another block of letters still costs a fifth.</li>
 *   <li>A document under a field the estimator takes for a label ({@code name}, {@code user}), or as a
 *       member name of an object the application hands the model whole.</li>
 *   <li>JSON numbers in an application's own fields (a series of readings): the model reads every digit,
 *       the estimator counts numbers only in the conversation and text fields.</li>
 *   <li>A plain-text document whose characters are all in base64's URL-safe alphabet (words joined by
 *       underscores): taken for a base64 payload, decoded to no text, counted as nothing.</li>
 *   <li>A question in the request path ({@code /ai/explain/{question}}): the query string is estimated,
 *       the path is not.</li>
 * </ol>
 */
abstract class AbstractRound188 extends H2FilterRound {
    final ModelCalls calls = new ModelCalls();

    static final String DOC = "Minutes of the steering committee, 14 March. Present: the chair, the treasurer, two members of staff and"
            + " the auditor. The treasurer reported that income for the first quarter was 412,000 against a budget of 390,000, mostly"
            + " from the new training courses, while costs ran eight percent over plan because of the office move. The auditor asked"
            + " that the move be shown as a one-off item in the annual accounts. The chair proposed to freeze hiring until June, to"
            + " review the supplier contracts for cleaning, catering and printing, and to ask three firms for quotes on the new phone"
            + " system. Staff raised the late payment of travel claims; the treasurer agreed to pay them within ten working days from"
            + " April. The committee approved the spring newsletter, asked for a shorter version for members abroad, and set the next"
            + " meeting for 11 April at the new office. Actions: treasurer to circulate revised forecast; chair to write to suppliers;"
            + " staff to draft the travel policy; auditor to confirm the treatment of the move costs before the April meeting.";

    /** Latin letters and digits in Mathematical Bold, as a font generator writes them. */
    static String bold(String s) {
        StringBuilder sb = new StringBuilder();
        for (char c : s.toCharArray()) {
            if (c >= 'a' && c <= 'z') {
                sb.appendCodePoint(0x1D41A + c - 'a');
            } else if (c >= 'A' && c <= 'Z') {
                sb.appendCodePoint(0x1D400 + c - 'A');
            } else if (c >= '0' && c <= '9') {
                sb.appendCodePoint(0x1D7CE + c - '0');
            } else {
                sb.append(c);
            }
        }
        return sb.toString();
    }

    static final String PROMPT = bold(DOC.repeat(6)) + "\nSummarise these minutes in three sentences.";

    /** What {@code o200k_base} counts for {@link #PROMPT} (jtokkit 1.1.0): what the provider bills as input. */
    static final long PROMPT_TOKENS = 11_367;

    static final String SUMMARY = "Q1 income beat budget while costs ran over because of the office move. Hiring is frozen"
            + " until June and supplier contracts are under review. Travel claims will be paid within ten days from April.";

    static String subject() {
        return "u188-" + UUID.randomUUID().toString().substring(0, 12);
    }

    static String body(boolean stream) {
        return "{\"model\":\"gpt-4o-mini\",\"messages\":[{\"role\":\"user\",\"content\":\"" + PROMPT.replace("\n", "\\n")
                + "\"}]" + (stream ? ",\"stream\":true,\"stream_options\":{\"include_usage\":true}" : "") + "}";
    }

    final CutChatRelay relay = new CutChatRelay(calls, "chatcmpl-188", SUMMARY);

    @Override
    protected Deployment deploy(QuotaFilter filter) {
        return Deployment.create()
                .filter("quota", filter, "/*")
                .servlet("chat", new Chat(), "/ai/chat")
                .servlet("relay", relay, "/ai/v1/chat/completions")
                .servlet("full", new Full(), "/ai/v1/full/chat/completions")
                .servlet("describe", new Describe(), "/ai/describe")
                .servlet("prompt", new Prompt(), "/ai/prompt")
                .servlet("translate", new Translate(), "/ai/translate")
                .servlet("analyse", new Analyse(), "/ai/analyse")
                .servlet("document", new DocumentRelay(), "/ai/anthropic/messages")
                .servlet("explain", new Explain(), "/ai/explain/*")
                .servlet("styled", new Styled(), "/ai/styled")
                .onStartup(filter::registerByServletName);
    }

    /**
     * A Spring AI style endpoint ({@code chatClient.prompt(text).call().content()}): calls the model with
     * the user's text and answers the model's text, as {@code text/plain}.
     */
    class Chat extends HttpServlet {
        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            String body = new String(req.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
            if (!body.contains(bold(DOC))) { // the prompt arrived whole
                resp.sendError(400);
                return;
            }
            calls.count(req.getHeader("x-user-id"));
            resp.setContentType("text/plain;charset=UTF-8");
            resp.getOutputStream().write(SUMMARY.getBytes(StandardCharsets.UTF_8));
        }
    }

    /** The provider's whole answer, relayed as it came: the usage counts the prompt the provider read. */
    class Full extends HttpServlet {
        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            req.getInputStream().readAllBytes();
            calls.count(req.getHeader("x-user-id"));
            ChatCompletions.writeWithLength(resp, ChatCompletions
                    .completion("chatcmpl-188f", "gpt-4o-mini", SUMMARY, PROMPT_TOKENS, 45).getBytes(StandardCharsets.UTF_8));
        }
    }

    /**
     * The attack on a plain text endpoint: minutes in Mathematical Bold go to the model (11,367 input
     * tokens billed by the provider) and the answer is its text, without usage, so the call is charged its
     * estimate. It must be charged at least what the model read.
     */
    @Test
    void aPromptInMathematicalBoldIsChargedWhatTheModelReads() {
        String s = subject();
        HttpResponse<String> r = TestHttp.postJson(container.uri("/ai/chat"), s, body(false));
        assertEquals(200, r.statusCode(), r.body());
        assertEquals(1, calls.of(s), "the model was called once");
        long used = settled(s).used();
        assertTrue(used >= PROMPT_TOKENS, "a prompt of " + PROMPT_TOKENS + " o200k tokens in Mathematical Bold (its model read"
                + " all of them) was charged " + used + ": " + ledger(s));
    }

    /**
     * The attack on a relay: the same prompt streamed with {@code include_usage}; the client reads the
     * answer's text and hangs up before the usage chunk. A stream cut before its usage is charged the
     * estimate, which must not be a fifth of the prompt the provider billed.
     */
    @Test
    void aBoldPromptStreamCutBeforeItsUsageIsChargedThePrompt() throws Exception {
        String s = subject();
        String read = relay.postAndHangUp(container.port(), "/ai/v1/chat/completions", s, body(true));
        assertTrue(read.contains("END-OF-TEXT"), read);
        assertEquals(1, calls.of(s), "the model was called once");
        long used = settled(s).used();
        assertTrue(used >= PROMPT_TOKENS, "a streamed call whose prompt is " + PROMPT_TOKENS + " o200k tokens in Mathematical"
                + " Bold, cut before its usage, was charged " + used + ": " + ledger(s));
    }

    /** Control: the same prompt on a relay that passes the provider's usage on (read to its end) is charged it. */
    @Test
    void controlTheSamePromptAnsweredWithItsUsageIsChargedIt() {
        String s = subject();
        HttpResponse<String> r = TestHttp.postJson(container.uri("/ai/v1/full/chat/completions"), s, body(false));
        assertEquals(200, r.statusCode(), r.body());
        long used = settled(s).used();
        assertTrue(used >= PROMPT_TOKENS, "charged " + used + ": " + ledger(s));
    }

    // ---- second finding: text under a field the estimator takes for a label, or in member names ----

    /** A document the model reads: {@code o200k_base} counts 6,360 tokens (jtokkit 1.1.0), the estimator 6,386. */
    static final String LONG = DOC.repeat(30);

    static final long LONG_TOKENS = 6_360;

    static final com.fasterxml.jackson.databind.ObjectMapper JSON = new com.fasterxml.jackson.databind.ObjectMapper();

    static String json(Object value) {
        try {
            return JSON.writeValueAsString(value);
        } catch (com.fasterxml.jackson.core.JsonProcessingException e) {
            throw new IllegalStateException(e);
        }
    }

    /** The model's text answered as {@code text/plain} (Spring AI's {@code call().content()}): no usage. */
    void answer(HttpServletRequest req, HttpServletResponse resp, String prompt, String mustHold) throws IOException {
        if (!prompt.contains(mustHold)) { // the model is sent the client's text whole
            resp.sendError(400);
            return;
        }
        calls.count(req.getHeader("x-user-id"));
        resp.setContentType("text/plain;charset=UTF-8");
        resp.getOutputStream().write(SUMMARY.getBytes(StandardCharsets.UTF_8));
    }

    /**
     * A product-description generator: {@code {"name": …, "category": …}} becomes "Write a product
     * description for {name}, a {category}." The model reads the name whole.
     */
    class Describe extends HttpServlet {
        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            com.fasterxml.jackson.databind.JsonNode body = JSON.readTree(req.getInputStream());
            answer(req, resp, "Write a product description for " + body.path("name").asText() + ", a "
                    + body.path("category").asText() + ".", DOC);
        }
    }

    /**
     * A prompt playground's API: {@code {"system": …, "user": …}}, sent to the model as its system and
     * user messages. The model reads both.
     */
    class Prompt extends HttpServlet {
        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            com.fasterxml.jackson.databind.JsonNode body = JSON.readTree(req.getInputStream());
            answer(req, resp, body.path("system").asText() + "\n\n" + body.path("user").asText(), DOC);
        }
    }

    /**
     * A localisation helper: {@code {"language": …, "strings": {key: text, …}}} goes to the model as
     * "Translate the values of this JSON object into {language}: {strings}", the object serialised whole
     * (keys and values), as such helpers do so the model keeps the keys.
     */
    class Translate extends HttpServlet {
        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            com.fasterxml.jackson.databind.JsonNode body = JSON.readTree(req.getInputStream());
            answer(req, resp, "Translate the values of this JSON object into " + body.path("language").asText() + ": "
                    + JSON.writeValueAsString(body.path("strings")), DOC);
        }
    }

    long charged(String path, String body) {
        String s = subject();
        HttpResponse<String> r = TestHttp.postJson(container.uri(path), s, body);
        assertEquals(200, r.statusCode(), r.body());
        assertEquals(1, calls.of(s), "the model was called once");
        return settled(s).used();
    }

    /**
     * The attack: a client of the description generator sends a 6,360-token document as the product's
     * {@code name}. The model reads it; the estimator skips {@code name} (a label, it assumes), so the call
     * is held and charged the category and the default output budget.
     */
    @Test
    void aDocumentSentAsTheNameIsChargedWhatTheModelReads() {
        long used = charged("/ai/describe", json(java.util.Map.of("name", LONG, "category", "garden chair")));
        assertTrue(used >= LONG_TOKENS, "a prompt the model read " + LONG_TOKENS + " tokens of (sent under \"name\") was charged "
                + used);
    }

    /** Control: the same document as the {@code category} is charged it. */
    @Test
    void controlTheSameDocumentAsTheCategoryIsChargedIt() {
        long used = charged("/ai/describe", json(java.util.Map.of("name", "garden chair", "category", LONG)));
        assertTrue(used >= LONG_TOKENS, "charged " + used);
    }

    /**
     * An honest client of a prompt playground: its 6,360-token user prompt goes under {@code user}, which
     * the estimator skips as OpenAI's end-user id; the call is charged the system prompt and the default
     * budget.
     */
    @Test
    void aUserPromptUnderUserIsChargedWhatTheModelReads() {
        long used = charged("/ai/prompt", json(java.util.Map.of("system", "You are a concise minute-taker.", "user", LONG)));
        assertTrue(used >= LONG_TOKENS, "a user prompt of " + LONG_TOKENS + " tokens (under \"user\") was charged " + used);
    }

    /**
     * The attack on the localisation helper: the document is sent as a key of {@code strings} (its value
     * one word). The model reads the serialised object, keys and all; the estimator counts member names
     * only in tool definitions and provider data, so the document costs nothing.
     */
    @Test
    void aDocumentSentAsAMemberNameIsChargedWhatTheModelReads() {
        long used = charged("/ai/translate", json(java.util.Map.of("language", "French", "strings", java.util.Map.of(LONG, "x"))));
        assertTrue(used >= LONG_TOKENS, "a document of " + LONG_TOKENS + " tokens sent as a member name the model reads was"
                + " charged " + used);
    }

    /** Control: the same document as a value of {@code strings} is charged it. */
    @Test
    void controlTheSameDocumentAsAValueIsChargedIt() {
        long used = charged("/ai/translate", json(java.util.Map.of("language", "French", "strings", java.util.Map.of("minutes", LONG))));
        assertTrue(used >= LONG_TOKENS, "charged " + used);
    }

    // ---- third finding: numbers in an application's own fields cost nothing ----

    /**
     * A day's greenhouse readings, one a minute for 2,000 minutes (18 to 26 °C, four decimals), as
     * Jackson writes the array: {@code o200k_base} counts 10,001 tokens for this text (jtokkit 1.1.0: a
     * reading is five tokens with its comma), {@code DefaultTokenEstimator} the same.
     */
    static String readings() {
        StringBuilder sb = new StringBuilder("[");
        for (int i = 0; i < 2000; i++) {
            if (i > 0) {
                sb.append(',');
            }
            long v = 180000 + (i * 7919L * 31 + (i * i) % 977) % 80000;
            if (v % 10 == 0) {
                v++; // no trailing zero: the readings read back as doubles are written as sent
            }
            sb.append(v / 10000).append('.').append(String.format("%04d", v % 10000));
        }
        return sb.append(']').toString();
    }

    static final long READINGS_TOKENS = 10_001;

    /**
     * A data-analysis endpoint: {@code {"question": …, "readings": [numbers]}} goes to the model as the
     * question and the readings as JSON ("Readings (°C, one a minute): [18.0001,18.5491,…]"), as LLM
     * analytics features pass a series on. The model reads every digit.
     */
    class Analyse extends HttpServlet {
        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            com.fasterxml.jackson.databind.JsonNode body = JSON.readTree(req.getInputStream());
            String series = JSON.writeValueAsString(body.path("readings"));
            answer(req, resp, body.path("question").asText() + "\nReadings (°C, one a minute): " + series, "18.5491");
        }
    }

    /**
     * An honest client (or a hostile one) sends a day of readings as JSON numbers: the model reads 10,001
     * tokens of them, but the estimator counts a number only in the conversation and text fields (one
     * token), so the readings are held and charged nothing; the call costs its question and the default
     * output budget.
     */
    @Test
    void readingsSentAsJsonNumbersAreChargedWhatTheModelReads() {
        String body = "{\"question\":\"Was the greenhouse too hot at any time today? When?\",\"readings\":" + readings() + "}";
        long used = charged("/ai/analyse", body);
        assertTrue(used >= READINGS_TOKENS, "2,000 readings the model read as " + READINGS_TOKENS + " tokens were charged " + used);
    }

    /** Control: the same readings sent as a string of the same field (what the model reads) are charged. */
    @Test
    void controlTheSameReadingsAsAStringAreCharged() {
        String body = "{\"question\":\"Was the greenhouse too hot at any time today? When?\",\"readings\":\"" + readings() + "\"}";
        long used = charged("/ai/analyse", body);
        assertTrue(used >= READINGS_TOKENS, "charged " + used);
    }

    // ---- fourth finding: a text document whose text uses base64's alphabet only is taken for base64 ----

    /** The minutes with every run of spaces and punctuation written as one underscore: a model reads it as they are. */
    static final String JOINED = DOC.replaceAll("[^A-Za-z0-9]+", "_").repeat(30);

    /** What {@code o200k_base} counts for {@link #JOINED} (jtokkit 1.1.0). */
    static final long JOINED_TOKENS = 8_160;

    static String document(String text) {
        return "{\"model\":\"claude-sonnet-4-5\",\"max_tokens\":300,\"messages\":[{\"role\":\"user\",\"content\":["
                + "{\"type\":\"document\",\"source\":{\"type\":\"text\",\"media_type\":\"text/plain\",\"data\":\"" + text + "\"}},"
                + "{\"type\":\"text\",\"text\":\"Summarise these minutes in three sentences.\"}]}]}";
    }

    /**
     * An Anthropic relay that answers its client the model's text alone ({@code text/plain}, as a chat
     * widget's backend does with {@code content[0].text}); the usage stays with the relay. The model reads
     * the plain-text document's {@code source.data} as text.
     */
    class DocumentRelay extends HttpServlet {
        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            com.fasterxml.jackson.databind.JsonNode body = JSON.readTree(req.getInputStream());
            answer(req, resp, body.path("messages").get(0).path("content").get(0).path("source").path("data").asText(),
                    body.toString().contains("Minutes_of_the") ? "Minutes_of_the_steering_committee" : DOC);
        }
    }

    /**
     * The attack: the document's words joined by underscores (8,160 tokens the model reads). Every character
     * is in base64's URL-safe alphabet, so the estimator takes the text for a base64 payload, decodes it,
     * finds no UTF-8 text and counts none of it.
     */
    @Test
    void aTextDocumentInBase64sAlphabetIsChargedWhatTheModelReads() {
        long used = charged("/ai/anthropic/messages", document(JOINED));
        // an estimate, not a count: within the estimator's 10% of what the model reads
        assertTrue(used >= JOINED_TOKENS * 9 / 10, "a text document of " + JOINED_TOKENS + " tokens (words joined by underscores) was"
                + " charged " + used);
    }

    /** Control: the same document with its spaces and punctuation is charged it. */
    @Test
    void controlTheSameDocumentWithSpacesIsChargedIt() {
        long used = charged("/ai/anthropic/messages", document(DOC.repeat(30)));
        assertTrue(used >= LONG_TOKENS, "charged " + used);
    }

    // ---- fifth finding: a prompt in the path is not estimated ----

    /** 7,600 characters of the minutes as a slug (words joined by hyphens): 1,978 tokens under {@code o200k_base}. */
    static final String SLUG = DOC.replaceAll("[^A-Za-z0-9]+", "-").repeat(8).substring(0, 7600);

    static final long SLUG_TOKENS = 1_978;

    /**
     * An "explain this" route with the question in the path ({@code @GetMapping("/ai/explain/{question}")}
     * behind a link such as {@code /ai/explain/what-is-a-bond-ladder}): the model is asked the path's text,
     * and its text is answered as {@code text/plain}. A path or the query string: the app takes either.
     */
    class Explain extends HttpServlet {
        @Override
        protected void doGet(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            String question = req.getPathInfo() != null && req.getPathInfo().length() > 1
                    ? req.getPathInfo().substring(1) : req.getParameter("q");
            answer(req, resp, "Explain: " + question, "Minutes-of-the-steering-committee");
        }
    }

    long chargedGet(String pathAndQuery) {
        String s = subject();
        HttpResponse<String> r = TestHttp.send(TestHttp.requestAs(container.uri(pathAndQuery), s).GET().build());
        assertEquals(200, r.statusCode(), r.body());
        assertEquals(1, calls.of(s), "the model was called once");
        return settled(s).used();
    }

    /**
     * The attack: the question rides in the path, 7,600 characters (under the containers' 8 KB request
     * header limit): 1,978 tokens the model reads. The query string is estimated, the path is not, so the
     * call is charged the fallback estimate alone.
     */
    @Test
    void aQuestionInThePathIsChargedWhatTheModelReads() {
        long used = chargedGet("/ai/explain/" + SLUG);
        assertTrue(used >= SLUG_TOKENS, "a question of " + SLUG_TOKENS + " tokens in the path was charged " + used);
    }

    /** Control: the same question in the query string is charged it. */
    @Test
    void controlTheSameQuestionInTheQueryIsChargedIt() {
        long used = chargedGet("/ai/explain/?q=" + SLUG);
        assertTrue(used >= SLUG_TOKENS, "charged " + used);
    }

    // ---- the first finding on the answer's side: a model's text in Mathematical Bold, counted at a fifth ----

    /** The minutes four times over in Mathematical Bold: 7,572 tokens under {@code o200k_base} (jtokkit 1.1.0), 1,601 by the estimator. */
    static final String BOLD_ANSWER = bold(DOC.repeat(4));

    static final long BOLD_ANSWER_TOKENS = 7_572;

    /**
     * A post writer ({@code call().content()} as {@code text/plain}): the client asks for its post "in bold
     * Unicode letters" and the model writes it so. No usage comes with it, so the filter counts the text
     * written raw, with the estimator.
     */
    class Styled extends HttpServlet {
        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            req.getInputStream().readAllBytes();
            calls.count(req.getHeader("x-user-id"));
            resp.setContentType("text/plain;charset=UTF-8");
            resp.getOutputStream().write(BOLD_ANSWER.getBytes(StandardCharsets.UTF_8));
        }
    }

    /**
     * The answer's side of the first finding: the model writes the minutes in Mathematical Bold, which the
     * provider bills as its output; a call answered with that text and no usage is charged its input and
     * the text as the estimator counts it, a fifth.
     */
    @Test
    void anAnswerInMathematicalBoldIsChargedWhatTheModelWrote() {
        long used = charged("/ai/styled", "{\"model\":\"gpt-4o-mini\",\"messages\":[{\"role\":\"user\",\"content\":"
                + "\"Write up the steering committee minutes for our LinkedIn page, in bold Unicode letters.\"}]}");
        assertTrue(used >= BOLD_ANSWER_TOKENS, "an answer the model wrote as " + BOLD_ANSWER_TOKENS + " o200k tokens was charged "
                + used);
    }
}
