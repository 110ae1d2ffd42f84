package io.tokenquota.servlet.breakit48;

import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.openai.client.OpenAIClient;
import com.openai.client.okhttp.OpenAIOkHttpClient;
import com.openai.core.http.StreamResponse;
import com.openai.models.chat.completions.ChatCompletionChunk;
import com.openai.models.chat.completions.ChatCompletionContentPart;
import com.openai.models.chat.completions.ChatCompletionContentPartImage;
import com.openai.models.chat.completions.ChatCompletionContentPartText;
import com.openai.models.chat.completions.ChatCompletionCreateParams;
import com.openai.models.responses.Response;
import com.openai.models.responses.ResponseCreateParams;
import com.openai.models.responses.ResponseStreamEvent;
import io.tokenquota.QuotaAccount;
import io.tokenquota.servlet.QuotaFilter;
import io.tokenquota.servlet.testing.Deployment;
import io.tokenquota.servlet.testing.H2FilterRound;
import io.tokenquota.servlet.testing.ResponsesApi;
import jakarta.servlet.http.HttpServlet;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.awt.image.BufferedImage;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Base64;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.UUID;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.zip.Deflater;
import javax.imageio.ImageIO;
import org.junit.jupiter.api.Test;

/**
 * Round 48 of issue 11 ("no model call goes unpaid, nothing that never reached a model is charged"):
 * the official OpenAI Java SDK, used as an application uses it, against mock OpenAI endpoints behind
 * the filter.
 */
abstract class AbstractRound48 extends H2FilterRound {
    private static final ObjectMapper JSON = new ObjectMapper();
    /** The input tokens Anthropic counts for the web search call: the prompt and the results it read. */
    static final long SEARCH_INPUT = 14_200;
    /** Requests in the OpenAI batch. */

    static String subject() {
        return "u48-" + UUID.randomUUID().toString().substring(0, 12);
    }

    /**
     * Mock OpenAI: chat completions (a stream carries usage only with {@code include_usage}, as OpenAI's
     * does), the Responses API (stored responses, {@code previous_response_id}; a stream relayed event by
     * event until the client goes away, as a relay does), and Anthropic Messages (an overloaded stream, message batches) under {@code /anthropic}.
     */
    public static class MockOpenAi extends HttpServlet {
        /** Stored responses: id to the context tokens a later {@code previous_response_id} makes the model read. */
        static final Map<String, Long> STORED = new ConcurrentHashMap<>();
        static final AtomicLong IDS = new AtomicLong();

        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            String path = req.getPathInfo() == null ? "" : req.getPathInfo();
            JsonNode body = JSON.readTree(req.getInputStream().readAllBytes());
            boolean stream = body.path("stream").asBoolean(false);
            if (path.startsWith("/anthropic/") && path.endsWith("/batches")) {
                write(resp, "application/json", batch("in_progress"));
            } else if (path.startsWith("/anthropic/overloaded/")) {
                // Anthropic under load: a stream's 200 whose only event is the error a non-streamed call
                // gets as 529 ("overloaded_error ... would normally correspond to an HTTP 529")
                resp.setContentType("text/event-stream");
                event(resp.getOutputStream(), "error", "{\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\","
                        + "\"message\":\"Overloaded\"}}");
            } else if (path.endsWith("/chat/completions")) {
                chat(resp, stream, body.path("stream_options").path("include_usage").asBoolean(false));
            } else if (path.endsWith("/responses")) {
                responses(resp, body, stream);
            } else {
                resp.sendError(404);
            }
        }

        @Override
        protected void doGet(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            String path = req.getPathInfo() == null ? "" : req.getPathInfo();
            if (path.startsWith("/anthropic/") && path.endsWith("/results")) {
                // Anthropic's message batch results: one line per request of the batch
                resp.setContentType("application/x-jsonl");
                StringBuilder lines = new StringBuilder();
                for (int i = 0; i < 3; i++) {
                    lines.append("{\"custom_id\":\"req-").append(i).append("\",\"result\":{\"type\":\"succeeded\","
                            + "\"message\":{\"id\":\"msg_b").append(i).append("\",\"type\":\"message\",\"role\":\"assistant\","
                            + "\"model\":\"claude-sonnet-4-5\",\"content\":[{\"type\":\"text\",\"text\":\"ok\"}],"
                            + "\"stop_reason\":\"end_turn\",\"stop_sequence\":null,\"usage\":{\"input_tokens\":100,"
                            + "\"output_tokens\":200}}}}\n");
                }
                resp.getOutputStream().write(lines.toString().getBytes(StandardCharsets.UTF_8));
            } else if (path.startsWith("/anthropic/")) {
                write(resp, "application/json", batch("ended"));
            } else {
                resp.sendError(404);
            }
        }

        private static String batch(String status) {
            return "{\"id\":\"msgbatch_48\",\"type\":\"message_batch\",\"processing_status\":\"" + status + "\","
                    + "\"request_counts\":{\"processing\":0,\"succeeded\":3,\"errored\":0,\"canceled\":0,\"expired\":0},"
                    + "\"ended_at\":null,\"created_at\":\"2026-01-01T00:00:00Z\",\"expires_at\":\"2026-01-02T00:00:00Z\","
                    + "\"archived_at\":null,\"cancel_initiated_at\":null,\"results_url\":null}";
        }

                private static void chat(HttpServletResponse resp, boolean stream, boolean includeUsage) throws IOException {
            String head = "{\"id\":\"chatcmpl-48\",\"object\":\"chat.completion.chunk\",\"created\":1700000000,"
                    + "\"model\":\"gpt-4o\",";
            if (!stream) {
                write(resp, "application/json", "{\"id\":\"chatcmpl-48\",\"object\":\"chat.completion\",\"created\":1700000000,"
                        + "\"model\":\"gpt-4o\",\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\",\"content\":\"ok\","
                        + "\"refusal\":null},\"logprobs\":null,\"finish_reason\":\"stop\"}],\"usage\":{\"prompt_tokens\":10,"
                        + "\"completion_tokens\":1,\"total_tokens\":11}}");
                return;
            }
            resp.setContentType("text/event-stream");
            OutputStream out = resp.getOutputStream();
            for (String piece : new String[] {"The document ", "says ", "hello."}) {
                event(out, head + "\"choices\":[{\"index\":0,\"delta\":{\"content\":\"" + piece
                        + "\"},\"finish_reason\":null}]}");
            }
            event(out, head + "\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}");
            if (includeUsage) {
                event(out, head + "\"choices\":[],\"usage\":{\"prompt_tokens\":10,\"completion_tokens\":3,\"total_tokens\":13}}");
            }
            event(out, "[DONE]");
        }

        /** A Response object; {@code usage} null while it is in progress. */
        private static String response(String id, String status, String usage, String text) {
            return ResponsesApi.response(id, status, "", "gpt-4o", usage, text);
        }

        private void responses(HttpServletResponse resp, JsonNode body, boolean stream) throws IOException {
            String id = "resp_" + IDS.incrementAndGet();
            long history = STORED.getOrDefault(body.path("previous_response_id").asText(""), 0L);
            // what the model reads: the stored conversation and this input (4 characters a token)
            long input = history + body.path("input").toString().length() / 4;
            long output = 40;
            String usage = "{\"input_tokens\":" + input + ",\"input_tokens_details\":{\"cached_tokens\":0},"
                    + "\"output_tokens\":" + output + ",\"output_tokens_details\":{\"reasoning_tokens\":0},"
                    + "\"total_tokens\":" + (input + output) + "}";
            STORED.put(id, input + output);
            if (!stream) {
                write(resp, "application/json", response(id, "completed", usage, "Noted."));
                return;
            }
            resp.setContentType("text/event-stream");
            OutputStream out = resp.getOutputStream();
            try {
                event(out, "response.created", "{\"type\":\"response.created\",\"sequence_number\":0,\"response\":"
                        + response(id, "in_progress", "null", null) + "}");
                event(out, "response.in_progress", "{\"type\":\"response.in_progress\",\"sequence_number\":1,\"response\":"
                        + response(id, "in_progress", "null", null) + "}");
                // the model writes its answer token by token; the relay forwards each delta until the
                // client goes away, then stops relaying (the write failed)
                long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
                int seq = 2;
                while (System.nanoTime() < deadline) {
                    event(out, "response.output_text.delta", "{\"type\":\"response.output_text.delta\",\"sequence_number\":"
                            + seq++ + ",\"item_id\":\"msg_" + id + "\",\"output_index\":0,\"content_index\":0,"
                            + "\"delta\":\"word \",\"logprobs\":[]}");
                    Thread.sleep(20);
                }
                event(out, "response.completed", "{\"type\":\"response.completed\",\"sequence_number\":" + seq
                        + ",\"response\":" + response(id, "completed", usage, "word") + "}");
            } catch (IOException gone) {
                // the client hung up: a relay stops here
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }

        private static void write(HttpServletResponse resp, String type, String body) throws IOException {
            resp.setContentType(type);
            resp.getOutputStream().write(body.getBytes(StandardCharsets.UTF_8));
        }

        private static void event(OutputStream out, String data) throws IOException {
            event(out, null, data);
        }

        private static void event(OutputStream out, String name, String data) throws IOException {
            out.write(((name == null ? "" : "event: " + name + "\n") + "data: " + data + "\n\n").getBytes(StandardCharsets.UTF_8));
            out.flush();
        }
    }

    @Override
    protected Deployment deploy(QuotaFilter filter) {
        return Deployment.create()
                .filter("quota", filter, "/*")
                .multipartServlet("openai", new MockOpenAi(), new jakarta.servlet.MultipartConfigElement(""), "/ai/*");
    }

    /** The SDK's client, closed as a resource. */
    record Sdk(OpenAIClient client) implements AutoCloseable {
        @Override
        public void close() {
            client.close();
        }
    }

    Sdk client(String subject) {
        return new Sdk(OpenAIOkHttpClient.builder().apiKey("sk-test").baseUrl(container.uri("/ai/v1").toString())
                .putHeader("x-user-id", subject).maxRetries(0).build());
    }

    /** Streams a chat completion the way the SDK's README does (no {@code include_usage}) and reads it all. */
    static String streamAll(OpenAIClient client, ChatCompletionCreateParams params) {
        StringBuilder text = new StringBuilder();
        try (StreamResponse<ChatCompletionChunk> chunks = client.chat().completions().createStreaming(params)) {
            chunks.stream().forEach(c -> c.choices().forEach(ch -> ch.delta().content().ifPresent(text::append)));
        }
        return text.toString();
    }

    /** A PDF of {@code pages} pages of text, each page's content stream compressed, as every PDF writer does. */
    static byte[] pdf(int pages) {
        Random random = new Random(48);
        String[] words = {"quota", "ledger", "settlement", "invoice", "customer", "model", "tokens", "report",
                "quarterly", "revenue", "forecast", "contract", "clause", "liability", "payment", "schedule"};
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        List<Integer> offsets = new ArrayList<>();
        write(out, "%PDF-1.7\n%\u00e2\u00e3\u00cf\u00d3\n");
        int objects = 3 + 2 * pages;
        StringBuilder kids = new StringBuilder();
        for (int p = 0; p < pages; p++) {
            kids.append(4 + 2 * p).append(" 0 R ");
        }
        offsets.add(out.size());
        write(out, "1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj\n");
        offsets.add(out.size());
        write(out, "2 0 obj << /Type /Pages /Kids [" + kids + "] /Count " + pages + " >> endobj\n");
        offsets.add(out.size());
        write(out, "3 0 obj << /Type /Font /Subtype /Type1 /BaseFont /Helvetica >> endobj\n");
        for (int p = 0; p < pages; p++) {
            StringBuilder content = new StringBuilder("BT /F1 9 Tf 40 800 Td 11 TL\n");
            for (int line = 0; line < 60; line++) {
                StringBuilder l = new StringBuilder();
                for (int w = 0; w < 12; w++) {
                    l.append(words[random.nextInt(words.length)]).append(' ');
                }
                content.append('(').append(l).append(") '\n");
            }
            content.append("ET");
            byte[] raw = content.toString().getBytes(StandardCharsets.US_ASCII);
            Deflater deflater = new Deflater();
            deflater.setInput(raw);
            deflater.finish();
            byte[] buf = new byte[raw.length + 64];
            int n = deflater.deflate(buf);
            deflater.end();
            offsets.add(out.size());
            write(out, (4 + 2 * p) + " 0 obj << /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Resources << /Font << /F1 3 0 R >> >> /Contents "
                    + (5 + 2 * p) + " 0 R >> endobj\n");
            offsets.add(out.size());
            write(out, (5 + 2 * p) + " 0 obj << /Length " + n + " /Filter /FlateDecode >>\nstream\n");
            out.write(buf, 0, n);
            write(out, "\nendstream endobj\n");
        }
        int xref = out.size();
        StringBuilder x = new StringBuilder("xref\n0 " + (objects + 1) + "\n0000000000 65535 f \n");
        for (int off : offsets) {
            x.append(String.format("%010d 00000 n \n", off));
        }
        write(out, x + "trailer << /Size " + (objects + 1) + " /Root 1 0 R >>\nstartxref\n" + xref + "\n%%EOF\n");
        return out.toByteArray();
    }

    private static void write(ByteArrayOutputStream out, String s) {
        out.writeBytes(s.getBytes(StandardCharsets.ISO_8859_1));
    }

    static String png(int side) throws IOException {
        BufferedImage image = new BufferedImage(side, side, BufferedImage.TYPE_INT_RGB);
        for (int y = 0; y < side; y += 64) {
            for (int x = 0; x < side; x++) {
                image.setRGB(x, y, 0x336699);
            }
        }
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        ImageIO.write(image, "png", out);
        return "data:image/png;base64," + Base64.getEncoder().encodeToString(out.toByteArray());
    }

    /**
     * The SDK's own streaming call (no {@code stream_options}, as its README streams) with a 40-page PDF
     * attached as a {@code file} content part, {@code max_completion_tokens} 100. OpenAI gives the model
     * each page's extracted text and an image of the page; Gemini, the figure docs/estimation.md cites,
     * bills 258 tokens a page. OpenAI's stream carries no usage without {@code include_usage}, so the
     * estimate is the charge: the PDF is one media item, 258 tokens, whatever its page count. A client
     * sends a document of any length (up to the 1 MB body limit: thousands of compressed pages) for the
     * price of one image.
     */
    @Test
    void aStreamedPdfIsChargedPerDocumentNotPerPage() {
        String s = subject();
        int pages = 40;
        String data = "data:application/pdf;base64," + Base64.getEncoder().encodeToString(pdf(pages));
        ChatCompletionCreateParams params = ChatCompletionCreateParams.builder().model("gpt-4o").maxCompletionTokens(100)
                .addUserMessageOfArrayOfContentParts(List.of(
                        ChatCompletionContentPart.ofText(ChatCompletionContentPartText.builder()
                                .text("Summarise the report.").build()),
                        ChatCompletionContentPart.ofFile(ChatCompletionContentPart.File.builder()
                                .file(ChatCompletionContentPart.File.FileObject.builder().filename("report.pdf")
                                        .fileData(data).build()).build())))
                .build();
        try (Sdk sdk = client(s)) {
            OpenAIClient client = sdk.client();
            assertTrue(streamAll(client, params).endsWith("hello."));
        }
        QuotaAccount a = settled(s);
        assertTrue(a.used() >= pages * 258L, "a " + pages + "-page PDF (" + data.length()
                + " characters of base64) read by the model in a streamed call was charged " + a.used()
                + " tokens, less than 258 a page: " + ledger(s));
    }

    /**
     * Sixteen 2048x2048 PNG screenshots with {@code detail: high} in the SDK's streaming call. OpenAI's
     * documented image cost for gpt-4o at high detail: scaled to 768x768, four 512-pixel tiles, 85 + 4 x
     * 170 = 765 tokens each. The stream carries no usage, so the charge is the estimate, 258 per image,
     * although the PNG header states each image's size.
     */
    @Test
    void streamedHighDetailImagesAreChargedAFlat258Each() throws IOException {
        String s = subject();
        String image = png(2048);
        List<ChatCompletionContentPart> parts = new ArrayList<>();
        parts.add(ChatCompletionContentPart.ofText(ChatCompletionContentPartText.builder().text("Compare the screens.").build()));
        int images = 16;
        for (int i = 0; i < images; i++) {
            parts.add(ChatCompletionContentPart.ofImageUrl(ChatCompletionContentPartImage.builder()
                    .imageUrl(ChatCompletionContentPartImage.ImageUrl.builder().url(image)
                            .detail(ChatCompletionContentPartImage.ImageUrl.Detail.HIGH).build()).build()));
        }
        ChatCompletionCreateParams params = ChatCompletionCreateParams.builder().model("gpt-4o").maxCompletionTokens(100)
                .addUserMessageOfArrayOfContentParts(parts).build();
        try (Sdk sdk = client(s)) {
            OpenAIClient client = sdk.client();
            assertTrue(streamAll(client, params).endsWith("hello."));
        }
        QuotaAccount a = settled(s);
        assertTrue(a.used() >= images * 765L, images + " high-detail 2048x2048 images streamed to gpt-4o were charged "
                + a.used() + " tokens, less than OpenAI's 765 each: " + ledger(s));
    }

    /**
     * The Responses API's conversation state: the first call (8,000 tokens of notes) is charged its usage.
     * The next call names {@code previous_response_id}, so the model reads the stored 8,000 tokens again
     * (OpenAI bills them as input), streamed with the SDK, which the application closes after the first
     * words (an app showing a preview, or a client that hangs up). The relay stops at the failed write,
     * before {@code response.completed}: no usage passed, and the estimate knows only the new input.
     * Each such call re-reads the whole conversation for ~100 tokens.
     */
    @Test
    void aResponsesCallOnAStoredConversationCutEarlyIsChargedWithoutTheConversation() {
        String s = subject();
        String notes = "The quarterly ledger lists every invoice by customer and contract clause. ".repeat(440);
        long first;
        String previous;
        try (Sdk sdk = client(s)) {
            OpenAIClient client = sdk.client();
            Response r = client.responses().create(ResponseCreateParams.builder().model("gpt-4o").input(notes)
                    .maxOutputTokens(64L).store(true).build());
            previous = r.id();
            first = settled(s).used();
            assertTrue(first > 7_000, "the first call is charged its usage: " + ledger(s));
            try (StreamResponse<ResponseStreamEvent> events = client.responses().createStreaming(ResponseCreateParams.builder()
                    .model("gpt-4o").input("And the totals?").previousResponseId(previous).maxOutputTokens(64L).build())) {
                Iterator<ResponseStreamEvent> it = events.stream().iterator();
                while (it.hasNext()) {
                    if (it.next().isOutputTextDelta()) {
                        break;
                    }
                }
            }
        }
        long second = settled(s).used() - first;
        long context = MockOpenAi.STORED.get(previous);
        assertTrue(second >= context, "the call that made the model read the stored " + context
                + "-token conversation again was charged " + second + ": " + ledger(s));
    }

    com.anthropic.client.AnthropicClient anthropic(String subject) {
        return com.anthropic.client.okhttp.AnthropicOkHttpClient.builder().apiKey("sk-ant-test")
                .baseUrl(container.uri("/ai/anthropic").toString()).putHeader("x-user-id", subject).maxRetries(0).build();
    }

    /**
     * Anthropic Message Batches with the SDK: create a batch of three requests, then read its results
     * ({@code resultsStreaming}) twice, as an application that re-reads a finished batch does. The three
     * model calls ran once. Reading results calls no model, yet each read is charged the batch's usage.
     */
    @Test
    void readingABatchsResultsAgainIsChargedAgain() {
        String s = subject();
        com.anthropic.client.AnthropicClient client = anthropic(s);
        long created;
        long firstRead = 0;
        long secondRead;
        try {
            com.anthropic.models.messages.batches.BatchCreateParams.Builder batch =
                    com.anthropic.models.messages.batches.BatchCreateParams.builder();
            for (int i = 0; i < 3; i++) {
                batch.addRequest(com.anthropic.models.messages.batches.BatchCreateParams.Request.builder().customId("req-" + i)
                        .params(com.anthropic.models.messages.batches.BatchCreateParams.Request.Params.builder()
                                .model("claude-sonnet-4-5").maxTokens(200).addUserMessage("Question " + i).build()).build());
            }
            String id = client.messages().batches().create(batch.build()).id();
            created = settled(s).used();
            for (int read = 0; read < 2; read++) {
                try (com.anthropic.core.http.StreamResponse<com.anthropic.models.messages.batches.MessageBatchIndividualResponse> r =
                             client.messages().batches().resultsStreaming(id)) {
                    assertTrue(r.stream().count() == 3);
                }
                if (read == 0) {
                    firstRead = settled(s).used();
                }
            }
            secondRead = settled(s).used();
        } finally {
            client.close();
        }
        assertTrue(secondRead == firstRead, "three batched calls (900 tokens of usage, held " + created
                + " at creation, " + firstRead + " after one read) cost " + secondRead + " after their results were read twice: " + ledger(s));
    }

    /**
     * Anthropic under load: a streamed Messages call gets 200 and then, as its only event, the
     * {@code overloaded_error} that a non-streamed call gets as 529 (Anthropic's streaming docs: "during
     * periods of high usage, you may receive an overloaded_error, which would normally correspond to an
     * HTTP 529 in a non-streaming context"). No model answered; the SDK throws. The non-streamed 529 is
     * released, the streamed one is charged its whole estimate (input and max_tokens 4,096).
     */
    @Test
    void anOverloadedErrorEventInAStreamIsNotCharged() {
        String s = subject();
        com.anthropic.client.AnthropicClient client = com.anthropic.client.okhttp.AnthropicOkHttpClient.builder()
                .apiKey("sk-ant-test").baseUrl(container.uri("/ai/anthropic/overloaded").toString())
                .putHeader("x-user-id", s).maxRetries(0).build();
        try {
            org.junit.jupiter.api.Assertions.assertThrows(RuntimeException.class, () -> {
                try (com.anthropic.core.http.StreamResponse<com.anthropic.models.messages.RawMessageStreamEvent> events =
                             client.messages().createStreaming(com.anthropic.models.messages.MessageCreateParams.builder()
                                     .model("claude-sonnet-4-5").maxTokens(4096).addUserMessage("Draft the report.").build())) {
                    events.stream().forEach(e -> { });
                }
            });
        } finally {
            client.close();
        }
        QuotaAccount a = settled(s);
        assertTrue(a.used() == 0, "a stream whose only event was overloaded_error (no model answered) was charged "
                + a.used() + ": " + ledger(s));
    }
}
