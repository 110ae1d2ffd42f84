package io.tokenquota.servlet.breakit191;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.tokenquota.servlet.QuotaFilter;
import io.tokenquota.servlet.testing.ChatCompletions;
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
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import org.junit.jupiter.api.Test;

/**
 * Round 191 of issue 11: text the model reads that the estimate still prices far below o200k_base, after
 * the per-block rates, punctuation runs and label rules of the last commits. Every call below is answered
 * as a Spring AI {@code call().content()} endpoint answers ({@code text/plain}, no usage), so the filter
 * charges its estimate: what the estimate leaves out of what the model read goes unpaid. All token
 * figures are {@code o200k_base} counts (jtokkit 1.1.0, {@code countTokensOrdinary}) of the exact text
 * the model is sent.
 *
 * <ol>
 *   <li>A run of one repeated punctuation mark is charged as "one token" ({@code 1 + 0.02} a mark past
 *       the first) whatever the mark: o200k_base has long merges for {@code =}, {@code -}, {@code *},
 *       {@code .}, but reads most other marks one to a few at a time and non-ASCII ones ({@code ¶ § « » €
 *       ° ×}) a token each.</li>
 *   <li>A run of Unicode spaces (em space U+2003, NBSP, ideographic space, U+205F) is charged as ASCII
 *       spaces are, one token per 128; o200k_base reads an em space as a token, U+205F as two.</li>
 *   <li>Control characters the new rule ("a token per UTF-8 byte") leaves out: vertical tab and form
 *       feed (C0) are priced as spaces, a token per 128, and NEL (U+0085, C1) as a line break, a token
 *       per 16; o200k_base reads a form feed as a token and a NEL as two.</li>
 *   <li>"Bubble" letters (Enclosed Alphanumerics, ⓐⓑⓒ), the other style font generators offer beside
 *       the mathematical bold and italic letters the last commit priced, cost a token each as symbols,
 *       about half what o200k_base spends on them.</li>
 *   <li>A document under a label field ({@code name}) whose words are joined by no-break spaces: the new
 *       rule counts a label as text only when it has a blank by {@link Character#isWhitespace}, which a
 *       no-break space is not.</li>
 *   <li>A document split into label-sized pieces (each 64 characters or less) under {@code name} of the
 *       items of a list, as a catalogue or a product feed sends it: none of it counts. The same with
 *       member names: an i18next-style file whose keys are the English strings themselves ("natural
 *       keys", each under 64 characters) and whose values are empty until translated.</li>
 *   <li>An Anthropic text document ({@code "source": {"type": "text"}}) whose text is base64 (a prompt
 *       encoded to get past filters, "decode this and follow it"): the model reads the base64
 *       characters, the estimate counts only what they decode to.</li>
 *   <li>Polish prose (Latin letters priced by the English tables) and polytonic Greek (Greek Extended
 *       letters priced as modern Greek's): half what o200k_base spends.</li>
 *   <li>The figure learnt at a model's default effort is kept by the model the body names; an
 *       application that pins its models server-side (the body names none) has one figure for all its
 *       endpoints, so a reasoning endpoint's figure is held, and charged, on a quick-answer endpoint of
 *       a model that does not reason.</li>
 *   <li>The numbers of a query embedding the client sends beside its question (the endpoint searches
 *       with it; the model never reads it) are charged as digits: 15,802 for a call of about a
 *       thousand, and a 3,072-number vector is refused (429) on a fresh allowance.</li>
 * </ol>
 */
abstract class AbstractRound191 extends H2FilterRound {
    final ModelCalls calls = new ModelCalls();

    static final ObjectMapper JSON = new ObjectMapper();

    static final String DOC = "Minutes of the steering committee, 14 March. Present: the chair, the treasurer, two members of staff and"
            + " the auditor. The treasurer reported that income for the first quarter was 412,000 against a budget of 390,000, mostly"
            + " from the new training courses, while costs ran eight percent over plan because of the office move. The auditor asked"
            + " that the move be shown as a one-off item in the annual accounts. The chair proposed to freeze hiring until June, to"
            + " review the supplier contracts for cleaning, catering and printing, and to ask three firms for quotes on the new phone"
            + " system. Staff raised the late payment of travel claims; the treasurer agreed to pay them within ten working days from"
            + " April. The committee approved the spring newsletter, asked for a shorter version for members abroad, and set the next"
            + " meeting for 11 April at the new office. Actions: treasurer to circulate revised forecast; chair to write to suppliers;"
            + " staff to draft the travel policy; auditor to confirm the treatment of the move costs before the April meeting.";

    static final String QUESTION = "\nSummarise these minutes in three sentences.";

    static final String SUMMARY = "Q1 income beat budget while costs ran over because of the office move. Hiring is frozen"
            + " until June and supplier contracts are under review. Travel claims will be paid within ten days from April.";

    /** The minutes, then 12,000 pilcrows in one run: 12,222 o200k_base tokens; the estimator gives it 462. */
    static final String PILCROWS = DOC + "\n" + "\u00b6".repeat(12_000) + QUESTION;

    static final long PILCROWS_TOKENS = 12_222;

    /** The minutes, then 12,000 em spaces (U+2003) in one run: 12,222 o200k_base tokens; the estimator gives it 222. */
    static final String EM_SPACES = DOC + "\n" + "\u2003".repeat(12_000) + QUESTION;

    static final long EM_SPACES_TOKENS = 12_222;

    /** The minutes three times over in circled letters (ⓜⓘⓝⓤⓣⓔⓢ), as a "bubble text" generator writes them. */
    static final String BUBBLES = circled(DOC.repeat(3)) + QUESTION;

    static final long BUBBLES_TOKENS = 5_547;

    static String circled(String s) {
        StringBuilder sb = new StringBuilder();
        for (char c : s.toCharArray()) {
            if (c >= 'a' && c <= 'z') {
                sb.appendCodePoint(0x24D0 + c - 'a');
            } else if (c >= 'A' && c <= 'Z') {
                sb.appendCodePoint(0x24B6 + c - 'A');
            } else {
                sb.append(c);
            }
        }
        return sb.toString();
    }

    /** The minutes fifteen times over, each space a no-break space (U+00A0), as a word processor or a web page keeps them. */
    static final String NBSP_DOC = DOC.repeat(15).replace(' ', '\u00a0');

    static final long NBSP_DOC_TOKENS = 6_000;

    /** The same document with ASCII spaces: 3,180 tokens, which the new rule counts under {@code name}. */
    static final String PLAIN_DOC = DOC.repeat(15);

    static final long PLAIN_DOC_TOKENS = 3_180;

    /** The minutes twenty times over cut at word boundaries into pieces of at most 64 characters. */
    static final List<String> PIECES = pieces(DOC.repeat(20), 64);

    /** What the model reads of the pieces, one a line: 4,580 o200k_base tokens. */
    static final long PIECES_TOKENS = 4_580;

    static List<String> pieces(String text, int max) {
        List<String> out = new ArrayList<>();
        StringBuilder cur = new StringBuilder();
        for (String w : text.split(" ")) {
            if (cur.length() + 1 + w.length() > max) {
                out.add(cur.toString());
                cur.setLength(0);
            }
            if (cur.length() > 0) {
                cur.append(' ');
            }
            cur.append(w);
        }
        out.add(cur.toString());
        return out;
    }

    static String json(Object value) {
        try {
            return JSON.writeValueAsString(value);
        } catch (JsonProcessingException e) {
            throw new IllegalStateException(e);
        }
    }

    static String chat(String prompt) {
        return json(Map.of("model", "gpt-4o-mini", "messages", List.of(Map.of("role", "user", "content", prompt))));
    }

    static String subject() {
        return "u191-" + UUID.randomUUID().toString().substring(0, 12);
    }

    @Override
    protected Deployment deploy(QuotaFilter filter) {
        return Deployment.create()
                .filter("quota", filter, "/*")
                .servlet("chat", new Chat(), "/ai/chat")
                .servlet("full", new Full(), "/ai/v1/chat/completions")
                .servlet("describe", new Describe(), "/ai/describe")
                .servlet("catalogue", new Catalogue(), "/ai/catalogue")
                .servlet("document", new DocumentRelay(), "/ai/anthropic/messages")
                .servlet("translate", new Translate(), "/ai/translate")
                .servlet("think", new Think(), "/ai/think")
                .servlet("rag", new Rag(), "/ai/rag")
                .servlet("ask", new Ask(), "/ai/ask")
                .onStartup(filter::registerByServletName);
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

    /** A chat endpoint: the user's message goes to the model, its text comes back as {@code text/plain}. */
    class Chat extends HttpServlet {
        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            JsonNode body = JSON.readTree(req.getInputStream());
            String prompt = body.path("messages").get(0).path("content").asText();
            // the model is sent one of the prompts below, whole
            answer(req, resp, List.of(PILCROWS, EM_SPACES, BUBBLES, POLISH, GREEK, FORM_FEEDS, NEXT_LINES).contains(prompt) ? prompt : "", prompt);
        }
    }

    /** Control: an OpenAI relay passing the provider's answer on with its usage (the prompt's o200k count). */
    class Full extends HttpServlet {
        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            JsonNode body = JSON.readTree(req.getInputStream());
            String prompt = body.path("messages").get(0).path("content").asText();
            long tokens = prompt.equals(PILCROWS) ? PILCROWS_TOKENS : prompt.equals(EM_SPACES) ? EM_SPACES_TOKENS
                    : prompt.equals(BUBBLES) ? BUBBLES_TOKENS : prompt.equals(FORM_FEEDS) ? FORM_FEEDS_TOKENS : 10;
            calls.count(req.getHeader("x-user-id"));
            ChatCompletions.writeWithLength(resp, ChatCompletions
                    .completion("chatcmpl-191", "gpt-4o-mini", SUMMARY, tokens, 45).getBytes(StandardCharsets.UTF_8));
        }
    }

    /** A product-description generator: "Write a product description for {name}, a {category}." */
    class Describe extends HttpServlet {
        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            JsonNode body = JSON.readTree(req.getInputStream());
            answer(req, resp, "Write a product description for " + body.path("name").asText() + ", a "
                    + body.path("category").asText() + ".", "steering");
        }
    }

    /**
     * A catalogue writer: {@code {"products": [{"name": …, "sku": …}, …]}} becomes "Write a catalogue
     * introduction for these products:" and the names, one a line, as a shop's feed sends them.
     */
    class Catalogue extends HttpServlet {
        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            JsonNode body = JSON.readTree(req.getInputStream());
            StringBuilder prompt = new StringBuilder("Write a catalogue introduction for these products:");
            for (JsonNode p : body.path("products")) {
                prompt.append('\n').append(p.path("name").asText());
            }
            answer(req, resp, prompt.toString(), "steering");
        }
    }

    long charged(String path, String body) {
        String s = subject();
        HttpResponse<String> r = TestHttp.postJson(container.uri(path), s, body);
        assertEquals(200, r.statusCode(), r.body());
        assertEquals(1, calls.of(s), "the model was called once");
        return settled(s).used();
    }

    // ---- 1. a run of one repeated mark ----

    /**
     * A hostile client pads its prompt with one run of 12,000 pilcrows (24 KB): the model reads 12,222
     * tokens, billed by the provider; the estimate prices the run as a "repeated mark", one token and a
     * fiftieth per mark, and the call is charged that.
     */
    @Test
    void aRunOfOneRepeatedMarkIsChargedWhatTheModelReads() {
        long used = charged("/ai/chat", chat(PILCROWS));
        assertTrue(used >= PILCROWS_TOKENS, "a prompt of " + PILCROWS_TOKENS + " o200k tokens (the minutes and a run of 12,000"
                + " pilcrows) was charged " + used);
    }

    /** Control: the same prompt answered with the provider's usage is charged it. */
    @Test
    void controlThePilcrowPromptWithItsUsageIsChargedIt() {
        long used = charged("/ai/v1/chat/completions", chat(PILCROWS));
        assertTrue(used >= PILCROWS_TOKENS, "charged " + used);
    }

    // ---- 2. a run of Unicode spaces ----

    /**
     * A hostile client pads its prompt with 12,000 em spaces (U+2003, 36 KB, blank to the eye): the model
     * reads 12,222 tokens; the estimate prices them as ASCII spaces, a token per 128.
     */
    @Test
    void aRunOfEmSpacesIsChargedWhatTheModelReads() {
        long used = charged("/ai/chat", chat(EM_SPACES));
        assertTrue(used >= EM_SPACES_TOKENS, "a prompt of " + EM_SPACES_TOKENS + " o200k tokens (the minutes and 12,000 em"
                + " spaces) was charged " + used);
    }

    /** Control: the same prompt answered with the provider's usage is charged it. */
    @Test
    void controlTheEmSpacePromptWithItsUsageIsChargedIt() {
        long used = charged("/ai/v1/chat/completions", chat(EM_SPACES));
        assertTrue(used >= EM_SPACES_TOKENS, "charged " + used);
    }

    // ---- 3. "bubble" letters ----

    /**
     * The minutes in circled letters (U+24B6-24E9), as "bubble text" generators write social posts: the
     * model reads them as English, 5,547 tokens; the estimator prices each as a symbol, a token.
     */
    @Test
    void aPromptInBubbleLettersIsChargedWhatTheModelReads() {
        long used = charged("/ai/chat", chat(BUBBLES));
        // an estimate, not a count: within the estimator's 10% of what the model reads
        assertTrue(used >= BUBBLES_TOKENS * 9 / 10, "a prompt of " + BUBBLES_TOKENS + " o200k tokens in circled letters was"
                + " charged " + used);
    }

    /** Control: the same prompt answered with the provider's usage is charged it. */
    @Test
    void controlTheBubblePromptWithItsUsageIsChargedIt() {
        long used = charged("/ai/v1/chat/completions", chat(BUBBLES));
        assertTrue(used >= BUBBLES_TOKENS, "charged " + used);
    }

    // ---- 4. a label written with no-break spaces ----

    /**
     * The attack round 188's rule was meant to stop: a document sent as the product's {@code name}, its
     * words joined by no-break spaces (as text pasted from a word processor or a web page often is). The
     * model reads 6,000 tokens; {@code Character.isWhitespace} says U+00A0 is no blank, so the value is a
     * label and counts nothing.
     */
    @Test
    void aDocumentWithNoBreakSpacesSentAsTheNameIsChargedWhatTheModelReads() {
        long used = charged("/ai/describe", json(Map.of("name", NBSP_DOC, "category", "garden chair")));
        assertTrue(used >= NBSP_DOC_TOKENS * 9 / 10, "a document of " + NBSP_DOC_TOKENS + " o200k tokens under \"name\","
                + " written with no-break spaces, was charged " + used);
    }

    /** Control: the same document with ASCII spaces under {@code name} is charged it (the new rule). */
    @Test
    void controlTheSameDocumentWithSpacesAsTheNameIsChargedIt() {
        long used = charged("/ai/describe", json(Map.of("name", PLAIN_DOC, "category", "garden chair")));
        assertTrue(used >= PLAIN_DOC_TOKENS, "charged " + used);
    }

    // ---- 5. label-sized pieces ----

    static String products() {
        List<Map<String, String>> items = new ArrayList<>();
        int k = 0;
        for (String piece : PIECES) {
            items.add(Map.of("name", piece, "sku", "SKU-" + (10_000 + k++)));
        }
        return json(Map.of("products", items));
    }

    /**
     * A catalogue client sends 340 products, each a name of at most 64 characters (as shop feeds have
     * them; here the minutes cut into such pieces): the model reads 4,580 tokens of names; each is a
     * label to the estimator, and none counts.
     */
    @Test
    void productNamesOfLabelLengthAreChargedWhatTheModelReads() {
        long used = charged("/ai/catalogue", products());
        assertTrue(used >= PIECES_TOKENS, "340 product names the model read as " + PIECES_TOKENS + " o200k tokens were charged "
                + used);
    }

    // ---- 6. an Anthropic text document whose text is base64 ----

    /** The minutes ten times over, base64-encoded: 13,856 characters the model reads as 9,062 o200k_base tokens. */
    static final String B64 = java.util.Base64.getEncoder().encodeToString(DOC.repeat(10).getBytes(StandardCharsets.UTF_8));

    static final long B64_TOKENS = 9_062;

    /** What {@code DefaultTokenEstimator} itself gives {@link #B64} read as written (the rule of round 188's fix). */
    static final long B64_ESTIMATE = 6_198;

    static String document(String data) {
        return json(Map.of("model", "claude-sonnet-4-5", "max_tokens", 300, "messages", List.of(Map.of("role", "user",
                "content", List.of(
                        Map.of("type", "document", "source", Map.of("type", "text", "media_type", "text/plain", "data", data)),
                        Map.of("type", "text", "text", "Decode this document and do what it says."))))));
    }

    /**
     * An Anthropic relay answering its client the model's text alone ({@code text/plain}); the model reads
     * the text document's {@code source.data} as it is written.
     */
    class DocumentRelay extends HttpServlet {
        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            JsonNode body = JSON.readTree(req.getInputStream());
            JsonNode first = body.path("messages").get(0).path("content").get(0);
            answer(req, resp, first.has("source") ? first.path("source").path("data").asText() : first.path("text").asText(),
                    B64.substring(0, 40));
        }
    }

    /**
     * The attack: the prompt goes base64-encoded as a plain-text document (Claude reads base64 and decodes
     * it, a known way past keyword filters). The model reads 9,062 tokens of base64; the request estimator
     * takes the value for a base64 payload, finds it decodes to text, and counts that text (about 2,100)
     * instead of what is written, which the documented rule says counts.
     */
    @Test
    void aTextDocumentWrittenInBase64IsChargedAsWritten() {
        long used = charged("/ai/anthropic/messages", document(B64));
        assertTrue(used >= B64_ESTIMATE, "a text document of " + B64_TOKENS + " o200k tokens (estimated " + B64_ESTIMATE
                + " as written) was charged " + used);
    }

    /** Control: the same characters as the message's text block are charged as written. */
    @Test
    void controlTheSameBase64AsATextBlockIsChargedAsWritten() {
        String body = json(Map.of("model", "claude-sonnet-4-5", "max_tokens", 300, "messages", List.of(Map.of("role", "user",
                "content", List.of(Map.of("type", "text", "text", B64))))));
        String s = subject();
        long used = charged("/ai/anthropic/messages", body);
        assertTrue(used >= B64_ESTIMATE, "charged " + used);
    }

    // ---- 7. Polish prose ----

    static final String PL = "Sprawozdanie z posiedzenia zarządu stowarzyszenia, czternastego marca. Obecni byli przewodniczący, skarbnik,"
            + " dwóch pracowników biura oraz biegły rewident. Skarbnik poinformował, że przychody w pierwszym kwartale wyniosły"
            + " czterysta dwanaście tysięcy złotych wobec zaplanowanych trzystu dziewięćdziesięciu tysięcy, głównie dzięki nowym"
            + " szkoleniom, natomiast koszty przekroczyły plan o osiem procent z powodu przeprowadzki biura. Rewident poprosił, aby"
            + " przeprowadzkę wykazać w rocznym sprawozdaniu finansowym jako zdarzenie jednorazowe. Przewodniczący zaproponował"
            + " wstrzymanie zatrudniania do czerwca, przegląd umów z dostawcami usług sprzątania, cateringu i druku oraz zebranie"
            + " ofert od trzech firm na nowy system telefoniczny. Pracownicy zwrócili uwagę na opóźnienia w zwrocie kosztów"
            + " podróży; skarbnik zobowiązał się wypłacać je w ciągu dziesięciu dni roboczych od kwietnia. Zarząd zatwierdził"
            + " wiosenny biuletyn, poprosił o krótszą wersję dla członków mieszkających za granicą i wyznaczył następne posiedzenie"
            + " na jedenastego kwietnia w nowym biurze. Zadania: skarbnik przygotuje zaktualizowaną prognozę, przewodniczący"
            + " napisze do dostawców, pracownicy opracują zasady rozliczania podróży, a rewident potwierdzi sposób ujęcia kosztów"
            + " przeprowadzki przed kwietniowym posiedzeniem.";

    /** The Polish minutes fifteen times over (a quarter's minutes) and the request: 6,135 o200k_base tokens, estimated 3,052. */
    static final String POLISH = PL.repeat(15) + "\nStreść ten protokół w trzech zdaniach.";

    static final long POLISH_TOKENS = 6_135;

    /**
     * An honest Polish user of the chat endpoint sends a quarter's minutes to summarise: the model reads
     * 6,135 tokens, the estimate prices the Polish words as English ones and charges about half.
     */
    @Test
    void polishProseIsChargedWhatTheModelReads() {
        long used = charged("/ai/chat", chat(POLISH));
        assertTrue(used >= POLISH_TOKENS, "a Polish prompt of " + POLISH_TOKENS + " o200k tokens was charged " + used);
    }

    // ---- 8. polytonic Greek ----

    static final String GRC = "Μῆνιν ἄειδε θεὰ Πηληϊάδεω Ἀχιλῆος οὐλομένην, ἣ μυρί᾽ Ἀχαιοῖς ἄλγε᾽ ἔθηκε, πολλὰς δ᾽ ἰφθίμους ψυχὰς"
            + " Ἄϊδι προΐαψεν ἡρώων, αὐτοὺς δὲ ἑλώρια τεῦχε κύνεσσιν οἰωνοῖσί τε πᾶσι· Διὸς δ᾽ ἐτελείετο βουλή, ἐξ οὗ δὴ τὰ"
            + " πρῶτα διαστήτην ἐρίσαντε Ἀτρεΐδης τε ἄναξ ἀνδρῶν καὶ δῖος Ἀχιλλεύς. Ἐν ἀρχῇ ἦν ὁ λόγος, καὶ ὁ λόγος ἦν πρὸς"
            + " τὸν θεόν, καὶ θεὸς ἦν ὁ λόγος. Πάτερ ἡμῶν ὁ ἐν τοῖς οὐρανοῖς· ἁγιασθήτω τὸ ὄνομά σου· ἐλθέτω ἡ βασιλεία"
            + " σου· γενηθήτω τὸ θέλημά σου, ὡς ἐν οὐρανῷ καὶ ἐπὶ τῆς γῆς· τὸν ἄρτον ἡμῶν τὸν ἐπιούσιον δὸς ἡμῖν σήμερον·"
            + " καὶ ἄφες ἡμῖν τὰ ὀφειλήματα ἡμῶν, ὡς καὶ ἡμεῖς ἀφίεμεν τοῖς ὀφειλέταις ἡμῶν· καὶ μὴ εἰσενέγκῃς ἡμᾶς εἰς"
            + " πειρασμόν, ἀλλὰ ῥῦσαι ἡμᾶς ἀπὸ τοῦ πονηροῦ.";

    /** The passages twelve times over and the request: 6,235 o200k_base tokens, estimated 2,856. */
    static final String GREEK = GRC.repeat(12) + "\nTranslate and comment on these passages.";

    static final long GREEK_TOKENS = 6_235;

    /**
     * A classics student pastes Homer and the New Testament in polytonic Greek: the model reads 6,235
     * tokens; the estimate prices Greek Extended letters at modern Greek's rate and charges under half.
     */
    @Test
    void polytonicGreekIsChargedWhatTheModelReads() {
        long used = charged("/ai/chat", chat(GREEK));
        assertTrue(used >= GREEK_TOKENS, "a polytonic Greek prompt of " + GREEK_TOKENS + " o200k tokens was charged " + used);
    }

    // ---- 9. the default-effort reasoning figure crosses to another endpoint's model ----

    static final long THINK_INPUT = 61;
    static final long THINK_REASONING = 6_000;
    static final long THINK_ANSWER = 240;

    /**
     * A "solve it step by step" endpoint of a Spring app whose {@code ChatClient} is pinned to o4-mini
     * ({@code {"question": …}}, no model in the body, no budget, no effort): it answers the provider's
     * chat completion as JSON, with its usage (6,000 reasoning tokens).
     */
    class Think extends HttpServlet {
        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            JSON.readTree(req.getInputStream());
            calls.count(req.getHeader("x-user-id"));
            long output = THINK_REASONING + THINK_ANSWER;
            String body = "{\"id\":\"chatcmpl-191t\",\"object\":\"chat.completion\",\"created\":1700000000,\"model\":\"o4-mini\","
                    + "\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\",\"content\":\"503 minutes.\"},"
                    + "\"finish_reason\":\"stop\"}],\"usage\":{\"prompt_tokens\":" + THINK_INPUT + ",\"completion_tokens\":" + output
                    + ",\"total_tokens\":" + (THINK_INPUT + output) + ",\"completion_tokens_details\":{\"reasoning_tokens\":"
                    + THINK_REASONING + "}}}";
            ChatCompletions.writeWithLength(resp, body.getBytes(StandardCharsets.UTF_8));
        }
    }

    /**
     * The same app's quick-answer endpoint, pinned to gpt-4o-mini (a model that does not reason):
     * {@code {"question": …}} in, the model's text out as {@code text/plain}.
     */
    class Ask extends HttpServlet {
        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            JSON.readTree(req.getInputStream());
            calls.count(req.getHeader("x-user-id"));
            resp.setContentType("text/plain;charset=UTF-8");
            resp.getOutputStream().write("Paris.".getBytes(StandardCharsets.UTF_8));
        }
    }

    static final String ASK = "{\"question\":\"What is the capital of France?\"}";

    /**
     * An honest user solves one puzzle on the reasoning endpoint (read whole, usage 6,240 output of which
     * 6,000 reasoning), then asks the quick-answer endpoint a one-line question. That call's model
     * (gpt-4o-mini) reasons nothing and writes one word; it must cost what the same question costs a
     * user who never used the reasoning endpoint, not the other model's reasoning.
     */
    @Test
    void aQuickQuestionAfterAReasoningCallIsNotChargedTheOtherModelsReasoning() {
        String fresh = subject();
        HttpResponse<String> r0 = TestHttp.postJson(container.uri("/ai/ask"), fresh, ASK);
        assertEquals(200, r0.statusCode(), r0.body());
        long baseline = settled(fresh).used();

        String s = subject();
        HttpResponse<String> r1 = TestHttp.postJson(container.uri("/ai/think"), s,
                "{\"question\":\"A warehouse has 17 robots. How long do they need to move 2,000 boxes?\"}");
        assertEquals(200, r1.statusCode(), r1.body());
        long afterThink = settled(s).used();
        assertEquals(THINK_INPUT + THINK_REASONING + THINK_ANSWER, afterThink, "the reasoning call is charged its usage");
        HttpResponse<String> r2 = TestHttp.postJson(container.uri("/ai/ask"), s, ASK);
        assertEquals(200, r2.statusCode(), r2.body());
        assertEquals(2, calls.of(s));
        long ask = settled(s).used() - afterThink;
        assertTrue(ask <= baseline, "a one-line question to gpt-4o-mini (" + baseline + " for a user who never reasoned) was"
                + " charged " + ask + " after a reasoning call on another endpoint: " + ledger(s));
    }

    // ---- 5b. natural keys of label length ----

    /** The pieces, numbered so that each is a distinct key, each at most 64 characters. */
    static final Map<String, String> NATURAL_KEYS = naturalKeys();

    static Map<String, String> naturalKeys() {
        Map<String, String> keys = new java.util.LinkedHashMap<>();
        int k = 0;
        for (String piece : pieces(DOC.repeat(20), 58)) {
            keys.put(piece + " #" + k++, "");
        }
        return keys;
    }

    /** What the model reads of the serialised object (keys, empty values): o200k_base tokens (jtokkit 1.1.0). */
    static final long NATURAL_KEYS_TOKENS = 5_406;

    /**
     * A localisation helper: {@code {"language": …, "strings": {…}}} goes to the model as "Fill in the
     * values of this JSON object with the keys translated into {language}:" and the object serialised
     * whole, as i18next users with natural keys (the English text is the key) do.
     */
    class Translate extends HttpServlet {
        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            JsonNode body = JSON.readTree(req.getInputStream());
            answer(req, resp, "Fill in the values of this JSON object with the keys translated into " + body.path("language").asText()
                    + ": " + JSON.writeValueAsString(body.path("strings")), "steering");
        }
    }

    /**
     * A client sends a translation file of 371 natural keys (each under 64 characters), values empty: the
     * model reads every key; the new rule counts a member name only past 64 characters, so none counts.
     */
    @Test
    void naturalKeysOfLabelLengthAreChargedWhatTheModelReads() {
        long used = charged("/ai/translate", json(Map.of("language", "French", "strings", NATURAL_KEYS)));
        assertTrue(used >= NATURAL_KEYS_TOKENS, NATURAL_KEYS.size() + " keys the model read as " + NATURAL_KEYS_TOKENS
                + " o200k tokens were charged " + used);
    }

    // ---- 10. control characters priced as spaces and line breaks ----

    /** The minutes, then 12,000 form feeds (U+000C): 12,222 o200k_base tokens. */
    static final String FORM_FEEDS = DOC + "\n" + "\f".repeat(12_000) + QUESTION;

    static final long FORM_FEEDS_TOKENS = 12_222;

    /** The minutes, then 6,000 NEL characters (U+0085, a C1 control): 12,222 o200k_base tokens. */
    static final String NEXT_LINES = DOC + "\n" + "\u0085".repeat(6_000) + QUESTION;

    static final long NEXT_LINES_TOKENS = 12_222;

    /**
     * A hostile client pads its prompt with 12,000 form feeds (a C0 control character; the new rule
     * charges control characters a token a byte, but the scanner takes VT and FF for spaces): the model
     * reads 12,222 tokens.
     */
    @Test
    void aRunOfFormFeedsIsChargedWhatTheModelReads() {
        long used = charged("/ai/chat", chat(FORM_FEEDS));
        assertTrue(used >= FORM_FEEDS_TOKENS, "a prompt of " + FORM_FEEDS_TOKENS + " o200k tokens (the minutes and 12,000 form"
                + " feeds) was charged " + used);
    }

    /** The same with 6,000 NEL characters (C1, which the rule prices at two tokens; the scanner as a line break). */
    @Test
    void aRunOfNextLineControlsIsChargedWhatTheModelReads() {
        long used = charged("/ai/chat", chat(NEXT_LINES));
        assertTrue(used >= NEXT_LINES_TOKENS, "a prompt of " + NEXT_LINES_TOKENS + " o200k tokens (the minutes and 6,000 NEL"
                + " characters) was charged " + used);
    }

    /** Control: the form-feed prompt answered with the provider's usage is charged it. */
    @Test
    void controlTheFormFeedPromptWithItsUsageIsChargedIt() {
        long used = charged("/ai/v1/chat/completions", chat(FORM_FEEDS));
        assertTrue(used >= FORM_FEEDS_TOKENS, "charged " + used);
    }

    // ---- 11. a query embedding the model never reads, charged as digits ----

    /**
     * A query embedding as OpenAI's {@code text-embedding-3-small} returns it and a JavaScript client
     * writes it back ({@code JSON.stringify}: up to 17 significant digits): 1,536 numbers.
     */
    static String embedding(int dimensions) {
        java.util.Random random = new java.util.Random(191);
        StringBuilder sb = new StringBuilder("[");
        for (int i = 0; i < dimensions; i++) {
            if (i > 0) {
                sb.append(',');
            }
            sb.append((float) (random.nextGaussian() * 0.025) * 1.0d); // a float32 widened to double, as JS prints it
        }
        return sb.append(']').toString();
    }

    /**
     * A RAG endpoint ({@code {"question": …, "embedding": [...]}}): the client sends the question and its
     * embedding (computed once and cached on the client); the endpoint finds the nearest passages with the
     * vector and asks the model the question with those passages, answering the model's text as
     * {@code text/plain}. The vector never reaches the model.
     */
    class Rag extends HttpServlet {
        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            JsonNode body = JSON.readTree(req.getInputStream());
            if (body.path("embedding").size() < 1000) {
                resp.sendError(400);
                return;
            }
            answer(req, resp, "Context: the committee meets monthly.\nQuestion: " + body.path("question").asText(), "Question");
        }
    }

    static String rag(int dimensions) {
        return "{\"question\":\"When does the committee meet next?\"" + (dimensions > 0 ? ",\"embedding\":" + embedding(dimensions) : "")
                + "}";
    }

    /** What the same question costs a new subject at the quick-answer endpoint, without a vector. */
    long ragBaseline() {
        String s = subject();
        HttpResponse<String> r = TestHttp.postJson(container.uri("/ai/ask"), s, rag(0));
        assertEquals(200, r.statusCode(), r.body());
        return settled(s).used();
    }

    /**
     * The call reads about 20 tokens and writes 30: it must cost what the same question costs without its
     * vector (the estimate of a question, with the default output budget), not the vector's digits.
     */
    @Test
    void aQueryEmbeddingTheModelNeverReadsIsNotChargedAsText() {
        long baseline = ragBaseline();
        String s = subject();
        HttpResponse<String> r = TestHttp.postJson(container.uri("/ai/rag"), s, rag(1536));
        assertEquals(200, r.statusCode(), r.body());
        assertEquals(1, calls.of(s));
        long used = settled(s).used();
        assertTrue(used <= baseline + 100, "a RAG question (" + baseline + " without its vector) sent with its 1,536-number query"
                + " embedding, which the model never reads, was charged " + used + ": " + ledger(s));
    }

    /**
     * With {@code text-embedding-3-large}'s 3,072 numbers the hold passes a fresh subject's whole 20,000
     * allowance: the question is refused although it would cost about a thousand.
     */
    @Test
    void aQueryEmbeddingOfTheLargeModelIsNotRefused() {
        String s = subject();
        HttpResponse<String> r = TestHttp.postJson(container.uri("/ai/rag"), s, rag(3072));
        assertEquals(200, r.statusCode(), "a fresh subject's RAG question with a 3,072-number query embedding: " + r.statusCode()
                + " " + r.body() + " " + ledger(s));
    }
}
