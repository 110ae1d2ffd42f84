package io.tokenquota.servlet.testing;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.security.GeneralSecurityException;
import java.time.Duration;
import java.util.HexFormat;
import java.util.Map;
import javax.crypto.Mac;
import javax.crypto.spec.SecretKeySpec;

/**
 * Small {@link HttpClient} helpers for tests: every call has a timeout and returns the body as a
 * string. Thread-safe (one shared HTTP/1.1 client).
 */
public final class TestHttp {
    private static final Duration TIMEOUT = Duration.ofSeconds(30);
    private static final HttpClient CLIENT = HttpClient.newBuilder()
            .version(HttpClient.Version.HTTP_1_1)
            .connectTimeout(Duration.ofSeconds(10))
            .build();

    private TestHttp() {
    }

    public static HttpClient client() {
        return CLIENT;
    }

    /**
     * A new HTTP/1.1 client with connections of its own: a call sent on it goes on another connection
     * than the round's other calls (as a second tab, worker or instance of the client sends it).
     */
    public static HttpClient fresh() {
        return HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).build();
    }

    /**
     * Reads a streamed answer (status 200) line by line until a line {@code until} accepts, and no
     * further: the stream goes on. Fails with {@code missing} when the stream ends first.
     */
    public static void readUntil(HttpResponse<java.util.stream.Stream<String>> stream,
                                 java.util.function.Predicate<String> until, String missing) {
        org.junit.jupiter.api.Assertions.assertEquals(200, stream.statusCode());
        java.util.Iterator<String> lines = stream.body().iterator();
        boolean seen = false;
        while (!seen && lines.hasNext()) {
            seen = until.test(lines.next());
        }
        org.junit.jupiter.api.Assertions.assertTrue(seen, missing);
    }

    /** Reads an event stream to its {@code [DONE]} event, not to its end: the client has the whole answer. */
    public static void readToDone(HttpResponse<java.util.stream.Stream<String>> stream) {
        readUntil(stream, "data: [DONE]"::equals, "the stream ended without [DONE]");
    }

    /** A request builder with the timeout and the given headers (name, value, name, value...). */
    public static HttpRequest.Builder request(URI uri, String... headers) {
        HttpRequest.Builder b = HttpRequest.newBuilder(uri).timeout(TIMEOUT);
        for (int i = 0; i < headers.length; i += 2) {
            b.header(headers[i], headers[i + 1]);
        }
        return b;
    }

    /**
     * A request builder as a trusted proxy sends it for {@code subject}: {@code x-user-id}, then
     * {@code headers} (name, value, ...).
     */
    public static HttpRequest.Builder requestAs(URI uri, String subject, String... headers) {
        HttpRequest.Builder b = request(uri, "x-user-id", subject);
        for (int i = 0; i < headers.length; i += 2) {
            b.header(headers[i], headers[i + 1]);
        }
        return b;
    }

    public static HttpResponse<String> get(URI uri, String... headers) {
        return send(request(uri, headers).GET().build());
    }

    public static HttpResponse<String> post(URI uri, String body, String... headers) {
        return send(request(uri, headers).POST(HttpRequest.BodyPublishers.ofString(body, StandardCharsets.UTF_8)).build());
    }

    /**
     * A JSON POST as a trusted proxy sends it for {@code subject}: {@code x-user-id} and
     * {@code Content-Type: application/json}, then {@code headers} (name, value, ...).
     */
    public static HttpResponse<String> postJson(URI uri, String subject, String body, String... headers) {
        return send(jsonPost(uri, subject, body, headers));
    }

    /**
     * The request {@link #postJson} sends, for a test that sends it otherwise (async, on a client of its
     * own): {@code x-user-id} {@code subject}, {@code Content-Type: application/json}, then {@code headers}.
     */
    public static HttpRequest jsonPost(URI uri, String subject, String body, String... headers) {
        String[] all = new String[headers.length + 4];
        all[0] = "x-user-id";
        all[1] = subject;
        all[2] = "Content-Type";
        all[3] = "application/json";
        System.arraycopy(headers, 0, all, 4, headers.length);
        return request(uri, all).POST(HttpRequest.BodyPublishers.ofString(body, StandardCharsets.UTF_8)).build();
    }

    public static HttpResponse<String> post(URI uri, byte[] body, String... headers) {
        return send(request(uri, headers).POST(HttpRequest.BodyPublishers.ofByteArray(body)).build());
    }

    /**
     * A {@code multipart/form-data} body of the given parts, each its header lines (without the final
     * blank line) and its content: a {@code byte[]} as it is, anything else as UTF-8 text.
     */
    public static byte[] multipart(String boundary, Object... headersAndContent) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        for (int i = 0; i < headersAndContent.length; i += 2) {
            out.writeBytes(("--" + boundary + "\r\n" + headersAndContent[i] + "\r\n\r\n").getBytes(StandardCharsets.UTF_8));
            Object content = headersAndContent[i + 1];
            out.writeBytes(content instanceof byte[] b ? b : String.valueOf(content).getBytes(StandardCharsets.UTF_8));
            out.writeBytes("\r\n".getBytes(StandardCharsets.UTF_8));
        }
        out.writeBytes(("--" + boundary + "--\r\n").getBytes(StandardCharsets.UTF_8));
        return out.toByteArray();
    }

    /**
     * One raw {@code POST} of {@code {}} to the container on {@code port}, sent from {@code localAddress}
     * (a loopback address other than 127.0.0.1 is an untrusted peer), with extra header lines; the
     * whole answer: status line, headers, body.
     */
    public static String rawPostFrom(String localAddress, int port, String path, String... headerLines)
            throws java.io.IOException {
        return rawPostFrom(localAddress, port, new byte[0], path, "{}", headerLines);
    }

    /**
     * As above, posting {@code body} (JSON, UTF-8), the connection's first bytes {@code preamble} written by the
     * client itself before the request (a PROXY protocol header, round 484; empty for none).
     */
    public static String rawPostFrom(String localAddress, int port, byte[] preamble, String path, String body,
            String... headerLines) throws java.io.IOException {
        try (java.net.Socket socket = new java.net.Socket()) {
            socket.bind(new java.net.InetSocketAddress(localAddress, 0));
            socket.connect(new java.net.InetSocketAddress("127.0.0.1", port), 5_000);
            socket.setSoTimeout(10_000);
            byte[] content = body.getBytes(StandardCharsets.UTF_8);
            StringBuilder req = new StringBuilder("POST " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
                    + "Content-Type: application/json\r\nContent-Length: " + content.length + "\r\n");
            for (String h : headerLines) {
                req.append(h).append("\r\n");
            }
            req.append("\r\n");
            java.io.ByteArrayOutputStream all = new java.io.ByteArrayOutputStream();
            all.writeBytes(preamble);
            all.writeBytes(req.toString().getBytes(StandardCharsets.ISO_8859_1));
            all.writeBytes(content);
            // one write, as a client sends its preamble and request together
            socket.getOutputStream().write(all.toByteArray());
            socket.getOutputStream().flush();
            return new String(socket.getInputStream().readAllBytes(), StandardCharsets.ISO_8859_1);
        }
    }

    /**
     * One raw {@code GET} to the container on {@code port} with extra header lines written byte for byte (each
     * char of a line one byte, ISO-8859-1: a line holding a UTF-8 text's bytes as chars sends those bytes, as a
     * proxy that writes a header value's bytes as they are does; the JDK's client sends only ASCII); the answer's
     * status and its body (de-chunked), UTF-8.
     */
    public static java.util.Map.Entry<Integer, String> rawGet(int port, String path, String... headerLines) throws IOException {
        try (java.net.Socket socket = new java.net.Socket()) {
            socket.connect(new java.net.InetSocketAddress("127.0.0.1", port), 5_000);
            socket.setSoTimeout(10_000);
            StringBuilder req = new StringBuilder("GET " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n");
            for (String h : headerLines) {
                req.append(h).append("\r\n");
            }
            socket.getOutputStream().write(req.append("\r\n").toString().getBytes(StandardCharsets.ISO_8859_1));
            socket.getOutputStream().flush();
            byte[] answer = socket.getInputStream().readAllBytes();
            String whole = new String(answer, StandardCharsets.ISO_8859_1);
            int headEnd = whole.indexOf("\r\n\r\n");
            int status = Integer.parseInt(whole.substring(9, 12));
            String head = whole.substring(0, headEnd).toLowerCase(java.util.Locale.ROOT);
            byte[] body = java.util.Arrays.copyOfRange(answer, headEnd + 4, answer.length);
            if (head.contains("transfer-encoding: chunked")) {
                ByteArrayOutputStream out = new ByteArrayOutputStream();
                int i = 0;
                while (true) {
                    int lineEnd = new String(body, StandardCharsets.ISO_8859_1).indexOf("\r\n", i);
                    int size = Integer.parseInt(new String(body, i, lineEnd - i, StandardCharsets.ISO_8859_1).split(";")[0].trim(), 16);
                    if (size == 0) {
                        break;
                    }
                    out.write(body, lineEnd + 2, size);
                    i = lineEnd + 2 + size + 2;
                }
                body = out.toByteArray();
            }
            return java.util.Map.entry(status, new String(body, StandardCharsets.UTF_8));
        }
    }

    /**
     * Posts a JSON {@code body} as {@code subject} on a raw connection to {@code port}, reads the
     * streamed answer until {@code until} appears in it, then resets the connection (a client that
     * read the first words and hung up); what it read.
     */
    public static String postAndHangUpAfter(int port, String path, String subject, String body, String until)
            throws IOException {
        return postAndHangUpAfter(port, path, subject, "application/json", body.getBytes(StandardCharsets.UTF_8), until);
    }

    /** {@link #postAndHangUpAfter(int, String, String, String, String)} of {@code bytes} labelled {@code contentType}. */
    public static String postAndHangUpAfter(int port, String path, String subject, String contentType, byte[] bytes,
                                            String until) throws IOException {
        // Connection: close, so that an answer without the text awaited (a 429) ends the read
        return hangUpAfter(port, "POST " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nx-user-id: "
                + subject + "\r\nContent-Type: " + contentType + "\r\nContent-Length: " + bytes.length + "\r\n\r\n", bytes, until);
    }

    /**
     * A client whose own timeout resets its connection once the answer began (an SDK's: OkHttp cancels the call and
     * closes its socket): posts the JSON {@code body} as {@code subject} to {@code pathAndQuery} on a raw connection to
     * {@code port}, waits (at most 10 s) until the endpoint signals {@code written} (it wrote and flushed its first
     * part), reads what came (up to 256 bytes) and resets the connection. Whether {@code written} came in time; if not,
     * the connection is closed without the reset.
     */
    public static boolean postJsonAndResetOnceWritten(int port, String pathAndQuery, String subject, String body,
            java.util.concurrent.CountDownLatch written) throws IOException, InterruptedException {
        try (java.net.Socket socket = openJsonPost(port, pathAndQuery, subject, body)) {
            if (!written.await(10, java.util.concurrent.TimeUnit.SECONDS)) {
                return false;
            }
            socket.getInputStream().read(new byte[256]);
            socket.setSoLinger(true, 0);
            return true;
        }
    }

    /**
     * A raw connection to the container on {@code port} on which the JSON {@code body} was posted as {@code subject}
     * to {@code pathAndQuery} ({@code Accept: application/json}, then {@code headerLines}), for the caller to read
     * the answer from and close.
     */
    public static java.net.Socket openJsonPost(int port, String pathAndQuery, String subject, String body,
            String... headerLines) throws IOException {
        byte[] bytes = body.getBytes(StandardCharsets.UTF_8);
        java.net.Socket socket = new java.net.Socket();
        try {
            socket.connect(new java.net.InetSocketAddress("127.0.0.1", port), 5_000);
            StringBuilder head = new StringBuilder("POST " + pathAndQuery + " HTTP/1.1\r\nHost: 127.0.0.1\r\nx-user-id: "
                    + subject + "\r\nContent-Type: application/json\r\nAccept: application/json\r\n");
            for (String line : headerLines) {
                head.append(line).append("\r\n");
            }
            head.append("Content-Length: ").append(bytes.length).append("\r\n\r\n");
            java.io.OutputStream out = socket.getOutputStream();
            out.write(head.toString().getBytes(StandardCharsets.ISO_8859_1));
            out.write(bytes);
            out.flush();
            return socket;
        } catch (IOException e) {
            socket.close();
            throw e;
        }
    }

    /** A raw {@code GET} of an event stream as {@code subject}, read until {@code until} appears, then the connection reset. */
    public static String getAndHangUpAfter(int port, String pathAndQuery, String subject, String until) throws IOException {
        return hangUpAfter(port, "GET " + pathAndQuery + " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
                + "Accept: text/event-stream\r\nx-user-id: " + subject + "\r\n\r\n", new byte[0], until);
    }

    /**
     * Sends a raw request ({@code head}, its blank line included, then {@code body}), reads the answer until
     * {@code until} appears, then resets the connection; returns what was read.
     */
    public static String hangUpAfter(int port, String head, byte[] body, String until) throws IOException {
        try (java.net.Socket socket = new java.net.Socket()) {
            socket.connect(new java.net.InetSocketAddress("127.0.0.1", port), 5_000);
            socket.setSoTimeout(10_000);
            java.io.OutputStream out = socket.getOutputStream();
            out.write(head.getBytes(StandardCharsets.ISO_8859_1));
            out.write(body);
            out.flush();
            java.io.InputStream in = socket.getInputStream();
            java.io.ByteArrayOutputStream seen = new java.io.ByteArrayOutputStream();
            byte[] buf = new byte[4096];
            int n;
            while ((n = in.read(buf)) != -1) {
                seen.write(buf, 0, n);
                if (seen.toString(StandardCharsets.UTF_8).contains(until)) {
                    break;
                }
            }
            socket.setSoLinger(true, 0);
            return seen.toString(StandardCharsets.UTF_8);
        }
    }

    public static HttpResponse<String> put(URI uri, String body, String... headers) {
        return send(request(uri, headers).PUT(HttpRequest.BodyPublishers.ofString(body, StandardCharsets.UTF_8)).build());
    }

    public static HttpResponse<String> send(HttpRequest request) {
        try {
            try {
                return CLIENT.send(request, HttpResponse.BodyHandlers.ofString(StandardCharsets.UTF_8));
            } catch (IOException e) {
                if (!staleConnection(e)) {
                    throw e;
                }
                // the pooled connection had been closed by the server (after a test that made it close
                // one) before this request got a single byte back: the request never ran, send it anew
                return CLIENT.send(request, HttpResponse.BodyHandlers.ofString(StandardCharsets.UTF_8));
            }
        } catch (IOException e) {
            throw new UncheckedIOException(request.method() + " " + request.uri() + " failed", e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted", e);
        }
    }

    private static boolean staleConnection(IOException e) {
        return String.valueOf(e.getMessage()).contains("header parser received no bytes");
    }

    /** The response body as a JSON object. */
    public static Map<String, Object> json(HttpResponse<String> response) {
        return JsonTree.object(response.body());
    }

    /** {@code sha256=<hex HMAC-SHA256(body, secret)>}, the payment-callback signature. */
    public static String signature(byte[] secret, byte[] body) {
        try {
            Mac mac = Mac.getInstance("HmacSHA256");
            mac.init(new SecretKeySpec(secret, "HmacSHA256"));
            return "sha256=" + HexFormat.of().formatHex(mac.doFinal(body));
        } catch (GeneralSecurityException e) {
            throw new IllegalStateException(e);
        }
    }
}
