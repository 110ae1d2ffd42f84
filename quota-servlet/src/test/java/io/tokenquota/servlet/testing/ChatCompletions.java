package io.tokenquota.servlet.testing;

import jakarta.servlet.AsyncContext;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.TimeUnit;

/** OpenAI chat completion answers as the break-it rounds' mock models write them. */
public final class ChatCompletions {
    private ChatCompletions() {
    }

    /**
     * A whole (not streamed) chat completion as a mock model answers: {@code model}'s one choice,
     * {@code content} (inserted as given: JSON-escaped by the caller), finished with {@code stop}, and its
     * usage, {@code promptTokens} in and {@code completionTokens} out.
     */
    public static String completion(String id, String model, String content, long promptTokens, long completionTokens) {
        return "{\"id\":\"" + id + "\",\"object\":\"chat.completion\",\"model\":\"" + model + "\","
                + "\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\",\"content\":\"" + content + "\"},"
                + "\"finish_reason\":\"stop\"}],\"usage\":{\"prompt_tokens\":" + promptTokens + ",\"completion_tokens\":"
                + completionTokens + ",\"total_tokens\":" + (promptTokens + completionTokens) + "}}";
    }

    /** OpenAI's {@code "usage"} member: {@code prompt} in, {@code completion} out, and their total. */
    public static String usage(long prompt, long completion) {
        return "\"usage\":{\"prompt_tokens\":" + prompt + ",\"completion_tokens\":" + completion
                + ",\"total_tokens\":" + (prompt + completion) + "}";
    }

    /** The start of a gpt-4o-mini stream chunk of {@code id}, up to its {@code choices}. */
    public static String chunkHead(String id) {
        return "{\"id\":\"" + id + "\",\"object\":\"chat.completion.chunk\",\"model\":\"gpt-4o-mini\",";
    }

    /** A gpt-4o-mini stream event of {@code id} whose one choice adds the text "word ". */
    public static String wordEvent(String id) {
        return "data: " + chunkHead(id) + "\"choices\":[{\"index\":0,\"delta\":{\"content\":\"word \"}}]}\n\n";
    }

    /**
     * The usage event a gpt-4o-mini stream of {@code id} ends with when asked for it
     * ({@code stream_options.include_usage}): no choices, the usage.
     */
    public static String usageEvent(String id, long prompt, long completion) {
        return "data: " + chunkHead(id) + "\"choices\":[]," + usage(prompt, completion) + "}\n\n";
    }

    /** The event that ends an OpenAI stream. */
    public static final String DONE = "data: [DONE]\n\n";

    /** JSON of {@code length} bytes is coming: the content type and a declared length. */
    public static void declareJson(HttpServletResponse resp, int length) {
        resp.setContentType("application/json");
        resp.setContentLength(length);
    }

    /** Writes {@code bytes} as JSON through the output stream, its length declared first. */
    public static void writeWithLength(HttpServletResponse resp, byte[] bytes) throws IOException {
        declareJson(resp, bytes.length);
        resp.getOutputStream().write(bytes);
    }

    /**
     * An event stream written from an async worker, as an {@code SseEmitter} does: {@code words} word chunks, the
     * usage chunk ({@code prompt} + {@code completion}) and {@code [DONE]}, then {@code complete()}. Stops quietly
     * where the client went.
     */
    public static void streamAsync(HttpServletRequest req, HttpServletResponse resp, String id, int words, long prompt,
            long completion) {
        resp.setContentType("text/event-stream");
        AsyncContext async = req.startAsync(req, resp);
        async.setTimeout(0);
        async.start(() -> {
            try {
                OutputStream out = async.getResponse().getOutputStream();
                for (int i = 0; i < words; i++) {
                    out.write(wordEvent(id).getBytes(StandardCharsets.UTF_8));
                }
                out.write(usageEvent(id, prompt, completion).getBytes(StandardCharsets.UTF_8));
                out.write(DONE.getBytes(StandardCharsets.UTF_8));
                out.flush();
            } catch (IOException | RuntimeException e) {
                // the client went
            } finally {
                async.complete();
            }
        });
    }

    /**
     * A long gpt-4o stream with {@code include_usage}: a "word " chunk every 20 ms for 10 s, then the
     * usage chunk ({@code promptTokens} in, one token a word out) and {@code [DONE]}. Stops at the first
     * write that fails, as a relay whose client hung up does.
     */
    public static void streamWordsWithUsage(HttpServletResponse resp, String id, long promptTokens) throws IOException {
        resp.setContentType("text/event-stream");
        OutputStream out = resp.getOutputStream();
        String head = "{\"id\":\"" + id + "\",\"object\":\"chat.completion.chunk\",\"created\":1700000000,\"model\":\"gpt-4o\",";
        try {
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
            int words = 0;
            while (System.nanoTime() < deadline) {
                out.write(("data: " + head + "\"choices\":[{\"index\":0,\"delta\":{\"content\":\"word \"},"
                        + "\"finish_reason\":null}]}\n\n").getBytes(StandardCharsets.UTF_8));
                out.flush();
                words++;
                Thread.sleep(20);
            }
            out.write(("data: " + head + "\"choices\":[],\"usage\":{\"prompt_tokens\":" + promptTokens
                    + ",\"completion_tokens\":" + words + ",\"total_tokens\":" + (promptTokens + words) + "}}\n\n"
                    + "data: [DONE]\n\n").getBytes(StandardCharsets.UTF_8));
        } catch (IOException gone) {
            // the client hung up: the relay stops here
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    /**
     * A Chat Completions stream without a usage chunk (the request asked for none: no
     * {@code stream_options.include_usage}), as the OpenAI API streams it: one chunk per word of a fixed sentence,
     * then the {@code finish_reason} chunk and {@code [DONE]}.
     */
    public static void streamWithoutUsage(OutputStream out) throws IOException {
        String id = "chatcmpl-B9MHDbslfkBeAs8l4bebGdFOJ6PeG";
        String head = "data: {\"id\":\"" + id + "\",\"object\":\"chat.completion.chunk\",\"created\":1741569952,"
                + "\"model\":\"gpt-4o-2024-08-06\",\"system_fingerprint\":\"fp_fc9f1d7035\",\"choices\":[{\"index\":0,";
        for (String word : "The minutes record that revenue grew in the northern regions .".split(" ")) {
            out.write((head + "\"delta\":{\"content\":\"" + word + " \"},\"logprobs\":null,\"finish_reason\":null}]}\n\n")
                    .getBytes(StandardCharsets.UTF_8));
        }
        out.write((head + "\"delta\":{},\"logprobs\":null,\"finish_reason\":\"stop\"}]}\n\n" + DONE)
                .getBytes(StandardCharsets.UTF_8));
    }

    /**
     * The chat completion object of a call with {@code logprobs: true, top_logprobs: 5} (OpenAI API reference, "The
     * chat completion object": {@code choices[].logprobs.content[]} of {@code token}, {@code logprob}, {@code bytes}
     * and {@code top_logprobs[]}, then {@code refusal}), one entry per completion token, {@code usage} last: some
     * 350 bytes a completion token (rounds 400, 403: some 3 MB for 8,800).
     */
    public static byte[] withLogprobs(String id, long prompt, long completion) {
        String[] words = Prose.english(60_000).split(" ");
        StringBuilder text = new StringBuilder();
        StringBuilder content = new StringBuilder();
        for (int i = 0; i < completion; i++) {
            String t = (i == 0 ? "" : " ") + words[i % words.length].replaceAll("[^A-Za-z]", "");
            text.append(t);
            if (i > 0) {
                content.append(',');
            }
            String own = entry(t, -0.0123);
            // the entry without its closing brace, then its alternatives
            content.append(own, 0, own.length() - 1).append(",\"top_logprobs\":[");
            for (int k = 0; k < 5; k++) {
                content.append(k == 0 ? "" : ",").append(entry(k == 0 ? t : t + "s", -0.0123 - k * 1.5));
            }
            content.append("]}");
        }
        String doc = "{\"id\":\"" + id + "\",\"object\":\"chat.completion\",\"created\":1750000000,"
                + "\"model\":\"gpt-4.1-2025-04-14\",\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\","
                + "\"content\":\"" + text + "\",\"refusal\":null,\"annotations\":[]},\"logprobs\":{\"content\":["
                + content + "],\"refusal\":null},\"finish_reason\":\"stop\"}]," + usage(prompt, completion)
                + ",\"service_tier\":\"default\",\"system_fingerprint\":\"fp_logprobs\"}";
        return doc.getBytes(StandardCharsets.UTF_8);
    }

    private static String entry(String token, double logprob) {
        StringBuilder bytes = new StringBuilder();
        for (byte b : token.getBytes(StandardCharsets.UTF_8)) {
            bytes.append(bytes.length() == 0 ? "" : ",").append(b & 0xFF);
        }
        return "{\"token\":\"" + token + "\",\"logprob\":" + logprob + ",\"bytes\":[" + bytes + "]}";
    }

    /**
     * A finished chat completion as OpenAI answers it (API reference, "The chat completion object": its usage with
     * both detail objects, then {@code service_tier} and {@code system_fingerprint}) whose answer is a notice clause
     * repeated (about 24 KB), reporting {@code prompt} and {@code completion} tokens (rounds 382, 383).
     */
    public static byte[] contractNotice(long prompt, long completion) {
        return ("{\"id\":\"chatcmpl-B9MHDbslfkBeAs8l4bebGdFOJ6PeG\",\"object\":\"chat.completion\","
                + "\"created\":1741570283,\"model\":\"gpt-4o-2024-08-06\",\"choices\":[{\"index\":0,\"message\":{"
                + "\"role\":\"assistant\",\"content\":\"" + "The clause allows thirty days' notice. ".repeat(600)
                + "\",\"refusal\":null,\"annotations\":[]},\"logprobs\":null,\"finish_reason\":\"stop\"}],"
                + "\"usage\":{\"prompt_tokens\":" + prompt + ",\"completion_tokens\":" + completion
                + ",\"total_tokens\":" + (prompt + completion) + ",\"prompt_tokens_details\":{\"cached_tokens\":0,"
                + "\"audio_tokens\":0},\"completion_tokens_details\":{\"reasoning_tokens\":0,\"audio_tokens\":0,"
                + "\"accepted_prediction_tokens\":0,\"rejected_prediction_tokens\":0}},"
                + "\"service_tier\":\"default\",\"system_fingerprint\":\"fp_fc9f1d7035\"}")
                .getBytes(StandardCharsets.UTF_8);
    }
}
