package io.tokenquota.servlet;

import jakarta.servlet.ReadListener;
import jakarta.servlet.ServletInputStream;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletRequestWrapper;
import java.io.BufferedReader;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.OutputStream;
import java.nio.charset.Charset;
import java.nio.charset.StandardCharsets;
import java.net.URLDecoder;
import java.util.ArrayList;
import java.util.Collections;
import java.util.Enumeration;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Replays a body the filter already read, byte for byte, through {@link #getInputStream()} or
 * {@link #getReader()} (one of the two, as the Servlet spec requires). A form body
 * ({@code application/x-www-form-urlencoded}) also answers {@code getParameter} and friends, because
 * the container can no longer read the body it would parse them from (unless the container had
 * already parsed it, and the body came empty). Not thread-safe, like the
 * request it wraps.
 */
final class BufferedRequest extends HttpServletRequestWrapper {
    private static final String FORM = "application/x-www-form-urlencoded";
    private static final String CONTENT_LENGTH = "Content-Length";

    private final byte[] body;
    private final Charset charset;
    /** The body is not the one the client sent (a fitted output budget): its length is told anew. */
    private final boolean rewritten;
    private ReplayStream stream;
    private BufferedReader reader;
    /** The form body's pairs, decoded once. */
    private Map<String, List<String>> form;

    /** @param charset the request's declared charset, already checked to be known */
    BufferedRequest(HttpServletRequest request, byte[] body, Charset charset) {
        this(request, body, charset, false);
    }

    /**
     * @param rewritten whether {@code body} differs from what the client sent: a declared
     *                  {@code Content-Length} then reads as the new body's length (a relay that copies
     *                  the header must not send a length its body does not have); a body sent without
     *                  one (chunked) still has none
     */
    BufferedRequest(HttpServletRequest request, byte[] body, Charset charset, boolean rewritten) {
        super(request);
        this.body = body;
        this.charset = charset;
        this.rewritten = rewritten;
    }

    private boolean tellsLength(String header) {
        return rewritten && CONTENT_LENGTH.equalsIgnoreCase(header) && super.getHeader(CONTENT_LENGTH) != null;
    }

    @Override
    public int getContentLength() {
        return rewritten && super.getContentLengthLong() >= 0 ? body.length : super.getContentLength();
    }

    @Override
    public long getContentLengthLong() {
        return rewritten && super.getContentLengthLong() >= 0 ? body.length : super.getContentLengthLong();
    }

    @Override
    public String getHeader(String name) {
        return tellsLength(name) ? Integer.toString(body.length) : super.getHeader(name);
    }

    @Override
    public Enumeration<String> getHeaders(String name) {
        return tellsLength(name) ? Collections.enumeration(List.of(Integer.toString(body.length))) : super.getHeaders(name);
    }

    @Override
    public int getIntHeader(String name) {
        return tellsLength(name) ? body.length : super.getIntHeader(name);
    }

    private boolean isForm() {
        String type = getContentType();
        return type != null && type.regionMatches(true, 0, FORM, 0, FORM.length())
                && "POST".equalsIgnoreCase(getMethod());
    }

    /**
     * The parameters as the endpoint must get them, worked out on each call: an included servlet gets its
     * include's query parameters first, and the same request passes through several includes (a page
     * that includes a fragment, or itself, with other parameters).
     */
    private Map<String, String[]> parameters() {
        if (!isForm() || body.length == 0) {
            // the container's (it merges an include's query parameters in); an empty form body: the
            // container had parsed (and consumed) it for a filter before this one, and its parameters are
            // the ones the endpoint must get
            return super.getParameterMap();
        }
        if (form == null) {
            form = new LinkedHashMap<>();
            decode(new String(body, charset), charset, form);
        }
        // query string parameters first, then the form's, as the Servlet spec orders them; an include's
        // own query parameters before the request's
        Map<String, List<String>> merged = new LinkedHashMap<>();
        if (getDispatcherType() == jakarta.servlet.DispatcherType.INCLUDE) {
            Object included = getAttribute(jakarta.servlet.RequestDispatcher.INCLUDE_QUERY_STRING);
            decode(included == null ? null : included.toString(), StandardCharsets.UTF_8, merged);
        }
        decode(getQueryString(), StandardCharsets.UTF_8, merged);
        form.forEach((name, values) -> merged.computeIfAbsent(name, n -> new java.util.ArrayList<>()).addAll(values));
        Map<String, String[]> result = new LinkedHashMap<>();
        merged.forEach((k, v) -> result.put(k, v.toArray(String[]::new)));
        return Collections.unmodifiableMap(result);
    }

    /** Adds the {@code name=value} pairs of a query string or form body to {@code into}. */
    static void decode(String query, Charset charset, Map<String, List<String>> into) {
        if (query == null || query.isEmpty()) {
            return;
        }
        for (String pair : query.split("&")) {
            if (pair.isEmpty()) {
                continue;
            }
            int eq = pair.indexOf('=');
            try {
                String name = URLDecoder.decode(eq < 0 ? pair : pair.substring(0, eq), charset);
                String value = eq < 0 ? "" : URLDecoder.decode(pair.substring(eq + 1), charset);
                into.computeIfAbsent(name, k -> new ArrayList<>()).add(value);
            } catch (IllegalArgumentException e) {
                // a broken escape: the pair is skipped, as containers do
            }
        }
    }

    @Override
    public String getParameter(String name) {
        String[] values = parameters().get(name);
        return values == null || values.length == 0 ? null : values[0];
    }

    @Override
    public Map<String, String[]> getParameterMap() {
        return parameters();
    }

    @Override
    public Enumeration<String> getParameterNames() {
        return Collections.enumeration(parameters().keySet());
    }

    @Override
    public String[] getParameterValues(String name) {
        String[] values = parameters().get(name);
        return values == null ? null : values.clone();
    }

    @Override
    public ServletInputStream getInputStream() {
        if (reader != null) {
            throw new IllegalStateException("getReader() was already called");
        }
        if (stream == null) {
            stream = new ReplayStream(body, dispatchEnded);
        }
        return stream;
    }

    /** The dispatch that reads the body has returned to the container ({@link ReplayStream#setReadListener}). */
    private volatile boolean dispatchEnded;

    /**
     * The endpoint's dispatch returned: a {@code ReadListener} it registered hears from the body now, as a
     * container's would, after the servlet's {@code service} returned (round 285: Tomcat's own example sets its
     * {@code WriteListener} after its {@code ReadListener}, and was answered before it had one).
     */
    void dispatchEnded() {
        dispatchEnded = true;
        if (stream != null) {
            stream.start();
        }
    }

    @Override
    public BufferedReader getReader() throws IOException {
        if (stream != null) {
            throw new IllegalStateException("getInputStream() was already called");
        }
        if (reader == null) {
            // JSON is UTF-8 (RFC 8259) unless the client said otherwise; an unknown charset was refused with 415
            reader = new BufferedReader(new InputStreamReader(new ByteArrayInputStream(body), charset));
        }
        return reader;
    }

    /**
     * The body again, from memory. Read without blocking ({@link #setReadListener}), it behaves as a
     * container's stream does: {@code onDataAvailable} first, {@code onAllDataRead} once the endpoint has
     * read to the end, whenever that is (round 280: a reader that reads only on demand, as Spring WebFlux's
     * on a servlet container does, was told all data was read before it read a byte, and got an empty body).
     */
    private static final class ReplayStream extends ServletInputStream {
        private final ByteArrayInputStream in;
        private volatile ReadListener listener;
        /** The listener's {@code onDataAvailable} is running: its end is told after it returns. */
        private volatile boolean dispatching;
        private final java.util.concurrent.atomic.AtomicBoolean allDataRead = new java.util.concurrent.atomic.AtomicBoolean();

        /** The endpoint's dispatch has returned: a listener hears from the body at once. */
        private volatile boolean started;

        ReplayStream(byte[] body, boolean started) {
            this.in = new ByteArrayInputStream(body);
            this.started = started;
        }

        @Override
        public int read() throws IOException {
            return ended(in.read());
        }

        @Override
        public int read(byte[] b, int off, int len) throws IOException {
            return ended(in.read(b, off, len));
        }

        @Override
        public int available() {
            return in.available();
        }

        // the bulk reads hand over the array in one piece instead of copying it through a buffer
        @Override
        public byte[] readAllBytes() {
            return in.readAllBytes();
        }

        @Override
        public long transferTo(OutputStream out) throws IOException {
            return in.transferTo(out);
        }

        @Override
        public boolean isFinished() {
            return in.available() == 0;
        }

        @Override
        public boolean isReady() {
            // at the end, as a container does once the endpoint asks again after reading the last bytes
            try {
                ended(-1);
            } catch (IOException e) {
                listener.onError(e);
            }
            return true;
        }

        @Override
        public void setReadListener(ReadListener listener) {
            this.listener = listener;
            if (started) {
                tell();
            }
        }

        /** The dispatch returned ({@link #dispatchEnded}): a listener registered during it hears now. */
        void start() {
            if (!started) {
                started = true;
                if (listener != null) {
                    tell();
                }
            }
        }

        /** {@code onDataAvailable}, then {@code onAllDataRead} once the endpoint read to the end. */
        private void tell() {
            try {
                if (!isFinished()) {
                    dispatching = true;
                    try {
                        listener.onDataAvailable();
                    } finally {
                        dispatching = false;
                    }
                }
                ended(-1);
            } catch (IOException e) {
                listener.onError(e);
            }
        }

        /**
         * Tells a listener, once, that the endpoint has read the whole body, when {@code n} says a read found
         * its end (-1): never inside the read that hands over the last bytes, which the endpoint has yet to
         * take; passes {@code n} on.
         */
        private int ended(int n) throws IOException {
            if (n < 0 && listener != null && started && !dispatching && isFinished() && allDataRead.compareAndSet(false, true)) {
                listener.onAllDataRead();
            }
            return n;
        }
    }
}
