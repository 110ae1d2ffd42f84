package io.tokenquota.servlet.breakit139;

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
 * Round 139 of issue 11 ("no model call goes unpaid, nothing that never reached a model is charged"):
 * files named by id. A relay passes OpenAI's API on under the protected prefix. A PDF is uploaded with
 * {@code POST /v1/files} ({@code purpose: user_data}) through the filter, which measures its pages
 * there (258 a page at least) and remembers that by the file's id; a chat message names the file by
 * {@code {"type": "file", "file": {"file_id": …}}} and the model reads every page each time a message
 * names it (OpenAI bills a page's text and image; here 1,000 input tokens a page). A chat completion
 * streamed as OpenAI's SDKs stream by default, without {@code stream_options.include_usage}, ends with
 * no usage chunk and is charged what the filter estimated.
 */
abstract class AbstractRound139 extends H2FilterRound {
    final ModelCalls calls = new ModelCalls();
    /** Pages of each PDF the relay's provider stores, by file id. */
    static final Map<String, Integer> FILES = new ConcurrentHashMap<>();
    /** The filter's own least figure for a PDF page it can see. */
    static final long PAGE_FLOOR = 258;
    /** What OpenAI bills a page: its text and its image. */
    static final long PAGE_BILLED = 1_000;
    /** Figures the second filter (on /small/) remembers: an operator's choice of a smaller memory. */
    static final int SMALL_MEMORY = 100;

    private static final Pattern FILE_ID = Pattern.compile("\"file_id\"\\s*:\\s*\"([^\"]+)\"");
    private static final Pattern FILE_DATA = Pattern.compile("\"file_data\"\\s*:\\s*\"data:application/pdf;base64,([^\"]+)\"");
    private static final Pattern PAGE = Pattern.compile("/Type\\s*/Page(?![a-z])");

    static String subject() {
        return "u139-" + UUID.randomUUID().toString().substring(0, 12);
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
        QuotaFilter small = filterFor("/small/").providerStateEntries(SMALL_MEMORY).build();
        return Deployment.create()
                .filter("quota", filter, "/*")
                .filter("quota-small", small, "/*")
                .multipartServlet("relay", new Relay(), new jakarta.servlet.MultipartConfigElement(""), "/ai/*")
                .multipartServlet("relay-small", new Relay(), new jakarta.servlet.MultipartConfigElement(""), "/small/*");
    }

    /**
     * OpenAI behind the relay. {@code POST /v1/files}: stores the file, answers OpenAI's file object (no
     * model). {@code POST /v1/chat/completions}: a model call reading every file part of every message
     * (by file id or inline as {@code file_data}), 1,000 tokens a page; streamed as OpenAI streams: 30
     * chunks of text, a usage chunk only with {@code stream_options.include_usage}, then {@code [DONE]}.
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
                        + "\"filename\":\"" + file.getSubmittedFileName() + "\",\"bytes\":" + bytes.length
                        + ",\"created_at\":1760000000,\"expires_at\":null,\"status\":\"processed\",\"status_details\":null}");
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
            while (id.find()) {
                pages += FILES.getOrDefault(id.group(1), 0);
            }
            Matcher data = FILE_DATA.matcher(body);
            while (data.find()) {
                pages += pages(Base64.getDecoder().decode(data.group(1)));
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

    /** Uploads a file through the relay under {@code prefix}, as the SDK's {@code files.create}; its id. */
    String upload(String prefix, String s, String filename, String type, byte[] content) {
        String boundary = "----139" + UUID.randomUUID().toString().replace("-", "");
        byte[] body = TestHttp.multipart(boundary,
                "Content-Disposition: form-data; name=\"purpose\"", "user_data",
                "Content-Disposition: form-data; name=\"file\"; filename=\"" + filename + "\"\r\nContent-Type: " + type, content);
        HttpResponse<String> r = TestHttp.post(container.uri(prefix + "v1/files"), body, "x-user-id", s,
                "Content-Type", "multipart/form-data; boundary=" + boundary);
        assertEquals(200, r.statusCode(), r.body());
        Matcher m = Pattern.compile("\"id\":\"([^\"]+)\"").matcher(r.body());
        assertTrue(m.find(), r.body());
        return m.group(1);
    }

    static String filePart(String fileId) {
        return "{\"type\":\"file\",\"file\":{\"file_id\":\"" + fileId + "\"}}";
    }

    static String inlinePart(byte[] pdf) {
        return "{\"type\":\"file\",\"file\":{\"filename\":\"report.pdf\",\"file_data\":\"data:application/pdf;base64,"
                + Base64.getEncoder().encodeToString(pdf) + "\"}}";
    }

    /**
     * A "chat with your document" conversation in its second turn, as such apps send it: each user turn
     * carries the document, the first turn's answer between them; streamed without usage.
     */
    static String twoTurns(String document) {
        return "{\"model\":\"gpt-4o\",\"stream\":true,\"max_tokens\":300,\"messages\":["
                + "{\"role\":\"user\",\"content\":[" + document + ",{\"type\":\"text\",\"text\":\"Summarise the quarter.\"}]},"
                + "{\"role\":\"assistant\",\"content\":\"Revenue rose 4% on the quarter.\"},"
                + "{\"role\":\"user\",\"content\":[" + document + ",{\"type\":\"text\",\"text\":\"And the costs, page by page?\"}]}]}";
    }

    static String oneTurn(String document) {
        return "{\"model\":\"gpt-4o\",\"stream\":true,\"max_tokens\":300,\"messages\":["
                + "{\"role\":\"user\",\"content\":[" + document + ",{\"type\":\"text\",\"text\":\"Summarise the quarter.\"}]}]}";
    }

    /**
     * Control: the second turn of a document chat with a 30-page PDF sent inline ({@code file_data}) in
     * both user turns, streamed without usage. The model reads 60 pages (OpenAI bills 60,020 input);
     * the filter measures each inline copy: expected charged at least 2 x 30 x 258 = 15,480 (or a 429).
     */
    @Test
    void inlineDocumentInTwoTurnsIsChargedBothCopies() throws Exception {
        String s = subject();
        HttpResponse<String> r = TestHttp.postJson(container.uri("/ai/v1/chat/completions"), s, twoTurns(inlinePart(pdf(30))));
        long used = settled(s).used();
        assertTrue(r.statusCode() == 429 || r.statusCode() == 200 && used >= 60 * PAGE_FLOOR,
                "two inline copies of a 30-page PDF (60,020 billed input) answered " + r.statusCode() + ", charged "
                        + used + "; expected at least " + 60 * PAGE_FLOOR + " " + ledger(s));
    }

    /**
     * Attack: the same document chat, but the 30-page PDF uploaded once through the relay (the filter
     * measured it there: 30 x 258 = 7,740 by its id) and named by {@code file_id} in both user turns.
     * The model reads the file once per message naming it, 60 pages (OpenAI bills 60,020 input), and
     * the stream reports no usage. The filter collects the ids of a request into a set, so the file is
     * held once: the call is charged about 7,740 + prompt + 300. Expected: at least what the two inline
     * copies cost, 15,480 (or a 429).
     */
    @Test
    void documentByIdInTwoTurnsIsChargedBothReadings() throws Exception {
        String s = subject();
        String id = upload("/ai/", s, "report.pdf", "application/pdf", pdf(30));
        assertEquals(0, settled(s).used(), "the upload ran no model " + ledger(s));
        HttpResponse<String> r = TestHttp.postJson(container.uri("/ai/v1/chat/completions"), s, twoTurns(filePart(id)));
        long used = settled(s).used();
        assertTrue(r.statusCode() == 429 || r.statusCode() == 200 && used >= 60 * PAGE_FLOOR,
                "a streamed call reading the uploaded 30-page PDF twice by file_id (60,020 billed input, model calls "
                        + calls.of(s) + ") answered " + r.statusCode() + ", charged " + used + "; expected at least "
                        + 60 * PAGE_FLOOR + " " + ledger(s));
    }

    /**
     * Attack on the filter's memory, with free requests: a filter remembering 100 figures (the operator's
     * {@code providerStateEntries}; the default 65,536 falls the same way, only to more requests). A
     * 60-page PDF is uploaded through it (figure 15,480 by its id), then 100 one-line text files are
     * uploaded (each released: no model ran, charged 0, yet each adds a figure by its id and pushes
     * the PDF's out). A streamed chat completion without usage then names the PDF: the model reads 60
     * pages (60,020 billed); the filter holds the id as one media item and charges about 1,000.
     * Expected: at least 60 x 258 = 15,480 (or a 429), as without the free uploads.
     */
    @Test
    void freeUploadsDoNotEvictAFilesFigure() throws Exception {
        String s = subject();
        String pdf = upload("/small/", s, "report.pdf", "application/pdf", pdf(60));
        for (int i = 0; i < SMALL_MEMORY; i++) {
            upload("/small/", s, "note" + i + ".txt", "text/plain", ("note " + i).getBytes(StandardCharsets.UTF_8));
        }
        assertEquals(0, settled(s).used(), (SMALL_MEMORY + 1) + " uploads ran no model");
        HttpResponse<String> r = TestHttp.postJson(container.uri("/small/v1/chat/completions"), s, oneTurn(filePart(pdf)));
        long used = settled(s).used();
        assertTrue(r.statusCode() == 429 || r.statusCode() == 200 && used >= 60 * PAGE_FLOOR,
                "after " + SMALL_MEMORY + " free uploads, a streamed call reading the uploaded 60-page PDF by file_id"
                        + " (60,020 billed input, model calls " + calls.of(s) + ") answered " + r.statusCode()
                        + ", charged " + used + "; expected at least " + 60 * PAGE_FLOOR);
    }

    /**
     * Control: the same, with no uploads between: the PDF's figure is there and the call is held and
     * charged at least 15,480 (or refused with 429).
     */
    @Test
    void fileByIdWithoutEvictionIsChargedItsPages() throws Exception {
        String s = subject();
        String pdf = upload("/small/", s, "report.pdf", "application/pdf", pdf(60));
        HttpResponse<String> r = TestHttp.postJson(container.uri("/small/v1/chat/completions"), s, oneTurn(filePart(pdf)));
        long used = settled(s).used();
        assertTrue(r.statusCode() == 429 || r.statusCode() == 200 && used >= 60 * PAGE_FLOOR,
                "a streamed call reading the uploaded 60-page PDF by file_id answered " + r.statusCode() + ", charged "
                        + used + "; expected at least " + 60 * PAGE_FLOOR + " " + ledger(s));
    }
}
