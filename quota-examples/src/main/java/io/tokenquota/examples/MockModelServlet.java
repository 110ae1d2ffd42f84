package io.tokenquota.examples;

import com.fasterxml.jackson.core.JsonFactory;
import com.fasterxml.jackson.core.JsonGenerator;
import com.fasterxml.jackson.core.JsonParseException;
import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonToken;
import io.tokenquota.TokenEstimator;
import jakarta.servlet.http.HttpServlet;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.StringWriter;
import java.io.Writer;
import java.nio.charset.StandardCharsets;
import java.time.Clock;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.zip.CRC32;

/**
 * An OpenAI-compatible chat completions endpoint that calls no model: it answers with a deterministic
 * completion whose length depends on the prompt and {@code max_tokens}, and a {@code usage} object the
 * quota filter charges. {@code prompt_tokens} is the estimator's count over the message texts;
 * {@code completion_tokens} never exceeds {@code max_tokens}.
 *
 * <p>Extra request fields for tests: {@code "stream": true} answers with server-sent events (content
 * chunks, then a chunk carrying {@code usage}, then {@code data: [DONE]}); {@code "mock_delay_ms"}
 * (0..30000) waits that long before answering, standing in for model latency. Thread-safe.
 */
final class MockModelServlet extends HttpServlet {
    private static final long serialVersionUID = 1L;

    /** Output budget when the request names none. */
    static final int DEFAULT_MAX_TOKENS = 128;
    /** The mock never writes more than this, whatever {@code max_tokens} asks for. */
    static final int MAX_COMPLETION_TOKENS = 4096;
    static final long MAX_DELAY_MS = 30_000;
    static final String MODEL = "mock-gpt";

    private static final JsonFactory JSON = JsonFactory.builder().build();
    private static final String[] WORDS = {
        "the", "quota", "ledger", "holds", "tokens", "before", "each", "call", "and", "charges",
        "what", "model", "really", "used", "after", "it", "answers", "so", "a", "month",
        "never", "overspends", "even", "when", "requests", "race", "purchased", "credit", "carries",
        "over", "into", "next", "period", "while", "allowance", "resets", "on", "first", "day", "mock",
    };

    private final transient TokenEstimator estimator;
    private final transient Clock clock;

    MockModelServlet(TokenEstimator estimator, Clock clock) {
        this.estimator = Objects.requireNonNull(estimator, "estimator");
        this.clock = Objects.requireNonNull(clock, "clock");
    }

    @Override
    protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
        ChatRequest chat;
        try (InputStream in = req.getInputStream()) {
            chat = ChatRequest.parse(in);
        } catch (JsonParseException | IllegalArgumentException e) {
            error(req, resp, 400, "invalid_request_error", e.getMessage());
            return;
        }
        if (chat.delayMs > 0 && !simulateLatency(chat.delayMs)) {
            error(req, resp, 503, "server_error", "interrupted while simulating model latency");
            return;
        }
        Completion completion = complete(chat);
        if (chat.stream) {
            stream(resp, completion);
        } else {
            whole(resp, completion);
        }
    }

    /** The mock's stand-in for model latency: a plain wait, as a real upstream call would block this thread. */
    private static boolean simulateLatency(long delayMs) {
        try {
            Thread.sleep(delayMs);
            return true;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return false;
        }
    }

    Completion complete(ChatRequest chat) {
        long promptTokens = 0;
        CRC32 crc = new CRC32();
        for (String text : chat.texts) {
            promptTokens += estimator.estimate(text);
            crc.update(text.getBytes(StandardCharsets.UTF_8));
        }
        long seed = crc.getValue();
        long target = Math.min(Math.min(chat.maxTokens, MAX_COMPLETION_TOKENS), 8 + promptTokens + seed % 24);
        String text = generate(seed, target);
        return new Completion("chatcmpl-" + Long.toHexString(seed) + "-" + target, chat.model, text,
                promptTokens, text.isEmpty() ? 0 : estimator.estimate(text));
    }

    /** Words chosen by the prompt's checksum until the estimator says the target is reached, never past it. */
    private String generate(long seed, long target) {
        List<String> words = new ArrayList<>();
        long budget = 0;
        for (int i = 0; budget < target && i < MAX_COMPLETION_TOKENS; i++) {
            String word = WORDS[(int) ((seed + 31L * i) % WORDS.length)];
            budget += Math.max(1, estimator.estimate(" " + word));
            words.add(word);
        }
        String text = String.join(" ", words);
        // the estimator need not be additive over words: trim until the whole text fits
        while (!words.isEmpty() && estimator.estimate(text) > target) {
            words.remove(words.size() - 1);
            text = String.join(" ", words);
        }
        return text;
    }

    private void whole(HttpServletResponse resp, Completion c) throws IOException {
        resp.setStatus(200);
        resp.setContentType("application/json");
        resp.setCharacterEncoding("UTF-8");
        StringWriter body = new StringWriter();
        try (JsonGenerator g = JSON.createGenerator(body)) {
            g.writeStartObject();
            header(g, c, "chat.completion");
            g.writeArrayFieldStart("choices");
            g.writeStartObject();
            g.writeNumberField("index", 0);
            g.writeObjectFieldStart("message");
            g.writeStringField("role", "assistant");
            g.writeStringField("content", c.text);
            g.writeEndObject();
            g.writeStringField("finish_reason", "stop");
            g.writeEndObject();
            g.writeEndArray();
            usage(g, c);
            g.writeEndObject();
        }
        byte[] bytes = body.toString().getBytes(StandardCharsets.UTF_8);
        resp.setContentLength(bytes.length);
        try (OutputStream out = resp.getOutputStream()) {
            out.write(bytes);
        }
    }

    private void stream(HttpServletResponse resp, Completion c) throws IOException {
        resp.setStatus(200);
        resp.setContentType("text/event-stream");
        resp.setCharacterEncoding("UTF-8");
        resp.setHeader("Cache-Control", "no-cache");
        Writer out = resp.getWriter();
        String[] words = c.text.isEmpty() ? new String[0] : c.text.split(" ");
        for (int i = 0; i < words.length; i += 4) {
            StringBuilder piece = new StringBuilder();
            for (int j = i; j < Math.min(words.length, i + 4); j++) {
                piece.append(j == 0 ? "" : " ").append(words[j]);
            }
            event(out, chunk(c, piece.toString(), false));
        }
        event(out, chunk(c, null, true));
        out.write("data: [DONE]\n\n");
        out.flush();
    }

    private String chunk(Completion c, String content, boolean last) throws IOException {
        StringWriter w = new StringWriter();
        try (JsonGenerator g = JSON.createGenerator(w)) {
            g.writeStartObject();
            header(g, c, "chat.completion.chunk");
            g.writeArrayFieldStart("choices");
            if (!last) {
                g.writeStartObject();
                g.writeNumberField("index", 0);
                g.writeObjectFieldStart("delta");
                g.writeStringField("content", content);
                g.writeEndObject();
                g.writeNullField("finish_reason");
                g.writeEndObject();
            }
            g.writeEndArray();
            if (last) {
                usage(g, c);
            }
            g.writeEndObject();
        }
        return w.toString();
    }

    private static void event(Writer out, String json) throws IOException {
        out.write("data: ");
        out.write(json);
        out.write("\n\n");
        // each chunk reaches the client as soon as it is written, like a real model's stream
        out.flush();
    }

    private void header(JsonGenerator g, Completion c, String object) throws IOException {
        g.writeStringField("id", c.id);
        g.writeStringField("object", object);
        g.writeNumberField("created", clock.instant().getEpochSecond());
        g.writeStringField("model", c.model);
    }

    private static void usage(JsonGenerator g, Completion c) throws IOException {
        g.writeObjectFieldStart("usage");
        g.writeNumberField("prompt_tokens", c.promptTokens);
        g.writeNumberField("completion_tokens", c.completionTokens);
        g.writeNumberField("total_tokens", c.promptTokens + c.completionTokens);
        g.writeEndObject();
    }

    private static void error(HttpServletRequest req, HttpServletResponse resp, int status, String type, String message)
            throws IOException {
        // nothing reported: the quota filter releases the hold of a 4xx or 5xx without usage
        resp.setStatus(status);
        resp.setContentType("application/json");
        resp.setCharacterEncoding("UTF-8");
        try (JsonGenerator g = JSON.createGenerator(resp.getWriter())) {
            g.writeStartObject();
            g.writeObjectFieldStart("error");
            g.writeStringField("message", message == null ? "invalid request" : message);
            g.writeStringField("type", type);
            g.writeEndObject();
            g.writeEndObject();
        }
    }

    record Completion(String id, String model, String text, long promptTokens, long completionTokens) {
    }

    /** The fields of a chat completions request the mock looks at, read with a streaming parser. */
    static final class ChatRequest {
        final List<String> texts = new ArrayList<>();
        long maxTokens = DEFAULT_MAX_TOKENS;
        boolean stream;
        long delayMs;
        String model = MODEL;

        static ChatRequest parse(InputStream in) throws IOException {
            ChatRequest r = new ChatRequest();
            try (JsonParser p = JSON.createParser(in)) {
                if (p.nextToken() != JsonToken.START_OBJECT) {
                    throw new IllegalArgumentException("the body must be a JSON object");
                }
                while (p.nextToken() == JsonToken.FIELD_NAME) {
                    String field = p.currentName();
                    JsonToken value = p.nextToken();
                    switch (field) {
                        case "messages" -> r.messages(p, value);
                        case "prompt" -> r.text(p, value, "prompt");
                        case "max_tokens", "max_completion_tokens" -> r.maxTokens = r.nonNegative(p, value, field, Long.MAX_VALUE);
                        case "stream" -> r.stream = value == JsonToken.VALUE_TRUE;
                        case "mock_delay_ms" -> r.delayMs = r.nonNegative(p, value, field, MAX_DELAY_MS);
                        case "model" -> r.model = value == JsonToken.VALUE_STRING ? p.getText() : MODEL;
                        default -> p.skipChildren();
                    }
                }
            }
            return r;
        }

        private void messages(JsonParser p, JsonToken value) throws IOException {
            if (value != JsonToken.START_ARRAY) {
                throw new IllegalArgumentException("messages must be an array");
            }
            while (p.nextToken() == JsonToken.START_OBJECT) {
                while (p.nextToken() == JsonToken.FIELD_NAME) {
                    String field = p.currentName();
                    JsonToken v = p.nextToken();
                    if ("content".equals(field) && v == JsonToken.START_ARRAY) {
                        contentParts(p);
                    } else if ("content".equals(field)) {
                        text(p, v, "content");
                    } else {
                        p.skipChildren();
                    }
                }
            }
            if (p.currentToken() != JsonToken.END_ARRAY) {
                throw new IllegalArgumentException("messages must be an array of objects");
            }
        }

        private void contentParts(JsonParser p) throws IOException {
            for (JsonToken t = p.nextToken(); t != JsonToken.END_ARRAY; t = p.nextToken()) {
                if (t == JsonToken.VALUE_STRING) {
                    texts.add(p.getText());
                } else if (t == JsonToken.START_OBJECT) {
                    while (p.nextToken() == JsonToken.FIELD_NAME) {
                        String field = p.currentName();
                        JsonToken v = p.nextToken();
                        if ("text".equals(field) && v == JsonToken.VALUE_STRING) {
                            texts.add(p.getText());
                        } else {
                            p.skipChildren();
                        }
                    }
                } else {
                    p.skipChildren();
                }
            }
        }

        private void text(JsonParser p, JsonToken value, String field) throws IOException {
            if (value == JsonToken.VALUE_STRING) {
                texts.add(p.getText());
            } else if (value != JsonToken.VALUE_NULL) {
                throw new IllegalArgumentException(field + " must be a string");
            }
        }

        private long nonNegative(JsonParser p, JsonToken value, String field, long max) throws IOException {
            if (value != JsonToken.VALUE_NUMBER_INT || p.getNumberType() == JsonParser.NumberType.BIG_INTEGER
                    || p.getLongValue() < 0 || p.getLongValue() > max) {
                throw new IllegalArgumentException(field + " must be an integer between 0 and " + max);
            }
            return p.getLongValue();
        }
    }
}
