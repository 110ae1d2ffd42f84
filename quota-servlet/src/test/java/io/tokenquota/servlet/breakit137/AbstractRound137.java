package io.tokenquota.servlet.breakit137;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.tokenquota.servlet.QuotaFilter;
import io.tokenquota.servlet.testing.Deployment;
import io.tokenquota.servlet.testing.H2FilterRound;
import io.tokenquota.servlet.testing.ModelCalls;
import io.tokenquota.servlet.testing.TestHttp;
import jakarta.servlet.http.HttpServlet;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import jakarta.servlet.http.Part;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.util.Base64;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.ConcurrentHashMap;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;

/**
 * Round 137 of issue 11 ("no model call goes unpaid, nothing that never reached a model is charged"):
 * PDF input by file id. A relay passes OpenAI's API on under the protected prefix. OpenAI's "File
 * inputs" guide: upload a PDF with {@code POST /v1/files} ({@code purpose: user_data}), then name it in
 * a chat message, {@code {"type": "file", "file": {"file_id": "file-…"}}}; the model reads the text
 * and an image of every page (OpenAI bills both; here 1,000 input tokens a page). The filter saw the
 * upload go through it (released, rightly: no model ran), and it measures a PDF sent inline by its
 * pages (258 a page at least). A chat completion streamed the way OpenAI streams by default, without
 * {@code stream_options.include_usage}, ends with no usage chunk and is charged what the filter
 * estimated.
 */
abstract class AbstractRound137 extends H2FilterRound {
    final ModelCalls calls = new ModelCalls();
    /** Pages of each PDF the relay's provider stores, by file id. */
    static final Map<String, Integer> FILES = new ConcurrentHashMap<>();
    static final int PAGES = 60;
    /** The filter's own least figure for a PDF page it can see (docs/estimation.md). */
    static final long PAGE_FLOOR = 258;
    /** What OpenAI bills a page: its text and its image. */
    static final long PAGE_BILLED = 1_000;

    private static final Pattern FILE_ID = Pattern.compile("\"file_id\"\\s*:\\s*\"([^\"]+)\"");
    private static final Pattern FILE_DATA = Pattern.compile("\"file_data\"\\s*:\\s*\"data:application/pdf;base64,([^\"]+)\"");
    private static final Pattern PAGE = Pattern.compile("/Type\\s*/Page(?![a-z])");

    static String subject() {
        return "u137-" + UUID.randomUUID().toString().substring(0, 12);
    }

    /** A PDF of {@code pages} pages, each with a line of text, as a PDF writer lays it out. */
    static byte[] pdf(int pages) {
        StringBuilder s = new StringBuilder("%PDF-1.4\n");
        int kids = 3;
        s.append("1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj\n");
        StringBuilder refs = new StringBuilder();
        for (int i = 0; i < pages; i++) {
            refs.append(kids + 2 * i).append(" 0 R ");
        }
        s.append("2 0 obj << /Type /Pages /Kids [").append(refs).append("] /Count ").append(pages).append(" >> endobj\n");
        for (int i = 0; i < pages; i++) {
            int page = kids + 2 * i;
            String text = "BT /F1 12 Tf 72 720 Td (Quarterly report, page " + (i + 1) + ") Tj ET";
            s.append(page).append(" 0 obj << /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents ")
                    .append(page + 1).append(" 0 R >> endobj\n");
            s.append(page + 1).append(" 0 obj << /Length ").append(text.length()).append(" >> stream\n").append(text)
                    .append("\nendstream endobj\n");
        }
        s.append("trailer << /Root 1 0 R >>\n%%EOF\n");
        return s.toString().getBytes(StandardCharsets.ISO_8859_1);
    }

    static int pages(byte[] pdf) {
        Matcher m = PAGE.matcher(new String(pdf, StandardCharsets.ISO_8859_1));
        int n = 0;
        while (m.find()) {
            n++;
        }
        return n;
    }

    @Override
    protected Deployment deploy(QuotaFilter filter) {
        return Deployment.create()
                .filter("quota", filter, "/*")
                .multipartServlet("relay", new Relay(), new jakarta.servlet.MultipartConfigElement(""), "/ai/*");
    }

    /**
     * OpenAI behind the relay. {@code POST /v1/files}: stores the PDF, answers OpenAI's file object (no
     * model). {@code POST /v1/chat/completions}: a model call reading the PDF it names (by file id or
     * inline as {@code file_data}), 1,000 tokens a page; streamed as OpenAI streams: 30 chunks of text,
     * then a usage chunk only with {@code stream_options.include_usage}, then {@code [DONE]}.
     */
    class Relay extends HttpServlet {
        @Override
        protected void service(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            if ("/v1/files".equals(req.getPathInfo())) {
                Part file;
                try {
                    file = req.getPart("file");
                } catch (jakarta.servlet.ServletException e) {
                    throw new IOException(e);
                }
                byte[] bytes = file.getInputStream().readAllBytes();
                String id = "file-" + UUID.randomUUID().toString().replace("-", "").substring(0, 22);
                FILES.put(id, pages(bytes));
                resp.setContentType("application/json");
                resp.getWriter().write("{\"object\":\"file\",\"id\":\"" + id + "\",\"purpose\":\"user_data\","
                        + "\"filename\":\"report.pdf\",\"bytes\":" + bytes.length + ",\"created_at\":1760000000,"
                        + "\"expires_at\":null,\"status\":\"processed\",\"status_details\":null}");
                return;
            }
            if (!"/v1/chat/completions".equals(req.getPathInfo())) {
                resp.sendError(404);
                return;
            }
            String body = new String(req.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
            calls.count(req.getHeader("x-user-id"));
            int pages = 0;
            Matcher id = FILE_ID.matcher(body);
            if (id.find()) {
                pages = FILES.getOrDefault(id.group(1), 0);
            }
            Matcher data = FILE_DATA.matcher(body);
            if (data.find()) {
                pages = pages(Base64.getDecoder().decode(data.group(1)));
            }
            long prompt = 20 + pages * PAGE_BILLED;
            int chunks = 30;
            long completion = chunks * 5L;
            resp.setContentType("text/event-stream");
            resp.setCharacterEncoding("UTF-8");
            OutputStream out = resp.getOutputStream();
            String cid = "chatcmpl-" + UUID.randomUUID().toString().replace("-", "");
            for (int i = 0; i < chunks; i++) {
                out.write(("data: {\"id\":\"" + cid + "\",\"object\":\"chat.completion.chunk\",\"created\":1760000000,"
                        + "\"model\":\"gpt-4o-2024-08-06\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\" revenue rose 4%\"},"
                        + "\"finish_reason\":null}]}\n\n").getBytes(StandardCharsets.UTF_8));
            }
            out.write(("data: {\"id\":\"" + cid + "\",\"object\":\"chat.completion.chunk\",\"created\":1760000000,"
                    + "\"model\":\"gpt-4o-2024-08-06\",\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}\n\n")
                    .getBytes(StandardCharsets.UTF_8));
            if (body.contains("\"include_usage\":true")) {
                out.write(("data: {\"id\":\"" + cid + "\",\"object\":\"chat.completion.chunk\",\"created\":1760000000,"
                        + "\"model\":\"gpt-4o-2024-08-06\",\"choices\":[],\"usage\":{\"prompt_tokens\":" + prompt
                        + ",\"completion_tokens\":" + completion + ",\"total_tokens\":" + (prompt + completion) + "}}\n\n")
                        .getBytes(StandardCharsets.UTF_8));
            }
            out.write("data: [DONE]\n\n".getBytes(StandardCharsets.UTF_8));
        }
    }

    /** Uploads the PDF through the relay, as the SDK's {@code files.create(file, purpose="user_data")}; its id. */
    String upload(String s, byte[] pdf) {
        String boundary = "----137" + UUID.randomUUID().toString().replace("-", "");
        byte[] body = TestHttp.multipart(boundary,
                "Content-Disposition: form-data; name=\"purpose\"", "user_data",
                "Content-Disposition: form-data; name=\"file\"; filename=\"report.pdf\"\r\nContent-Type: application/pdf", pdf);
        HttpResponse<String> r = TestHttp.post(container.uri("/ai/v1/files"), body, "x-user-id", s,
                "Content-Type", "multipart/form-data; boundary=" + boundary);
        assertEquals(200, r.statusCode(), r.body());
        Matcher m = Pattern.compile("\"id\":\"([^\"]+)\"").matcher(r.body());
        assertTrue(m.find(), r.body());
        return m.group(1);
    }

    static String chatWithFileId(String fileId, boolean includeUsage) {
        return "{\"model\":\"gpt-4o\",\"stream\":true," + (includeUsage ? "\"stream_options\":{\"include_usage\":true}," : "")
                + "\"max_tokens\":300,\"messages\":[{\"role\":\"user\",\"content\":["
                + "{\"type\":\"file\",\"file\":{\"file_id\":\"" + fileId + "\"}},"
                + "{\"type\":\"text\",\"text\":\"Summarise the quarter in three bullets.\"}]}]}";
    }

    static String chatWithInlinePdf(byte[] pdf) {
        return "{\"model\":\"gpt-4o\",\"stream\":true,\"max_tokens\":300,\"messages\":[{\"role\":\"user\",\"content\":["
                + "{\"type\":\"file\",\"file\":{\"filename\":\"report.pdf\",\"file_data\":\"data:application/pdf;base64,"
                + Base64.getEncoder().encodeToString(pdf) + "\"}},"
                + "{\"type\":\"text\",\"text\":\"Summarise the quarter in three bullets.\"}]}]}";
    }

    /**
     * Control: the 60-page PDF sent inline ({@code file_data}, base64) in a streamed chat completion
     * without {@code include_usage}. The model reads 60 pages (60,020 billed input); the stream reports
     * no usage. The filter measures the PDF by its pages: expected charged at least 60 x 258 = 15,480.
     */
    @Test
    void inlinePdfStreamedWithoutUsageIsChargedItsPages() throws Exception {
        String s = subject();
        byte[] pdf = pdf(PAGES);
        HttpResponse<String> r = TestHttp.postJson(container.uri("/ai/v1/chat/completions"), s, chatWithInlinePdf(pdf));
        long used = settled(s).used();
        assertTrue(r.statusCode() == 429 || r.statusCode() == 200 && used >= PAGES * PAGE_FLOOR,
                "a streamed call reading a " + PAGES + "-page inline PDF (OpenAI bills " + (PAGES * PAGE_BILLED + 20)
                        + " input) answered " + r.statusCode() + ", charged " + used + "; expected at least "
                        + PAGES * PAGE_FLOOR + " " + ledger(s));
    }

    /**
     * Control: a 12-page PDF uploaded through the relay ({@code POST /v1/files}) is charged nothing (no
     * model ran), and a streamed chat completion naming it by {@code file_id} with {@code include_usage}
     * is charged its usage: 12,020 + 150 = 12,170. (The 60-page one is held at its pages, 15,480 and
     * more, and refused on a 20,000 allowance before the 60,170-token call.)
     */
    @Test
    void uploadIsFreeAndACallByFileIdWithUsageIsChargedIt() throws Exception {
        String s = subject();
        String id = upload(s, pdf(12));
        assertEquals(0, settled(s).used(), "the upload ran no model " + ledger(s));
        HttpResponse<String> r = TestHttp.postJson(container.uri("/ai/v1/chat/completions"), s, chatWithFileId(id, true));
        assertEquals(200, r.statusCode(), r.body());
        assertEquals(12 * PAGE_BILLED + 20 + 150, settled(s).used(), ledger(s));
    }

    /**
     * Attack: the same 60-page PDF, uploaded through the relay (the filter sees every byte of it, and
     * releases the upload), then named by {@code file_id} in a streamed chat completion sent as OpenAI's
     * SDKs send one by default, without {@code stream_options.include_usage}: no usage chunk, the
     * stream ends normally with {@code [DONE]}. The model reads 60 pages (OpenAI bills 60,020 input).
     * The estimate counts a file by id as one media item (258), so the call is charged about its prompt,
     * 258 and its 300-token budget. Expected: at least what the same PDF costs inline, 60 x 258 = 15,480
     * (or a 429).
     */
    @Test
    void pdfByFileIdStreamedWithoutUsageIsChargedItsPages() throws Exception {
        String s = subject();
        String id = upload(s, pdf(PAGES));
        HttpResponse<String> r = TestHttp.postJson(container.uri("/ai/v1/chat/completions"), s, chatWithFileId(id, false));
        long used = settled(s).used();
        assertTrue(r.statusCode() == 429 || r.statusCode() == 200 && used >= PAGES * PAGE_FLOOR,
                "a streamed call reading the uploaded " + PAGES + "-page PDF by file_id (OpenAI bills "
                        + (PAGES * PAGE_BILLED + 20) + " input) answered " + r.statusCode() + ", charged " + used
                        + "; expected at least " + PAGES * PAGE_FLOOR + " " + ledger(s));
    }

    /**
     * Attack on the allowance: one upload, then ten such streamed calls naming the file by id, each
     * reading 60 pages (60,170 billed each, 601,700 in all, thirty times the 20,000 allowance). Expected:
     * every served call charged at least 15,480, so at most two are served on 20,000. Here each is held
     * and charged about 1,000 and all ten are served.
     */
    @Test
    void tenCallsByFileIdStayWithinTheAllowance() throws Exception {
        String s = subject();
        String id = upload(s, pdf(PAGES));
        int served = 0;
        for (int i = 0; i < 10; i++) {
            HttpResponse<String> r = TestHttp.postJson(container.uri("/ai/v1/chat/completions"), s, chatWithFileId(id, false));
            if (r.statusCode() == 200) {
                served++;
            }
        }
        long used = settled(s).used();
        assertTrue(served <= 2 && used >= served * PAGES * PAGE_FLOOR,
                served + " calls each reading " + PAGES + " pages (" + served * (PAGES * PAGE_BILLED + 170)
                        + " billed) served, model calls " + calls.of(s) + ", charged " + used + " on " + ALLOWANCE
                        + "; expected at most 2 served, each charged at least " + PAGES * PAGE_FLOOR + " " + ledger(s));
    }
}
