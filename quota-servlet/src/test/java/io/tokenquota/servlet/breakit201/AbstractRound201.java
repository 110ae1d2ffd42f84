package io.tokenquota.servlet.breakit201;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.tokenquota.QuotaAccount;
import io.tokenquota.estimator.DefaultTokenEstimator;
import io.tokenquota.servlet.QuotaFilter;
import io.tokenquota.servlet.testing.Deployment;
import io.tokenquota.servlet.testing.ModelCallRound;
import io.tokenquota.servlet.testing.ModelCalls;
import io.tokenquota.servlet.testing.Prose;
import io.tokenquota.servlet.testing.SpringMvc;
import io.tokenquota.servlet.testing.TestHttp;
import jakarta.servlet.MultipartConfigElement;
import java.io.IOException;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import org.junit.jupiter.api.Test;
import org.springframework.web.bind.annotation.RequestHeader;
import org.springframework.web.bind.annotation.RequestMapping;
import org.springframework.web.bind.annotation.RequestParam;
import org.springframework.web.bind.annotation.RestController;
import org.springframework.web.multipart.MultipartFile;

/**
 * Round 201 of issue 11: a document upload answered with the model's text. A Spring MVC controller
 * turns uploaded meeting notes into a full report: {@code @RequestMapping("/report")} (no
 * {@code method}: any method is served) binding {@code @RequestParam("notes") MultipartFile} and
 * returning {@code chatClient.prompt().user(notes).call().content()}, a {@code String}. The app's page
 * uploads with {@code fetch(url, {method: "POST", body: new FormData(form)})}. Round 199 made a
 * {@code GET} that sends a body count as a call; a hostile client sends the same multipart upload with
 * {@code GET}: Spring binds the same file, and the model writes the same report.
 */
abstract class AbstractRound201 extends ModelCallRound {
    static final ModelCalls CALLS = new ModelCalls();
    static final DefaultTokenEstimator TOKENS = new DefaultTokenEstimator();
    /** About 8,400 tokens of prose: the report the model writes. */
    static final String REPORT = Prose.english(54_000);
    /** About 450 tokens of notes. */
    static final String NOTES = Prose.english(2_000);
    static final String BOUNDARY = "----formdata201";

    AbstractRound201() {
        super(CALLS);
    }

    @Override
    protected Deployment deploy(QuotaFilter filter) {
        return Deployment.create()
                .filter("quota", filter, "/ai/*")
                .multipartServlet("spring", SpringMvc.dispatcher(Reports.class),
                        new MultipartConfigElement("", 8 << 20, 8 << 20, 0), SpringMvc.MAPPING);
    }

    @RestController
    public static class Reports {
        @RequestMapping("/report")
        public String report(@RequestParam("notes") MultipartFile notes, @RequestHeader("x-user-id") String user)
                throws IOException {
            String text = new String(notes.getBytes(), StandardCharsets.UTF_8);
            if (text.isBlank()) {
                throw new IllegalArgumentException("no notes");
            }
            CALLS.count(user);
            return REPORT;
        }
    }

    HttpResponse<String> send(String method, String s) {
        byte[] body = TestHttp.multipart(BOUNDARY,
                "Content-Disposition: form-data; name=\"notes\"; filename=\"notes.txt\"\r\nContent-Type: text/plain", NOTES);
        return TestHttp.send(TestHttp.requestAs(container.uri("/ai/spring/report"), s,
                        "Content-Type", "multipart/form-data; boundary=" + BOUNDARY)
                .method(method, HttpRequest.BodyPublishers.ofByteArray(body)).build());
    }

    void assertChargedTheReport(String s, HttpResponse<String> r, String what) {
        QuotaAccount a = settled(s);
        assertEquals(200, r.statusCode(), what + ": " + r.body());
        assertEquals(REPORT, r.body(), what);
        assertEquals(1, calls.of(s), what + ": model calls");
        long written = TOKENS.estimate(REPORT);
        assertTrue(a.used() >= written * 9 / 10, kind() + ": " + what + ": the model wrote about " + written
                + " tokens (all delivered, no usage); charged " + a.used() + " of " + a.limit() + ": " + ledger(s));
    }

    /** Control: the app's page POSTs the upload and is charged the report's text. */
    @Test
    void controlAnUploadPostedIsChargedTheReport() {
        String s = subject();
        assertChargedTheReport(s, send("POST", s), "POST multipart");
    }

    /** The same multipart upload sent with GET: the same handler, the same model call, the same report. */
    @Test
    void theSameUploadSentWithGetIsChargedTheReport() {
        String s = subject();
        assertChargedTheReport(s, send("GET", s), "GET with a multipart body");
    }

    /** Four such GETs on a 20,000 allowance: each about 8,400 tokens written. */
    @Test
    void uploadsSentWithGetAreNotServedPastTheAllowance() {
        String s = subject();
        int served = 0;
        for (int i = 0; i < 4; i++) {
            if (send("GET", s).statusCode() == 200) {
                served++;
            }
        }
        long used = settled(s).used();
        long written = TOKENS.estimate(REPORT);
        assertTrue(used >= served * written * 9 / 10, kind() + ": " + served + " GETs served, each writing about "
                + written + " tokens (" + served * written + " in all), charged " + used + " on a " + ALLOWANCE
                + " allowance: " + ledger(s));
    }
}
