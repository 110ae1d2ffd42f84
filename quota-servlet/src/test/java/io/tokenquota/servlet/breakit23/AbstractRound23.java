package io.tokenquota.servlet.breakit23;

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
import java.util.Map;
import java.util.UUID;
import org.junit.jupiter.api.Test;


import org.springframework.web.bind.annotation.PostMapping;
import org.springframework.web.bind.annotation.RequestBody;
import org.springframework.web.bind.annotation.RestController;




/**
 * Round 23 of issue 11 ("no model call goes unpaid, nothing that never reached a model is charged").
 */
abstract class AbstractRound23 extends H2FilterRound {
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

        /** A buffered relay of the upstream's streamed answer, as raw bytes. */
        @PostMapping("/proxy-stream-bytes")
        public byte[] proxyStreamBytes(@RequestBody String body, HttpServletRequest req) {
            called(req);
            return streamText(40, 12_000).getBytes(StandardCharsets.UTF_8);
        }

        /**
         * A chat endpoint that parses the request (Jackson, which detects UTF-16/32 from the bytes as
         * RFC 4627 says) and streams an answer without usage (the client did not ask for
         * stream_options.include_usage), writing as many tokens as max_tokens allows.
         */
        @PostMapping(value = "/chat-stream", produces = "text/event-stream")
        public String chatStream(@RequestBody Map<String, Object> body, HttpServletRequest req) {
            called(req);
            long max = ((Number) body.get("max_tokens")).longValue();
            StringBuilder sb = new StringBuilder();
            for (int i = 0; i < 50; i++) {
                sb.append("data: {\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"token ")
                        .append(i).append(" of ").append(max).append("\"}}]}\n\n");
            }
            return sb.append("data: [DONE]\n\n").toString();
        }

        /**
         * A relay that returns the upstream's body as a {@code Resource} (RestTemplate/RestClient
         * {@code Resource.class}), labelled with the upstream's Content-Type.
         */
        @PostMapping("/proxy-resource")
        public org.springframework.http.ResponseEntity<org.springframework.core.io.Resource> proxyResource(
                @RequestBody String body, HttpServletRequest req) {
            called(req);
            return org.springframework.http.ResponseEntity.ok()
                    .contentType(org.springframework.http.MediaType.APPLICATION_JSON)
                    .body(new org.springframework.core.io.ByteArrayResource(
                            completionJson("Once upon a time...", 40, 12_000).getBytes(StandardCharsets.UTF_8)));
        }

        /** The same relay of a streamed answer (buffered) as a Resource labelled text/event-stream. */
        @PostMapping("/proxy-stream-resource")
        public org.springframework.http.ResponseEntity<org.springframework.core.io.Resource> proxyStreamResource(
                @RequestBody String body, HttpServletRequest req) {
            called(req);
            return org.springframework.http.ResponseEntity.ok()
                    .contentType(org.springframework.http.MediaType.TEXT_EVENT_STREAM)
                    .body(new org.springframework.core.io.ByteArrayResource(streamText(40, 12_000).getBytes(StandardCharsets.UTF_8)));
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
        return "u23-" + UUID.randomUUID().toString().substring(0, 12);
    }

    HttpResponse<String> post(String path, String subject, String body, String... headers) {
        return TestHttp.postJson(container.uri(path), subject, body, headers);
    }

    /**
     * A byte[] relay (RestClient {@code body(byte[].class)}) writes the upstream's UTF-8 bytes as they
     * are; Spring's ByteArrayHttpMessageConverter labels them with the client's {@code Accept},
     * charset parameter included. The sniffer decodes the first bytes in that charset, sees neither
     * '{' nor 'data:' and reads nothing: the 12,040-token answer is charged the 1,006-token estimate.
     */
    void assertCharged(String path, String body, String accept) {
        String s = subject();
        HttpResponse<String> r = post(path, s, body, "Accept", accept);
        assertEquals(200, r.statusCode(), r.body());
        assertEquals(1, calls(s));
        String type = r.headers().firstValue("Content-Type").orElse("");
        QuotaAccount a = settled(s);
        assertTrue(a.used() >= 12_040, "the upstream reported 12,040 tokens; the client's Accept: " + accept
                + " labelled the answer " + type + " and it was charged " + a.used() + " (" + ledger(s) + ")");
    }

    static final String STREAM_ASK = ASK.replace("}]}", "}],\"stream\":true}");

    @Test
    void byteRelayLabelledJsonUtf16() {
        assertCharged("/ai/spring/proxy-bytes", ASK, "application/json;charset=UTF-16");
    }

    @Test
    void byteRelayLabelledTextUtf32() {
        assertCharged("/ai/spring/proxy-bytes", ASK, "text/plain;charset=UTF-32");
    }

    @Test
    void byteRelayLabelledEbcdic() {
        assertCharged("/ai/spring/proxy-bytes", ASK, "application/json;charset=IBM037");
    }

    @Test
    void byteStreamRelayLabelledEventStreamUtf16() {
        assertCharged("/ai/spring/proxy-stream-bytes", STREAM_ASK, "text/event-stream;charset=UTF-16");
    }

    void assertRangeCharged(String path, String body, String range) {
        String control = subject();
        HttpResponse<String> ok = post(path, control, body);
        assertEquals(200, ok.statusCode(), ok.body());
        assertEquals(12_040, settled(control).used(), "control: " + ledger(control));

        String s = subject();
        HttpResponse<String> r = post(path, s, body, "Range", range);
        assertEquals(1, calls(s));
        // the filter hides Range from the endpoint: a model call is always answered whole
        assertEquals(200, r.statusCode(), r.body());
        assertEquals(ok.body(), r.body());
        assertTrue(r.body().contains("12040"), r.body());
        QuotaAccount a = settled(s);
        assertTrue(a.used() >= 12_040, "the upstream reported 12,040 tokens; with Range: " + range
                + " the answer (" + r.body().length() + " chars) was charged " + a.used() + " (" + ledger(s) + ")");
    }

    /**
     * Spring serves byte ranges of any Resource a controller returns, also on a POST. {@code Range:
     * bytes=1-} drops the answer's first byte: the 206 body starts with {@code "id"}, looks like
     * neither JSON nor an event stream, and is not read; the client restores the '{' itself.
     */
    @Test
    void rangeFromByteOneHidesTheUsageOfAResourceRelay() {
        assertRangeCharged("/ai/spring/proxy-resource", ASK, "bytes=1-");
    }

    /** A relayed stream from byte 1: "ata: {...}" is not an event stream. */
    @Test
    void rangeFromByteOneHidesTheUsageOfAStreamRelay() {
        assertRangeCharged("/ai/spring/proxy-stream-resource", STREAM_ASK, "bytes=1-");
    }
}
