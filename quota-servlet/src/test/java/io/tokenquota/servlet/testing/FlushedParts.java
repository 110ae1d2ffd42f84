package io.tokenquota.servlet.testing;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.Socket;
import java.net.SocketTimeoutException;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.springframework.http.MediaType;
import org.springframework.http.ResponseEntity;
import org.springframework.web.servlet.mvc.method.annotation.StreamingResponseBody;

/**
 * A relay that copies its provider's non-streamed answer to its client as the provider's bytes arrive
 * ({@code InputStream.transferTo}-style, each read flushed), so that the document is on its way before its end
 * (the usage) has arrived. The provider's answer comes in three parts, per subject: the first at once, each
 * other when the test {@link #send}s it; the test learns when the relay has written (and flushed) each part,
 * and {@link #writeEnds} tells how the relay's write ended. Each round holds its own; thread-safe.
 */
public final class FlushedParts {
    private final Map<String, CountDownLatch[]> parts = new ConcurrentHashMap<>();
    private final Map<String, CountDownLatch[]> wrote = new ConcurrentHashMap<>();
    /** Per subject: "written to its end", or "stopped by" what stopped the relay's write. */
    public final Map<String, String> writeEnds = new ConcurrentHashMap<>();
    private final long partSeconds;

    /** The relay gives up on (fails with) a provider part that has not come within {@code partSeconds}. */
    public FlushedParts(long partSeconds) {
        this.partSeconds = partSeconds;
    }

    /** Third {@code i} (0, 1 or 2) of {@code whole}, the last taking what the division leaves. */
    public static byte[] part(byte[] whole, int i) {
        int a = whole.length / 3;
        return i == 0 ? Arrays.copyOfRange(whole, 0, a)
                : i == 1 ? Arrays.copyOfRange(whole, a, 2 * a) : Arrays.copyOfRange(whole, 2 * a, whole.length);
    }

    /** Before the request of {@code subject}: the provider's first part is there at once, the others wait. */
    public void expect(String subject) {
        parts.put(subject, new CountDownLatch[] {new CountDownLatch(0), new CountDownLatch(1), new CountDownLatch(1)});
        wrote.put(subject, new CountDownLatch[] {new CountDownLatch(1), new CountDownLatch(1), new CountDownLatch(1)});
    }

    /** The provider sends part {@code i} of {@code subject}'s answer. */
    public void send(String subject, int i) {
        parts.get(subject)[i].countDown();
    }

    /** Counted down once the relay wrote and flushed part {@code i} for {@code subject} (or stopped). */
    public CountDownLatch written(String subject, int i) {
        return wrote.get(subject)[i];
    }

    /** Waits at most {@code seconds} for the relay to have written part {@code i} for {@code subject}. */
    public boolean awaitWritten(String subject, int i, long seconds) throws InterruptedException {
        return written(subject, i).await(seconds, TimeUnit.SECONDS);
    }

    /**
     * In the endpoint: copies the three parts of {@code whole} to {@code out} as the provider sends them, each
     * flushed, and records how that ended; a stopped relay releases the test's waits for its writes.
     */
    public void relay(String subject, OutputStream out, byte[] whole) throws IOException {
        CountDownLatch[] coming = parts.get(subject);
        CountDownLatch[] written = wrote.get(subject);
        try {
            for (int i = 0; i < 3; i++) {
                if (!coming[i].await(partSeconds, TimeUnit.SECONDS)) {
                    throw new IllegalStateException("the provider's part " + i + " never came");
                }
                out.write(part(whole, i));
                out.flush();
                written[i].countDown();
            }
            writeEnds.put(subject, "written to its end");
        } catch (Exception e) {
            writeEnds.put(subject, "stopped by " + e);
            for (CountDownLatch w : written) {
                w.countDown();
            }
            if (e instanceof IOException io) {
                throw io;
            }
            throw new IllegalStateException(e);
        }
    }

    /**
     * The relay as Spring MVC's reference writes one ("Asynchronous Requests",
     * {@code ResponseEntity<StreamingResponseBody>}): {@code whole} as {@link #relay} copies it, JSON, with
     * {@code Content-Encoding: enc} unless {@code enc} is {@code identity} (a byte-copying proxy passes on the
     * provider's encoding rather than inflate and re-deflate).
     */
    public ResponseEntity<StreamingResponseBody> springRelay(String subject, byte[] whole, String enc) {
        StreamingResponseBody body = out -> relay(subject, out, whole);
        ResponseEntity.BodyBuilder ok = ResponseEntity.ok().contentType(MediaType.APPLICATION_JSON);
        if (!"identity".equals(enc)) {
            ok = ok.header("Content-Encoding", enc);
        }
        return ok.body(body);
    }

    /**
     * The client: posts the JSON {@code body} as {@code subject} to {@code pathAndQuery} on a raw connection to
     * {@code port} (accepting gzip and deflate), waits for the relay to flush its first part, then reads for up
     * to five seconds; then lets the provider send the rest and reads it all. What the client had seen after the
     * first flush (status line, headers, body bytes) and what it saw in all, ISO-8859-1.
     */
    public String[] firstPartSeen(int port, String pathAndQuery, String subject, String body) throws Exception {
        expect(subject);
        try (Socket socket = TestHttp.openJsonPost(port, pathAndQuery, subject, body,
                "Accept-Encoding: gzip, deflate", "Connection: close")) {
            org.junit.jupiter.api.Assertions.assertTrue(awaitWritten(subject, 0, 10), "the relay wrote its first part");
            ByteArrayOutputStream seen = new ByteArrayOutputStream();
            InputStream in = socket.getInputStream();
            readFor(socket, in, seen, 5_000);
            String first = seen.toString(StandardCharsets.ISO_8859_1);
            send(subject, 1);
            send(subject, 2);
            readFor(socket, in, seen, 10_000);
            return new String[] {first, seen.toString(StandardCharsets.ISO_8859_1)};
        }
    }

    /** Reads into {@code seen} until the answer ends or nothing more comes within {@code millis}. */
    private static void readFor(Socket socket, InputStream in, ByteArrayOutputStream seen, int millis) throws IOException {
        socket.setSoTimeout(millis);
        byte[] buf = new byte[8192];
        try {
            int n;
            while ((n = in.read(buf)) != -1) {
                seen.write(buf, 0, n);
            }
        } catch (SocketTimeoutException quiet) {
            // nothing more within the time
        }
    }
}
