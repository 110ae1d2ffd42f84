package io.tokenquota.servlet.breakit207;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.dataformat.cbor.CBORFactory;
import com.fasterxml.jackson.dataformat.smile.SmileFactory;
import io.tokenquota.estimator.DefaultTokenEstimator;
import io.tokenquota.servlet.QuotaFilter;
import io.tokenquota.servlet.testing.Deployment;
import io.tokenquota.servlet.testing.H2FilterRound;
import io.tokenquota.servlet.testing.ModelCalls;
import io.tokenquota.servlet.testing.ModelTokens;
import io.tokenquota.servlet.testing.Prose;
import io.tokenquota.servlet.testing.SpringMvc;
import io.tokenquota.servlet.testing.TestHttp;
import jakarta.servlet.MultipartConfigElement;
import jakarta.servlet.http.HttpServletRequest;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.UUID;
import org.junit.jupiter.api.Test;
import org.springframework.web.bind.annotation.PostMapping;
import org.springframework.web.bind.annotation.RequestHeader;
import org.springframework.web.bind.annotation.RequestPart;
import org.springframework.web.bind.annotation.RestController;
import org.springframework.web.multipart.MultipartFile;

/**
 * Round 207 of issue 11 (over-charging): an honest upload whose settings part is CBOR or Smile (Spring's
 * {@code @RequestPart} binds it by its label with the CBOR / Smile converter) is held, and charged without
 * usage, at its part's JSON reading PLUS its bytes' reading, where docs/servlet.md says such a part is "read
 * the same way" as a CBOR body: held at the larger of the two.
 */
abstract class AbstractRound207 extends H2FilterRound {
    static final ModelCalls CALLS = new ModelCalls();
    static final DefaultTokenEstimator TOKENS = new DefaultTokenEstimator();
    static final String DOCUMENT = Prose.english(30_000);
    static final long BUDGET = 500;
    static final long WRITTEN = 300;
    static final String BOUNDARY = "----formdata207";

    static String subject() {
        return "u207-" + UUID.randomUUID().toString().substring(0, 12);
    }

    @Override
    protected Deployment deploy(QuotaFilter filter) {
        return Deployment.create()
                .filter("quota", filter, "/*")
                .multipartServlet("spring", SpringMvc.dispatcher(Parts.class),
                        new MultipartConfigElement("", 8 << 20, 8 << 20, 0), SpringMvc.MAPPING)
                .multipartServlet("mail", new MailDraft(), new MultipartConfigElement("", 8 << 20, 8 << 20, 0), "/ai/mail/draft");
    }

    /** The model reads the instruction and the document, writes a summary of {@link #WRITTEN} words; no usage answered. */
    static String callModel(String user, HttpServletRequest req, Map<String, Object> request) {
        CALLS.count(user);
        String prompt = "Summarize the following document.\n\n" + request.get("text");
        ModelTokens.modelTokens(req, TOKENS.estimate(prompt) + WRITTEN);
        return "{\"summary\":\"" + "word ".repeat((int) WRITTEN).trim() + "\"}";
    }

    @RestController
    public static class Parts {
        @PostMapping("/summarize-upload")
        public String summarize(@RequestPart("request") Map<String, Object> request,
                                @RequestPart("file") MultipartFile file,
                                @RequestHeader("x-user-id") String user,
                                HttpServletRequest req) {
            return callModel(user, req, request);
        }
    }

    // --- an e-mail assistant: the model writes the mail's text, the endpoint returns the .eml with the user's file attached

    /** The words the model writes for the mail's text. */
    static final int MAIL_WORDS = 300;

    /**
     * {@code POST /ai/mail/draft} (multipart: the instructions, the file to attach): the model writes the mail's text; the
     * endpoint builds the MIME message as Jakarta Mail / Spring's {@code MimeMessageHelper} write it (the attachment in
     * base64, lines of 76) and answers it as a download ({@code application/octet-stream}, as Spring's file-download
     * examples do). No usage in the answer.
     */
    class MailDraft extends jakarta.servlet.http.HttpServlet {
        @Override
        protected void doPost(HttpServletRequest req, jakarta.servlet.http.HttpServletResponse resp)
                throws IOException, jakarta.servlet.ServletException {
            String instructions = new String(req.getPart("instructions").getInputStream().readAllBytes(),
                    java.nio.charset.StandardCharsets.UTF_8);
            byte[] file = req.getPart("file").getInputStream().readAllBytes();
            String user = req.getHeader("x-user-id");
            CALLS.count(user);
            ModelTokens.modelTokens(req, TOKENS.estimate(instructions) + MAIL_WORDS);
            String text = "Dear Ms Jones, " + "thank you for your order ".repeat(MAIL_WORDS / 5);
            String eml = "MIME-Version: 1.0\r\nSubject: Your quote\r\nContent-Type: multipart/mixed; boundary=\"b1\"\r\n\r\n"
                    + "--b1\r\nContent-Type: text/plain; charset=UTF-8\r\n\r\n" + text + "\r\n"
                    + "--b1\r\nContent-Type: application/pdf; name=\"quote.pdf\"\r\nContent-Transfer-Encoding: base64\r\n"
                    + "Content-Disposition: attachment; filename=\"quote.pdf\"\r\n\r\n"
                    + ("one-line".equals(req.getParameter("base64")) ? java.util.Base64.getEncoder()
                            : java.util.Base64.getMimeEncoder()).encodeToString(file) + "\r\n--b1--\r\n";
            resp.setContentType("application/octet-stream");
            resp.setHeader("Content-Disposition", "attachment; filename=\"draft.eml\"");
            ModelTokens.write(resp, eml);
        }
    }

    /** A compressed file of 48 KB (a PDF's streams are deflated: as random as this). */
    static byte[] attachment() {
        byte[] b = new byte[48 * 1024];
        new java.util.Random(207).nextBytes(b);
        byte[] head = "%PDF-1.7\n".getBytes(java.nio.charset.StandardCharsets.US_ASCII);
        System.arraycopy(head, 0, b, 0, head.length);
        return b;
    }

    @Test
    void aMailDraftWithItsAttachmentInBase64LinesIsNotChargedTheBase64AsTheModelsText() {
        draft("/ai/mail/draft");
    }

    /** Control: the same base64 on one line (a run past 256 characters) is passed over, as documented. */
    @Test
    void controlTheAttachmentInOneBase64LineIsNotCharged() {
        draft("/ai/mail/draft?base64=one-line");
    }

    void draft(String path) {
        String s = subject();
        byte[] body = TestHttp.multipart(BOUNDARY,
                "Content-Disposition: form-data; name=\"instructions\"", "Reply to Ms Jones politely and attach the quote.",
                "Content-Disposition: form-data; name=\"file\"; filename=\"quote.pdf\"\r\nContent-Type: application/pdf", attachment());
        HttpResponse<String> r = TestHttp.send(TestHttp.requestAs(container.uri(path), s,
                        "Content-Type", "multipart/form-data; boundary=" + BOUNDARY)
                .POST(HttpRequest.BodyPublishers.ofByteArray(body)).build());
        assertEquals(200, r.statusCode(), r.body());
        assertEquals(1, CALLS.of(s), "one model call");
        long used = settled(s).used();
        long model = ModelTokens.modelTokens(s);
        assertTrue(used <= 3 * Math.max(model, 1_000), kind() + ": the model read the instructions and wrote a "
                + MAIL_WORDS + "-word mail (" + model + " tokens; the attached file is the user's, sent back in base64"
                + " lines of 76: " + path + "); charged " + used + ": " + ledger(s));
    }

    static byte[] encoded(ObjectMapper format, Object value) {
        try {
            return format.writeValueAsBytes(value);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    static Map<String, Object> request() {
        Map<String, Object> fields = new LinkedHashMap<>();
        fields.put("model", "gpt-4o");
        fields.put("max_tokens", BUDGET);
        fields.put("text", DOCUMENT);
        return fields;
    }

    long upload(String s, String partType, byte[] part) {
        byte[] body = TestHttp.multipart(BOUNDARY,
                "Content-Disposition: form-data; name=\"request\"\r\nContent-Type: " + partType, part,
                "Content-Disposition: form-data; name=\"file\"; filename=\"notes.txt\"\r\nContent-Type: text/plain", "see request");
        HttpResponse<String> r = TestHttp.send(TestHttp.requestAs(container.uri("/ai/spring/summarize-upload"), s,
                        "Content-Type", "multipart/form-data; boundary=" + BOUNDARY)
                .POST(HttpRequest.BodyPublishers.ofByteArray(body)).build());
        assertEquals(200, r.statusCode(), partType + ": " + r.body());
        assertEquals(1, CALLS.of(s), "one model call");
        return settled(s).used();
    }

    void assertChargedAsTheJsonPart(String partType, ObjectMapper format) {
        String json = subject();
        long asJson = upload(json, "application/json", encoded(new ObjectMapper(), request()));
        String s = subject();
        long used = upload(s, partType, encoded(format, request()));
        long model = ModelTokens.modelTokens(s);
        assertTrue(used <= Math.max(asJson, model) * 11 / 10, kind() + ": the same upload with its settings part as "
                + partType + " (the model read and wrote " + model + " tokens, no usage answered) is charged as with a JSON"
                + " part (" + asJson + "); charged " + used + ": " + ledger(s));
    }

    @Test
    void aCborSettingsPartIsChargedAsAJsonOne() {
        assertChargedAsTheJsonPart("application/cbor", new ObjectMapper(new CBORFactory()));
    }

    @Test
    void aSmileSettingsPartIsChargedAsAJsonOne() {
        assertChargedAsTheJsonPart("application/x-jackson-smile", new ObjectMapper(new SmileFactory()));
    }
}
