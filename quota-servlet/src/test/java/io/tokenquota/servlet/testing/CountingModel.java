package io.tokenquota.servlet.testing;

import jakarta.servlet.ServletException;
import jakarta.servlet.http.HttpServlet;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;
import java.net.URI;
import java.net.http.HttpRequest;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;

/**
 * A break-it round's mock chat model: for each POST it reads the whole body, counts one model call for
 * the request's subject ({@code x-user-id}) in the round's {@link ModelCalls}, then answers as the
 * round's subclass says. The {@link Call} it answers has what the rounds' models read from the request:
 * the usage its {@code x-prompt} and {@code x-completion} headers name (an input the estimate cannot
 * see: a file, an image, a stored thread) and the {@code x-variant} that says how the model answers.
 */
public abstract class CountingModel extends HttpServlet {
    private final ModelCalls counted;

    protected CountingModel(ModelCalls calls) {
        this.counted = calls;
    }

    @Override
    protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException, ServletException {
        byte[] body = req.getInputStream().readAllBytes();
        String s = req.getHeader("x-user-id");
        counted.count(s);
        answer(new Call(req, resp, s, body));
    }

    /**
     * A gpt-4o-mini chat body asking a summary of an attached file in {@code maxTokens} at most; streamed
     * with {@code stream_options.include_usage} when {@code stream}.
     */
    public static String chat(long maxTokens, boolean stream) {
        return "{\"model\":\"gpt-4o-mini\",\"messages\":[{\"role\":\"user\",\"content\":\"summarise the attached file\"}],"
                + (stream ? "\"stream\":true,\"stream_options\":{\"include_usage\":true}," : "")
                + "\"max_tokens\":" + maxTokens + "}";
    }

    /**
     * The {@link #chat} POST to {@code uri} as {@code s} (streamed when {@code variant} starts "stream"),
     * naming the usage the model answers ({@code x-prompt}, {@code x-completion}) and how
     * ({@code x-variant}), then {@code more} headers.
     */
    public static HttpRequest request(URI uri, String s, long maxTokens, long prompt, long completion, String variant,
                                      String... more) {
        List<String> headers = new ArrayList<>(List.of("x-prompt", Long.toString(prompt), "x-completion",
                Long.toString(completion), "x-variant", variant));
        headers.addAll(List.of(more));
        return TestHttp.jsonPost(uri, s, chat(maxTokens, variant.startsWith("stream")), headers.toArray(String[]::new));
    }

    /**
     * A mock model that answers every call with {@code chunks} labelled {@code contentType}, each one
     * written and flushed, as a provider sends its events.
     */
    public static CountingModel answering(ModelCalls calls, String contentType, String... chunks) {
        return new CountingModel(calls) {
            @Override
            protected void answer(Call call) throws IOException {
                call.resp().setContentType(contentType);
                java.io.OutputStream out = call.resp().getOutputStream();
                for (String chunk : chunks) {
                    out.write(chunk.getBytes(StandardCharsets.UTF_8));
                    out.flush();
                }
            }
        };
    }

    /** Answers the counted call. */
    protected abstract void answer(Call call) throws IOException, ServletException;

    /** One counted model call: the request, its response, its subject and the body it was sent. */
    public record Call(HttpServletRequest req, HttpServletResponse resp, String subject, byte[] body) {
        /** The prompt tokens the request's {@code x-prompt} header names. */
        public long prompt() {
            return Long.parseLong(req.getHeader("x-prompt"));
        }

        /** The completion tokens the request's {@code x-completion} header names. */
        public long completion() {
            return Long.parseLong(req.getHeader("x-completion"));
        }

        /** The request's {@code x-variant} ("null" without one). */
        public String variant() {
            return String.valueOf(req.getHeader("x-variant"));
        }

        /** The body the model was sent, as UTF-8 text. */
        public String text() {
            return new String(body, StandardCharsets.UTF_8);
        }

        /** The whole gpt-4o-mini completion {@code id} ("ok"), with the usage the headers name. */
        public String completionJson(String id) {
            return ChatCompletions.completion(id, "gpt-4o-mini", "ok", prompt(), completion());
        }

        /**
         * Streams the answer: one "word " event of {@code id}, then the usage event (the headers' usage) and
         * {@code [DONE]}, flushed: the client has the whole answer.
         */
        public void streamWordAndUsage(String id) throws IOException {
            resp.setContentType("text/event-stream");
            java.io.PrintWriter w = resp.getWriter();
            w.write(ChatCompletions.wordEvent(id));
            w.write(ChatCompletions.usageEvent(id, prompt(), completion()) + ChatCompletions.DONE);
            w.flush();
        }

        /**
         * vLLM's continuous usage stats (rounds 89, 359): a word with the running totals, then, once {@code gate}
         * passes this call's subject (the model still finishing), the chunk with {@code finish_reason}, totals
         * counting {@code lastCompletion} output tokens, and {@code [DONE]}.
         */
        public void streamRunningTotals(String id, SubjectGates gate, long lastCompletion) throws IOException {
            resp.setContentType("text/event-stream");
            java.io.PrintWriter w = resp.getWriter();
            String head = ChatCompletions.chunkHead(id);
            w.write("data: " + head + "\"choices\":[{\"index\":0,\"delta\":{\"content\":\"word \"}}],"
                    + ChatCompletions.usage(prompt(), completion()) + "}\n\n");
            w.flush();
            gate.pass(subject());
            w.write("data: " + head + "\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}],"
                    + ChatCompletions.usage(prompt(), lastCompletion) + "}\n\n" + ChatCompletions.DONE);
            w.flush();
        }

        /** Answers {@link #completionJson} through the output stream, its length declared. */
        public void answerWithLength(String id) throws IOException {
            ChatCompletions.writeWithLength(resp, completionJson(id).getBytes(StandardCharsets.UTF_8));
        }
    }
}
