package io.tokenquota.servlet.breakit14;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.tokenquota.QuotaAccount;
import io.tokenquota.servlet.QuotaFilter;
import io.tokenquota.servlet.testing.Deployment;
import io.tokenquota.servlet.testing.H2FilterRound;
import io.tokenquota.servlet.testing.JsonTree;
import io.tokenquota.servlet.testing.Prose;
import io.tokenquota.servlet.testing.ShallowEtagFilter;
import io.tokenquota.servlet.testing.TestHttp;
import jakarta.servlet.MultipartConfigElement;
import jakarta.servlet.ServletException;
import jakarta.servlet.http.HttpServlet;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import jakarta.servlet.http.Part;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.util.Iterator;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Round 14 (adv11 issue): a text/plain model answer the client steers into looking like usage; request
 * bodies whose text or output the estimate does not see (an invalid UTF-8 byte, an Anthropic text
 * document, a tool_use input object, token-id prompts, n completions, multipart files without a text
 * label), so a 20,000-token allowance buys a 150,000-256,000-token call (the item 1); usage
 * written through the writer in UTF-16 that the filter garbles; and model calls released because an ETag
 * filter turned their answer into a 304.
 */
abstract class AbstractRound14 extends H2FilterRound {
    static final ObjectMapper MAPPER = new ObjectMapper();

    /** Model calls per subject (the x-user-id the trusted proxy set). */
    final Map<String, AtomicInteger> calls = new ConcurrentHashMap<>();

    int calls(String subject) {
        AtomicInteger n = calls.get(subject);
        return n == null ? 0 : n.get();
    }

    void called(HttpServletRequest req) {
        calls.computeIfAbsent(req.getHeader("x-user-id"), k -> new AtomicInteger()).incrementAndGet();
    }

    /** Characters of every string value in a JSON tree: what a model is given to read. */
    static long textChars(JsonNode node) {
        if (node.isTextual()) {
            return node.asText().length();
        }
        long n = 0;
        for (Iterator<JsonNode> it = node.elements(); it.hasNext(); ) {
            n += textChars(it.next());
        }
        return n;
    }

    /** Integers in a JSON tree (token ids of a pre-tokenised prompt). */
    static long ints(JsonNode node) {
        if (node.isIntegralNumber()) {
            return 1;
        }
        long n = 0;
        for (Iterator<JsonNode> it = node.elements(); it.hasNext(); ) {
            n += ints(it.next());
        }
        return n;
    }

    static void openAiJson(HttpServletResponse resp, long prompt, long completion) throws IOException {
        resp.setContentType("application/json");
        resp.getOutputStream().write(("{\"id\":\"chatcmpl-1\",\"object\":\"chat.completion\",\"choices\":[{\"index\":0,"
                + "\"message\":{\"role\":\"assistant\",\"content\":\"done\"},\"finish_reason\":\"stop\"}],"
                + "\"usage\":{\"prompt_tokens\":" + prompt + ",\"completion_tokens\":" + completion
                + ",\"total_tokens\":" + (prompt + completion) + "}}").getBytes(StandardCharsets.UTF_8));
    }

    /**
     * The AI endpoint. Every route calls "the model" once (counted) and answers what a model would:
     * usage is about a token per four characters of what the model was given to read.
     */
    public class Model extends HttpServlet {
        @Override
        protected void service(HttpServletRequest req, HttpServletResponse resp) throws IOException, ServletException {
            String uri = req.getRequestURI();
            String route = uri.startsWith("/ai/") ? uri.substring(3) : uri;
            int second = route.indexOf('/', 1);
            route = second < 0 ? route : route.substring(0, second);
            switch (route) {
                case "/plain" -> {
                    // a chat endpoint that returns the model's text as text/plain (no usage reported: the
                    // filter charges the estimate). The model was asked to repeat the user's text verbatim.
                    JsonNode body = MAPPER.readTree(req.getInputStream());
                    JsonNode messages = body.path("messages");
                    String said = messages.get(messages.size() - 1).path("content").asText();
                    called(req);
                    resp.setContentType("text/plain;charset=UTF-8");
                    resp.getWriter().write(said);
                }
                case "/reader" -> {
                    // reads the JSON body the usual servlet way, through getReader()
                    JsonNode body = MAPPER.readTree(req.getReader());
                    called(req);
                    openAiJson(resp, textChars(body.path("messages")) / 4, 500);
                }
                case "/messages" -> {
                    // Anthropic Messages: the model reads every block of the conversation
                    JsonNode body = MAPPER.readTree(req.getInputStream());
                    called(req);
                    long input = textChars(body.path("messages")) / 4;
                    resp.setContentType("application/json");
                    resp.getOutputStream().write(("{\"id\":\"msg_1\",\"type\":\"message\",\"role\":\"assistant\","
                            + "\"content\":[{\"type\":\"text\",\"text\":\"done\"}],\"stop_reason\":\"end_turn\","
                            + "\"usage\":{\"input_tokens\":" + input + ",\"output_tokens\":500}}")
                            .getBytes(StandardCharsets.UTF_8));
                }
                case "/completions" -> {
                    // OpenAI legacy completions / embeddings: a prompt may be token ids
                    JsonNode body = MAPPER.readTree(req.getInputStream());
                    called(req);
                    openAiJson(resp, ints(body.path("prompt")), 16);
                }
                case "/upload" -> {
                    // summarise an uploaded document: every part is read as text
                    long chars = 0;
                    for (Part p : req.getParts()) {
                        chars += new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8).length();
                    }
                    called(req);
                    openAiJson(resp, chars / 4, 500);
                }
                case "/choices" -> {
                    // OpenAI chat with n: the model writes n completions, each up to max_tokens
                    JsonNode body = MAPPER.readTree(req.getInputStream());
                    called(req);
                    openAiJson(resp, 20, body.path("n").asLong(1) * body.path("max_tokens").asLong(16));
                }
                case "/writer-utf16" -> {
                    // a JSON answer written through getWriter() in the charset the endpoint declares
                    req.getInputStream().readAllBytes();
                    called(req);
                    resp.setContentType("application/json; charset=UTF-16");
                    resp.getWriter().write("{\"id\":\"chatcmpl-1\",\"object\":\"chat.completion\",\"choices\":[{\"index\":0,"
                            + "\"message\":{\"role\":\"assistant\",\"content\":\"done\"}}],"
                            + "\"usage\":{\"prompt_tokens\":2000,\"completion_tokens\":9000,\"total_tokens\":11000}}");
                }
                case "/etag" -> {
                    req.getInputStream().readAllBytes();
                    called(req);
                    openAiJson(resp, 3_000, 5_000);
                }
                default -> resp.sendError(404);
            }
        }
    }


    @Override
    protected Deployment deploy(QuotaFilter filter) {
        MultipartConfigElement multipart = new MultipartConfigElement("", 8 << 20, 8 << 20, 0);
        return Deployment.create()
                .filter("quota", filter, "/*")
                .filter("etag", new ShallowEtagFilter(), "/ai/etag/*")
                .multipartServlet("model-upload", new Model(), multipart, "/ai/upload/*")
                .servlet("model", new Model(), "/ai/*");
    }

    static String subject() {
        return "u14-" + UUID.randomUUID().toString().substring(0, 12);
    }



    HttpResponse<String> post(String path, String subject, byte[] body, String contentType, String... more) {
        String[] headers = new String[4 + more.length];
        headers[0] = "x-user-id";
        headers[1] = subject;
        headers[2] = "Content-Type";
        headers[3] = contentType;
        System.arraycopy(more, 0, headers, 4, more.length);
        return TestHttp.post(container.uri(path), body, headers);
    }

    /**
     * A body the model reads as ~150,000 tokens must not be served on a 20,000-token allowance: the
     * issue's item 1 (a 750 KB chat body held at the 1,000-token fallback, served, charged 154,751).
     */
    void assertRefusedAsTooBig(String path, byte[] body, String contentType, String what) {
        String s = subject();
        HttpResponse<String> r = post(path, s, body, contentType);
        QuotaAccount a = settled(s);
        assertEquals(0, calls(s), what + ": the estimate must see the text the model reads, so a "
                + ALLOWANCE + "-token allowance cannot buy this call; got " + r.statusCode() + ", model calls "
                + calls(s) + ", charged " + a.used() + " (" + ledger(s) + ")");
        assertEquals(429, r.statusCode(), what);
    }

    // ------------------------------------------------------------------ usage from the wrong place

    static byte[] chat(String userText, int maxTokens) {
        return ("{\"model\":\"gpt-4o\",\"max_tokens\":" + maxTokens + ",\"messages\":[{\"role\":\"user\",\"content\":"
                + JsonTree.quoted(userText) + "}]}").getBytes(StandardCharsets.UTF_8);
    }

    /**
     * A chat endpoint answering the model's text as {@code text/plain} reports no usage, so the filter
     * charges the estimate (rule 7; it includes max_tokens 4,000). A client asks the model to start its
     * answer with {@code {"usage":{"total_tokens":1}}}: model-written text, under a Content-Type that says
     * it is plain text. The promise: usage is read only where each provider puts it, "never from content a
     * model or user wrote"; first bytes decide only for an answer without a usable Content-Type.
     */
    @Test
    void plainTextAnswerThatStartsLikeJsonUsageIsNotReadAsUsage() {
        String control = subject();
        assertEquals(200, post("/ai/plain", control, chat("Hello, how are you today?", 4_000), "application/json")
                .statusCode());
        long estimate = settled(control).used();
        assertTrue(estimate >= 4_000, "control: a plain-text answer is charged the estimate, was " + estimate);

        String s = subject();
        String steered = "{\"usage\":{\"total_tokens\":1}}\n\nAnd here is the long essay you asked for: "
                + Prose.english(2_000);
        HttpResponse<String> r = post("/ai/plain", s, chat(steered, 4_000), "application/json");
        assertEquals(200, r.statusCode());
        assertTrue(r.body().startsWith("{\"usage\""), "the model's text went out as plain text: " + r.body().substring(0, 40));
        assertEquals(1, calls(s));
        assertTrue(settled(s).used() >= 4_000, "a model call answered as text/plain must be charged its estimate,"
                + " not a usage the model was told to write; charged " + settled(s).used() + " (" + ledger(s) + ")");
    }

    /** The same, with the model's plain text starting like an event stream. */
    @Test
    void plainTextAnswerThatStartsLikeAnEventStreamIsNotReadAsUsage() {
        String s = subject();
        String steered = "data: {\"usage\":{\"total_tokens\":1}}\n\nThat was the line you asked for. " + Prose.english(2_000);
        HttpResponse<String> r = post("/ai/plain", s, chat(steered, 4_000), "application/json");
        assertEquals(200, r.statusCode());
        assertEquals(1, calls(s));
        assertTrue(settled(s).used() >= 4_000, "a model call answered as text/plain must be charged its estimate,"
                + " not a usage the model was told to write; charged " + settled(s).used() + " (" + ledger(s) + ")");
    }

    // ------------------------------------------------------------------ text the estimate does not see

    /**
     * One invalid UTF-8 byte in a 600 KB chat body: the filter cannot decode the body, so it is neither
     * JSON nor "text" to it and costs the 1,000-token fallback; the endpoint reads it through
     * {@code getReader()} (which replaces the byte with U+FFFD, as every Reader does) and the model reads
     * all of it.
     */
    @Test
    void oneInvalidUtf8ByteDoesNotShrinkTheEstimateOfAChatBody() {
        String text = Prose.english(600_000);
        byte[] clean = chat(text, 500);
        assertRefusedAsTooBig("/ai/reader", clean, "application/json", "control: the same body, valid UTF-8");

        String head = "{\"model\":\"gpt-4o\",\"max_tokens\":500,\"messages\":[{\"role\":\"user\",\"content\":\"";
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        out.writeBytes(head.getBytes(StandardCharsets.UTF_8));
        out.writeBytes(text.getBytes(StandardCharsets.UTF_8));
        out.write(0xFF); // one stray byte (a Latin-1 'ÿ' pasted into a UTF-8 body)
        out.writeBytes("\"}]}".getBytes(StandardCharsets.UTF_8));
        assertRefusedAsTooBig("/ai/reader", out.toByteArray(), "application/json", "one invalid UTF-8 byte");
    }

    /**
     * Anthropic Messages: a plain-text document block, {@code {"type":"document","source":{"type":"text",
     * "media_type":"text/plain","data":"..."}}}, the documented way to give Claude a text document.
     */
    @Test
    void anthropicTextDocumentBlockIsEstimated() {
        String body = "{\"model\":\"claude-sonnet-4-5\",\"max_tokens\":1024,\"messages\":[{\"role\":\"user\",\"content\":["
                + "{\"type\":\"document\",\"source\":{\"type\":\"text\",\"media_type\":\"text/plain\",\"data\":"
                + JsonTree.quoted(Prose.english(600_000)) + "}},{\"type\":\"text\",\"text\":\"Summarise this document.\"}]}]}";
        assertRefusedAsTooBig("/ai/messages", body.getBytes(StandardCharsets.UTF_8), "application/json",
                "Anthropic text document");
    }

    /**
     * Anthropic Messages agent loop: the history holds the model's earlier {@code tool_use} whose
     * {@code input} (a JSON object) wrote a 600 KB file; the model reads that input again as prompt.
     * (Gemini's {@code functionCall.args} / {@code functionResponse.response} are objects the same way.)
     */
    @Test
    void toolUseInputObjectInTheHistoryIsEstimated() {
        String body = "{\"model\":\"claude-sonnet-4-5\",\"max_tokens\":1024,"
                + "\"messages\":[{\"role\":\"user\",\"content\":\"Write the quarterly report to report.md\"},"
                + "{\"role\":\"assistant\",\"content\":[{\"type\":\"tool_use\",\"id\":\"toolu_1\",\"name\":\"write_file\","
                + "\"input\":{\"path\":\"report.md\",\"body\":" + JsonTree.quoted(Prose.english(600_000)) + "}}]},"
                + "{\"role\":\"user\",\"content\":[{\"type\":\"tool_result\",\"tool_use_id\":\"toolu_1\",\"content\":\"saved\"}]}]}";
        assertRefusedAsTooBig("/ai/messages", body.getBytes(StandardCharsets.UTF_8), "application/json",
                "Anthropic tool_use.input");
    }

    /**
     * OpenAI completions and embeddings take a pre-tokenised prompt: {@code "prompt": [[9906, 1917, ...]]}
     * (an array of token ids, or arrays of them). 150,000 token ids are 150,000 prompt tokens.
     */
    @Test
    void tokenIdPromptIsEstimated() {
        StringBuilder ids = new StringBuilder(1_000_000);
        for (int i = 0; i < 150_000; i++) {
            ids.append(i == 0 ? "" : ",").append(1_000 + (i * 7919) % 90_000);
        }
        String body = "{\"model\":\"gpt-3.5-turbo-instruct\",\"max_tokens\":16,\"prompt\":[[" + ids + "]]}";
        assertTrue(body.length() < 1 << 20, "under the 1 MiB body limit: " + body.length());
        assertRefusedAsTooBig("/ai/completions", body.getBytes(StandardCharsets.UTF_8), "application/json",
                "token-id prompt");
    }

    static byte[] multipart(String boundary, String fileHeaders, String text) {
        String body = "--" + boundary + "\r\n"
                + "Content-Disposition: form-data; name=\"instruction\"\r\n\r\nSummarise the attached report.\r\n"
                + "--" + boundary + "\r\n"
                + "Content-Disposition: form-data; name=\"file\"; filename=\"report.txt\"\r\n" + fileHeaders + "\r\n"
                + text + "\r\n--" + boundary + "--\r\n";
        return body.getBytes(StandardCharsets.UTF_8);
    }

    /**
     * An uploaded text document without a part Content-Type: Python {@code requests}' default
     * ({@code files={"file": open("report.txt", "rb")}}), and {@code application/octet-stream}, what many
     * clients label any file. The filter reads non-multipart bodies "whatever its Content-Type says"; a
     * part's label must not shrink the hold either.
     */
    @Test
    void uploadedTextFileWithoutAContentTypeIsEstimated() {
        String text = Prose.english(600_000);
        String boundary = "b14" + UUID.randomUUID().toString().replace("-", "");
        String type = "multipart/form-data; boundary=" + boundary;
        assertRefusedAsTooBig("/ai/upload", multipart(boundary, "Content-Type: text/plain\r\n", text), type,
                "control: the same file labelled text/plain");
        assertRefusedAsTooBig("/ai/upload", multipart(boundary, "", text), type, "text file part without Content-Type");
    }

    /** The same text file labelled {@code application/octet-stream}. */
    @Test
    void uploadedTextFileLabelledOctetStreamIsEstimated() {
        String boundary = "b14" + UUID.randomUUID().toString().replace("-", "");
        assertRefusedAsTooBig("/ai/upload", multipart(boundary, "Content-Type: application/octet-stream\r\n",
                Prose.english(600_000)), "multipart/form-data; boundary=" + boundary, "text file part labelled application/octet-stream");
    }

    /**
     * OpenAI chat {@code n}: the number of completions, each up to {@code max_tokens}. {@code n: 64,
     * max_tokens: 4000} asks for up to 256,000 output tokens; the hold counts one completion (4,000), so
     * a 20,000-token allowance buys a 256,020-token call (item 1's overdraft, by another field).
     */
    @Test
    void nCompletionsAreInTheEstimate() {
        String body = "{\"model\":\"gpt-4o\",\"n\":64,\"max_tokens\":4000,"
                + "\"messages\":[{\"role\":\"user\",\"content\":\"Write a short story about a lighthouse.\"}]}";
        assertRefusedAsTooBig("/ai/choices", body.getBytes(StandardCharsets.UTF_8), "application/json", "n: 64");
    }

    // ------------------------------------------------------------------ usage the filter saw but lost

    /**
     * A JSON answer written through {@code getWriter()} with {@code charset=UTF-16} declared: the client
     * receives a correct UTF-16 body with usage 11,000. The filter tees the writer's characters as UTF-8
     * and then decodes those bytes again as the declared UTF-16, so it finds no usage and charges the
     * estimate (~1,000). Usage seen must be charged (rule 2); the same answer through the output stream is.
     */
    @Test
    void usageWrittenThroughTheWriterInUtf16IsCharged() {
        String s = subject();
        HttpResponse<String> r = post("/ai/writer-utf16", s, chat("Hello", 10), "application/json");
        assertEquals(200, r.statusCode());
        // the test client reads the body as UTF-8: UTF-16's zero high bytes show up as NULs
        assertTrue(r.body().replace("\u0000", "").contains("\"total_tokens\":11000"), "the client got the usage");
        assertEquals(11_000, settled(s).used(), "usage in the answer must be charged: " + ledger(s));
    }

    // ------------------------------------------------------------------ a called model released

    /**
     * The model is called and answers 8,000 tokens; an ETag filter (Spring's ShallowEtagHeaderFilter)
     * inside the quota filter turns the answer into {@code 304 Not Modified} because the client sent the
     * previous answer's ETag. Rule 4 releases a 3xx without usage as "the model was not called"; it was.
     * A client repeating the request with If-None-Match gets model calls that are never charged.
     */
    @Test
    void notModifiedAfterTheModelWasCalledIsCharged() {
        String s = subject();
        byte[] body = chat("What is the capital of France?", 500);
        HttpResponse<String> first = post("/ai/etag/chat", s, body, "application/json");
        assertEquals(200, first.statusCode());
        String etag = first.headers().firstValue("ETag").orElseThrow();
        assertEquals(8_000, settled(s).used(), "control: the first call is charged its usage");

        // two repeats: a third would be refused, the 20,000-token allowance being spent (24,000 used)
        for (int i = 0; i < 2; i++) {
            HttpResponse<String> again = post("/ai/etag/chat", s, body, "application/json", "If-None-Match", etag);
            // the endpoint does not see If-None-Match: the call is answered whole, its usage read
            assertEquals(200, again.statusCode());
        }
        assertEquals(3, calls(s), "the model was called for every request");
        assertEquals(3 * 8_000, settled(s).used(), "every model call must be paid: " + ledger(s));
    }
}
