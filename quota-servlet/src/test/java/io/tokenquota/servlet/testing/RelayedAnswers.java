package io.tokenquota.servlet.testing;

import jakarta.servlet.http.HttpServletRequest;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * What the break-it rounds' relays share: the upstream answers they relay (OpenAI chat completions,
 * or a stream with usage) and a count of the model calls each subject made, so a test
 * can tell a call that reached the model from one refused before it.
 */
public final class RelayedAnswers {
    private static final Map<String, AtomicInteger> CALLS = new ConcurrentHashMap<>();

    private RelayedAnswers() {
    }

    /** Model calls made for {@code subject} (its {@code x-user-id}). */
    public static int calls(String subject) {
        AtomicInteger n = CALLS.get(subject);
        return n == null ? 0 : n.get();
    }

    /** Counts one model call for the request's subject. */
    public static void called(HttpServletRequest req) {
        CALLS.computeIfAbsent(String.valueOf(req.getHeader("x-user-id")), k -> new AtomicInteger()).incrementAndGet();
    }

    /** An OpenAI chat completion with its usage. */
    public static String completionJson(String content, long prompt, long completion) {
        Map<String, Object> usage = new LinkedHashMap<>();
        usage.put("prompt_tokens", prompt);
        usage.put("completion_tokens", completion);
        usage.put("total_tokens", prompt + completion);
        Map<String, Object> out = new LinkedHashMap<>();
        out.put("id", "chatcmpl-relayed");
        out.put("object", "chat.completion");
        out.put("choices", List.of(Map.of("index", 0, "message", Map.of("role", "assistant", "content", content),
                "finish_reason", "stop")));
        out.put("usage", usage);
        try {
            return new com.fasterxml.jackson.databind.ObjectMapper().writeValueAsString(out);
        } catch (Exception e) {
            throw new IllegalStateException(e);
        }
    }

    /**
     * A gpt-4.1 chat completion summarising a Q3 report in one sentence (40 completion tokens), its
     * usage totalling {@code usage}: a RAG endpoint's answer, whose prompt counts the documents it added.
     */
    public static String q3Summary(String id, long usage) {
        return "{\"id\":\"" + id + "\",\"object\":\"chat.completion\",\"model\":\"gpt-4.1\",\"choices\":[{\"index\":0,"
                + "\"message\":{\"role\":\"assistant\",\"content\":\"Revenue grew 12% while costs fell; the margin"
                + " reached a record.\"},\"finish_reason\":\"stop\"}],\"usage\":{\"prompt_tokens\":" + (usage - 40)
                + ",\"completion_tokens\":40,\"total_tokens\":" + usage + "}}";
    }

    /** An OpenAI chat stream (stream_options.include_usage) as the upstream sent it. */
    public static String streamText(long prompt, long completion) {
        return "data: {\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Once upon\"}}]}\n\n"
                + "data: {\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"choices\":[],\"usage\":{\"prompt_tokens\":" + prompt
                + ",\"completion_tokens\":" + completion + ",\"total_tokens\":" + (prompt + completion) + "}}\n\n"
                + "data: [DONE]\n\n";
    }

    /**
     * One message of AWS's binary event stream ({@code application/vnd.amazon.eventstream}), a
     * {@code chunk} event carrying {@code json} base64-encoded under {@code bytes}, as Bedrock's
     * InvokeModelWithResponseStream sends it.
     */
    public static byte[] awsEventStreamChunk(String json) {
        return awsEvent("chunk", "{\"bytes\":\"" + java.util.Base64.getEncoder().encodeToString(json.getBytes(java.nio.charset.StandardCharsets.UTF_8))
                + "\",\"p\":\"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123\"}");
    }

    /**
     * One message of AWS's binary event stream: an event named {@code type} (its {@code :event-type} header)
     * whose payload is {@code json} (prelude, headers, payload, CRCs). ConverseStream's payload is the
     * event's own body ({@code {"contentBlockIndex":0,"delta":{…}}}).
     */
    public static byte[] awsEvent(String type, String json) {
        return awsEvent(type, "application/json", json.getBytes(java.nio.charset.StandardCharsets.UTF_8));
    }

    /**
     * The same with any payload and its {@code :content-type}: SageMaker's {@code PayloadPart} carries the model
     * server's raw bytes as {@code application/octet-stream} (round 372).
     */
    public static byte[] awsEvent(String type, String contentType, byte[] payload) {
        java.io.ByteArrayOutputStream headers = new java.io.ByteArrayOutputStream();
        String[][] hs = {{":event-type", type}, {":content-type", contentType}, {":message-type", "event"}};
        for (String[] h : hs) {
            byte[] name = h[0].getBytes(java.nio.charset.StandardCharsets.UTF_8);
            byte[] value = h[1].getBytes(java.nio.charset.StandardCharsets.UTF_8);
            headers.write(name.length);
            headers.writeBytes(name);
            headers.write(7);
            headers.write(value.length >> 8);
            headers.write(value.length & 0xFF);
            headers.writeBytes(value);
        }
        byte[] hb = headers.toByteArray();
        int total = 12 + hb.length + payload.length + 4;
        java.nio.ByteBuffer buf = java.nio.ByteBuffer.allocate(total);
        buf.putInt(total).putInt(hb.length);
        java.util.zip.CRC32 crc = new java.util.zip.CRC32();
        crc.update(buf.array(), 0, 8);
        buf.putInt((int) crc.getValue());
        buf.put(hb).put(payload);
        crc = new java.util.zip.CRC32();
        crc.update(buf.array(), 0, total - 4);
        buf.putInt((int) crc.getValue());
        return buf.array();
    }

    /**
     * A text endpoint: the body, read through {@code getReader()} in its declared charset (the
     * container's default without one), is the prompt; answers with OpenAI's usage, the prompt at
     * four characters a token and 100 output tokens.
     */
    public static class ReaderPrompt extends jakarta.servlet.http.HttpServlet {
        @Override
        protected void doPost(HttpServletRequest req, jakarta.servlet.http.HttpServletResponse resp) throws java.io.IOException {
            StringBuilder prompt = new StringBuilder();
            char[] buf = new char[8192];
            int n;
            while ((n = req.getReader().read(buf)) != -1) {
                prompt.append(buf, 0, n);
            }
            called(req);
            resp.setContentType("application/json");
            resp.getWriter().write(completionJson("ok", prompt.length() / 4 + 1, 100));
        }
    }
}
