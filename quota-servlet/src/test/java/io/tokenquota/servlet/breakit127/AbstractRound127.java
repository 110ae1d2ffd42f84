package io.tokenquota.servlet.breakit127;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.tokenquota.QuotaAccount;
import io.tokenquota.estimator.DefaultTokenEstimator;
import io.tokenquota.servlet.QuotaFilter;
import io.tokenquota.servlet.testing.Deployment;
import io.tokenquota.servlet.testing.MediaBytes;
import io.tokenquota.servlet.testing.ModelCallRound;
import io.tokenquota.servlet.testing.OpenAiFiles;
import io.tokenquota.servlet.testing.TestHttp;
import jakarta.servlet.ServletException;
import jakarta.servlet.http.HttpServlet;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.util.Random;
import java.util.UUID;
import org.junit.jupiter.api.Test;

/**
 * Round 127 of issue 11: what the filter takes for "a file uploaded to the provider". It releases any
 * multipart request, on any path, whose answer is a file object; and it knows only OpenAI's and
 * Anthropic's upload APIs, so the other providers' uploads (Gemini's Files API, OpenAI's container
 * files), which run no model, are charged as model calls.
 */
abstract class AbstractRound127 extends ModelCallRound {
    static final DefaultTokenEstimator TOKENS = new DefaultTokenEstimator();
    /** A report of about 9,000 tokens: what the summarising endpoint's model reads. */
    static final String REPORT = "The quarterly revenue of the northern region grew again. ".repeat(1_000);

    @Override
    protected Deployment deploy(QuotaFilter filter) {
        return Deployment.create()
                .filter("quota", filter, "/*")
                .multipartServlet("app", new App(), new jakarta.servlet.MultipartConfigElement(""), "/ai/*")
                .onStartup(filter::registerByServletName);
    }

    class App extends HttpServlet {
        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException, ServletException {
            String path = req.getPathInfo();
            String user = req.getHeader("x-user-id");
            resp.setContentType("application/json");
            if (path.equals("/docs/summaries")) {
                // the application's own endpoint: the model summarises the uploaded report, the summary is
                // stored as a file and the answer is the stored file's object
                String report = new String(req.getPart("file").getInputStream().readAllBytes(), StandardCharsets.UTF_8);
                calls.count(user);
                String summary = "Summary: " + report.substring(0, 60);
                String id = "file-" + UUID.randomUUID().toString().replace("-", "");
                resp.getWriter().write("{\"id\":\"" + id + "\",\"object\":\"file\",\"bytes\":" + summary.length()
                        + ",\"created_at\":1714000000,\"filename\":\"summary.md\",\"purpose\":\"assistants\"}");
            } else if (path.equals("/docs/anthropic/summaries")) {
                req.getPart("file").getInputStream().readAllBytes();
                calls.count(user);
                resp.getWriter().write("{\"type\":\"file\",\"id\":\"file_011CNha8iCJcU1wXNR6q4V8w\",\"filename\":"
                        + "\"summary.md\",\"mime_type\":\"text/markdown\",\"size_bytes\":412,"
                        + "\"created_at\":\"2025-04-14T10:00:00Z\",\"downloadable\":true}");
            } else if (path.equals("/gemini/upload/v1beta/files")) {
                geminiUpload(req, resp);
            } else if (path.startsWith("/v1/containers/") && path.endsWith("/files")) {
                // OpenAI's container files: a file put into a Code Interpreter container, no model runs
                byte[] file = req.getPart("file").getInputStream().readAllBytes();
                String container = path.substring("/v1/containers/".length(), path.length() - "/files".length());
                resp.getWriter().write("{\"id\":\"cfile_682e0e8a43c88191a7978f477a09bdf5\",\"object\":\"container.file\","
                        + "\"created_at\":1747848842,\"bytes\":" + file.length + ",\"container_id\":\"" + container
                        + "\",\"path\":\"/mnt/data/sales.csv\",\"source\":\"user\"}");
            } else if (path.equals("/v1/files")) {
                byte[] file = req.getPart("file").getInputStream().readAllBytes();
                resp.getWriter().write("{\"id\":\"file-abc123\",\"object\":\"file\",\"bytes\":" + file.length
                        + ",\"created_at\":1714000000,\"filename\":\"sales.csv\",\"purpose\":\"assistants\"}");
            } else {
                resp.sendError(404);
            }
        }

        /**
         * Gemini's resumable upload as the google-genai SDKs and the REST docs make it: a JSON start request
         * ({@code X-Goog-Upload-Command: start}) answered with the URL to send the bytes to, then the bytes
         * ({@code upload, finalize}) answered with the file resource. No model runs.
         */
        private void geminiUpload(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            String command = String.valueOf(req.getHeader("X-Goog-Upload-Command"));
            byte[] body = req.getInputStream().readAllBytes();
            if (command.equals("start")) {
                resp.setHeader("X-Goog-Upload-Status", "active");
                resp.setHeader("X-Goog-Upload-URL", req.getRequestURL() + "?upload_id=ABg5-Uw1&upload_protocol=resumable");
                resp.setHeader("X-Goog-Upload-Chunk-Granularity", "8388608");
                resp.setContentLength(0);
                return;
            }
            resp.setHeader("X-Goog-Upload-Status", "final");
            resp.getWriter().write("{\"file\":{\"name\":\"files/q3-call-7x2\",\"mimeType\":\"audio/wav\",\"sizeBytes\":\""
                    + body.length + "\",\"createTime\":\"2025-04-14T10:00:00.000000Z\",\"updateTime\":"
                    + "\"2025-04-14T10:00:00.000000Z\",\"expirationTime\":\"2025-04-16T10:00:00.000000Z\",\"sha256Hash\":"
                    + "\"ZDc0ZjE0\",\"uri\":\"https://generativelanguage.googleapis.com/v1beta/files/q3-call-7x2\","
                    + "\"state\":\"ACTIVE\",\"source\":\"UPLOADED\"}}");
        }
    }

    /** A multipart upload to {@code path} as {@code s}: {@code purpose=assistants} and the file. */
    HttpResponse<String> upload(String path, String s, String filename, String fileType, byte[] content) {
        return OpenAiFiles.upload(container.uri(path), s, "assistants", filename, fileType, content);
    }

    /**
     * The report uploaded to the summarising endpoint at {@code path}, whose answer ({@code answer}) is a
     * stored file's: one model call, charged at least the report's tokens.
     */
    void assertSummaryOfTheReportCharged(String path, String answer) {
        String s = subject();
        long report = TOKENS.estimate(REPORT);
        HttpResponse<String> r = upload(path, s, "q3.txt", "text/plain", REPORT.getBytes(StandardCharsets.UTF_8));
        QuotaAccount a = assertAnswered(s, r, 200, 1);
        assertTrue(a.used() >= report, "a model call over a " + report + "-token report answered with " + answer + ": "
                + figures(s, r, a));
    }

    /** A WAV of 8 kHz mu-law mono (8,000 bytes a second) lasting {@code seconds}. */
    static byte[] wav(int seconds) {
        int samples = 8_000 * seconds;
        byte[] speech = new byte[samples];
        new Random(seconds).nextBytes(speech);
        return MediaBytes.cat(MediaBytes.wavHeader(7, samples), speech);
    }

    // ---- a model call answered with a file object is released ----------------------------------------

    /**
     * A careful application's endpoint takes an uploaded report (multipart, about 9,000 tokens), has the
     * model summarise it, stores the summary and answers with the stored file's object
     * ({@code "object": "file"}), reporting no usage. That is a 2xx without usage: the settlement rules
     * charge the estimate (at least the report's tokens). The filter takes every multipart request for an
     * upload to the provider and releases it when the answer is a file object, whatever the path: the
     * model call is free, and a client can summarise 9,000-token reports without end on a 20,000 allowance.
     */
    @Test
    void aModelCallOnAnUploadedReportAnsweredWithTheStoredFileIsCharged() {
        assertSummaryOfTheReportCharged("/ai/docs/summaries", "a file object");
    }

    /** The same endpoint answering with Anthropic's file metadata ({@code "type": "file"}): the model call is free too. */
    @Test
    void aModelCallAnsweredWithAnthropicFileMetadataIsCharged() {
        assertSummaryOfTheReportCharged("/ai/docs/anthropic/summaries", "a file's metadata");
    }

    /**
     * Three such summaries of the 9,000-token report (27,000 tokens of input at the least) on a 20,000
     * allowance: the third must not be served, or the calls must be charged past the allowance.
     */
    @Test
    void threeReportSummariesDoNotFitTwentyThousandTokens() {
        String s = subject();
        int served = 0;
        HttpResponse<String> last = null;
        for (int i = 0; i < 3; i++) {
            last = upload("/ai/docs/summaries", s, "q3.txt", "text/plain", REPORT.getBytes(StandardCharsets.UTF_8));
            if (last.statusCode() == 200) {
                served++;
            }
        }
        QuotaAccount a = settled(s);
        assertTrue(served < 3 || a.used() > a.limit(), served + " summaries served: " + figures(s, last, a));
    }

    // ---- uploads of other providers, which run no model, are charged ------------------------------------

    /**
     * A gateway under the protected prefix passes Gemini's API, as the google-genai SDKs call it with a
     * base URL: {@code files.upload} of a 60-second recording is a resumable upload (a JSON start request,
     * then the bytes with no Content-Type, as the Python SDK sends them), answered with the file resource.
     * No model ran (the later {@code generateContent} naming the file is charged its usage, which counts
     * the audio), so nothing may be charged; the filter charges the start request its estimate and the
     * recording as audio input.
     */
    @Test
    void aGeminiFileUploadIsNotCharged() {
        String s = subject();
        HttpResponse<String> start = TestHttp.send(TestHttp.requestAs(container.uri("/ai/gemini/upload/v1beta/files"), s,
                        "X-Goog-Upload-Protocol", "resumable", "X-Goog-Upload-Command", "start",
                        "X-Goog-Upload-Header-Content-Length", "480044", "X-Goog-Upload-Header-Content-Type", "audio/wav",
                        "Content-Type", "application/json")
                .POST(HttpRequest.BodyPublishers.ofString("{\"file\":{\"display_name\":\"q3-call\"}}")).build());
        assertEquals(200, start.statusCode(), start.body());
        String url = start.headers().firstValue("X-Goog-Upload-URL").orElseThrow();
        long afterStart = settled(s).used();
        HttpResponse<String> bytes = TestHttp.send(TestHttp.requestAs(java.net.URI.create(url), s,
                        "X-Goog-Upload-Offset", "0", "X-Goog-Upload-Command", "upload, finalize")
                .POST(HttpRequest.BodyPublishers.ofByteArray(wav(60))).build());
        QuotaAccount a = assertAnswered(s, bytes, 200, 0);
        assertEquals(0, a.used(), "a Gemini file upload (start charged " + afterStart + "): " + figures(s, bytes, a));
    }

    /**
     * OpenAI's container files ({@code POST /v1/containers/{id}/files}, a multipart upload of a CSV for
     * Code Interpreter to read later) run no model and answer {@code "object": "container.file"}: nothing
     * may be charged. The filter knows only {@code /files} answered {@code "object": "file"}.
     */
    @Test
    void anOpenAiContainerFileUploadIsNotCharged() {
        String s = subject();
        HttpResponse<String> r = upload("/ai/v1/containers/cntr_682e0e7318108198aa783fd921ff305e08e78805b9fdbb04/files",
                s, "sales.csv", "text/csv", REPORT.getBytes(StandardCharsets.UTF_8));
        QuotaAccount a = assertAnswered(s, r, 200, 0);
        assertEquals(0, a.used(), "a container file upload: " + figures(s, r, a));
    }

    /** Control: the same CSV uploaded to OpenAI's Files API is released. */
    @Test
    void controlAnOpenAiFilesUploadIsNotCharged() {
        String s = subject();
        HttpResponse<String> r = upload("/ai/v1/files", s, "sales.csv", "text/csv", REPORT.getBytes(StandardCharsets.UTF_8));
        QuotaAccount a = assertAnswered(s, r, 200, 0);
        assertEquals(0, a.used(), "a Files API upload: " + figures(s, r, a));
    }
}
