package io.tokenquota.servlet.breakit460;

import static org.junit.jupiter.api.Assertions.assertTrue;

import io.tokenquota.servlet.QuotaFilter;
import io.tokenquota.servlet.testing.ChatCompletions;
import io.tokenquota.servlet.testing.Compression;
import io.tokenquota.servlet.testing.Deployment;
import io.tokenquota.servlet.testing.FlushedParts;
import io.tokenquota.servlet.testing.ModelCallRound;
import io.tokenquota.servlet.testing.ModelCalls;
import io.tokenquota.servlet.testing.SpringMvc;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import org.junit.jupiter.api.Test;
import org.springframework.http.ResponseEntity;
import org.springframework.web.bind.annotation.PostMapping;
import org.springframework.web.bind.annotation.RequestHeader;
import org.springframework.web.bind.annotation.RequestParam;
import org.springframework.web.bind.annotation.RestController;
import org.springframework.web.servlet.DispatcherServlet;
import org.springframework.web.servlet.mvc.method.annotation.StreamingResponseBody;

/**
 * Round 460 of issue 11: whether the filter holds back a small flushed part of a compressed answer. The endpoint
 * is round 458's pass-through relay (Spring MVC's {@code ResponseEntity<StreamingResponseBody>}, "Asynchronous
 * Requests") copying a provider's gzip- or deflate-encoded chat completion (OpenAI API reference, "The chat
 * completion object", {@code usage} last) in three flushed parts; the text is a model's repetitive answer, so each
 * compressed part is a few hundred bytes. The client reads after the relay flushed the first part: what reaches it
 * behind the filter is compared with what reaches it from the same relay mounted outside the filter.
 *
 * <p>Found: the filter holds nothing back. A plain servlet's 318-byte gzip part (314 deflate) reaches the client at
 * its flush behind the filter as outside it, on Jetty and Tomcat, and the call is charged 14,200. Round 458's silent
 * client came from Spring 7 itself: its {@code StreamingResponseBody} writes to a non-flushing stream, so small
 * parts wait in the container's buffer with or without the filter (the Spring controls below).
 */
abstract class AbstractRound460 extends ModelCallRound {
    static final ModelCalls CALLS = new ModelCalls();
    static final long IN = 1_200;
    static final long OUT = 13_000;
    static final String DOC = ChatCompletions.completion("chatcmpl-460", "gpt-4o-2024-08-06",
            "The lighthouse keeper climbed the stairs again. ".repeat(5_000), IN, OUT);
    static final byte[] PLAIN = DOC.getBytes(StandardCharsets.UTF_8);
    static final byte[] GZIPPED = Compression.gzip(PLAIN);
    static final byte[] DEFLATED = Compression.deflate(PLAIN);
    static final String ASK = "{\"model\":\"gpt-4o\",\"messages\":[{\"role\":\"user\","
            + "\"content\":\"Write me a long story about a lighthouse keeper.\"}]}";

    static final FlushedParts PARTS = new FlushedParts(30);

    AbstractRound460() {
        super(CALLS);
    }

    @Override
    protected Deployment deploy(QuotaFilter filter) {
        DispatcherServlet open = SpringMvc.dispatcher(Relay.class);
        return SpringMvc.behindAiWithAsyncTimeout(filter, 120_000, Relay.class)
                .servlet("open-spring", open, "/open/spring/*")
                .withControl("raw", RawRelay::new, "raw");
    }

    static byte[] encoded(String enc) {
        return "gzip".equals(enc) ? GZIPPED : "deflate".equals(enc) ? DEFLATED : PLAIN;
    }

    @RestController
    public static class Relay {
        @PostMapping(path = "/ai/relay")
        public ResponseEntity<StreamingResponseBody> relay(@RequestHeader("x-user-id") String user,
                                                           @RequestParam("enc") String enc) {
            CALLS.count(user);
            return PARTS.springRelay(user, encoded(enc), enc);
        }
    }

    /**
     * The same relay as a plain servlet (no Spring between it and the container): Spring 7's
     * {@code ServletServerHttpResponse.getBody()} hands a {@code StreamingResponseBody} a non-flushing stream
     * ({@code StreamUtils.nonFlushing}) unless the Spring property {@code spring.http.response.flush.enabled} is
     * set, so its flushes never reach the filter or the container; this one's do.
     */
    public static class RawRelay extends jakarta.servlet.http.HttpServlet {
        @Override
        protected void doPost(jakarta.servlet.http.HttpServletRequest req, jakarta.servlet.http.HttpServletResponse resp)
                throws IOException {
            String user = req.getHeader("x-user-id");
            String enc = req.getParameter("enc");
            req.getInputStream().readAllBytes();
            CALLS.count(user);
            resp.setContentType("application/json");
            if (!"identity".equals(enc)) {
                resp.setHeader("Content-Encoding", enc);
            }
            PARTS.relay(user, resp.getOutputStream(), encoded(enc));
        }
    }

    static int bodyBytes(String raw) {
        int head = raw.indexOf("\r\n\r\n");
        return head < 0 ? -1 : raw.length() - head - 4;
    }

    void probe(String where, String enc) throws Exception {
        String s = subject();
        String[] behind = PARTS.firstPartSeen(container.port(), "/ai" + where + "?enc=" + enc, s, ASK);
        String filtered = behind[0];
        String all = behind[1];
        String o = subject();
        String[] outside = PARTS.firstPartSeen(container.port(), "/open" + where + "?enc=" + enc, o, ASK);
        String open = outside[0];
        String allOpen = outside[1];
        String report = kind() + " " + enc + " (" + FlushedParts.part(encoded(enc), 0).length
                + " bytes in the first part): behind the filter the client saw " + filtered.length() + " bytes (body " + bodyBytes(filtered) + ") after the first flush, " + all.length() + " in all; "
                + "outside it " + open.length() + " (body " + bodyBytes(open) + "), " + allOpen.length() + " in all.\n"
                + "FILTERED FIRST:\n" + filtered.substring(0, Math.min(400, filtered.length()))
                + "\nOPEN FIRST:\n" + open.substring(0, Math.min(400, open.length())) + "\nledger " + ledger(s);
        assertTrue(bodyBytes(filtered) >= bodyBytes(open), report);
        if (where.equals("/raw")) {
            assertTrue(bodyBytes(filtered) > 0, report);
            assertRelayChargedItsUsage(s, IN, OUT, PARTS.writeEnds, where + " " + enc);
        }
    }

    /** Spring's relay: behind the filter the client sees what it sees outside it (nothing, Spring's flush is off). */
    @Test
    void controlSpringGzipFirstPartAsOutsideTheFilter() throws Exception {
        probe("/spring/ai/relay", "gzip");
    }

    @Test
    void controlSpringDeflateFirstPartAsOutsideTheFilter() throws Exception {
        probe("/spring/ai/relay", "deflate");
    }

    /** A plain servlet's flushed gzip part reaches the client behind the filter, and the call is charged 14,200. */
    @Test
    void aRawGzipFirstPartReachesTheClientAtTheRelaysFlush() throws Exception {
        probe("/raw", "gzip");
    }

    @Test
    void aRawDeflateFirstPartReachesTheClientAtTheRelaysFlush() throws Exception {
        probe("/raw", "deflate");
    }

    @Test
    void controlARawIdentityFirstPartReachesTheClientAtTheRelaysFlush() throws Exception {
        probe("/raw", "identity");
    }
}
