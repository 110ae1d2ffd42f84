package io.tokenquota.servlet.testing;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import jakarta.servlet.ServletException;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;
import java.net.URI;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.ConcurrentHashMap;
import java.util.function.Consumer;

/**
 * OpenAI's file uploads, none of which runs a model: the provider side as a round's mock provider
 * serves them (the Files API, {@code POST /v1/files}, and the Uploads API for a file sent in parts), keeping
 * the files it made for the round's mock Batch API to read; and the client side, a batch input file and
 * its uploads through either API. Each round holds its own; thread-safe.
 */
public final class OpenAiFiles {
    private static final ObjectMapper JSON = new ObjectMapper();

    /** Files by id (UTF-8 text), uploads in progress by id (their purpose), their parts by id. */
    private final Map<String, String> files = new ConcurrentHashMap<>();
    private final Map<String, String> uploads = new ConcurrentHashMap<>();
    private final Map<String, String> parts = new ConcurrentHashMap<>();

    /** The content of the file {@code id}; null when no such file was made. */
    public String file(String id) {
        return files.get(id);
    }

    /** Stores a file of {@code content} (as an application's back office may): its new id. */
    public String add(String content) {
        String id = "file-" + UUID.randomUUID().toString().replace("-", "");
        files.put(id, content);
        return id;
    }

    /**
     * Serves {@code path} (the provider's own, {@code /v1/...}) when it is one of the Files or Uploads
     * API's and answers true; answers false, having read nothing of the request, for any other path.
     */
    public boolean serve(String path, HttpServletRequest req, HttpServletResponse resp) throws IOException {
        if (path.equals("/v1/files")) {
            upload(req, resp);
        } else if (path.equals("/v1/uploads")) {
            createUpload(JSON.readTree(req.getInputStream()), resp);
        } else if (path.startsWith("/v1/uploads/") && path.endsWith("/parts")) {
            uploadPart(path.substring("/v1/uploads/".length(), path.length() - "/parts".length()), req, resp);
        } else if (path.startsWith("/v1/uploads/") && path.endsWith("/complete")) {
            completeUpload(path.substring("/v1/uploads/".length(), path.length() - "/complete".length()),
                    JSON.readTree(req.getInputStream()), resp);
        } else {
            return false;
        }
        return true;
    }

    /** OpenAI's file upload: a multipart body of the {@code file} and its {@code purpose}; answered with the file object. */
    public void upload(HttpServletRequest req, HttpServletResponse resp) throws IOException {
        String content;
        String purpose;
        try {
            content = new String(req.getPart("file").getInputStream().readAllBytes(), StandardCharsets.UTF_8);
            purpose = new String(req.getPart("purpose").getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        } catch (ServletException e) {
            resp.sendError(400);
            return;
        }
        String id = add(content);
        resp.setContentType("application/json");
        resp.getWriter().write(fileObject(id, purpose, content.length()));
    }

    static String fileObject(String id, String purpose, long bytes) {
        return "{\"object\":\"file\",\"id\":\"" + id + "\",\"purpose\":\"" + purpose + "\",\"filename\":\"batch.jsonl\","
                + "\"bytes\":" + bytes + ",\"created_at\":1714000000,\"status\":\"processed\"}";
    }

    /**
     * OpenAI's Uploads API, step 1 ({@code POST /v1/uploads}): {@code {"purpose", "filename", "bytes",
     * "mime_type"}}, answered with the Upload object, pending.
     */
    void createUpload(JsonNode body, HttpServletResponse resp) throws IOException {
        String id = "upload_" + UUID.randomUUID().toString().replace("-", "");
        uploads.put(id, body.path("purpose").asText());
        resp.setContentType("application/json");
        resp.getWriter().write("{\"id\":\"" + id + "\",\"object\":\"upload\",\"bytes\":" + body.path("bytes").asLong()
                + ",\"created_at\":1714000000,\"filename\":\"" + body.path("filename").asText() + "\",\"purpose\":\""
                + body.path("purpose").asText() + "\",\"status\":\"pending\",\"expires_at\":1714003600}");
    }

    /**
     * Step 2 ({@code POST /v1/uploads/{id}/parts}): a multipart body whose {@code data} file is a chunk; the
     * Part object. The chunk is kept as bytes (ISO-8859-1), for the SDKs cut a file at a fixed size,
     * wherever that falls in a line or a character.
     */
    void uploadPart(String upload, HttpServletRequest req, HttpServletResponse resp) throws IOException {
        if (!uploads.containsKey(upload)) {
            resp.sendError(404);
            return;
        }
        byte[] content;
        try {
            content = req.getPart("data").getInputStream().readAllBytes();
        } catch (ServletException e) {
            resp.sendError(400);
            return;
        }
        String id = "part_" + UUID.randomUUID().toString().replace("-", "");
        parts.put(id, new String(content, StandardCharsets.ISO_8859_1));
        resp.setContentType("application/json");
        resp.getWriter().write("{\"id\":\"" + id + "\",\"object\":\"upload.part\",\"created_at\":1714000001,"
                + "\"upload_id\":\"" + upload + "\"}");
    }

    /**
     * Step 3 ({@code POST /v1/uploads/{id}/complete}, {@code {"part_ids": [...]}}): the parts joined in
     * order make the file; the Upload object, completed, with the File object it made nested as {@code file}.
     */
    void completeUpload(String upload, JsonNode body, HttpServletResponse resp) throws IOException {
        String purpose = uploads.get(upload);
        if (purpose == null) {
            resp.sendError(404);
            return;
        }
        StringBuilder content = new StringBuilder();
        for (JsonNode part : body.path("part_ids")) {
            content.append(parts.get(part.asText()));
        }
        String file = new String(content.toString().getBytes(StandardCharsets.ISO_8859_1), StandardCharsets.UTF_8);
        String id = add(file);
        resp.setContentType("application/json");
        resp.getWriter().write("{\"id\":\"" + upload + "\",\"object\":\"upload\",\"bytes\":" + file.length()
                + ",\"created_at\":1714000000,\"filename\":\"batch.jsonl\",\"purpose\":\"" + purpose + "\",\"status\":"
                + "\"completed\",\"expires_at\":1714003600,\"file\":" + fileObject(id, purpose, file.length()) + "}");
    }

    /**
     * OpenAI Batch ({@code POST /v1/batches}, {@code {"input_file_id", ...}}): the requests are the lines of
     * an input file named by id. The provider runs them later; here at once, each line's request
     * {@code body} handed to {@code run} (which counts the model call and what the model spent). The Batch
     * object, validating; 404 for a file not made here.
     */
    public void batch(JsonNode body, HttpServletResponse resp, Consumer<JsonNode> run) throws IOException {
        String file = files.get(body.path("input_file_id").asText());
        if (file == null) {
            resp.sendError(404);
            return;
        }
        int lines = 0;
        for (String line : file.split("\n")) {
            if (line.isBlank()) {
                continue;
            }
            run.accept(JSON.readTree(line).path("body"));
            lines++;
        }
        resp.setContentType("application/json");
        resp.getWriter().write("{\"id\":\"batch_" + UUID.randomUUID().toString().replace("-", "") + "\",\"object\":"
                + "\"batch\",\"endpoint\":\"/v1/chat/completions\",\"input_file_id\":\"" + body.path("input_file_id").asText()
                + "\",\"completion_window\":\"24h\",\"status\":\"validating\",\"output_file_id\":null,\"request_counts\":"
                + "{\"total\":" + lines + ",\"completed\":0,\"failed\":0}}");
    }

    // ------------------------------------------------------------------ the client

    /** A batch input file of {@code lines} chat requests, each {@code max_tokens: 4000}. */
    public static String batchFile(int lines) {
        StringBuilder jsonl = new StringBuilder();
        for (int i = 0; i < lines; i++) {
            jsonl.append("{\"custom_id\":\"r").append(i).append("\",\"method\":\"POST\",\"url\":\"/v1/chat/completions\","
                    + "\"body\":{\"model\":\"gpt-4o\",\"messages\":[{\"role\":\"user\",\"content\":\"Write chapter ")
                    .append(i).append(" of the handbook.\"}],\"max_tokens\":4000}}\n");
        }
        return jsonl.toString();
    }

    /**
     * Uploads {@code content} to {@code uri} as {@code user}, as a Files API takes it: a multipart body of
     * the {@code purpose} (none when null) and the {@code file} named {@code filename} of {@code type}, then
     * {@code headers} (name, value, ...); the answer.
     */
    public static HttpResponse<String> upload(URI uri, String user, String purpose, String filename, String type,
                                              Object content, String... headers) {
        String boundary = "b" + UUID.randomUUID().toString().replace("-", "");
        String file = "Content-Disposition: form-data; name=\"file\"; filename=\"" + filename + "\"\r\nContent-Type: " + type;
        byte[] body = purpose == null ? TestHttp.multipart(boundary, file, content)
                : TestHttp.multipart(boundary, "Content-Disposition: form-data; name=\"purpose\"", purpose, file, content);
        String[] all = new String[headers.length + 4];
        all[0] = "x-user-id";
        all[1] = user;
        all[2] = "Content-Type";
        all[3] = "multipart/form-data; boundary=" + boundary;
        System.arraycopy(headers, 0, all, 4, headers.length);
        return TestHttp.post(uri, body, all);
    }

    /** Uploads {@code jsonl} as {@code user} through {@code POST /ai/v1/files} with {@code purpose=batch}; the answer. */
    public static HttpResponse<String> uploadBatchFile(EmbeddedContainer container, String user, String jsonl) {
        return upload(container.uri("/ai/v1/files"), user, "batch", "batch.jsonl", "application/octet-stream", jsonl);
    }

    /**
     * Uploads {@code jsonl} as {@code user} through OpenAI's Uploads API under {@code /ai/} as the SDKs'
     * chunked upload does ({@code client.uploads.upload_file_chunked(..., purpose="batch")}): create the
     * Upload, send the bytes in parts of {@code partBytes} bytes each (cut at that size, wherever it falls
     * in a line), complete it; the statuses of each step, then the id of the file made.
     */
    public static List<Object> uploadInParts(EmbeddedContainer container, String user, String jsonl, int partBytes) {
        byte[] bytes = jsonl.getBytes(StandardCharsets.UTF_8);
        List<Integer> cuts = new ArrayList<>();
        for (int at = partBytes; at < bytes.length; at += partBytes) {
            cuts.add(at);
        }
        return uploadInParts(container, user, "{\"purpose\":\"batch\",\"filename\":\"batch.jsonl\",\"bytes\":" + bytes.length
                + ",\"mime_type\":\"text/jsonl\"}", bytes, cuts.stream().mapToInt(Integer::intValue).toArray());
    }

    /**
     * Uploads {@code pdf} as {@code user} through OpenAI's Uploads API under {@code /ai/} ({@code purpose:
     * user_data}, {@code mime_type: application/pdf}), in parts cut at {@code cuts} (one part without),
     * then completes it; the id of the file made (every step answered 200).
     */
    public static String uploadPdfInParts(EmbeddedContainer container, String user, byte[] pdf, int... cuts) {
        List<Object> steps = uploadInParts(container, user, "{\"purpose\":\"user_data\",\"filename\":\"report.pdf\",\"bytes\":"
                + pdf.length + ",\"mime_type\":\"application/pdf\"}", pdf, cuts);
        for (Object status : steps.subList(0, steps.size() - 1)) {
            if (!Integer.valueOf(200).equals(status)) {
                throw new AssertionError("an upload step answered " + status + ": " + steps);
            }
        }
        return (String) steps.get(steps.size() - 1);
    }

    /** A streamed chat completion naming {@code fileId} (with {@code include_usage} or without usage at all). */
    public static String chatWithFileId(String fileId, boolean includeUsage) {
        return "{\"model\":\"gpt-4o\",\"stream\":true," + (includeUsage ? "\"stream_options\":{\"include_usage\":true}," : "")
                + "\"max_tokens\":300,\"messages\":[{\"role\":\"user\",\"content\":["
                + "{\"type\":\"file\",\"file\":{\"file_id\":\"" + fileId + "\"}},"
                + "{\"type\":\"text\",\"text\":\"Summarise the quarter in three bullets.\"}]}]}";
    }

    /**
     * The Uploads API's steps as {@code user}: create the Upload with {@code created}, send {@code bytes}
     * in parts cut at {@code cuts}, complete it; the statuses of each step, then the id of the file made.
     */
    private static List<Object> uploadInParts(EmbeddedContainer container, String user, String created, byte[] bytes,
                                              int... cuts) {
        List<Object> steps = new ArrayList<>();
        HttpResponse<String> upload = TestHttp.postJson(container.uri("/ai/v1/uploads"), user, created);
        steps.add(upload.statusCode());
        String id = (String) TestHttp.json(upload).get("id");
        List<String> partIds = new ArrayList<>();
        int from = 0;
        for (int i = 0; i <= cuts.length; i++) {
            int to = i < cuts.length ? cuts[i] : bytes.length;
            String boundary = "b" + UUID.randomUUID().toString().replace("-", "");
            HttpResponse<String> part = TestHttp.post(container.uri("/ai/v1/uploads/" + id + "/parts"),
                    TestHttp.multipart(boundary, "Content-Disposition: form-data; name=\"data\"; filename=\"data\"\r\n"
                            + "Content-Type: application/octet-stream", Arrays.copyOfRange(bytes, from, to)),
                    "x-user-id", user, "Content-Type", "multipart/form-data; boundary=" + boundary);
            steps.add(part.statusCode());
            partIds.add((String) TestHttp.json(part).get("id"));
            from = to;
        }
        HttpResponse<String> done = TestHttp.postJson(container.uri("/ai/v1/uploads/" + id + "/complete"), user,
                "{\"part_ids\":" + partIds.stream().map(p -> "\"" + p + "\"").toList() + "}");
        steps.add(done.statusCode());
        @SuppressWarnings("unchecked")
        Map<String, Object> file = (Map<String, Object>) TestHttp.json(done).get("file");
        steps.add(file.get("id"));
        return steps;
    }
}
