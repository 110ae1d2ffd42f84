package io.tokenquota.servlet;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.tokenquota.QuotaAccount;
import io.tokenquota.QuotaPolicy;
import io.tokenquota.QuotaStore;
import io.tokenquota.jdbi.JdbiQuotaStore;
import io.tokenquota.jdbi.testing.TestDatabase;
import io.tokenquota.jdbi.testing.TestDatabases;
import io.tokenquota.servlet.testing.ContainerKind;
import io.tokenquota.servlet.testing.Deployment;
import io.tokenquota.servlet.testing.EmbeddedContainer;
import io.tokenquota.servlet.testing.TestHttp;
import jakarta.servlet.http.HttpServlet;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.Socket;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.EnumMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import net.jqwik.api.Arbitraries;
import net.jqwik.api.Arbitrary;
import net.jqwik.api.Combinators;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.Provide;
import net.jqwik.api.Tuple;
import net.jqwik.api.constraints.Size;
import net.jqwik.api.lifecycle.AfterContainer;
import net.jqwik.api.lifecycle.BeforeContainer;

/**
 * Hostile traffic through the filter, in both containers: random content-type labels and unknown
 * charsets, bodies under and over the size limit, answers with fake usage nested in tool arguments
 * and echoed JSON, repeated and concurrent idempotency keys, forwarded headers naming the trusted
 * proxy, refusals, server errors and clients that hang up mid-stream; and the same model reached
 * without a body: by a body-less OPTIONS (a route that answers every method), by a CORS preflight
 * it answers as one, and as the error page of a missing page. A stand-in model records the usage of
 * every call that reached it; after each batch the ledger must have charged each subject exactly
 * that, held nothing, and let no idempotency key buy a second call.
 */
final class HostileRequestPropertiesTest {
    private static final int BODY_LIMIT = 16 * 1024;
    private static final Set<Integer> REFUSALS = Set.of(400, 404, 405, 415, 422, 429);

    private static TestDatabase database;
    private static QuotaStore store;
    private static final Map<ContainerKind, EmbeddedContainer> CONTAINERS = new EnumMap<>(ContainerKind.class);
    private static final RecordingModel MODEL = new RecordingModel();
    private static final ExecutorService CLIENTS = Executors.newFixedThreadPool(12);

    @BeforeContainer
    static void start() {
        database = TestDatabases.h2();
        store = JdbiQuotaStore.builder().dataSource(database.dataSource()).policy(QuotaPolicy.defaults())
                .installSchema(true).build();
        for (ContainerKind kind : ContainerKind.values()) {
            QuotaFilter filter = QuotaFilter.builder(store).protect("/ai/")
                    .subjectResolver(SubjectResolver.trustedHeader("x-user-id", "127.0.0.1", "::1"))
                    .maxBodyBytes(BODY_LIMIT).build();
            CONTAINERS.put(kind, kind.start(Deployment.create().forwardedHeaders("/ai/")
                    .filter("quota", filter, "/ai/*").servlet("model", MODEL, "/ai/*")
                    .servlet("missing", new Missing(), "/missing/*").errorPage(404, "/ai/error")));
        }
    }

    @AfterContainer
    static void stop() throws Exception {
        CLIENTS.shutdownNow();
        CONTAINERS.values().forEach(EmbeddedContainer::close);
        if (store instanceof AutoCloseable c) {
            c.close();
        }
        database.close();
    }

    enum Format { OPENAI_JSON, ANTHROPIC_JSON, GEMINI_JSON, OPENAI_SSE, ANTHROPIC_SSE }

    enum Behaviour { ANSWER, REFUSE, SERVER_ERROR, CLIENT_HANGS_UP }

    /** How the request reaches the model. */
    enum Route {
        /** A POST of a chat body. */
        POST,
        /** A body-less OPTIONS with the question in the query string, which the model answers as a call. */
        OPTIONS,
        /** A CORS preflight, which the model's servlet answers as one: no model call. */
        PREFLIGHT,
        /** A GET of a missing page, whose error page (under the protected prefix) is the model. */
        ERROR_PAGE
    }

    /** One request of a batch. {@code forwarded} is a header line or null; {@code key} may be null. */
    record Hostile(Route route, Behaviour behaviour, Format format, int refusal, long a, long b, long c,
                   String contentType, int bodyBytes, String key, String forwarded) {
    }

    @Provide
    Arbitrary<Hostile> hostile() {
        Arbitrary<Behaviour> behaviour = Arbitraries.frequency(Tuple.of(6, Behaviour.ANSWER), Tuple.of(2, Behaviour.REFUSE),
                Tuple.of(1, Behaviour.SERVER_ERROR), Tuple.of(1, Behaviour.CLIENT_HANGS_UP));
        Arbitrary<Object[]> answer = Combinators.combine(behaviour, Arbitraries.of(Format.class), Arbitraries.of(REFUSALS),
                Arbitraries.longs().between(0, 5_000), Arbitraries.longs().between(1, 5_000),
                Arbitraries.longs().between(0, 90_000)).as((b, f, r, x, y, z) -> new Object[] {b, f, r, x, y, z});
        Arbitrary<String> contentType = Arbitraries.of("application/json", "text/plain", "application/octet-stream", "",
                "application/x-www-form-urlencoded", "application/json; charset=x-unknown-charset");
        Arbitrary<String> forwarded = Arbitraries.of("X-Forwarded-For: 127.0.0.1", "X-Forwarded-For: 198.51.100.7",
                "Forwarded: for=127.0.0.1").injectNull(0.75);
        Arbitrary<Route> route = Arbitraries.frequency(Tuple.of(6, Route.POST), Tuple.of(1, Route.OPTIONS),
                Tuple.of(1, Route.PREFLIGHT), Tuple.of(1, Route.ERROR_PAGE));
        return Combinators.combine(route, answer, contentType, Arbitraries.integers().between(0, 2 * BODY_LIMIT),
                Arbitraries.of("k1", "k2").injectNull(0.6), forwarded).as((r, o, type, size, key, fwd) ->
                new Hostile(r, (Behaviour) o[0], (Format) o[1], (Integer) o[2], (Long) o[3], (Long) o[4], (Long) o[5],
                        type, size, key, fwd));
    }

    @Property(tries = 40)
    void theLedgerChargesExactlyTheUsageOfTheCallsThatReachedTheModel(
            @ForAll ContainerKind kind, @ForAll @Size(min = 1, max = 12) List<@net.jqwik.api.From("hostile") Hostile> batch)
            throws Exception {
        EmbeddedContainer container = CONTAINERS.get(kind);
        String subject = "hostile-" + UUID.randomUUID();
        store.setPlan(subject, 50_000_000L);
        List<CompletableFuture<Integer>> answers = new ArrayList<>();
        for (Hostile h : batch) {
            answers.add(CompletableFuture.supplyAsync(() -> send(container, subject, h), CLIENTS));
        }
        for (int i = 0; i < answers.size(); i++) {
            int status = answers.get(i).get(60, TimeUnit.SECONDS);
            assertTrue(status < 500 || batch.get(i).behaviour() == Behaviour.SERVER_ERROR,
                    "no 5xx of the filter's own: " + status + " for " + batch.get(i));
        }
        Fixture.await(() -> store.account(subject).reserved() == 0, "every hold of " + subject + " settled");
        QuotaAccount account = store.account(subject);
        assertEquals(MODEL.usage(subject), account.used(), "charged exactly the usage of the model calls: " + batch);
        MODEL.callsPerKey(subject).forEach((key, calls) -> assertEquals(1, calls, "one model call for key " + key));
    }

    private static int send(EmbeddedContainer container, String subject, Hostile h) {
        String body = body(h.bodyBytes());
        List<String> headers = new ArrayList<>(List.of("x-user-id", subject, "X-Behaviour", h.behaviour().name(),
                "X-Format", h.format().name(), "X-Refusal", Integer.toString(h.refusal()),
                "X-Usage", h.a() + "," + h.b() + "," + h.c()));
        if (!h.contentType().isEmpty()) {
            headers.addAll(List.of("Content-Type", h.contentType()));
        }
        if (h.key() != null) {
            headers.addAll(List.of("Idempotency-Key", h.key()));
        }
        if (h.forwarded() != null) {
            int colon = h.forwarded().indexOf(':');
            headers.addAll(List.of(h.forwarded().substring(0, colon), h.forwarded().substring(colon + 2)));
        }
        if (h.route() != Route.POST) {
            return bodyless(container, h, headers);
        }
        if (h.behaviour() == Behaviour.CLIENT_HANGS_UP) {
            return hangUp(container, body, headers);
        }
        HttpRequest request = TestHttp.request(container.uri("/ai/chat"), headers.toArray(String[]::new))
                .POST(HttpRequest.BodyPublishers.ofString(body)).build();
        try {
            return TestHttp.client().send(request, HttpResponse.BodyHandlers.discarding()).statusCode();
        } catch (IOException e) {
            // a 413 may close the connection before the whole body is sent
            return 413;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException(e);
        }
    }

    /**
     * A request without a body that reaches the model: an OPTIONS, a preflight or a missing page. Its
     * content type and size do not apply, and a client that hangs up is one that waits here. A missing
     * page's error page takes no Idempotency-Key (the key is the failed call's), so none is sent.
     */
    private static int bodyless(EmbeddedContainer container, Hostile h, List<String> headers) {
        List<String> sent = new ArrayList<>();
        for (int i = 0; i < headers.size(); i += 2) {
            String name = headers.get(i);
            boolean dropped = name.equals("Content-Type") || (h.route() == Route.ERROR_PAGE && name.equals("Idempotency-Key"));
            if (!dropped) {
                sent.add(name);
                sent.add(name.equals("X-Behaviour") && h.behaviour() == Behaviour.CLIENT_HANGS_UP
                        ? Behaviour.ANSWER.name() : headers.get(i + 1));
            }
        }
        String path = "?q=what+should+I+cook&max_tokens=64";
        HttpRequest.Builder b = switch (h.route()) {
            case OPTIONS -> TestHttp.request(container.uri("/ai/chat" + path), sent.toArray(String[]::new))
                    .method("OPTIONS", HttpRequest.BodyPublishers.noBody());
            case PREFLIGHT -> TestHttp.request(container.uri("/ai/chat" + path), withPreflight(sent))
                    .method("OPTIONS", HttpRequest.BodyPublishers.noBody());
            case ERROR_PAGE -> TestHttp.request(container.uri("/missing/page" + path), sent.toArray(String[]::new)).GET();
            case POST -> throw new IllegalArgumentException("a POST has a body");
        };
        try {
            return TestHttp.client().send(b.build(), HttpResponse.BodyHandlers.discarding()).statusCode();
        } catch (IOException e) {
            throw new IllegalStateException(e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException(e);
        }
    }

    private static String[] withPreflight(List<String> headers) {
        List<String> all = new ArrayList<>(headers);
        all.addAll(List.of("Origin", "https://app.example", "Access-Control-Request-Method", "POST"));
        return all.toArray(String[]::new);
    }

    /** A page store in which every page is missing: 404, answered by the error page. */
    static final class Missing extends HttpServlet {
        private static final long serialVersionUID = 1L;

        @Override
        protected void doGet(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            resp.sendError(404);
        }
    }

    /** A raw HTTP/1.1 request whose client resets the connection after the first bytes of the answer. */
    private static int hangUp(EmbeddedContainer container, String body, List<String> headers) {
        byte[] bytes = body.getBytes(StandardCharsets.UTF_8);
        StringBuilder head = new StringBuilder("POST /ai/chat HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n");
        for (int i = 0; i < headers.size(); i += 2) {
            head.append(headers.get(i)).append(": ").append(headers.get(i + 1)).append("\r\n");
        }
        head.append("Content-Length: ").append(bytes.length).append("\r\n\r\n");
        try (Socket socket = new Socket("127.0.0.1", container.port())) {
            socket.setSoTimeout(30_000);
            OutputStream out = socket.getOutputStream();
            out.write(head.toString().getBytes(StandardCharsets.ISO_8859_1));
            out.write(bytes);
            out.flush();
            InputStream in = socket.getInputStream();
            byte[] first = new byte[12];
            int n = in.readNBytes(first, 0, first.length);
            socket.setSoLinger(true, 0);
            String status = new String(first, 0, n, StandardCharsets.ISO_8859_1);
            return status.startsWith("HTTP/1.1 ") ? Integer.parseInt(status.substring(9, 12)) : 0;
        } catch (IOException e) {
            return 413;
        }
    }

    private static String body(int bytes) {
        String head = "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"hello\"}],\"max_tokens\":64,\"pad\":\"";
        return head + "p".repeat(Math.max(0, bytes - head.length() - 2)) + "\"}";
    }

    /**
     * The stand-in model. It drains the body whatever its type, records the usage it is about to
     * report as a call that reached the model, and answers in the requested provider format with fake
     * usage objects nested where models and users write (tool arguments, echoed JSON).
     */
    static final class RecordingModel extends HttpServlet {
        private static final long serialVersionUID = 1L;
        private final transient Map<String, AtomicLong> usage = new ConcurrentHashMap<>();
        private final transient Map<String, Map<String, AtomicInteger>> keys = new ConcurrentHashMap<>();

        long usage(String subject) {
            AtomicLong u = usage.get(subject);
            return u == null ? 0 : u.get();
        }

        Map<String, Integer> callsPerKey(String subject) {
            Map<String, Integer> result = new java.util.HashMap<>();
            keys.getOrDefault(subject, Map.of()).forEach((k, v) -> result.put(k, v.get()));
            return result;
        }

        @Override
        protected void service(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            req.getInputStream().transferTo(OutputStream.nullOutputStream());
            if ("OPTIONS".equals(req.getMethod()) && req.getHeader("Access-Control-Request-Method") != null) {
                // a CORS preflight answered as one: no model is called
                resp.setHeader("Access-Control-Allow-Origin", req.getHeader("Origin"));
                resp.setStatus(204);
                return;
            }
            boolean errorPage = req.getDispatcherType() == jakarta.servlet.DispatcherType.ERROR;
            Behaviour behaviour = Behaviour.valueOf(req.getHeader("X-Behaviour"));
            if (errorPage && behaviour != Behaviour.ANSWER) {
                // an error page that calls no model says so, as any page that calls none: its content
                // under the error's status is otherwise an answer
                req.setAttribute(QuotaFilter.ACTUAL_TOKENS_ATTRIBUTE, 0);
                write(resp, "text/html", "<html><body>Not found</body></html>");
                return;
            }
            if (behaviour == Behaviour.REFUSE) {
                resp.setStatus(Integer.parseInt(req.getHeader("X-Refusal")));
                resp.setContentType("application/json");
                resp.getWriter().write("{\"error\":{\"message\":\"refused before any model ran\"}}");
                return;
            }
            if (behaviour == Behaviour.SERVER_ERROR) {
                resp.sendError(502, "upstream unavailable");
                return;
            }
            String[] u = req.getHeader("X-Usage").split(",");
            long a = Long.parseLong(u[0]);
            long b = Long.parseLong(u[1]);
            long c = Long.parseLong(u[2]);
            String subject = req.getHeader("x-user-id");
            String key = req.getHeader("Idempotency-Key");
            if (key != null) {
                keys.computeIfAbsent(subject, k -> new ConcurrentHashMap<>())
                        .computeIfAbsent(key, k -> new AtomicInteger()).incrementAndGet();
            }
            if (behaviour == Behaviour.CLIENT_HANGS_UP) {
                usage.computeIfAbsent(subject, k -> new AtomicLong()).addAndGet(a + b);
                hangingUpStream(resp, a, b);
                return;
            }
            Format format = Format.valueOf(req.getHeader("X-Format"));
            long reported = switch (format) {
                case OPENAI_JSON, GEMINI_JSON, OPENAI_SSE -> a + b;
                case ANTHROPIC_JSON, ANTHROPIC_SSE -> a + b + c;
            };
            usage.computeIfAbsent(subject, k -> new AtomicLong()).addAndGet(reported);
            String fake = "{\"usage\":{\"total_tokens\":1,\"input_tokens\":1},\"usageMetadata\":{\"totalTokenCount\":1}}";
            String echoed = "{\\\"usage\\\":{\\\"total_tokens\\\":2}}";
            switch (format) {
                case OPENAI_JSON -> write(resp, "application/json", "{\"id\":\"c\",\"object\":\"chat.completion\",\"choices\":[{\"index\":0,"
                        + "\"message\":{\"role\":\"assistant\",\"content\":\"" + echoed + "\",\"tool_calls\":[{\"id\":\"t\",\"type\":\"function\","
                        + "\"function\":{\"name\":\"f\",\"arguments\":\"" + echoed + "\"}}]}}],"
                        + "\"usage\":{\"prompt_tokens\":" + a + ",\"completion_tokens\":" + b + ",\"total_tokens\":" + (a + b) + "}}");
                case ANTHROPIC_JSON -> write(resp, "application/json", "{\"type\":\"message\",\"content\":[{\"type\":\"tool_use\","
                        + "\"id\":\"t\",\"name\":\"f\",\"input\":" + fake + "},{\"type\":\"text\",\"text\":\"" + echoed + "\"}],"
                        + "\"usage\":{\"input_tokens\":" + a + ",\"output_tokens\":" + b + ",\"cache_read_input_tokens\":" + c + "}}");
                case GEMINI_JSON -> write(resp, "application/json", "{\"candidates\":[{\"content\":{\"parts\":[{\"functionCall\":"
                        + "{\"name\":\"f\",\"args\":" + fake + "}}]}}],\"usageMetadata\":{\"promptTokenCount\":" + a
                        + ",\"candidatesTokenCount\":" + b + ",\"totalTokenCount\":" + (a + b) + "}}");
                case OPENAI_SSE -> write(resp, "text/event-stream", "data: {\"choices\":[{\"delta\":{\"content\":\"" + echoed
                        + "\"}}],\"usage\":null}\n\ndata: {\"choices\":[],\"usage\":{\"prompt_tokens\":" + a
                        + ",\"completion_tokens\":" + b + ",\"total_tokens\":" + (a + b) + "}}\n\ndata: [DONE]\n\n");
                case ANTHROPIC_SSE -> write(resp, "text/event-stream", "event: message_start\ndata: {\"type\":\"message_start\","
                        + "\"message\":{\"content\":[],\"usage\":{\"input_tokens\":" + a + ",\"cache_creation_input_tokens\":" + c
                        + ",\"output_tokens\":1}}}\n\nevent: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,"
                        + "\"content_block\":{\"type\":\"tool_use\",\"id\":\"t\",\"name\":\"f\",\"input\":" + fake + "}}\n\n"
                        + "event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\"},"
                        + "\"usage\":{\"output_tokens\":" + b + "}}\n\nevent: message_stop\ndata: {\"type\":\"message_stop\"}\n\n");
            }
        }

        private static void write(HttpServletResponse resp, String type, String body) throws IOException {
            resp.setContentType(type);
            resp.getOutputStream().write(body.getBytes(StandardCharsets.UTF_8));
        }

        /** Gemini-style stream: every chunk carries the usage so far; writes until the client is gone. */
        private static void hangingUpStream(HttpServletResponse resp, long a, long b) {
            resp.setContentType("text/event-stream");
            try {
                OutputStream out = resp.getOutputStream();
                out.write(("data: {\"candidates\":[],\"usageMetadata\":{\"promptTokenCount\":" + a + ",\"candidatesTokenCount\":"
                        + b + ",\"totalTokenCount\":" + (a + b) + "}}\n\n").getBytes(StandardCharsets.UTF_8));
                out.flush();
                byte[] chunk = ("data: {\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"" + "z".repeat(4000) + "\"}]}}],"
                        + "\"usageMetadata\":{\"promptTokenCount\":" + a + ",\"candidatesTokenCount\":" + b + ",\"totalTokenCount\":"
                        + (a + b) + "}}\n\n").getBytes(StandardCharsets.UTF_8);
                long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
                while (System.nanoTime() < deadline) {
                    out.write(chunk);
                    out.flush();
                }
            } catch (IOException e) {
                // the client hung up: the usage it was shown is what the filter charges
            }
        }
    }
}
