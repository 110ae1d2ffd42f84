package io.tokenquota.servlet.breakit22;

import static io.tokenquota.servlet.testing.RelayedAnswers.called;
import static io.tokenquota.servlet.testing.RelayedAnswers.calls;
import static io.tokenquota.servlet.testing.RelayedAnswers.completionJson;
import static io.tokenquota.servlet.testing.RelayedAnswers.streamText;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.tokenquota.QuotaAccount;
import io.tokenquota.servlet.QuotaFilter;
import io.tokenquota.servlet.testing.Deployment;
import io.tokenquota.servlet.testing.H2FilterRound;
import io.tokenquota.servlet.testing.SpringMvc;
import io.tokenquota.servlet.testing.TestHttp;

import jakarta.servlet.http.HttpServletRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.util.UUID;
import org.junit.jupiter.api.Test;


import org.springframework.web.bind.annotation.PostMapping;
import org.springframework.web.bind.annotation.RequestBody;
import org.springframework.web.bind.annotation.RestController;




/**
 * Round 22 of issue 11 ("no model call goes unpaid, nothing that never reached a model is charged").
 */
abstract class AbstractRound22 extends H2FilterRound {
    static final String ASK = "{\"model\":\"gpt-4o\",\"messages\":[{\"role\":\"user\",\"content\":\"Write a very long story.\"}]}";

    @RestController
    public static class AiController {
        /** The usual quick proxy: the upstream's JSON answer relayed as a String. */
        @PostMapping("/proxy")
        public String proxy(@RequestBody String body, HttpServletRequest req) {
            called(req);
            return completionJson("Once upon a time...", 40, 12_000);
        }

        /** The same relay as raw bytes (RestClient {@code body(byte[].class)}). */
        @PostMapping("/proxy-bytes")
        public byte[] proxyBytes(@RequestBody String body, HttpServletRequest req) {
            called(req);
            return completionJson("Once upon a time...", 40, 12_000).getBytes(StandardCharsets.UTF_8);
        }

        /** A buffered relay of the upstream's streamed answer, returned as a String. */
        @PostMapping("/proxy-stream")
        public String proxyStream(@RequestBody String body, HttpServletRequest req) {
            called(req);
            return streamText(40, 12_000);
        }
    }

    @Override
    protected Deployment deploy(QuotaFilter filter) {
        return SpringMvc.behind(filter, AiController.class);
    }

    static String subject() {
        return "u22-" + UUID.randomUUID().toString().substring(0, 12);
    }

    HttpResponse<String> post(String path, String subject, String body, String... headers) {
        return TestHttp.postJson(container.uri(path), subject, body, headers);
    }

    void assertCharged(String path, String accept, String expectedTypePrefix) {
        String control = subject();
        HttpResponse<String> ok = post(path, control, ASK, "Accept", "application/json");
        assertEquals(200, ok.statusCode());
        assertEquals(12_040, settled(control).used(), "control: the usage is charged (" + ledger(control) + ")");

        String s = subject();
        HttpResponse<String> r = post(path, s, ASK, "Accept", accept);
        assertEquals(200, r.statusCode(), r.body());
        assertEquals(1, calls(s));
        String type = r.headers().firstValue("Content-Type").orElse("");
        assertTrue(type.toLowerCase().startsWith(expectedTypePrefix), "answered as " + type);
        QuotaAccount a = settled(s);
        assertTrue(a.used() >= 12_040, "the upstream reported 12,040 tokens; the client's Accept: " + accept
                + " labelled the answer " + type + " and it was charged " + a.used() + " (" + ledger(s) + ")");
    }

    /**
     * Accept: application/xml: Spring would write the relayed JSON String as application/xml; the filter
     * takes XML out of the Accept the endpoint sees, so it goes out under another label, read and charged.
     */
    @Test
    void clientAcceptXmlHidesTheUsageOfARelayedAnswer() {
        assertCharged("/ai/spring/proxy", "application/xml", "");
    }

    /** Accept: image/png on a byte[] relay: the answer goes out as image/png; never sniffed. */
    @Test
    void clientAcceptImageHidesTheUsageOfARelayedByteAnswer() {
        assertCharged("/ai/spring/proxy-bytes", "image/png", "image/png");
    }

    /** Accept: text/plain;charset=UTF-16: the first bytes are not '{' in UTF-16, so not read as JSON. */
    @Test
    void clientAcceptTextUtf16HidesTheUsageOfARelayedAnswer() {
        assertCharged("/ai/spring/proxy", "text/plain;charset=UTF-16", "text/plain");
    }

    /** A buffered relay of an SSE stream, labelled text/plain by the client's Accept: read as nothing. */
    @Test
    void clientAcceptTextPlainHidesTheUsageOfARelayedStream() {
        String s = subject();
        HttpResponse<String> r = post("/ai/spring/proxy-stream", s, ASK, "Accept", "text/plain");
        assertEquals(200, r.statusCode(), r.body());
        assertTrue(r.body().contains("\"total_tokens\":12040"), r.body());
        QuotaAccount a = settled(s);
        assertTrue(a.used() >= 12_040, "the relayed stream reported 12,040 tokens; labelled "
                + r.headers().firstValue("Content-Type").orElse("") + " it was charged " + a.used() + " (" + ledger(s) + ")");
    }

    /**
     * The same buffered stream relay with {@code Accept: application/json} (what the OpenAI SDKs send,
     * also with {@code stream: true}): Spring labels the event stream application/json, the JSON
     * scanner fails at {@code data:} and the 12,040-token answer is charged the estimate.
     */
    @Test
    void jsonLabelledRelayedStreamHidesItsUsage() {
        String s = subject();
        HttpResponse<String> r = post("/ai/spring/proxy-stream", s, ASK.replace("}]}", "}],\"stream\":true}"),
                "Accept", "application/json");
        assertEquals(200, r.statusCode(), r.body());
        assertTrue(r.body().contains("\"total_tokens\":12040"), r.body());
        QuotaAccount a = settled(s);
        assertTrue(a.used() >= 12_040, "the relayed stream reported 12,040 tokens; labelled "
                + r.headers().firstValue("Content-Type").orElse("") + " it was charged " + a.used() + " (" + ledger(s) + ")");
    }
}
