package io.tokenquota.servlet.breakit36;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.tokenquota.QuotaAccount;
import io.tokenquota.servlet.QuotaFilter;
import io.tokenquota.servlet.testing.Deployment;
import io.tokenquota.servlet.testing.H2FilterRound;
import io.tokenquota.servlet.testing.JsonTree;
import io.tokenquota.servlet.testing.Prose;
import io.tokenquota.servlet.testing.RelayedAnswers;
import io.tokenquota.servlet.testing.TestHttp;
import jakarta.servlet.MultipartConfigElement;
import jakarta.servlet.http.HttpServlet;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import jakarta.servlet.http.Part;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.net.http.HttpResponse;
import java.nio.charset.Charset;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import org.junit.jupiter.api.Test;
import org.springframework.context.annotation.Bean;
import org.springframework.context.annotation.Configuration;
import org.springframework.web.bind.annotation.PostMapping;
import org.springframework.web.bind.annotation.RequestBody;
import org.springframework.web.bind.annotation.RestController;
import org.springframework.web.context.support.AnnotationConfigWebApplicationContext;
import org.springframework.web.servlet.DispatcherServlet;
import org.springframework.web.servlet.config.annotation.EnableWebMvc;

import static io.tokenquota.servlet.testing.RelayedAnswers.called;
import static io.tokenquota.servlet.testing.RelayedAnswers.calls;
import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * Round 36 of issue 11 ("no model call goes unpaid, nothing that never reached a model is charged"):
 * the request side. Requests the endpoint reads one way and the filter's estimator another, so a
 * 20,000-token allowance buys a call far larger than it (the item 1: a body held at the
 * fallback, served and overdrawn).
 */
abstract class AbstractRound36 extends H2FilterRound {
    static final ObjectMapper MAPPER = new ObjectMapper();

    static String subject() {
        return "u36-" + UUID.randomUUID().toString().substring(0, 12);
    }

    static Map<String, Object> usage(long prompt, long completion) {
        return MAPPER.convertValue(MAPPER.createObjectNode().put("object", "chat.completion")
                .set("usage", MAPPER.createObjectNode().put("prompt_tokens", prompt).put("completion_tokens", completion)
                        .put("total_tokens", prompt + completion)), Map.class);
    }

    static void openAiJson(HttpServletResponse resp, long prompt, long completion) throws IOException {
        resp.setContentType("application/json");
        resp.getWriter().write(RelayedAnswers.completionJson("ok", prompt, completion));
    }

    // ------------------------------------------------------------------ Spring MVC

    /** A chat request as a Spring {@code @RequestBody} DTO binds it. */
    public static class ChatRequest {
        public String model;
        public Integer n;
        public Integer max_tokens;
        public List<Map<String, Object>> messages;
    }

    static long promptChars(List<Map<String, Object>> messages) {
        long n = 0;
        if (messages != null) {
            for (Map<String, Object> m : messages) {
                n += String.valueOf(m.get("content")).length();
            }
        }
        return n;
    }

    @RestController
    public static class ChatController {
        /** One chat call: its prompt (4 characters a token) and n × max_tokens written. */
        @PostMapping({"/chat", "/ai/spring/chat"})
        public Map<String, Object> chat(@RequestBody ChatRequest chat, HttpServletRequest req) {
            called(req);
            long n = chat.n == null ? 1 : chat.n;
            long max = chat.max_tokens == null ? 1_000 : chat.max_tokens;
            return usage(promptChars(chat.messages) / 4 + 1, n * max);
        }

        /** A batch endpoint: {@code @RequestBody List<ChatRequest>}, each request run. */
        @PostMapping({"/batch", "/ai/spring/batch"})
        public Map<String, Object> batch(@RequestBody List<ChatRequest> chats, HttpServletRequest req) {
            called(req);
            long prompt = 0;
            long completion = 0;
            for (ChatRequest chat : chats) {
                prompt += promptChars(chat.messages) / 4 + 1;
                completion += (chat.n == null ? 1 : chat.n) * (chat.max_tokens == null ? 1_000L : chat.max_tokens);
            }
            return usage(prompt, completion);
        }
    }

    @Configuration
    @EnableWebMvc
    static class WebConfig {
        @Bean
        ChatController chatController() {
            return new ChatController();
        }
    }

    // ------------------------------------------------------------------ plain servlets


    /**
     * A document summariser: the uploaded file's text, in the encoding its byte order mark names
     * (Notepad's "Unicode" is UTF-16LE with a BOM), as commons-io's {@code BOMInputStream} or any
     * text-import code reads it; UTF-8 without one.
     */
    public static class Summarise extends HttpServlet {
        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException, jakarta.servlet.ServletException {
            Part file = req.getPart("file");
            byte[] bytes = file.getInputStream().readAllBytes();
            String text;
            if (bytes.length >= 2 && (bytes[0] & 0xFF) == 0xFF && (bytes[1] & 0xFF) == 0xFE) {
                text = new String(bytes, 2, bytes.length - 2, StandardCharsets.UTF_16LE);
            } else if (bytes.length >= 2 && (bytes[0] & 0xFF) == 0xFE && (bytes[1] & 0xFF) == 0xFF) {
                text = new String(bytes, 2, bytes.length - 2, StandardCharsets.UTF_16BE);
            } else {
                text = new String(bytes, StandardCharsets.UTF_8);
            }
            called(req);
            openAiJson(resp, text.length() / 4 + 1, 300);
        }
    }

    /**
     * SGLang's native {@code POST /generate}: {@code text} (a prompt or a list of prompts) or
     * {@code input_ids} (token ids, or a list of such lists), and {@code sampling_params} with
     * {@code max_new_tokens} and {@code n}. Answers as SGLang does, {@code meta_info} with the token
     * counts, plus an OpenAI-style {@code usage} so the charge is never in question here.
     */
    public static class SglangGenerate extends HttpServlet {
        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            JsonNode body = MAPPER.readTree(req.getInputStream());
            called(req);
            JsonNode params = body.path("sampling_params");
            long max = params.path("max_new_tokens").asLong(128);
            long n = params.path("n").asLong(1);
            long prompts = 1;
            long prompt = 0;
            if (body.path("text").isArray()) {
                prompts = body.path("text").size();
                for (JsonNode t : body.path("text")) {
                    prompt += t.asText().length() / 4 + 1;
                }
            } else if (body.path("text").isTextual()) {
                prompt = body.path("text").asText().length() / 4 + 1;
            } else if (body.path("input_ids").isArray()) {
                JsonNode ids = body.path("input_ids");
                if (ids.size() > 0 && ids.get(0).isArray()) {
                    prompts = ids.size();
                    for (JsonNode one : ids) {
                        prompt += one.size();
                    }
                } else {
                    prompt = ids.size();
                }
            }
            long completion = prompts * n * max;
            resp.setContentType("application/json");
            resp.getWriter().write("{\"text\":\"...\",\"meta_info\":{\"prompt_tokens\":" + prompt + ",\"completion_tokens\":"
                    + completion + "},\"usage\":{\"prompt_tokens\":" + prompt + ",\"completion_tokens\":" + completion
                    + ",\"total_tokens\":" + (prompt + completion) + "}}");
        }
    }

    @Override
    protected Deployment deploy(QuotaFilter filter) {
        AnnotationConfigWebApplicationContext context = new AnnotationConfigWebApplicationContext();
        context.register(WebConfig.class);
        MultipartConfigElement multipart = new MultipartConfigElement("", 8 << 20, 8 << 20, 0);
        return Deployment.create()
                .filter("quota", filter, "/*")
                .servlet("spring", new DispatcherServlet(context), "/ai/spring/*")
                .servlet("text", new RelayedAnswers.ReaderPrompt(), "/ai/text")
                .multipartServlet("summarise", new Summarise(), multipart, "/ai/summarise")
                .servlet("sglang", new SglangGenerate(), "/ai/sglang/generate");
    }

    // ------------------------------------------------------------------ helpers



    HttpResponse<String> post(String path, String subject, byte[] body, String contentType) {
        return TestHttp.post(container.uri(path), body, "x-user-id", subject, "Content-Type", contentType);
    }

    /**
     * A call that costs far more than the 20,000-token allowance must be refused before the model runs
     * (the item 1: a body held at the fallback, served, charged 154,751 on a 20,000 allowance).
     */
    void assertRefusedAsTooBig(String path, byte[] body, String contentType, String what) {
        String s = subject();
        HttpResponse<String> r = post(path, s, body, contentType);
        QuotaAccount a = settled(s);
        assertEquals(0, calls(s), what + ": the hold must see what the endpoint reads, so a " + ALLOWANCE
                + "-token allowance cannot buy this call; got " + r.statusCode() + " after a hold of "
                + r.headers().firstValue("X-Quota-Remaining").map(rem -> (ALLOWANCE - Long.parseLong(rem)) + " tokens").orElse("?")
                + ", model calls " + calls(s) + ", charged " + a.used() + " (" + ledger(s) + ")");
        assertEquals(429, r.statusCode(), what);
    }

    static String chatRequest(String content, int maxTokens, int n) {
        return "{\"model\":\"gpt-4o\",\"n\":" + n + ",\"max_tokens\":" + maxTokens
                + ",\"messages\":[{\"role\":\"user\",\"content\":" + JsonTree.quoted(content) + "}]}";
    }

    // ------------------------------------------------------------------ 1. a batch with bytes after it

    /**
     * {@code POST /ai/spring/batch} (Spring {@code @RequestBody List<ChatRequest>}) with four requests of
     * {@code max_tokens: 8000} (32,000 output tokens): refused on a 20,000 allowance (control). The same
     * array followed by one more byte ({@code x}): Jackson, as Spring's converter uses it, reads the
     * array and never looks past it ({@code FAIL_ON_TRAILING_TOKENS} is off by default), so the four
     * calls run; the filter's {@code estimateEach} refuses an array with anything after it and reads
     * the body as text: the 1,000-token fallback, and 32,000 tokens are written on a 20,000 allowance.
     */
    @Test
    void aBatchArrayWithAByteAfterItIsHeldForItsRequests() {
        String one = chatRequest("Write a long story about a lighthouse.", 8_000, 1);
        String batch = "[" + String.join(",", one, one, one, one) + "]";
        assertRefusedAsTooBig("/ai/spring/batch", batch.getBytes(StandardCharsets.UTF_8), "application/json",
                "control: a batch of four 8,000-token requests");
        assertRefusedAsTooBig("/ai/spring/batch", (batch + "x").getBytes(StandardCharsets.UTF_8), "application/json",
                "the same batch with one byte after the array");
    }

    /**
     * The same kind of batch carrying a 600 KB document (~130,000 tokens) and one NUL byte after the
     * array: the body is then "binary" by the filter's rule (a NUL), so not even its text counts: held
     * at the 1,000 fallback; Spring binds the array and the model reads the document.
     */
    @Test
    void aBatchArrayWithANulAfterItIsHeldForItsText() {
        String batch = "[" + chatRequest("Summarise this report: " + Prose.english(600_000), 500, 1) + "]";
        assertRefusedAsTooBig("/ai/spring/batch", (batch + "\u0000").getBytes(StandardCharsets.UTF_8), "application/json",
                "a one-request batch of a 600 KB document with a NUL after the array");
    }

    // ------------------------------------------------------------------ 2. a NUL in a text prompt

    /**
     * {@code POST /ai/text} ({@code text/plain; charset=utf-8}, read through {@code getReader()}) with a
     * 600 KB prompt (~130,000 tokens) and one NUL character at its end. The filter calls any body with
     * a NUL "binary" and holds the 1,000-token fallback; the endpoint's Reader gives the model all the
     * text. Without the NUL the same body is refused (item 1's fix).
     */
    @Test
    void aTextPromptWithOneNulCharacterIsEstimated() {
        String text = Prose.english(600_000);
        assertRefusedAsTooBig("/ai/text", text.getBytes(StandardCharsets.UTF_8), "text/plain; charset=utf-8",
                "control: a 600 KB text prompt");
        assertRefusedAsTooBig("/ai/text", (text + "\u0000").getBytes(StandardCharsets.UTF_8), "text/plain; charset=utf-8",
                "the same prompt with one NUL character at its end");
    }

    /**
     * {@code POST /ai/text} labelled {@code text/plain} with no charset, its body a 400 KB Russian text
     * in windows-1251 (as a Windows client writes it). The endpoint's {@code getReader()} reads an
     * unlabelled body in the container's default (ISO-8859-1 by the Servlet spec): 400,000 characters
     * reach the model. The filter reads an unlabelled body as UTF-8 only, in which nearly every byte of
     * it is malformed, so it is "binary": held at the 1,000 fallback. (A labelled body counts as the
     * larger of its two readings; an unlabelled one is read one way.)
     */
    @Test
    void anUnlabelledSingleByteTextPromptIsEstimated() {
        String[] words = {"комитет", "рассмотрел", "квартальные", "результаты", "и", "отметил", "что", "выручка",
                "в", "северных", "регионах", "выросла", "а", "расходы", "на", "логистику", "резко", "поднялись"};
        StringBuilder sb = new StringBuilder();
        for (int i = 0; sb.length() < 400_000; i++) {
            sb.append(words[i % words.length]).append(i % 13 == 12 ? ". " : " ");
        }
        assertRefusedAsTooBig("/ai/text", sb.toString().getBytes(StandardCharsets.UTF_8), "text/plain",
                "control: the Russian text in UTF-8");
        assertRefusedAsTooBig("/ai/text", sb.toString().getBytes(Charset.forName("windows-1251")), "text/plain",
                "the Russian text in windows-1251, unlabelled");
    }

    // ------------------------------------------------------------------ 3. a UTF-16 text file

    static byte[] upload(String boundary, String fileHeaders, byte[] content) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        out.writeBytes(("--" + boundary + "\r\nContent-Disposition: form-data; name=\"file\"; filename=\"report.txt\"\r\n"
                + fileHeaders + "\r\n").getBytes(StandardCharsets.ISO_8859_1));
        out.writeBytes(content);
        out.writeBytes(("\r\n--" + boundary + "--\r\n").getBytes(StandardCharsets.ISO_8859_1));
        return out.toByteArray();
    }

    /**
     * {@code POST /ai/summarise} (multipart) with a text file saved as Notepad's "Unicode": UTF-16LE
     * with a byte order mark, 300,000 characters (~65,000 tokens), sent as {@code application/octet-stream}
     * as browsers and most clients send a file of unknown type. The endpoint reads it in the encoding
     * its BOM names. The filter decodes the file as UTF-8 only: UTF-16's zero bytes are NULs, so the
     * file counts as binary and the request is held at the 1,000 fallback. The same text in UTF-8 is
     * refused (control).
     */
    @Test
    void aUtf16TextFileWithAByteOrderMarkIsEstimated() {
        String text = Prose.english(300_000);
        String boundary = "b36" + UUID.randomUUID().toString().replace("-", "");
        String type = "multipart/form-data; boundary=" + boundary;
        assertRefusedAsTooBig("/ai/summarise", upload(boundary, "Content-Type: application/octet-stream\r\n",
                text.getBytes(StandardCharsets.UTF_8)), type, "control: the text file in UTF-8");
        ByteArrayOutputStream utf16 = new ByteArrayOutputStream();
        utf16.write(0xFF);
        utf16.write(0xFE);
        utf16.writeBytes(text.getBytes(StandardCharsets.UTF_16LE));
        assertRefusedAsTooBig("/ai/summarise", upload(boundary, "Content-Type: application/octet-stream\r\n",
                utf16.toByteArray()), type, "the same text file in UTF-16LE with a BOM");
    }

    // ------------------------------------------------------------------ 4. SGLang's native API

    /**
     * {@code POST /ai/sglang/generate} {@code {"text": …, "sampling_params": {"max_new_tokens": 16000,
     * "n": 2}}}: SGLang's native generate API asks for its budget and count in {@code sampling_params},
     * which the estimator does not read: held at the default 1,000-token budget, the call writes 32,000
     * tokens on a 20,000 allowance.
     */
    @Test
    void sglangSamplingParamsBudgetIsHeld() {
        assertRefusedAsTooBig("/ai/sglang/generate",
                "{\"text\":\"Write a long story about a lighthouse.\",\"sampling_params\":{\"max_new_tokens\":16000,\"n\":2}}"
                        .getBytes(StandardCharsets.UTF_8), "application/json", "sampling_params.max_new_tokens 16,000, n 2");
    }

    /**
     * The same API with 40 prompts in a {@code text} list, each completed up to 1,000 tokens (40,000):
     * a list of prompts is a batch (as the estimator already holds a legacy completions {@code prompt}
     * list), but under SGLang's name {@code text} it is held once.
     */
    @Test
    void sglangListOfPromptsIsHeldPerPrompt() {
        StringBuilder prompts = new StringBuilder();
        for (int i = 0; i < 40; i++) {
            prompts.append(i == 0 ? "" : ",").append("\"Write a story about lighthouse ").append(i).append(".\"");
        }
        assertRefusedAsTooBig("/ai/sglang/generate", ("{\"text\":[" + prompts + "],\"sampling_params\":{\"max_new_tokens\":1000}}")
                .getBytes(StandardCharsets.UTF_8), "application/json", "40 prompts of up to 1,000 tokens each");
    }

    /**
     * The same API with a pre-tokenised prompt: {@code input_ids} of 60,000 token ids (the model reads
     * 60,000 input tokens). The estimator counts a number as a token only under {@code prompt},
     * {@code input} or the conversation, so the ids cost nothing and the call is held at 1,000.
     */
    @Test
    void sglangInputIdsAreCountedAsTokens() {
        StringBuilder ids = new StringBuilder();
        for (int i = 0; i < 60_000; i++) {
            ids.append(i == 0 ? "" : ",").append(1000 + (i * 37) % 90_000);
        }
        assertRefusedAsTooBig("/ai/sglang/generate", ("{\"input_ids\":[" + ids + "],\"sampling_params\":{\"max_new_tokens\":100}}")
                .getBytes(StandardCharsets.UTF_8), "application/json", "60,000 input token ids");
    }
}
