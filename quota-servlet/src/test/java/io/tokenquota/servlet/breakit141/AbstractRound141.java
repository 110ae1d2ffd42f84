package io.tokenquota.servlet.breakit141;

import static io.tokenquota.servlet.testing.PdfFileRelay.pdf;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.tokenquota.servlet.QuotaFilter;
import io.tokenquota.servlet.testing.Deployment;
import io.tokenquota.servlet.testing.EventStreams;
import io.tokenquota.servlet.testing.H2FilterRound;
import io.tokenquota.servlet.testing.HangUps;
import io.tokenquota.servlet.testing.ModelCalls;
import io.tokenquota.servlet.testing.PdfFileRelay;
import io.tokenquota.servlet.testing.OpenAiFiles;
import io.tokenquota.servlet.testing.TestHttp;
import jakarta.servlet.ServletException;
import jakarta.servlet.http.HttpServlet;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.ConcurrentHashMap;
import org.junit.jupiter.api.Test;

/**
 * Round 141 of issue 11 ("no model call goes unpaid, nothing that never reached a model is charged"):
 * the rules for answers that are provider objects (uploads, a run's steps). A relay passes OpenAI's API
 * on under the protected prefix, and serves a browser's {@code EventSource} an Assistants run's stream
 * on a {@code GET}.
 */
abstract class AbstractRound141 extends H2FilterRound {
    final ModelCalls calls = new ModelCalls();
    final HangUps hangUps = new HangUps();
    /** Pages of each PDF the relay's provider stores, by file id. */
    static final Map<String, Integer> FILES = new ConcurrentHashMap<>();
    static final int PAGES = 60;
    /** The filter's own least figure for a PDF page it can see. */
    static final long PAGE_FLOOR = 258;
    /** What the run's one model call used: a long thread read, a reply written. */
    static final long RUN_PROMPT = 6_000;
    static final long RUN_COMPLETION = 600;

    static String subject() {
        return "u141-" + UUID.randomUUID().toString().substring(0, 12);
    }

    @Override
    protected Deployment deploy(QuotaFilter filter) {
        return Deployment.create()
                .filter("quota", filter, "/*")
                .multipartServlet("relay", new Relay(new PdfFileRelay(calls, FILES), calls, hangUps),
                        new jakarta.servlet.MultipartConfigElement(""), "/ai/*")
                .servlet("ask", new Ask(calls), "/ai/ask/*");
    }

    /**
     * A question answered on a {@code GET} ({@code /ai/ask?q=…}, mapped as {@code /ai/ask/*}): one model
     * call, its answer returned as one JSON object, without usage (the app keeps only the text).
     */
    static final class Ask extends HttpServlet {
        private final ModelCalls calls;

        Ask(ModelCalls calls) {
            this.calls = calls;
        }

        @Override
        protected void doGet(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            calls.count(req.getHeader("x-user-id"));
            resp.setContentType("application/json");
            resp.getWriter().write("{\"answer\":\"" + "Revenue rose four percent in the quarter. ".repeat(40) + "\"}");
        }
    }

    /**
     * OpenAI behind a relay: an Assistants run streamed to a {@code GET /assistant} ({@code EventSource}),
     * and the rest (files, the Uploads API, chat completions) as {@link PdfFileRelay} answers it.
     */
    static final class Relay extends HttpServlet {
        private final PdfFileRelay openAi;
        private final ModelCalls calls;
        private final HangUps hangUps;

        Relay(PdfFileRelay openAi, ModelCalls calls, HangUps hangUps) {
            this.openAi = openAi;
            this.calls = calls;
            this.hangUps = hangUps;
        }

        @Override
        protected void service(HttpServletRequest req, HttpServletResponse resp) throws ServletException, IOException {
            String path = req.getPathInfo();
            if ("/assistant".equals(path) && "GET".equals(req.getMethod())) {
                assistantRun(req, resp);
                return;
            }
            openAi.service((jakarta.servlet.ServletRequest) req, (jakarta.servlet.ServletResponse) resp);
        }

        /**
         * The run's stream as OpenAI sends it: the run created and in progress, its one step (a message
         * written), the message's deltas, the step completed with its usage, then the run completed with
         * the same usage and {@code done}. When the client hangs up after the step, the relay stops at its
         * next write and cancels the run.
         */
        private void assistantRun(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            String user = req.getHeader("x-user-id");
            calls.count(user);
            resp.setContentType("text/event-stream");
            resp.setCharacterEncoding("UTF-8");
            OutputStream out = resp.getOutputStream();
            String run = "\"id\":\"run_141\",\"object\":\"thread.run\",\"created_at\":1760000000,\"assistant_id\":\"asst_1\","
                    + "\"thread_id\":\"thread_1\",\"model\":\"gpt-4o\"";
            String step = "\"id\":\"step_1\",\"object\":\"thread.run.step\",\"created_at\":1760000000,\"run_id\":\"run_141\","
                    + "\"assistant_id\":\"asst_1\",\"thread_id\":\"thread_1\",\"type\":\"message_creation\","
                    + "\"step_details\":{\"type\":\"message_creation\",\"message_creation\":{\"message_id\":\"msg_1\"}}";
            String usage = "{\"prompt_tokens\":" + RUN_PROMPT + ",\"completion_tokens\":" + RUN_COMPLETION
                    + ",\"total_tokens\":" + (RUN_PROMPT + RUN_COMPLETION) + "}";
            EventStreams.write(out, EventStreams.event("thread.run.created", "{" + run + ",\"status\":\"queued\",\"usage\":null}"));
            EventStreams.write(out, EventStreams.event("thread.run.in_progress", "{" + run + ",\"status\":\"in_progress\",\"usage\":null}"));
            EventStreams.write(out, EventStreams.event("thread.run.step.created", "{" + step + ",\"status\":\"in_progress\",\"usage\":null}"));
            EventStreams.write(out, EventStreams.event("thread.message.created", "{\"id\":\"msg_1\",\"object\":\"thread.message\","
                    + "\"thread_id\":\"thread_1\",\"run_id\":\"run_141\",\"role\":\"assistant\",\"status\":\"in_progress\",\"content\":[]}"));
            StringBuilder text = new StringBuilder();
            for (int i = 0; i < 30; i++) {
                String words = " the quarter closed with revenue up four percent and margins steady";
                text.append(words);
                EventStreams.write(out, EventStreams.event("thread.message.delta", "{\"id\":\"msg_1\",\"object\":\"thread.message.delta\","
                        + "\"delta\":{\"content\":[{\"index\":0,\"type\":\"text\",\"text\":{\"value\":\"" + words + "\"}}]}}"));
            }
            EventStreams.write(out, EventStreams.event("thread.message.completed", "{\"id\":\"msg_1\",\"object\":\"thread.message\","
                    + "\"thread_id\":\"thread_1\",\"run_id\":\"run_141\",\"role\":\"assistant\",\"status\":\"completed\","
                    + "\"content\":[{\"type\":\"text\",\"text\":{\"value\":\"" + text + "\",\"annotations\":[]}}]}"));
            EventStreams.write(out, EventStreams.event("thread.run.step.completed", "{" + step + ",\"status\":\"completed\","
                    + "\"usage\":" + usage + "}"));
            hangUps.relayUntilGone(user, out, ": keep-alive\n\n",
                    EventStreams.event("thread.run.completed", "{" + run + ",\"status\":\"completed\",\"usage\":" + usage + "}")
                            + "event: done\ndata: [DONE]\n\n", 5);
        }
    }

    /** A browser's {@code EventSource} GET of the run's stream as {@code user}, read until {@code until}, then a reset. */
    String getAndHangUpAfter(String user, String until) throws IOException {
        hangUps.expect(user);
        try (java.net.Socket socket = new java.net.Socket()) {
            socket.connect(new java.net.InetSocketAddress("127.0.0.1", container.port()), 5_000);
            socket.setSoTimeout(10_000);
            OutputStream out = socket.getOutputStream();
            out.write(("GET /ai/assistant?q=summarise HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nx-user-id: " + user
                    + "\r\nAccept: text/event-stream\r\n\r\n").getBytes(StandardCharsets.ISO_8859_1));
            out.flush();
            java.io.InputStream in = socket.getInputStream();
            ByteArrayOutputStream seen = new ByteArrayOutputStream();
            byte[] buf = new byte[4096];
            int n;
            while ((n = in.read(buf)) != -1) {
                seen.write(buf, 0, n);
                if (seen.toString(StandardCharsets.UTF_8).contains(until)) {
                    break;
                }
            }
            socket.setSoLinger(true, 0);
            return seen.toString(StandardCharsets.UTF_8);
        } finally {
            hangUps.happened(user);
        }
    }

    /**
     * Attack: a 60-page PDF uploaded through the relay by OpenAI's Uploads API (create, one part,
     * complete; {@code purpose: user_data}) instead of {@code POST /v1/files}. The filter sees every byte
     * of it and releases the three steps (no model ran). The client then names the file by
     * {@code file_id} in a streamed chat completion without {@code stream_options.include_usage}: no usage
     * chunk. The model reads 60 pages (60,020 billed input). Uploaded by {@code /v1/files}, the same PDF
     * is held at its pages; by the Uploads API the filter remembers no figure for the file, so the call
     * is charged as if the file were one media item. Expected: at least 60 x 258 = 15,480 (or a 429).
     */
    @Test
    void pdfUploadedInPartsThenNamedByIdIsChargedItsPages() throws Exception {
        String s = subject();
        String id = OpenAiFiles.uploadPdfInParts(container, s, pdf(PAGES));
        assertEquals(0, settled(s).used(), "the upload ran no model " + ledger(s));
        HttpResponse<String> r = TestHttp.postJson(container.uri("/ai/v1/chat/completions"), s, OpenAiFiles.chatWithFileId(id, false));
        long used = settled(s).used();
        assertTrue(r.statusCode() == 429 || r.statusCode() == 200 && used >= PAGES * PAGE_FLOOR,
                "a streamed call reading a " + PAGES + "-page PDF uploaded with the Uploads API, named by file_id (billed "
                        + (PAGES * PdfFileRelay.PAGE_BILLED + 20) + " input), answered " + r.statusCode() + ", model calls "
                        + calls.of(s) + ", charged " + used + " of " + ALLOWANCE + "; expected at least "
                        + PAGES * PAGE_FLOOR + " " + ledger(s));
    }

    /**
     * Attack: the same 60-page PDF by the Uploads API in two parts, the first only its header line
     * ({@code %PDF-1.7}), the second every page: a part measured as a file of its own would find no PDF in
     * the second. Expected: at least 60 x 258 = 15,480 (or a 429).
     */
    @Test
    void pdfUploadedInPartsAfterATinyFirstIsChargedItsPages() throws Exception {
        String s = subject();
        byte[] pdf = pdf(PAGES);
        String id = OpenAiFiles.uploadPdfInParts(container, s, pdf, 9, pdf.length / 2);
        assertEquals(0, settled(s).used(), "the upload ran no model " + ledger(s));
        HttpResponse<String> r = TestHttp.postJson(container.uri("/ai/v1/chat/completions"), s, OpenAiFiles.chatWithFileId(id, false));
        long used = settled(s).used();
        assertTrue(r.statusCode() == 429 || r.statusCode() == 200 && used >= PAGES * PAGE_FLOOR,
                "a PDF uploaded in three parts (the first 9 bytes), named by file_id, answered " + r.statusCode()
                        + ", charged " + used + "; expected at least " + PAGES * PAGE_FLOOR + " " + ledger(s));
    }

    /**
     * Control: the Assistants run streamed to a browser's {@code EventSource} ({@code GET}) and read to
     * its end: the run completed carries the run's usage, 6,600. Expected charged 6,600.
     */
    @Test
    void runStreamedOnAGetAndReadToItsEndIsChargedItsUsage() throws Exception {
        String s = subject();
        HttpResponse<String> r = TestHttp.get(container.uri("/ai/assistant?q=summarise"), "x-user-id", s,
                "Accept", "text/event-stream");
        assertEquals(200, r.statusCode(), r.body());
        assertTrue(r.body().contains("thread.run.completed"), r.body());
        assertEquals(RUN_PROMPT + RUN_COMPLETION, settled(s).used(), "model calls " + calls.of(s) + " " + ledger(s));
    }

    /**
     * Attack: the same run streamed to an {@code EventSource} ({@code GET}); the client reads the whole
     * reply, up to the step completed (which carries the model call's usage, 6,600), and hangs up before
     * the run's own completed event; the relay learns it at its next write and cancels the run. The model
     * ran and its usage went through the filter; the answer's last event is a {@code thread.run.step},
     * which the filter takes for a step read back and releases. Expected: charged at least the 6,600 the
     * stream reported.
     */
    @Test
    void runStreamedOnAGetCutAfterItsStepIsCharged() throws Exception {
        String s = subject();
        String read = getAndHangUpAfter(s, "\"total_tokens\":" + (RUN_PROMPT + RUN_COMPLETION) + "}");
        assertTrue(read.contains("thread.run.step.completed"), read);
        long used = settled(s).used();
        assertTrue(used >= RUN_PROMPT + RUN_COMPLETION,
                "a run streamed on a GET, its step completed with usage " + (RUN_PROMPT + RUN_COMPLETION)
                        + " read, the client gone before the run's completed event: model calls " + calls.of(s)
                        + ", charged " + used + " of " + ALLOWANCE + "; expected at least "
                        + (RUN_PROMPT + RUN_COMPLETION) + " " + ledger(s));
    }

    /**
     * Control: the question asked at {@code GET /ai/ask?q=…}: one model call, answered without usage,
     * charged its estimate (more than 0).
     */
    @Test
    void questionOnAGetIsChargedItsEstimate() throws Exception {
        String s = subject();
        HttpResponse<String> r = TestHttp.get(container.uri("/ai/ask?q=summarise"), "x-user-id", s);
        assertEquals(200, r.statusCode(), r.body());
        long used = settled(s).used();
        assertTrue(calls.of(s) == 1 && used > 0, "model calls " + calls.of(s) + ", charged " + used + " " + ledger(s));
    }

    /**
     * Attack: the same question asked at {@code GET /ai/ask/models/..?q=…}. The container resolves the dot
     * segment and serves it by the same servlet ({@code /ai/ask/}), which calls the model; the raw request
     * URI still ends with {@code /models/..}, which the filter reads as one model's card of a provider's
     * catalogue and releases. Expected: one model call, charged more than 0, as the control.
     */
    @Test
    void questionOnAGetDressedAsAModelCardIsCharged() throws Exception {
        String s = subject();
        HttpResponse<String> r = TestHttp.get(java.net.URI.create("http://127.0.0.1:" + container.port()
                + "/ai/ask/models/..?q=summarise"), "x-user-id", s);
        long used = settled(s).used();
        assertTrue(r.statusCode() != 200 || used > 0, "GET /ai/ask/models/.. answered " + r.statusCode() + ", model calls "
                + calls.of(s) + ", charged " + used + " of " + ALLOWANCE + "; expected more than 0 " + ledger(s));
    }

    /**
     * Attack: no dot segment needed on a route that takes any path: the same question at
     * {@code GET /ai/ask/models/gpt-4o?q=…} and {@code GET /ai/ask/models?q=…}, paths of a provider's
     * catalogue (one model's card, the list), served by the same servlet, which calls the model and
     * answers {@code {"answer": …}}: no catalogue's shape. Expected: both charged, as the control.
     */
    @Test
    void questionOnAGetAtACataloguePathIsCharged() throws Exception {
        for (String path : List.of("/ai/ask/models/gpt-4o?q=summarise", "/ai/ask/models?q=summarise")) {
            String s = subject();
            HttpResponse<String> r = TestHttp.get(container.uri(path), "x-user-id", s);
            assertEquals(200, r.statusCode(), r.body());
            long used = settled(s).used();
            assertTrue(calls.of(s) == 1 && used > 0, "GET " + path + ": model calls " + calls.of(s) + ", charged " + used
                    + " " + ledger(s));
        }
    }
}
