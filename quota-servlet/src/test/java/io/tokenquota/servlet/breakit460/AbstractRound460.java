package io.tokenquota.servlet.breakit460;

import static org.junit.jupiter.api.Assertions.assertTrue;

import io.tokenquota.servlet.QuotaFilter;
import io.tokenquota.servlet.testing.ChatCompletions;
import io.tokenquota.servlet.testing.Deployment;
import io.tokenquota.servlet.testing.ModelCallRound;
import io.tokenquota.servlet.testing.ModelCalls;
import io.tokenquota.servlet.testing.SpringMvc;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.zip.DeflaterOutputStream;
import java.util.zip.GZIPOutputStream;
import org.junit.jupiter.api.Test;
import org.springframework.http.MediaType;
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
    static final byte[] GZIPPED = gzip(PLAIN, true);
    static final byte[] DEFLATED = gzip(PLAIN, false);
    static final String ASK = "{\"model\":\"gpt-4o\",\"messages\":[{\"role\":\"user\","
            + "\"content\":\"Write me a long story about a lighthouse keeper.\"}]}";

    static final Map<String, CountDownLatch[]> PARTS = new ConcurrentHashMap<>();
    static final Map<String, CountDownLatch[]> WROTE = new ConcurrentHashMap<>();
    static final Map<String, String> WRITE_END = new ConcurrentHashMap<>();

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

    static byte[] gzip(byte[] bytes, boolean gzip) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        try (java.io.OutputStream g = gzip ? new GZIPOutputStream(out) : new DeflaterOutputStream(out)) {
            g.write(bytes);
        } catch (IOException e) {
            throw new IllegalStateException(e);
        }
        return out.toByteArray();
    }

    static byte[] part(byte[] whole, int i) {
        int a = whole.length / 3;
        return i == 0 ? Arrays.copyOfRange(whole, 0, a)
                : i == 1 ? Arrays.copyOfRange(whole, a, 2 * a) : Arrays.copyOfRange(whole, 2 * a, whole.length);
    }

    @RestController
    public static class Relay {
        @PostMapping(path = "/ai/relay")
        public ResponseEntity<StreamingResponseBody> relay(@RequestHeader("x-user-id") String user,
                                                           @RequestParam("enc") String enc) {
            CALLS.count(user);
            byte[] whole = "gzip".equals(enc) ? GZIPPED : "deflate".equals(enc) ? DEFLATED : PLAIN;
            StreamingResponseBody body = out -> {
                CountDownLatch[] parts = PARTS.get(user);
                CountDownLatch[] wrote = WROTE.get(user);
                try {
                    for (int i = 0; i < 3; i++) {
                        if (!parts[i].await(30, TimeUnit.SECONDS)) {
                            throw new IllegalStateException("the provider's part " + i + " never came");
                        }
                        out.write(part(whole, i));
                        out.flush();
                        wrote[i].countDown();
                    }
                    WRITE_END.put(user, "written to its end");
                } catch (Exception e) {
                    WRITE_END.put(user, "stopped by " + e);
                    for (CountDownLatch w : wrote) {
                        w.countDown();
                    }
                    if (e instanceof IOException io) {
                        throw io;
                    }
                    throw new IllegalStateException(e);
                }
            };
            ResponseEntity.BodyBuilder ok = ResponseEntity.ok().contentType(MediaType.APPLICATION_JSON);
            if (!"identity".equals(enc)) {
                ok = ok.header("Content-Encoding", enc);
            }
            return ok.body(body);
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
            byte[] whole = "gzip".equals(enc) ? GZIPPED : "deflate".equals(enc) ? DEFLATED : PLAIN;
            resp.setContentType("application/json");
            if (!"identity".equals(enc)) {
                resp.setHeader("Content-Encoding", enc);
            }
            CountDownLatch[] parts = PARTS.get(user);
            CountDownLatch[] wrote = WROTE.get(user);
            jakarta.servlet.ServletOutputStream out = resp.getOutputStream();
            try {
                for (int i = 0; i < 3; i++) {
                    if (!parts[i].await(30, TimeUnit.SECONDS)) {
                        throw new IllegalStateException("the provider's part " + i + " never came");
                    }
                    out.write(part(whole, i));
                    out.flush();
                    wrote[i].countDown();
                }
                WRITE_END.put(user, "written to its end");
            } catch (Exception e) {
                WRITE_END.put(user, "stopped by " + e);
                for (CountDownLatch w : wrote) {
                    w.countDown();
                }
                if (e instanceof IOException io) {
                    throw io;
                }
                throw new IllegalStateException(e);
            }
        }
    }

    /**
     * Posts the question to {@code prefix}'s relay, waits for the relay to flush its first part, then reads for up
     * to five seconds: what the client got of the answer (status line, header, body bytes) by then. Then lets the
     * relay write the rest and reads it all.
     */
    String firstPartSeen(String prefix, String s, String enc, StringBuilder all) throws Exception {
        CountDownLatch[] parts = {new CountDownLatch(0), new CountDownLatch(1), new CountDownLatch(1)};
        CountDownLatch[] wrote = {new CountDownLatch(1), new CountDownLatch(1), new CountDownLatch(1)};
        PARTS.put(s, parts);
        WROTE.put(s, wrote);
        byte[] bytes = ASK.getBytes(StandardCharsets.UTF_8);
        try (java.net.Socket socket = new java.net.Socket()) {
            socket.connect(new java.net.InetSocketAddress("127.0.0.1", container.port()), 5_000);
            java.io.OutputStream out = socket.getOutputStream();
            out.write(("POST " + prefix + "?enc=" + enc + " HTTP/1.1\r\nHost: 127.0.0.1\r\nx-user-id: "
                    + s + "\r\nContent-Type: application/json\r\nAccept: application/json\r\nAccept-Encoding: gzip, deflate"
                    + "\r\nConnection: close\r\nContent-Length: " + bytes.length + "\r\n\r\n")
                    .getBytes(StandardCharsets.ISO_8859_1));
            out.write(bytes);
            out.flush();
            assertTrue(wrote[0].await(10, TimeUnit.SECONDS), "the relay wrote its first part");
            socket.setSoTimeout(5_000);
            ByteArrayOutputStream seen = new ByteArrayOutputStream();
            java.io.InputStream in = socket.getInputStream();
            byte[] buf = new byte[8192];
            try {
                int n;
                while ((n = in.read(buf)) != -1) {
                    seen.write(buf, 0, n);
                }
            } catch (java.net.SocketTimeoutException quiet) {
                // nothing more within five seconds
            }
            String first = seen.toString(StandardCharsets.ISO_8859_1);
            parts[1].countDown();
            parts[2].countDown();
            socket.setSoTimeout(10_000);
            try {
                int n;
                while ((n = in.read(buf)) != -1) {
                    seen.write(buf, 0, n);
                }
            } catch (java.net.SocketTimeoutException quiet) {
                // the rest
            }
            all.append(seen.toString(StandardCharsets.ISO_8859_1));
            return first;
        }
    }

    static int bodyBytes(String raw) {
        int head = raw.indexOf("\r\n\r\n");
        return head < 0 ? -1 : raw.length() - head - 4;
    }

    void probe(String where, String enc) throws Exception {
        String s = subject();
        StringBuilder all = new StringBuilder();
        String filtered = firstPartSeen("/ai" + where, s, enc, all);
        String o = subject();
        StringBuilder allOpen = new StringBuilder();
        String open = firstPartSeen("/open" + where, o, enc, allOpen);
        String report = kind() + " " + enc + " (" + part(enc.equals("gzip") ? GZIPPED : enc.equals("deflate") ? DEFLATED
                : PLAIN, 0).length + " bytes in the first part): behind the filter the client saw " + filtered.length()
                + " bytes (body " + bodyBytes(filtered) + ") after the first flush, " + all.length() + " in all; "
                + "outside it " + open.length() + " (body " + bodyBytes(open) + "), " + allOpen.length() + " in all.\n"
                + "FILTERED FIRST:\n" + filtered.substring(0, Math.min(400, filtered.length()))
                + "\nOPEN FIRST:\n" + open.substring(0, Math.min(400, open.length())) + "\nledger " + ledger(s);
        assertTrue(bodyBytes(filtered) >= bodyBytes(open), report);
        if (where.equals("/raw")) {
            assertTrue(bodyBytes(filtered) > 0, report);
            assertRelayChargedItsUsage(s, IN, OUT, WRITE_END, where + " " + enc);
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
