package io.tokenquota.servlet.testing;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import jakarta.servlet.ServletException;
import jakarta.servlet.http.HttpServlet;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import jakarta.servlet.http.Part;
import java.io.IOException;
import java.io.OutputStream;
import java.net.URI;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.util.Base64;
import java.util.Map;
import java.util.UUID;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * OpenAI behind a relay, for the rounds on PDFs a chat reads by file id or inline. {@code POST
 * /v1/files}: stores the file (its pages, by a new id), answers OpenAI's file object (no model). {@code
 * POST /v1/chat/completions}: a model call reading every file part of every message (by file id or
 * inline as {@code file_data}), {@link #PAGE_BILLED} tokens a page; streamed as OpenAI streams: 30
 * chunks of text, a usage chunk only with {@code stream_options.include_usage}, then {@code [DONE]}.
 * Shared by the rounds so each keeps only what its attack changes; the client side ({@link #pdf},
 * {@link #upload}) is here too, so a round's PDF and its relay's page count always agree.
 */
public final class PdfFileRelay extends HttpServlet {
    /** What OpenAI bills a page: its text and its image. */
    public static final long PAGE_BILLED = 1_000;

    private static final Pattern FILE_ID = Pattern.compile("\"file_id\"\\s*:\\s*\"([^\"]+)\"");
    private static final Pattern FILE_DATA = Pattern.compile("\"file_data\"\\s*:\\s*\"data:application/pdf;base64,([^\"]+)\"");
    private static final Pattern PAGE = Pattern.compile("/Type\\s*/Page(?![a-z])");

    private static final Pattern UPLOAD_STEP = Pattern.compile("^/v1/uploads/([^/]+)/(parts|complete)$");

    private final ModelCalls calls;
    private final Map<String, Integer> files;
    /** The Uploads API's uploads in progress: their parts' bytes, by upload id. */
    private final Map<String, java.io.ByteArrayOutputStream> uploads = new java.util.concurrent.ConcurrentHashMap<>();
    /** How many pages a file uploaded in parts has (a PDF whose pages are compressed hides them from {@link #pages}). */
    private java.util.function.ToIntFunction<byte[]> pagesOfUpload = PdfFileRelay::pages;

    /**
     * A relay counting its model calls in {@code calls} and keeping the pages of each file by id in
     * {@code files} (relays given the same map are one provider behind two prefixes).
     */
    public PdfFileRelay(ModelCalls calls, Map<String, Integer> files) {
        this.calls = calls;
        this.files = files;
    }

    /** The relay counts the pages of a file uploaded in parts with {@code pagesOf}; this relay. */
    public PdfFileRelay pagesOfUploads(java.util.function.ToIntFunction<byte[]> pagesOf) {
        this.pagesOfUpload = pagesOf;
        return this;
    }

    /**
     * OpenAI's Uploads API ({@code POST /v1/uploads}, {@code …/parts}, {@code …/complete}: no model); the
     * completed file's pages are kept as a {@code /v1/files} upload's are. Whether the request was one.
     */
    private boolean uploadStep(HttpServletRequest req, HttpServletResponse resp) throws IOException {
        String path = req.getPathInfo();
        if ("/v1/uploads".equals(path)) {
            req.getInputStream().readAllBytes();
            String id = "upload_" + UUID.randomUUID().toString().replace("-", "").substring(0, 20);
            uploads.put(id, new java.io.ByteArrayOutputStream());
            json(resp, "{\"id\":\"" + id + "\",\"object\":\"upload\",\"bytes\":0,\"created_at\":1760000000,"
                    + "\"filename\":\"report.pdf\",\"purpose\":\"user_data\",\"status\":\"pending\","
                    + "\"expires_at\":1760003600}");
            return true;
        }
        Matcher m = path == null ? null : UPLOAD_STEP.matcher(path);
        if (m == null || !m.matches()) {
            return false;
        }
        java.io.ByteArrayOutputStream bytes = uploads.get(m.group(1));
        if ("parts".equals(m.group(2))) {
            try {
                bytes.writeBytes(req.getPart("data").getInputStream().readAllBytes());
            } catch (ServletException e) {
                throw new IOException(e);
            }
            json(resp, "{\"id\":\"part_" + UUID.randomUUID().toString().replace("-", "").substring(0, 20)
                    + "\",\"object\":\"upload.part\",\"created_at\":1760000000,\"upload_id\":\"" + m.group(1) + "\"}");
        } else {
            req.getInputStream().readAllBytes();
            String file = "file-" + UUID.randomUUID().toString().replace("-", "").substring(0, 22);
            files.put(file, pagesOfUpload.applyAsInt(bytes.toByteArray()));
            json(resp, "{\"id\":\"" + m.group(1) + "\",\"object\":\"upload\",\"bytes\":" + bytes.size()
                    + ",\"created_at\":1760000000,\"filename\":\"report.pdf\",\"purpose\":\"user_data\","
                    + "\"status\":\"completed\",\"expires_at\":1760003600,\"file\":{\"id\":\"" + file
                    + "\",\"object\":\"file\",\"bytes\":" + bytes.size() + ",\"created_at\":1760000000,"
                    + "\"filename\":\"report.pdf\",\"purpose\":\"user_data\"}}");
        }
        return true;
    }

    private static void json(HttpServletResponse resp, String body) throws IOException {
        resp.setContentType("application/json");
        resp.getWriter().write(body);
    }

    /** A PDF of {@code pages} pages, each with a line of text, as a PDF writer lays it out. */
    public static byte[] pdf(int pages) {
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

    /** The pages of {@code pdf}, counted as the model reads them: one per page object. */
    public static int pages(byte[] pdf) {
        Matcher m = PAGE.matcher(new String(pdf, StandardCharsets.ISO_8859_1));
        int n = 0;
        while (m.find()) {
            n++;
        }
        return n;
    }

    /**
     * Uploads {@code content} as {@code user} to {@code uri} ({@code …/v1/files}), as the SDK's {@code
     * files.create(file, purpose="user_data")}; the new file's id, after asserting the upload was served.
     */
    public static String upload(URI uri, String user, String filename, String type, byte[] content) {
        HttpResponse<String> r = OpenAiFiles.upload(uri, user, "user_data", filename, type, content);
        assertEquals(200, r.statusCode(), r.body());
        Matcher m = Pattern.compile("\"id\":\"([^\"]+)\"").matcher(r.body());
        assertTrue(m.find(), r.body());
        return m.group(1);
    }

    @Override
    protected void service(HttpServletRequest req, HttpServletResponse resp) throws IOException {
        if (uploadStep(req, resp)) {
            return;
        }
        if ("/v1/files".equals(req.getPathInfo())) {
            Part file;
            try {
                file = req.getPart("file");
            } catch (ServletException e) {
                throw new IOException(e);
            }
            byte[] bytes = file.getInputStream().readAllBytes();
            String id = "file-" + UUID.randomUUID().toString().replace("-", "").substring(0, 22);
            files.put(id, pages(bytes));
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
        // Every part is read, each time a message names it: the model sees the whole conversation.
        int pages = 0;
        Matcher id = FILE_ID.matcher(body);
        while (id.find()) {
            pages += files.getOrDefault(id.group(1), 0);
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
