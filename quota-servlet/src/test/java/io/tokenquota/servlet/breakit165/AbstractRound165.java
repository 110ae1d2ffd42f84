package io.tokenquota.servlet.breakit165;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.tokenquota.servlet.QuotaFilter;
import io.tokenquota.servlet.testing.Deployment;
import io.tokenquota.servlet.testing.StoryRound;
import io.tokenquota.servlet.testing.Prose;
import io.tokenquota.servlet.testing.TestHttp;
import jakarta.servlet.ServletOutputStream;
import jakarta.servlet.http.HttpServlet;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.util.zip.GZIPOutputStream;
import org.junit.jupiter.api.Disabled;
import org.junit.jupiter.api.Test;

/**
 * Round 165 of issue 11 ("no model call goes unpaid, nothing that never reached a model is charged"):
 * a model's text written raw, without usage, as Spring MVC and JAX-RS handlers write it. The filter
 * counts the text of an answer written raw (any label a {@code String} may get, JSON that is no
 * provider's) and the data of events that are no JSON document, on a call (not on a GET, which may read
 * stored text back). The model's text can itself look like JSON (a model asked to
 * answer in JSON), a framework labels a {@code String} with whatever type the client's {@code Accept}
 * names, a request can name a budget or ask for an echo the endpoint never passes on, and an event can
 * carry the whole answer at once; and a GET that reads stored text back never called a model.
 */
abstract class AbstractRound165 extends StoryRound {
    /** The same story as a model asked to answer in JSON writes it (Spring AI's call().content()). */
    static final String JSON_STORY = "{\n  \"title\": \"The shipping company\",\n  \"story\": \"" + STORY + "\"\n}";
    /** A markdown answer that starts with a link, as models often do. */
    static final String MARKDOWN_STORY = "[Read the full story online](https://example.com/story)\n\n" + STORY;
    /** About 8,000 characters of Chinese prose. */
    static final String CHINESE = chinese(8_000);
    /** A model asked to count: "1, 2, 3, ..., 3000". */
    static final String COUNTING = counting(3_000);

    static String chinese(int chars) {
        String pool = "航运公司的委员会审查了季度业绩并指出北方地区的收入增长而物流运输和仓储的成本因冬季燃料价格上涨而急剧上升所以管理层提出与区域承运人签订新合同";
        StringBuilder sb = new StringBuilder(chars);
        long x = 165;
        while (sb.length() < chars) {
            x = x * 6364136223846793005L + 1442695040888963407L;
            sb.append(pool.charAt((int) ((x >>> 33) % pool.length())));
            if (sb.length() % 23 == 0) {
                sb.append('。');
            }
        }
        return sb.toString();
    }

    static String counting(int n) {
        StringBuilder sb = new StringBuilder();
        for (int i = 1; i <= n; i++) {
            sb.append(i == 1 ? "1" : ", " + i);
        }
        return sb.toString();
    }

    @Override
    protected Deployment deploy(QuotaFilter quota) {
        return filteredByServletName(quota)
                .servlet("plain-json", new Fixed("text/plain;charset=UTF-8", JSON_STORY, true), "/ai/plain-json")
                .servlet("json-string", new Fixed("application/json", JSON_STORY, true), "/ai/json-string")
                .servlet("markdown-link", new Fixed("text/markdown;charset=UTF-8", MARKDOWN_STORY, true), "/ai/markdown")
                .servlet("as-accepted", new AsAccepted(), "/ai/generate")
                .servlet("plain", new Fixed("text/plain;charset=UTF-8", STORY, true), "/ai/plain")
                .servlet("plain-utf16", new Fixed("text/plain;charset=UTF-16", STORY, true), "/ai/plain-utf16")
                .servlet("plain-gzip", new Gzipped(), "/ai/plain-gzip")
                .servlet("one-event-chinese", new OneEvent(CHINESE), "/ai/one-event-chinese")
                .servlet("one-event-json", new OneEvent(JSON_STORY), "/ai/one-event-json")
                .servlet("counting", new Counting(), "/ai/count")
                .servlet("json-pieces", new Pieces(JSON_STORY, false), "/ai/json-pieces")
                .servlet("gzip-pieces", new Pieces(STORY, true), "/ai/gzip-pieces")
                .servlet("word-tokens", new WordTokens(), "/ai/word-tokens")
                .servlet("file-content", new StoredFile(), "/ai/files/file-165/content")
                .servlet("ok", new Fixed("text/plain;charset=UTF-8", "OK", false), "/ai/health")
                .servlet("progress", new Progress(), "/ai/jobs/job-165/progress");
    }

    // ------------------------------------------------------------------ the host's endpoints

    /**
     * {@code String generate(@RequestParam String message)} returning
     * {@code chatClient.prompt().user(message).call().content()}, with the handler's declared
     * {@code produces} type, written through the output stream in its charset.
     */
    class Fixed extends HttpServlet {
        final String type;
        final String text;
        final boolean model;

        Fixed(String type, String text, boolean model) {
            this.type = type;
            this.text = text;
            this.model = model;
        }

        @Override
        protected void service(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            message(req);
            if (model) {
                calls.count(req.getHeader("x-user-id"));
            }
            resp.setContentType(type);
            resp.getOutputStream().write(text.getBytes(resp.getCharacterEncoding()));
        }
    }

    /**
     * The same {@code String} handler without {@code produces}: Spring MVC's StringHttpMessageConverter
     * supports every media type, so the answer is labelled with the first concrete type the client's
     * {@code Accept} names ({@code text/html}, {@code application/json}, {@code text/csv}...), UTF-8.
     */
    class AsAccepted extends ModelEndpoint {
        @Override
        protected void answer(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            String accept = req.getHeader("Accept");
            String type = accept == null ? "text/plain" : accept.split(",")[0].trim();
            resp.setContentType(type + ";charset=UTF-8");
            resp.getOutputStream().write(STORY.getBytes(StandardCharsets.UTF_8));
        }
    }

    /** A relay that passes on an upstream's gzip-compressed text/plain answer as it came. */
    class Gzipped extends ModelEndpoint {
        @Override
        protected void answer(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            ByteArrayOutputStream bytes = new ByteArrayOutputStream();
            try (GZIPOutputStream gz = new GZIPOutputStream(bytes)) {
                gz.write(STORY.getBytes(StandardCharsets.UTF_8));
            }
            resp.setContentType("text/plain;charset=UTF-8");
            resp.setHeader("Content-Encoding", "gzip");
            resp.getOutputStream().write(bytes.toByteArray());
        }
    }

    /**
     * An {@code SseEmitter} handler that calls the model once and sends its whole answer as one event:
     * {@code emitter.send(chatClient.prompt().user(message).call().content())}. Spring writes each line
     * of the text as its own {@code data:} line.
     */
    class OneEvent extends ModelEndpoint {
        final String text;

        OneEvent(String text) {
            this.text = text;
        }

        @Override
        protected void answer(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            resp.setContentType("text/event-stream;charset=UTF-8");
            StringBuilder event = new StringBuilder();
            for (String line : text.split("\n", -1)) {
                event.append("data:").append(line).append('\n');
            }
            event.append('\n');
            resp.getOutputStream().write(event.toString().getBytes(StandardCharsets.UTF_8));
        }
    }

    /**
     * {@code Flux<String>} of {@code chatClient.prompt().user(message).stream().content()} as an event
     * stream; the model counts, and streams its text in tokens: "1", ",", " 2", ",", " 3"... Spring
     * writes {@code data:} and each piece, with no space of its own after the colon.
     */
    class Counting extends ModelEndpoint {
        @Override
        protected void answer(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            resp.setContentType("text/event-stream;charset=UTF-8");
            ServletOutputStream out = resp.getOutputStream();
            StringBuilder batch = new StringBuilder();
            for (int i = 1; i <= 3_000; i++) {
                if (i > 1) {
                    batch.append("data:,\n\n");
                }
                batch.append("data:").append(i == 1 ? "1" : " " + i).append("\n\n");
                if (i % 100 == 0) {
                    out.write(batch.toString().getBytes(StandardCharsets.UTF_8));
                    out.flush();
                    batch.setLength(0);
                }
            }
            out.write(batch.toString().getBytes(StandardCharsets.UTF_8));
        }
    }

    /**
     * {@code Flux<String>} as an event stream, the model's text in pieces of four characters, each an
     * event; {@code gzip}: a relay passing the upstream's gzip-compressed stream on as it came.
     */
    class Pieces extends ModelEndpoint {
        final String text;
        final boolean gzip;

        Pieces(String text, boolean gzip) {
            this.text = text;
            this.gzip = gzip;
        }

        @Override
        protected void answer(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            resp.setContentType("text/event-stream;charset=UTF-8");
            StringBuilder events = new StringBuilder();
            for (int i = 0; i < text.length(); i += 4) {
                String piece = text.substring(i, Math.min(text.length(), i + 4));
                for (String line : piece.split("\n", -1)) {
                    events.append("data:").append(line).append('\n');
                }
                events.append('\n');
            }
            byte[] bytes = events.toString().getBytes(StandardCharsets.UTF_8);
            if (gzip) {
                ByteArrayOutputStream out = new ByteArrayOutputStream();
                try (GZIPOutputStream gz = new GZIPOutputStream(out)) {
                    gz.write(bytes);
                }
                bytes = out.toByteArray();
                resp.setHeader("Content-Encoding", "gzip");
            }
            resp.getOutputStream().write(bytes);
        }
    }

    /**
     * {@code Flux<String>} as an event stream, the model's text in the tokens it streams them in: a
     * word and the space before it (" committee", " reviewed"), each an event. Spring writes
     * {@code data:} and the piece, with no space of its own after the colon.
     */
    class WordTokens extends ModelEndpoint {
        @Override
        protected void answer(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            resp.setContentType("text/event-stream;charset=UTF-8");
            ServletOutputStream out = resp.getOutputStream();
            StringBuilder events = new StringBuilder();
            String[] words = STORY.split(" ");
            for (int i = 0; i < words.length; i++) {
                events.append("data:").append(i == 0 ? words[i] : " " + words[i]).append("\n\n");
                if (i % 50 == 49) {
                    out.write(events.toString().getBytes(StandardCharsets.UTF_8));
                    out.flush();
                    events.setLength(0);
                }
            }
            out.write(events.toString().getBytes(StandardCharsets.UTF_8));
        }
    }

    /** A file's content read back from storage (a Files API's {@code GET /files/{id}/content}): no model. */
    static class StoredFile extends HttpServlet {
        @Override
        protected void doGet(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            resp.setContentType("text/plain;charset=UTF-8");
            resp.getOutputStream().write(Prose.english(200_000).getBytes(StandardCharsets.UTF_8));
        }
    }

    /** A batch job's progress as an event stream ({@code SseEmitter.send(String)}): no model. */
    static class Progress extends HttpServlet {
        @Override
        protected void doGet(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            resp.setContentType("text/event-stream;charset=UTF-8");
            ServletOutputStream out = resp.getOutputStream();
            StringBuilder batch = new StringBuilder();
            for (int i = 1; i <= 2_000; i++) {
                batch.append("data:processed request ").append(i).append(" of 2000 in batch job-165\n\n");
                if (i % 100 == 0) {
                    out.write(batch.toString().getBytes(StandardCharsets.UTF_8));
                    out.flush();
                    batch.setLength(0);
                }
            }
            out.write(batch.toString().getBytes(StandardCharsets.UTF_8));
        }
    }

    /** Why some tests are disabled: a model's own JSON answer is not counted as its text (issue 11, open). */
    static final String OPEN_MODEL_JSON = "issue 11, open: a model's own JSON answer without usage (a body, or events"
            + " of an application's JSON) is charged its estimate, not its text (docs/decisions.md, \"A model's own JSON"
            + " answer (open)\")";

    // ------------------------------------------------------------------ under-charged model text

    /** Control: the model's prose as text/plain, POSTed, is charged its text. */
    @Test
    void plainProseIsChargedItsText() {
        String s = subject();
        assertChargedTheText(s, postForm("/ai/plain", s), STORY, "POST text/plain prose");
    }

    /** Control: text/plain written in UTF-16 (the charset the handler declared) is counted as well. */
    @Test
    void plainProseInUtf16IsChargedItsText() {
        String s = subject();
        assertChargedTheText(s, postForm("/ai/plain-utf16", s), STORY, "POST text/plain;charset=UTF-16 prose");
    }

    /** Control: a relay passing on an upstream's gzip-compressed text/plain answer is charged its text. */
    @Test
    void gzippedPlainProseIsChargedItsText() {
        String s = subject();
        assertChargedTheText(s, postForm("/ai/plain-gzip", s), STORY, "POST text/plain gzip prose");
    }

    /**
     * A client asks the model to answer in JSON ("return a JSON object with a title and the story"),
     * a very common prompt: the endpoint returns {@code call().content()} as text/plain, as it does for
     * any answer. The text starts with "{", so the filter reads it as a mislabelled JSON answer, finds
     * no usage and charges the estimate; the raw text is not counted.
     */
    @Disabled(OPEN_MODEL_JSON)
    @Test
    void aJsonAnswerWrittenAsPlainTextIsChargedItsText() {
        String s = subject();
        assertChargedTheText(s, postForm("/ai/plain-json", s), JSON_STORY, "POST text/plain whose text is a JSON object");
    }

    /**
     * The same JSON answer from a handler declared {@code produces = "application/json"} returning
     * the model's String: nothing in it is a provider's format, no usage.
     */
    @Disabled(OPEN_MODEL_JSON)
    @Test
    void aJsonAnswerWrittenAsApplicationJsonIsChargedItsText() {
        String s = subject();
        assertChargedTheText(s, postForm("/ai/json-string", s), JSON_STORY, "POST application/json model String");
    }

    /** A text/markdown answer that starts with a link ("[Read more](...)"), read as a JSON array. */
    @Test
    void aMarkdownAnswerStartingWithALinkIsChargedItsText() {
        String s = subject();
        assertChargedTheText(s, postForm("/ai/markdown", s), MARKDOWN_STORY, "POST text/markdown starting with [");
    }

    /** The String handler labels the answer with the client's {@code Accept: text/html}. */
    @Test
    void aStringAnswerLabelledHtmlByTheClientsAcceptIsChargedItsText() {
        String s = subject();
        assertChargedTheText(s, postForm("/ai/generate", s, "Accept", "text/html"), STORY, "POST Accept text/html");
    }

    /** The String handler labels the answer with the client's {@code Accept: application/json}. */
    @Test
    void aStringAnswerLabelledJsonByTheClientsAcceptIsChargedItsText() {
        String s = subject();
        assertChargedTheText(s, postForm("/ai/generate", s, "Accept", "application/json"), STORY,
                "POST Accept application/json");
    }

    /** The String handler labels the answer with the client's {@code Accept: application/octet-stream}. */
    @Test
    void aStringAnswerLabelledOctetStreamByTheClientsAcceptIsChargedItsText() {
        String s = subject();
        assertChargedTheText(s, postForm("/ai/generate", s, "Accept", "application/octet-stream"), STORY,
                "POST Accept application/octet-stream");
    }

    /** The String handler labels the answer with the client's {@code Accept: text/x-markdown}. */
    @Test
    void aStringAnswerLabelledXMarkdownByTheClientsAcceptIsChargedItsText() {
        String s = subject();
        assertChargedTheText(s, postForm("/ai/generate", s, "Accept", "text/x-markdown"), STORY, "POST Accept text/x-markdown");
    }

    /** Control: the same handler with {@code Accept: text/plain}. */
    @Test
    void aStringAnswerLabelledPlainByTheClientsAcceptIsChargedItsText() {
        String s = subject();
        assertChargedTheText(s, postForm("/ai/generate", s, "Accept", "text/plain"), STORY, "POST Accept text/plain");
    }

    /**
     * A JSON body naming {@code "max_tokens": 4500}, a field the host's handler never reads: the model
     * writes about 8,400 tokens, less than twice the budget the request named. Text within twice a named
     * budget is the estimate's own (the estimator's count of a text strays from the provider's by up to
     * that much, docs/decisions.md), so the call costs its hold: input and 4,500. A handler that does
     * not pass the client's budget on reports its usage.
     */
    @Test
    void textWithinTwiceTheBudgetTheRequestNamesCostsTheHold() {
        String s = subject();
        String body = "{\"message\":\"" + ASK + "\",\"max_tokens\":4500}";
        HttpResponse<String> r = TestHttp.postJson(container.uri("/ai/plain"), s, body);
        assertEquals(200, r.statusCode());
        long used = settled(s).used();
        assertTrue(used >= 4_500 && used < 4_600, "the hold of input and 4,500: " + ledger(s));
    }

    /**
     * A body with {@code "echo": true}, which the handler never passes on: the prompt's tokens, which an
     * echoing endpoint sends back at the start of its answer, are taken off the text counted, so the call
     * costs at least its estimate (input and the default budget) and its text past the prompt's length.
     */
    @Test
    void anEchoTheRequestAsksForIsTakenOffTheText() {
        String s = subject();
        String prompt = Prose.english(54_000);
        String body = "{\"prompt\":\"" + prompt + " Continue this story.\",\"echo\":true}";
        HttpResponse<String> r = TestHttp.postJson(container.uri("/ai/plain"), s, body);
        assertEquals(200, r.statusCode());
        long used = settled(s).used();
        long input = TOKENS.estimate(prompt);
        assertTrue(used >= input + 1_000 && used >= TOKENS.estimate(STORY), "estimate, or the text: " + used + ": " + ledger(s));
    }

    /**
     * An {@code SseEmitter} handler sends the model's whole answer, Chinese prose of about 8,000
     * characters, as one event: past the event's first 4,096 bytes the text is counted at four bytes a
     * token, though a Chinese character is three bytes and about a token.
     */
    @Test
    void oneEventOfChineseIsChargedItsText() {
        String s = subject();
        assertChargedTheText(s, postForm("/ai/one-event-chinese", s), CHINESE, "POST one event of Chinese prose");
    }

    /** The same handler sends the model's JSON answer (several lines) as one event. */
    @Disabled(OPEN_MODEL_JSON)
    @Test
    void oneEventHoldingAJsonAnswerIsChargedItsText() {
        String s = subject();
        assertChargedTheText(s, postForm("/ai/one-event-json", s), JSON_STORY, "POST one event holding a JSON answer");
    }

    /**
     * {@code Flux<String>}: the model counts to 3,000, streamed in its tokens (" 2"); an event stream's
     * reader drops the one space after {@code data:}, so the text counted is "1,2,3,...". Each event is
     * estimated on its own: at least a token a number and one a comma (6,000; what o200k_base counts for
     * "1, 2, …, 3000"), though the estimator's count of the text run together is more.
     */
    @Test
    void aCountStreamedInTokensIsChargedItsText() {
        String s = subject();
        HttpResponse<String> r = postForm("/ai/count", s, "Accept", "text/event-stream");
        assertEquals(200, r.statusCode());
        long used = settled(s).used();
        assertTrue(used >= 6_000, "a token a number and a comma: " + used + ": " + ledger(s));
    }

    /**
     * The model's JSON answer as {@code Flux<String>} pieces of four characters, no piece a whole
     * document; the pieces that start with a space lose it to the event stream's reader.
     */
    @Test
    void aJsonAnswerStreamedInPiecesIsChargedItsText() {
        String s = subject();
        assertChargedTheText(s, postForm("/ai/json-pieces", s), JSON_STORY, "POST Flux<String> JSON answer in pieces");
    }

    /**
     * {@code Flux<String>} streamed in word tokens (" committee"): an event stream's reader drops the
     * one space after {@code data:}, so the words the filter counts run together.
     */
    @Test
    void aStoryStreamedInWordTokensIsChargedItsText() {
        String s = subject();
        assertChargedTheText(s, postForm("/ai/word-tokens", s, "Accept", "text/event-stream"), STORY,
                "POST Flux<String> in word tokens");
    }

    /**
     * A gzip-compressed {@code Flux<String>} stream of four-character pieces passed on by a relay; the
     * pieces that start with a space lose it to the event stream's reader.
     */
    @Test
    void aGzippedStreamOfPiecesIsChargedItsText() {
        String s = subject();
        assertChargedTheText(s, postForm("/ai/gzip-pieces", s), STORY, "POST gzip Flux<String> prose");
    }

    /**
     * A GET answered with the model's text raw is charged its estimate: raw text on a GET may be stored
     * text read back (a file's content, a job's progress lines), so only a provider's stream deltas count
     * there. A GET route that calls a model and answers its text raw reports the usage.
     */
    @Test
    void aGetsRawTextIsNotCounted() {
        String s = subject();
        HttpResponse<String> r = get("/ai/plain", s);
        assertEquals(200, r.statusCode());
        assertEquals(1, calls.of(s));
        long used = settled(s).used();
        assertTrue(used < 1_100, "a GET's estimate: " + used + ": " + ledger(s));
    }

    /**
     * A JSON body naming {@code "n": 5} and {@code "max_tokens": 2000}, neither of which the handler
     * reads: the model writes one answer of about 8,400 tokens.
     */
    @Test
    void manyCompletionsNamedButNeverPassedOnDoNotWaiveTheText() {
        String s = subject();
        String body = "{\"message\":\"" + ASK + "\",\"n\":5,\"max_tokens\":2000}";
        HttpResponse<String> r = TestHttp.postJson(container.uri("/ai/plain"), s, body);
        assertChargedTheText(s, r, STORY, "POST text/plain, request names n 5 and max_tokens 2000 the handler ignores");
    }

    // ------------------------------------------------------------------ no model call

    /** What a GET that reads stored text back cost before text was counted: the request's estimate. */
    long aGetsEstimate() {
        String s = subject();
        HttpResponse<String> r = get("/ai/health", s);
        assertEquals(200, r.statusCode());
        return settled(s).used();
    }

    /**
     * A GET of a stored file's content (a Files API's {@code /files/{id}/content}, 200 KB of text) never
     * reached a model, yet its text is charged as if a model had written it.
     */
    @Test
    void aStoredFilesTextReadBackIsNotChargedAsModelText() {
        long before = aGetsEstimate();
        String s = subject();
        HttpResponse<String> r = get("/ai/files/file-165/content", s);
        assertEquals(200, r.statusCode());
        long used = settled(s).used();
        assertTrue(used <= before + 50, "a stored file read back, no model call: charged " + used
                + ", a GET's estimate is " + before + ": " + ledger(s));
    }

    /** A batch job's progress streamed to a GET as raw events: no model call. */
    @Test
    void aJobsProgressEventsAreNotChargedAsModelText() {
        long before = aGetsEstimate();
        String s = subject();
        HttpResponse<String> r = get("/ai/jobs/job-165/progress", s, "Accept", "text/event-stream");
        assertEquals(200, r.statusCode());
        long used = settled(s).used();
        assertTrue(used <= before + 50, "a job's progress, no model call: charged " + used + ", a GET's estimate is "
                + before + ": " + ledger(s));
    }
}
