package io.tokenquota.servlet.breakit71;

import static io.tokenquota.servlet.testing.MediaBytes.ascii;
import static io.tokenquota.servlet.testing.MediaBytes.box;
import static io.tokenquota.servlet.testing.MediaBytes.cat;
import static io.tokenquota.servlet.testing.MediaBytes.u32;
import static io.tokenquota.servlet.testing.TestHttp.multipart;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.tokenquota.Purchase;
import io.tokenquota.PurchaseStatus;
import io.tokenquota.QuotaAccount;
import io.tokenquota.servlet.QuotaApiServlet;
import io.tokenquota.servlet.QuotaFilter;
import io.tokenquota.servlet.SubjectResolver;
import io.tokenquota.servlet.testing.Deployment;
import io.tokenquota.servlet.testing.H2FilterRound;
import io.tokenquota.servlet.testing.TestHttp;
import jakarta.servlet.FilterChain;
import jakarta.servlet.MultipartConfigElement;
import jakarta.servlet.ServletException;
import jakarta.servlet.ServletOutputStream;
import jakarta.servlet.http.HttpServlet;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import jakarta.servlet.http.Part;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.Callable;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;
import org.springframework.web.filter.OncePerRequestFilter;
import org.springframework.web.util.ContentCachingRequestWrapper;
import org.springframework.web.util.ContentCachingResponseWrapper;
import org.springframework.web.util.WebUtils;

/**
 * Round 71 of issue 11 ("no model call goes unpaid, nothing that never reached a model is charged"):
 * a Spring request/response logging filter in front of the quota filter (Spring's
 * {@code ContentCachingRequestWrapper} and {@code ContentCachingResponseWrapper}, the body copied to
 * the client at the end, after an exception too); multipart
 * uploads read with {@code getPart()} whose parts' labels decide what the filter reads (a JSON request
 * sent as a file, a field in the charset its part names); audio containers the provider's decoder
 * plays but the filter does not time (RF64, AMR frames smaller than the largest); and the quota API's
 * payment callback under concurrent deliveries.
 *
 * <p>Every endpoint calls the model once (counted per subject). The chat endpoints' answers carry no
 * usage (an application's own JSON, a stream without {@code include_usage}), so the charge is the
 * filter's estimate and the estimate must hold what the model did.
 */
abstract class AbstractRound71 extends H2FilterRound {
    static final ObjectMapper JSON = new ObjectMapper();
    static final Map<String, AtomicInteger> CALLS = new ConcurrentHashMap<>();
    static final Map<String, List<String>> SEEN = new ConcurrentHashMap<>();
    /** Output tokens the model wrote, per subject (one per {@code " word"}). */
    static final Map<String, Integer> WROTE = new ConcurrentHashMap<>();

    static final byte[] PAYMENT_SECRET = "round-71-payment-webhook-secret".getBytes(StandardCharsets.UTF_8);

    /** A chat request whose output budget (2,000) is most of its estimate. */
    static final String CHAT = "{\"model\":\"gpt-4.1\",\"max_tokens\":2000,\"messages\":[{\"role\":\"user\","
            + "\"content\":\"Summarise our Q3 report in two sentences.\"}]}";

    /** An application's own answer: the model's text, no usage (charged the estimate). */
    static final String APP_ANSWER = "{\"conversation_id\":\"c-71\",\"reply\":\"Revenue grew 12% while costs fell;"
            + " the margin reached a record.\"}";

    static String subject() {
        return "u71-" + UUID.randomUUID().toString().substring(0, 12);
    }

    static void called(String subject) {
        CALLS.computeIfAbsent(subject == null ? "?" : subject, s -> new AtomicInteger()).incrementAndGet();
    }

    static int calls(String subject) {
        return CALLS.getOrDefault(subject, new AtomicInteger()).get();
    }

    static void saw(String subject, String what) {
        SEEN.computeIfAbsent(subject == null ? "?" : subject, s -> new CopyOnWriteArrayList<>()).add(what);
    }

    static List<String> seen(String subject) {
        return SEEN.getOrDefault(subject, List.of());
    }

    // ------------------------------------------------------------------ deployment

    /**
     * A request/response logging filter as Spring applications write it (a {@link OncePerRequestFilter}
     * wrapping both the request and the response so their bodies can be logged), async-aware: the
     * response is copied to the client when the request is done, at the end of the async dispatch for
     * an async request, also when the chain threw.
     */
    public static class CachingLoggingFilter extends OncePerRequestFilter {
        @Override
        protected boolean shouldNotFilterAsyncDispatch() {
            return false;
        }

        @Override
        protected void doFilterInternal(HttpServletRequest request, HttpServletResponse response, FilterChain chain)
                throws ServletException, IOException {
            HttpServletRequest req = isAsyncDispatch(request) ? request
                    : new ContentCachingRequestWrapper(request, 64 * 1024);
            ContentCachingResponseWrapper res = WebUtils.getNativeResponse(response, ContentCachingResponseWrapper.class);
            if (res == null) {
                res = new ContentCachingResponseWrapper(response);
            }
            try {
                chain.doFilter(req, res);
            } finally {
                if (!req.isAsyncStarted()) {
                    saw(request.getHeader("x-user-id"), "logged " + res.getStatus() + " with " + res.getContentSize()
                            + " bytes");
                    res.copyBodyToResponse();
                }
            }
        }
    }

    @Override
    protected Deployment deploy(QuotaFilter ignored) {
        // the documented setup for uploads: OpenAI's 25 MB limit on the audio endpoints
        QuotaFilter quota = QuotaFilter.builder(store).protect("/ai/")
                .subjectResolver(SubjectResolver.trustedHeader("x-user-id", "127.0.0.1", "::1"))
                .maxBodyBytes("/ai/v1/audio/", 25 << 20)
                .build();
        QuotaApiServlet api = QuotaApiServlet.builder(store)
                .subjectResolver(SubjectResolver.trustedHeader("x-user-id", "127.0.0.1", "::1"))
                .paymentSecret(PAYMENT_SECRET)
                .build();
        MultipartConfigElement uploads = new MultipartConfigElement("", 32 << 20, 32 << 20, 0);
        return Deployment.create()
                .filter("logging", new CachingLoggingFilter(), "/ai/log/*", "/open/log/*")
                .filter("quota", quota, "/*")
                .servlet("chat", new Chat(), "/ai/v1/chat/*")
                .servlet("log-chat", new Chat(), "/ai/log/v1/*")
                .servlet("open-log-chat", new Chat(), "/open/log/v1/*")
                .multipartServlet("upload", new Upload(), uploads, "/ai/v1/upload/*")
                .multipartServlet("audio", new Transcriptions(), uploads, "/ai/v1/audio/*")
                .servlet("quota-api", api, "/api/quota/*");
    }

    /** Plain servlet chat endpoints that store the conversation after answering. */
    public static class Chat extends HttpServlet {
        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException, ServletException {
            req.getInputStream().readAllBytes();
            String user = req.getHeader("x-user-id");
            String path = req.getPathInfo() == null ? "" : req.getPathInfo();
            switch (path) {
                case "/close-then-save" -> {
                    // the answer written and its stream closed (try-with-resources), then storing it fails
                    called(user);
                    resp.setContentType("application/json");
                    try (ServletOutputStream out = resp.getOutputStream()) {
                        out.write(APP_ANSWER.getBytes(StandardCharsets.UTF_8));
                    }
                    saw(user, "closed; committed=" + resp.isCommitted());
                    throw new ServletException("could not save the conversation: connection pool exhausted");
                }
                case "/write-then-save" -> {
                    // the answer written, then storing it fails before the servlet returns
                    called(user);
                    resp.setContentType("application/json");
                    resp.getOutputStream().write(APP_ANSWER.getBytes(StandardCharsets.UTF_8));
                    saw(user, "wrote; committed=" + resp.isCommitted());
                    throw new ServletException("could not save the conversation: connection pool exhausted");
                }
                case "/keep-alive-then-fail" -> {
                    // a relay's keep-alive comment written before it reaches the model, which it never does
                    resp.setContentType("text/event-stream");
                    resp.getOutputStream().write(": connecting\n\n".getBytes(StandardCharsets.UTF_8));
                    throw new ServletException("upstream unreachable: connection refused");
                }
                default -> resp.sendError(404);
            }
        }
    }

    /**
     * Multipart chat endpoints (a chat with attachments): {@code /json-part} reads its request from the
     * part named {@code request} with an ObjectMapper (file or field, whatever its label, as an endpoint
     * taking {@code curl -F request=@chat.json} does); {@code /form} reads the fields through the
     * servlet API's parameters (Spring's {@code @RequestParam}). Each streams what the budget allows,
     * without usage (the client asked for no {@code include_usage}).
     */
    public static class Upload extends HttpServlet {
        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException, ServletException {
            String user = req.getHeader("x-user-id");
            String path = req.getPathInfo() == null ? "" : req.getPathInfo();
            int budget;
            switch (path) {
                case "/json-part" -> {
                    Part request = req.getPart("request");
                    JsonNode body = JSON.readTree(request.getInputStream());
                    budget = body.path("max_tokens").asInt(256);
                }
                case "/form" -> {
                    String asked = req.getParameter("max_tokens");
                    int b;
                    try {
                        b = Integer.parseInt(asked.strip());
                    } catch (RuntimeException unreadable) {
                        b = 256;
                    }
                    budget = b;
                    saw(user, "max_tokens parameter [" + asked + "]");
                }
                default -> {
                    resp.sendError(404);
                    return;
                }
            }
            called(user);
            stream(resp, user, budget);
        }
    }

    /** The model writes its whole budget (one token per {@code " word"}), streamed without usage. */
    static void stream(HttpServletResponse resp, String user, int budget) throws IOException {
        resp.setContentType("text/event-stream");
        resp.setCharacterEncoding("UTF-8");
        ServletOutputStream out = resp.getOutputStream();
        int left = budget;
        while (left > 0) {
            int n = Math.min(100, left);
            out.write(("data: {\"id\":\"chatcmpl-71\",\"object\":\"chat.completion.chunk\",\"model\":\"gpt-4o\","
                    + "\"choices\":[{\"index\":0,\"delta\":{\"content\":\"" + " word".repeat(n)
                    + "\"},\"finish_reason\":null}]}\n\n").getBytes(StandardCharsets.UTF_8));
            left -= n;
        }
        out.write(("data: {\"id\":\"chatcmpl-71\",\"object\":\"chat.completion.chunk\",\"model\":\"gpt-4o\","
                + "\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"length\"}]}\n\ndata: [DONE]\n\n")
                .getBytes(StandardCharsets.UTF_8));
        WROTE.put(user, budget);
    }

    /** OpenAI's transcriptions with {@code response_format=text}: the transcript alone, no usage. */
    public static class Transcriptions extends HttpServlet {
        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException, ServletException {
            String user = req.getHeader("x-user-id");
            Part file = req.getPart("file");
            long bytes = file.getInputStream().readAllBytes().length;
            called(user);
            saw(user, "file of " + bytes + " bytes, " + file.getContentType());
            resp.setContentType("text/plain;charset=utf-8");
            resp.getOutputStream().write("and then we went through the delivery schedule once more"
                    .getBytes(StandardCharsets.UTF_8));
        }
    }

    // ------------------------------------------------------------------ 1. a logging filter in front

    /** A POST of {@link #CHAT}; an answer the container aborted after the exception reads as status -1. */
    private Answer call(String path, String user) {
        try {
            HttpResponse<String> r = TestHttp.postJson(container.uri(path), user, CHAT);
            return new Answer(r.statusCode(), r.body());
        } catch (UncheckedIOException aborted) {
            return new Answer(-1, String.valueOf(aborted.getCause()));
        }
    }

    record Answer(int status, String body) {
        boolean delivered() {
            return status == 200 && body.contains("record.");
        }
    }

    /** A new user's call of {@code path} (no logging filter): one model call, charged at least the estimate. */
    private void assertEstimateCharged(String path) {
        String user = subject();
        Answer r = call(path, user);
        QuotaAccount account = settled(user);
        assertEquals(1, calls(user));
        assertTrue(account.used() >= 2_000, kind() + ": " + r + " charged " + account.used() + " " + seen(user) + " "
                + ledger(user));
    }

    private void assertDeliveredAnswerCharged(String openPath, String path) {
        String control = subject();
        Answer open = call(openPath, control);
        assertEquals(1, calls(control));
        assertTrue(open.delivered(), kind() + ": without the quota filter the client gets the answer: " + open.status()
                + " " + seen(control));

        String user = subject();
        Answer r = call(path, user);
        QuotaAccount account = settled(user);
        assertEquals(1, calls(user));
        assertEquals(open, r, kind() + ": the filter changed what the client got");
        assertTrue(account.used() >= 2_000, kind() + ": the client got the model's answer (" + r + ") through the"
                + " logging filter, and was charged " + account.used() + " (the hold, in the ledger, was the estimate) "
                + seen(user) + " " + ledger(user));
    }

    /**
     * Break hunt: the endpoint writes its answer in a try-with-resources block (the stream closed, which
     * without the logging filter commits and completes the response: the filter then charges the
     * estimate), then storing the conversation fails. Behind Spring's ContentCachingResponseWrapper the
     * close is swallowed, nothing is committed and no flush happened, so the quota filter releases the
     * hold as an exception before any answer; the logging filter then copies the whole answer to the
     * client with its Content-Length. The model's answer was delivered and must be charged.
     */
    @Test
    void anAnswerClosedThroughALoggingFilterBeforeAnExceptionIsCharged() {
        assertDeliveredAnswerCharged("/open/log/v1/close-then-save", "/ai/log/v1/close-then-save");
    }

    /** Control: the same endpoint without the logging filter: the closed stream commits, the estimate is charged. */
    @Test
    void controlAnAnswerClosedBeforeAnExceptionIsChargedWithoutTheLoggingFilter() {
        assertEstimateCharged("/ai/v1/chat/close-then-save");
    }

    /**
     * Break hunt: the endpoint writes its answer (no flush, no close), then storing the conversation
     * fails. Without a logging filter the container discards the buffered answer and sends a 500, so a
     * release is right; but the logging filter's {@code copyBodyToResponse()} in {@code finally} sends
     * the whole answer as a 200 with its Content-Length before the exception reaches the container. The
     * client has the model's answer; the quota filter released the hold.
     */
    @Test
    void anAnswerCopiedOutByALoggingFilterAfterAnExceptionIsCharged() {
        assertDeliveredAnswerCharged("/open/log/v1/write-then-save", "/ai/log/v1/write-then-save");
    }

    /**
     * The rule those two settle on, from the other side: an answer written, not flushed, then an
     * exception, with no logging filter in front. The container discards the bytes and sends a 500, but
     * the model answered (the bytes are its answer): the estimate, as when a wrapper in front sends them.
     */
    @Test
    void anAnswerWrittenBeforeAnExceptionIsChargedWhateverBecomesOfItsBytes() {
        assertEstimateCharged("/ai/v1/chat/write-then-save");
    }

    /**
     * The accountant's side of that rule: a relay writes a keep-alive comment (not flushed), then fails
     * to reach the model. White space and comment lines are not an answer: nothing is charged.
     */
    @Test
    void aKeepAliveWrittenBeforeTheModelWasReachedIsNotAnAnswer() {
        String user = subject();
        Answer r = call("/ai/v1/chat/keep-alive-then-fail", user);
        QuotaAccount account = settled(user);
        assertEquals(0, calls(user));
        assertEquals(0, account.used(), kind() + ": " + r + " " + ledger(user));
        assertEquals(0, account.reserved(), kind() + ": " + ledger(user));
    }

    // ------------------------------------------------------------------ 2. multipart parts

    static final String BIG_CHAT = "{\"model\":\"gpt-4o\",\"stream\":true,\"max_tokens\":16000,\"messages\":[{\"role\":"
            + "\"user\",\"content\":\"Write a long story about a lighthouse keeper, as long as you can.\"}]}";

    private String upload(String path, String boundary, byte[] body) {
        String user = subject();
        HttpResponse<String> r = TestHttp.post(container.uri(path), body, "x-user-id", user, "Content-Type",
                "multipart/form-data; boundary=" + boundary);
        assertEquals(200, r.statusCode(), kind() + ": " + r.body());
        assertEquals(1, calls(user));
        return user;
    }

    private void assertChargedWhatTheModelWrote(String user, String what) {
        long charged = settled(user).used();
        int wrote = WROTE.getOrDefault(user, 0);
        assertTrue(charged >= wrote, kind() + ": " + what + ": the model wrote " + wrote + " tokens, charged " + charged
                + " " + seen(user) + " " + ledger(user));
    }

    /**
     * Break hunt: {@code curl -F request=@chat.json -F file=@notes.txt}: curl labels a {@code .json}
     * file {@code application/octet-stream}, so the endpoint reads its request from the file part with
     * an ObjectMapper, whatever the label. The filter reads a field's JSON value for its budget
     * ("whatever its label"), and a part labelled JSON, but a JSON file under another label only as
     * text: its {@code max_tokens: 16000} is not held, the default budget is, and the model writes
     * 16,000 tokens without usage.
     */
    @Test
    void aJsonRequestUploadedAsAFileIsHeldAtItsBudget() {
        String boundary = "----b71" + UUID.randomUUID();
        byte[] body = multipart(boundary,
                "Content-Disposition: form-data; name=\"request\"; filename=\"chat.json\"\r\n"
                        + "Content-Type: application/octet-stream", BIG_CHAT,
                "Content-Disposition: form-data; name=\"file\"; filename=\"notes.txt\"\r\nContent-Type: text/plain",
                "The keeper's log, 1911: fog, then a clear night.");
        String user = upload("/ai/v1/upload/json-part", boundary, body);
        assertEquals(16_000, WROTE.get(user));
        assertChargedWhatTheModelWrote(user, "a JSON request in a file part (octet-stream)");
    }

    /** Control: the same JSON request as a field (no file name) is held at its budget. */
    @Test
    void controlAJsonRequestSentAsAFieldIsHeldAtItsBudget() {
        String boundary = "----b71" + UUID.randomUUID();
        byte[] body = multipart(boundary,
                "Content-Disposition: form-data; name=\"request\"", BIG_CHAT,
                "Content-Disposition: form-data; name=\"file\"; filename=\"notes.txt\"\r\nContent-Type: text/plain",
                "The keeper's log, 1911: fog, then a clear night.");
        String user = upload("/ai/v1/upload/json-part", boundary, body);
        assertEquals(16_000, WROTE.get(user));
        assertChargedWhatTheModelWrote(user, "a JSON request in a field");
    }

    /**
     * Break hunt: a form field whose part names its charset ({@code Content-Type: text/plain;
     * charset=UTF-16BE}, as RFC 7578 section 4.4 allows). A container that decodes a field in the charset
     * its part names hands the endpoint {@code max_tokens=16000}; the filter reads every field in the
     * request's charset, sees a NUL before each digit, no budget, and holds the
     * default. (A container that ignores the part's charset hands the endpoint the same garbage, and the
     * endpoint falls back to 256: held.)
     */
    @Test
    void aBudgetFieldInTheCharsetItsPartNamesIsHeld() {
        String boundary = "----b71" + UUID.randomUUID();
        byte[] body = multipart(boundary,
                "Content-Disposition: form-data; name=\"prompt\"", "Write a long story about a lighthouse keeper.",
                "Content-Disposition: form-data; name=\"max_tokens\"\r\nContent-Type: text/plain; charset=UTF-16BE",
                "16000".getBytes(StandardCharsets.UTF_16BE));
        String user = upload("/ai/v1/upload/form", boundary, body);
        assertChargedWhatTheModelWrote(user, "max_tokens in a UTF-16BE field");
    }

    /**
     * Break hunt: the HTML form convention's {@code _charset_} field (a browser sends it when the form
     * has a hidden {@code _charset_} input), naming the charset of the fields that follow. A container
     * that honours it decodes {@code max_tokens} as 16000; the filter reads the bytes in the request's
     * charset.
     */
    @Test
    void aBudgetFieldInTheCharsetTheCharsetFieldNamesIsHeld() {
        String boundary = "----b71" + UUID.randomUUID();
        byte[] body = multipart(boundary,
                "Content-Disposition: form-data; name=\"_charset_\"", "UTF-16BE",
                "Content-Disposition: form-data; name=\"prompt\"",
                "Write a long story about a lighthouse keeper.".getBytes(StandardCharsets.UTF_16BE),
                "Content-Disposition: form-data; name=\"max_tokens\"", "16000".getBytes(StandardCharsets.UTF_16BE));
        String user = upload("/ai/v1/upload/form", boundary, body);
        assertChargedWhatTheModelWrote(user, "max_tokens after _charset_=UTF-16BE");
    }

    // ------------------------------------------------------------------ 3. audio containers

    static byte[] le16(int v) {
        return new byte[] {(byte) v, (byte) (v >>> 8)};
    }

    static byte[] le32(long v) {
        return new byte[] {(byte) v, (byte) (v >>> 8), (byte) (v >>> 16), (byte) (v >>> 24)};
    }

    static byte[] le64(long v) {
        return cat(le32(v), le32(v >>> 32));
    }

    /** {@code seconds} of 16-bit mono PCM at 8 kHz: a 440 Hz tone with noise (a voice's level). */
    static byte[] pcm(int seconds) {
        int n = seconds * 8_000;
        byte[] b = new byte[n * 2];
        java.util.Random random = new java.util.Random(71);
        for (int i = 0; i < n; i++) {
            short s = (short) (Math.sin(2 * Math.PI * 440 * i / 8_000.0) * 6_000 + random.nextGaussian() * 800);
            b[2 * i] = (byte) s;
            b[2 * i + 1] = (byte) (s >>> 8);
        }
        return b;
    }

    static byte[] fmt() {
        return cat(ascii("fmt "), le32(16), le16(1), le16(1), le32(8_000), le32(16_000), le16(2), le16(16));
    }

    /** A RIFF WAV of {@code data}. */
    static byte[] wav(byte[] data) {
        return cat(ascii("RIFF"), le32(36 + data.length), ascii("WAVE"), fmt(), ascii("data"), le32(data.length), data);
    }

    /**
     * An RF64 WAV (EBU Tech 3306: what broadcast recorders and FFmpeg's {@code -rf64} write, FFmpeg's
     * wavdec reads): {@code RF64} in place of {@code RIFF}, the sizes in a {@code ds64} chunk, 0xFFFFFFFF
     * in the 32-bit fields.
     */
    static byte[] rf64(byte[] data) {
        long riffSize = 4 + (8 + 28) + (8 + 16) + 8 + data.length;
        return cat(ascii("RF64"), le32(0xFFFFFFFFL), ascii("WAVE"),
                ascii("ds64"), le32(28), le64(riffSize), le64(data.length), le64(data.length / 2), le32(0),
                fmt(), ascii("data"), le32(0xFFFFFFFFL), data);
    }

    /** A transcription ({@code response_format=text}) of {@code file}; the subject. */
    private String transcribe(byte[] file, String filename, String type) {
        String boundary = "----b71" + UUID.randomUUID();
        byte[] body = multipart(boundary,
                "Content-Disposition: form-data; name=\"model\"", "whisper-1",
                "Content-Disposition: form-data; name=\"response_format\"", "text",
                "Content-Disposition: form-data; name=\"file\"; filename=\"" + filename + "\"\r\nContent-Type: " + type,
                file);
        return upload("/ai/v1/audio/transcriptions", boundary, body);
    }

    private void assertChargedTheAudio(String user, long seconds, String what) {
        long charged = settled(user).used();
        long billed = seconds * 17;
        assertTrue(charged >= billed, kind() + ": " + what + ": " + seconds + " s of audio bill " + billed
                + " audio tokens (plus the transcript); charged " + charged + " " + seen(user) + " " + ledger(user));
    }

    /**
     * Break hunt: {@code curl -F file=@meeting.wav -F model=whisper-1 -F response_format=text}: curl
     * labels a {@code .wav} file {@code application/octet-stream}. A 5-minute recording written as RF64
     * (the WAV of broadcast recorders, and of FFmpeg with {@code -rf64 auto} past 4 GB) is played whole
     * by the provider's decoder: 300 s, 5,100 audio tokens. The filter knows a WAV only by {@code RIFF}:
     * unlabelled, RF64 is no audio by its structure, reads as binary, and is held at the fallback.
     */
    @Test
    void anRf64RecordingSentAsCurlLabelsItIsHeldAtItsDuration() {
        String user = transcribe(rf64(pcm(300)), "meeting.wav", "application/octet-stream");
        assertChargedTheAudio(user, 300, "RF64, application/octet-stream");
    }

    /** Control: the same recording as a RIFF WAV under the same label is timed. */
    @Test
    void controlARiffRecordingSentAsCurlLabelsItIsHeldAtItsDuration() {
        String user = transcribe(wav(pcm(300)), "meeting.wav", "application/octet-stream");
        assertChargedTheAudio(user, 300, "RIFF WAV, application/octet-stream");
    }

    /**
     * A 3GP of AMR-WB at its lowest speech mode (6.60 kbit/s: a header byte and 17, 18 bytes a 20 ms
     * frame), ten frames a sample ({@code damr} frames_per_sample 10), whose {@code stts} times each
     * sample at one frame (320 at a 16 kHz timescale).
     */
    static byte[] amrWb3gp(int samples, int framesPerSample) {
        int frameBytes = 18;
        int sampleBytes = framesPerSample * frameBytes;
        long timescale = 16_000;
        long delta = 320;
        byte[] ftyp = box("ftyp", ascii("3gp4"), u32(0), ascii("3gp4isom"));
        byte[] mdhd = box("mdhd", u32(0), u32(0), u32(0), u32(timescale), u32(samples * delta),
                new byte[] {0x55, (byte) 0xc4, 0, 0});
        byte[] hdlr = box("hdlr", u32(0), u32(0), ascii("soun"), new byte[12], ascii("SoundHandler\0"));
        byte[] damr = box("damr", ascii("FFMP"), new byte[] {0, (byte) 0x81, (byte) 0xFF, 0, (byte) framesPerSample});
        byte[] sawb = box("sawb", new byte[6], new byte[] {0, 1}, new byte[8], new byte[] {0, 1, 0, 16}, new byte[4],
                u32(16_000L << 16), damr);
        byte[] stsd = box("stsd", u32(0), u32(1), sawb);
        byte[] stts = box("stts", u32(0), u32(1), u32(samples), u32(delta));
        byte[] stsz = box("stsz", u32(0), u32(sampleBytes), u32(samples));
        byte[] stsc = box("stsc", u32(0), u32(1), u32(1), u32(samples), u32(1));
        byte[] smhd = box("smhd", new byte[8]);
        byte[] tkhd = box("tkhd", new byte[] {0, 0, 0, 7}, new byte[80]);
        java.util.function.Function<byte[], byte[]> moovWith = stco -> box("moov",
                box("mvhd", u32(0), u32(0), u32(0), u32(1000), u32(samples * 20L), new byte[80]),
                box("trak", tkhd, box("mdia", mdhd, hdlr, box("minf", smhd, box("stbl", stsd, stts, stsz, stsc, stco)))));
        int offset = ftyp.length + moovWith.apply(box("stco", u32(0), u32(1), u32(0))).length + 8;
        byte[] moov = moovWith.apply(box("stco", u32(0), u32(1), u32(offset)));
        byte[] data = new byte[samples * sampleBytes];
        for (int i = 0; i < data.length; i += frameBytes) {
            // frame header: FT 0 (6.60 kbit/s), Q 1
            data[i] = 0x04;
        }
        return cat(ftyp, moov, box("mdat", data));
    }

    /**
     * Break hunt (the decoded floor of AMR): 10 minutes of AMR-WB at 6.60 kbit/s in a 3GP, ten frames to
     * a sample, timestamps saying one frame each. A decoder plays every frame each sample holds: 30,000
     * frames, 600 s, 10,200 audio tokens. The filter's floor for AMR counted a sample's bytes over the
     * largest AMR-WB frame (61 bytes), not the frames' own sizes (each frame's header byte names its
     * mode and so its size): 8,852 frames, 177 s. (Longer recordings than the allowance can pay for are
     * refused whole once they are timed right, so the recording is one the allowance holds.)
     */
    @Test
    void amrWbFramesSmallerThanTheLargestArePlayedWhole() {
        String user = transcribe(amrWb3gp(3_000, 10), "memo.3gp", "audio/3gpp");
        assertChargedTheAudio(user, 600, "AMR-WB 6.60 in 3GP, 10 frames a sample");
    }

    /**
     * Break hunt (the size rule): 12 minutes of AMR-NB at 4.75 kbit/s, the mode phones fall back to, in
     * its own file format ({@code #!AMR\n}, then 13-byte frames of 20 ms: 5.2 kbit/s). The docs bounded
     * the size rule's under-hold "by up to a factor of 2.7" for recordings below 16 kbit/s; this one was
     * held at 234 s of its 720 (a factor of 3.1), although its frames are trivially walked (each header
     * byte names its size).
     */
    @Test
    void rawAmrNbAtItsLowestModeIsHeldAtItsDuration() {
        int frames = 36_000;
        byte[] file = new byte[6 + frames * 13];
        System.arraycopy(ascii("#!AMR\n"), 0, file, 0, 6);
        for (int i = 0; i < frames; i++) {
            // frame header: FT 0 (4.75 kbit/s), Q 1
            file[6 + i * 13] = 0x04;
        }
        String user = transcribe(file, "memo.amr", "audio/amr");
        assertChargedTheAudio(user, 720, "raw AMR-NB 4.75");
    }

    // ------------------------------------------------------------------ 4. the quota API

    private HttpResponse<String> callback(String json) {
        byte[] body = json.getBytes(StandardCharsets.UTF_8);
        return TestHttp.post(container.uri("/api/quota/payment-callback"), body, "Content-Type", "application/json",
                "X-Signature", TestHttp.signature(PAYMENT_SECRET, body));
    }

    private List<HttpResponse<String>> atOnce(List<String> bodies) throws Exception {
        ExecutorService pool = Executors.newFixedThreadPool(bodies.size());
        try {
            CountDownLatch go = new CountDownLatch(1);
            List<Future<HttpResponse<String>>> futures = new ArrayList<>();
            for (String b : bodies) {
                Callable<HttpResponse<String>> c = () -> {
                    go.await();
                    return callback(b);
                };
                futures.add(pool.submit(c));
            }
            go.countDown();
            List<HttpResponse<String>> out = new ArrayList<>();
            for (Future<HttpResponse<String>> f : futures) {
                out.add(f.get(60, TimeUnit.SECONDS));
            }
            return out;
        } finally {
            pool.shutdownNow();
        }
    }

    static String event(String tx, String user, String status) {
        return "{\"transaction_id\":\"" + tx + "\",\"user_id\":\"" + user + "\",\"token_amount\":5000,"
                + "\"amount\":\"3300.00\",\"currency\":\"KRW\",\"payment_method\":\"card\",\"status\":\"" + status + "\"}";
    }

    /**
     * A payment provider delivers the same {@code completed} event eight times at once (its retries after a
     * slow answer overlap): every delivery is answered 200 and the purchase credited exactly once.
     */
    @Test
    void aCompletedEventDeliveredEightTimesAtOnceCreditsOnce() throws Exception {
        String user = subject();
        String tx = "tx71-" + UUID.randomUUID();
        List<HttpResponse<String>> answers = atOnce(java.util.Collections.nCopies(8, event(tx, user, "completed")));
        List<String> statuses = answers.stream().map(r -> r.statusCode() + " " + r.body()).toList();
        assertTrue(answers.stream().allMatch(r -> r.statusCode() == 200), kind() + ": " + statuses);
        assertEquals(5_000, store.account(user).granted(), kind() + ": " + ledger(user) + " " + statuses);
    }

    /**
     * A purchase recorded pending, then its {@code completed} and {@code refunded} events delivered four
     * times each, all at once: whatever order the ledger takes them in, no delivery answers 500, and the
     * account ends as the purchase does (completed: credited 5,000; refunded: nothing).
     */
    @Test
    void completedAndRefundedEventsAtOnceLeaveTheLedgerAsThePurchaseEnds() throws Exception {
        String user = subject();
        String tx = "tx71-" + UUID.randomUUID();
        assertEquals(200, callback(event(tx, user, "pending")).statusCode());
        List<String> bodies = new ArrayList<>();
        for (int i = 0; i < 4; i++) {
            bodies.add(event(tx, user, "completed"));
            bodies.add(event(tx, user, "refunded"));
        }
        List<HttpResponse<String>> answers = atOnce(bodies);
        List<String> statuses = answers.stream().map(r -> r.statusCode() + " " + r.body()).toList();
        assertTrue(answers.stream().allMatch(r -> r.statusCode() == 200 || r.statusCode() == 409), kind() + ": " + statuses);
        Purchase purchase = store.purchase(tx).orElseThrow();
        long granted = store.account(user).granted();
        if (purchase.status() == PurchaseStatus.REFUNDED) {
            assertEquals(0, granted, kind() + ": refunded, yet " + ledger(user) + " " + statuses);
        } else {
            assertEquals(PurchaseStatus.COMPLETED, purchase.status(), statuses.toString());
            assertEquals(5_000, granted, kind() + ": " + ledger(user) + " " + statuses);
        }
    }
}
