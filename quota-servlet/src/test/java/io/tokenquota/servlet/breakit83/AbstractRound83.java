package io.tokenquota.servlet.breakit83;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.tokenquota.Purchase;
import io.tokenquota.QuotaAccount;
import io.tokenquota.servlet.AdminAuthorizer;
import io.tokenquota.servlet.QuotaApiServlet;
import io.tokenquota.servlet.QuotaFilter;
import io.tokenquota.servlet.SubjectResolver;
import io.tokenquota.servlet.testing.Deployment;
import io.tokenquota.servlet.testing.H2FilterRound;
import io.tokenquota.servlet.testing.SpringMvc;
import io.tokenquota.servlet.testing.TestHttp;
import jakarta.servlet.Filter;
import jakarta.servlet.FilterChain;
import jakarta.servlet.ServletException;
import jakarta.servlet.ServletOutputStream;
import jakarta.servlet.ServletRequest;
import jakarta.servlet.ServletResponse;
import jakarta.servlet.http.HttpServlet;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.lang.management.ManagementFactory;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.Charset;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.YearMonth;
import java.time.ZoneOffset;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.zip.CRC32;
import java.util.zip.Deflater;
import org.junit.jupiter.api.Test;
import org.springframework.context.annotation.Configuration;
import org.springframework.web.bind.annotation.PostMapping;
import org.springframework.web.bind.annotation.RequestBody;
import org.springframework.web.bind.annotation.RequestHeader;
import org.springframework.web.bind.annotation.RestController;
import org.springframework.web.servlet.config.annotation.PathMatchConfigurer;
import org.springframework.web.servlet.config.annotation.WebMvcConfigurer;
import org.springframework.web.util.pattern.PathPatternParser;

/**
 * Round 83 of issue 11 ("no model call goes unpaid, nothing that never reached a model is charged"): the
 * issue's items 4, 7, 8, 9, 11 and 12 as a hostile client and as a host with an odd but real configuration
 * meet them. One {@code Idempotency-Key} from many clients at once through two filter instances on one
 * store (other TTL, other path), and a key replayed after its first call was released; a Jetty
 * {@code ForwardedRequestCustomizer} told to read RFC 7239 under another header name (Jetty only); an
 * answer gzip-encoded by the relay whose member header names a long file name, and a request whose
 * {@code Content-Type} names every charset the JVM knows (memory and allocation measured, not time); a
 * Spring Boot {@code quota.filter.prefixes} entry written Ant-style ({@code /ai/**}) and a Spring MVC
 * application that matches paths case-insensitively; a payment callback the ledger refuses
 * ({@code max-quota-exceeded}) that still leaves a purchase behind; an admin token read from a secret
 * file with its trailing newline.
 */
abstract class AbstractRound83 extends H2FilterRound {
    /** Every model call here reports this usage. */
    static final long USAGE = 5_000;
    static final Map<String, AtomicInteger> CALLS = new ConcurrentHashMap<>();
    /** Heap the gzip relay measured as retained once its whole answer went through the filter, by subject. */
    static final Map<String, Long> RETAINED = new ConcurrentHashMap<>();
    /** What each subject's request thread allocated, once the meter's filter has returned (after the client had its answer). */
    static final Map<String, java.util.concurrent.CompletableFuture<Long>> ALLOCATED = new ConcurrentHashMap<>();
    /** Model calls that entered and wait for {@link #RELEASE} (a subject's concurrent calls). */
    static final Map<String, AtomicInteger> ENTERED = new ConcurrentHashMap<>();
    static final Map<String, CountDownLatch> RELEASE = new ConcurrentHashMap<>();

    static final byte[] PAYMENT_SECRET = "round-83-payment-webhook-secret-0123".getBytes(StandardCharsets.UTF_8);
    static final String ADMIN_TOKEN = "tq-admin-83-0f1e2d3c4b5a69788796";

    /** The clock of a store the month-turn test sets, with two service instances' filters on it. */
    final io.tokenquota.testkit.MutableClock clock = new io.tokenquota.testkit.MutableClock(
            java.time.Instant.parse("2031-01-31T23:59:40Z"));
    io.tokenquota.jdbi.testing.TestDatabase clockedDb;
    io.tokenquota.jdbi.JdbiQuotaStore clockedStore;

    @org.junit.jupiter.api.AfterAll
    void stopClocked() {
        if (clockedStore != null) clockedStore.close();
        if (clockedDb != null) clockedDb.close();
    }

    /** The filter built for {@code protect("/glob/**")}, or what its builder threw. */
    RuntimeException globRefused;
    /** What {@code AdminAuthorizer.bearerToken} (or the API's builder) threw for the token read from a file. */
    RuntimeException fileTokenRefused;

    static String subject() {
        return "u83-" + UUID.randomUUID().toString().substring(0, 12);
    }

    static int calls(String subject) {
        AtomicInteger n = CALLS.get(subject);
        return n == null ? 0 : n.get();
    }

    static String completion() {
        return "{\"id\":\"chatcmpl-83\",\"object\":\"chat.completion\",\"model\":\"gpt-4o\",\"choices\":[{\"index\":0,"
                + "\"message\":{\"role\":\"assistant\",\"content\":\"Done.\"},\"finish_reason\":\"stop\"}],"
                + "\"usage\":{\"prompt_tokens\":1000,\"completion_tokens\":4000,\"total_tokens\":" + USAGE + "}}";
    }

    static final String CHAT = "{\"model\":\"gpt-4o\",\"max_tokens\":2000,"
            + "\"messages\":[{\"role\":\"user\",\"content\":\"Summarise the quarterly report.\"}]}";

    /** An OpenAI chat endpoint: one model call per request, 5,000 tokens of usage. */
    public static class Chat extends HttpServlet {
        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            req.getInputStream().readAllBytes();
            String s = req.getHeader("x-user-id");
            CALLS.computeIfAbsent(s, k -> new AtomicInteger()).incrementAndGet();
            CountDownLatch release = s == null ? null : RELEASE.get(s);
            if (release != null) {
                ENTERED.computeIfAbsent(s, k -> new AtomicInteger()).incrementAndGet();
                try {
                    release.await(20, TimeUnit.SECONDS);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
            }
            resp.setStatus(200);
            resp.setContentType("application/json");
            resp.getOutputStream().write(completion().getBytes(StandardCharsets.UTF_8));
        }
    }

    /** An endpoint whose upstream is down: 503 before any model call, no usage (released). */
    public static class Unavailable extends HttpServlet {
        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            req.getInputStream().readAllBytes();
            CALLS.computeIfAbsent(req.getHeader("x-user-id"), k -> new AtomicInteger()).incrementAndGet();
            resp.setStatus(503);
            resp.setContentType("application/json");
            resp.getOutputStream().write("{\"error\":{\"message\":\"upstream unavailable\"}}".getBytes(StandardCharsets.UTF_8));
        }
    }

    static long usedHeap() {
        Runtime rt = Runtime.getRuntime();
        for (int i = 0; i < 3; i++) {
            System.gc();
            try {
                Thread.sleep(50);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
        return rt.totalMemory() - rt.freeMemory();
    }

    /**
     * {@code GET /ai/files/{id}/content}: a relay that serves a stored file (a batch's results, a
     * client's upload) with the {@code Content-Encoding: gzip} it was stored with, as an object store
     * keeps it, passing the bytes on unchanged. The gzip member's header names the original file
     * ({@code FNAME}, RFC 1952 2.3.1: zero-terminated, of any length); with {@code name=N} that name
     * is N bytes long and the content one JSON line with usage; with {@code pad=N} the name is short and
     * the content is the same line followed by N spaces, stored uncompressed, so both answers are about
     * N bytes on the wire. Written in 1 MB writes; measures the heap retained once all went through.
     */
    public static class GzipFile extends HttpServlet {
        @Override
        protected void doGet(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            String s = req.getHeader("x-user-id");
            int name = Integer.parseInt(Optional.ofNullable(req.getParameter("name")).orElse("16"));
            int pad = Integer.parseInt(Optional.ofNullable(req.getParameter("pad")).orElse("0"));
            long before = usedHeap();
            resp.setStatus(200);
            resp.setContentType("application/jsonl");
            resp.setHeader("Content-Encoding", "gzip");
            ServletOutputStream out = resp.getOutputStream();
            out.write(new byte[] {0x1f, (byte) 0x8b, 8, 8, 0, 0, 0, 0, 0, (byte) 255});
            byte[] mb = new byte[1 << 20];
            java.util.Arrays.fill(mb, (byte) 'r');
            for (int left = name; left > 0; left -= mb.length) {
                out.write(mb, 0, Math.min(left, mb.length));
            }
            out.write(0);
            byte[] line = ("{\"id\":\"batch_req_1\",\"custom_id\":\"request-1\",\"response\":{\"status_code\":200,"
                    + "\"body\":{\"object\":\"chat.completion\",\"usage\":{\"prompt_tokens\":1000,\"completion_tokens\":4000,"
                    + "\"total_tokens\":" + USAGE + "}}},\"error\":null}\n").getBytes(StandardCharsets.UTF_8);
            // the content streams through the deflater chunk by chunk: the servlet itself keeps none of it
            CRC32 crc = new CRC32();
            Deflater deflater = new Deflater(pad > 0 ? Deflater.NO_COMPRESSION : Deflater.DEFAULT_COMPRESSION, true);
            byte[] deflated = new byte[64 << 10];
            deflate(deflater, crc, line, line.length, deflated, out);
            java.util.Arrays.fill(mb, (byte) ' ');
            for (int left = pad; left > 0; left -= mb.length) {
                deflate(deflater, crc, mb, Math.min(left, mb.length), deflated, out);
            }
            deflater.finish();
            while (!deflater.finished()) {
                out.write(deflated, 0, deflater.deflate(deflated));
            }
            deflater.end();
            long c = crc.getValue();
            int size = line.length + pad;
            out.write(new byte[] {(byte) c, (byte) (c >> 8), (byte) (c >> 16), (byte) (c >> 24),
                    (byte) size, (byte) (size >> 8), (byte) (size >> 16), (byte) (size >> 24)});
            out.flush();
            CALLS.computeIfAbsent(s, k -> new AtomicInteger()).incrementAndGet();
            RETAINED.put(s, usedHeap() - before);
        }

        private static void deflate(Deflater deflater, CRC32 crc, byte[] input, int len, byte[] deflated,
                                    ServletOutputStream out) throws IOException {
            crc.update(input, 0, len);
            deflater.setInput(input, 0, len);
            while (!deflater.needsInput()) {
                out.write(deflated, 0, deflater.deflate(deflated));
            }
        }
    }

    /**
     * A host's request logging filter in front of the quota filter that records what the request
     * thread allocated while the request went through (the JVM's own per-thread allocation counter):
     * the estimate, the reserve, the endpoint and the settlement.
     */
    public static class AllocationMeter implements Filter {
        @Override
        public void doFilter(ServletRequest req, ServletResponse res, FilterChain chain) throws IOException, ServletException {
            com.sun.management.ThreadMXBean threads = (com.sun.management.ThreadMXBean) ManagementFactory.getThreadMXBean();
            long before = threads.getCurrentThreadAllocatedBytes();
            try {
                chain.doFilter(req, res);
            } finally {
                String s = ((HttpServletRequest) req).getHeader("x-user-id");
                if (s != null) {
                    ALLOCATED.computeIfAbsent(s, k -> new java.util.concurrent.CompletableFuture<>())
                            .complete(threads.getCurrentThreadAllocatedBytes() - before);
                }
            }
        }
    }

    /** Spring MVC matching paths regardless of case (legacy clients send {@code /AI/...}). */
    @Configuration
    public static class CaseInsensitivePaths implements WebMvcConfigurer {
        @Override
        public void configurePathMatch(PathMatchConfigurer configurer) {
            PathPatternParser parser = new PathPatternParser();
            parser.setCaseSensitive(false);
            configurer.setPatternParser(parser);
        }
    }

    /** The application's chat route, served by the DispatcherServlet at {@code /}, as Spring Boot maps it. */
    @RestController
    public static class MvcChat {
        @PostMapping(path = "/ai/mvc/chat", produces = "application/json")
        public String chat(@RequestBody String body, @RequestHeader("x-user-id") String user) {
            CALLS.computeIfAbsent(user, k -> new AtomicInteger()).incrementAndGet();
            return completion();
        }
    }

    /** The admin token as a secret file holds it: `echo "$TOKEN" > /run/secrets/quota_admin_token`. */
    static String adminTokenFromSecretFile() {
        try {
            Path file = Files.createTempFile("quota_admin_token", "");
            Files.writeString(file, ADMIN_TOKEN + "\n");
            String token = Files.readString(file);
            Files.delete(file);
            return token;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    @Override
    protected Deployment deploy(QuotaFilter filter) {
        Deployment d = Deployment.create()
                .filter("allocation-meter", new AllocationMeter(), "/ai/big/*")
                .filter("quota", filter, "/*")
                // a second service instance's filter on the same store: another path, another hold TTL
                .filter("quota-b", filterFor("/ai2/").holdTtl(Duration.ofMinutes(1)).build(), "/*");
        try {
            d.filter("quota-glob", filterFor("/glob/**").build(), "/*");
        } catch (RuntimeException e) {
            globRefused = e;
        }
        clockedDb = io.tokenquota.jdbi.testing.TestDatabases.h2();
        clockedStore = io.tokenquota.jdbi.JdbiQuotaStore.builder().dataSource(clockedDb.dataSource())
                .policy(io.tokenquota.QuotaPolicy.builder().defaultAllocation(ALLOWANCE).clock(clock).build())
                .installSchema(true).build();
        d.filter("clocked-a", QuotaFilter.builder(clockedStore).protect("/tc/")
                        .subjectResolver(SubjectResolver.trustedHeader("x-user-id", "127.0.0.1", "::1")).build(), "/*")
                .filter("clocked-b", QuotaFilter.builder(clockedStore).protect("/tc2/")
                        .subjectResolver(SubjectResolver.trustedHeader("x-user-id", "127.0.0.1", "::1"))
                        .holdTtl(Duration.ofMinutes(1)).build(), "/*");
        d.servlet("chat", new Chat(), "/ai/v1/*", "/ai2/v1/*", "/glob/*", "/ai/big/*", "/tc/v1/*", "/tc2/v1/*")
                .servlet("unavailable", new Unavailable(), "/ai/down/*")
                .servlet("files", new GzipFile(), "/ai/files/*")
                .servlet("quota-api", QuotaApiServlet.builder(store)
                        .subjectResolver(SubjectResolver.trustedHeader("x-user-id", "127.0.0.1", "::1"))
                        .adminAuthorizer(AdminAuthorizer.bearerToken(ADMIN_TOKEN))
                        .paymentSecret(PAYMENT_SECRET)
                        .build(), "/quota-api/*");
        try {
            d.servlet("quota-api-file", QuotaApiServlet.builder(store)
                    .subjectResolver(SubjectResolver.trustedHeader("x-user-id", "127.0.0.1", "::1"))
                    .adminAuthorizer(AdminAuthorizer.bearerToken(adminTokenFromSecretFile()))
                    .build(), "/quota-api-file/*");
        } catch (RuntimeException e) {
            fileTokenRefused = e;
        }
        return d.servlet("mvc", SpringMvc.dispatcher(CaseInsensitivePaths.class, MvcChat.class), "/");
    }

    static HttpRequest chat(java.net.URI uri, String subject, String body, String... headers) {
        List<String> all = new ArrayList<>(List.of("x-user-id", subject, "Content-Type", "application/json"));
        all.addAll(List.of(headers));
        return TestHttp.request(uri, all.toArray(String[]::new))
                .POST(HttpRequest.BodyPublishers.ofString(body, StandardCharsets.UTF_8)).build();
    }

    // ------------------------------------------------------------------ item 4: Idempotency-Key

    /**
     * One {@code Idempotency-Key} from 16 clients at once (a client library's retries fired in parallel by
     * a load balancer that fans out): 8 through this instance's filter on {@code /ai/}, 8 through a second
     * service instance's filter on {@code /ai2/} with a one-minute hold TTL, both on one store. Expected:
     * one model call, 15 answers 409, and the ledger charged that one call's 5,000 tokens. (Held attack.)
     */
    @Test
    void oneKeyFromSixteenClientsThroughTwoFilterInstancesBuysOneCall() throws Exception {
        String s = subject();
        String key = "idem-" + UUID.randomUUID();
        RELEASE.put(s, new CountDownLatch(1));
        List<CompletableFuture<HttpResponse<String>>> answers = new ArrayList<>();
        CountDownLatch go = new CountDownLatch(1);
        for (int i = 0; i < 16; i++) {
            java.net.URI uri = container.uri((i % 2 == 0 ? "/ai/v1" : "/ai2/v1") + "/chat/completions");
            answers.add(CompletableFuture.supplyAsync(() -> {
                try {
                    go.await();
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
                return TestHttp.send(chat(uri, s, CHAT, "Idempotency-Key", key));
            }));
        }
        go.countDown();
        // the winner waits in the endpoint until every other answer came back (or two entered)
        long deadline = System.nanoTime() + Duration.ofSeconds(25).toNanos();
        while (System.nanoTime() < deadline) {
            long done = answers.stream().filter(CompletableFuture::isDone).count();
            int entered = ENTERED.getOrDefault(s, new AtomicInteger()).get();
            if (done + entered >= 16) {
                break;
            }
            TimeUnit.MILLISECONDS.sleep(10);
        }
        RELEASE.get(s).countDown();
        int ok = 0;
        List<Integer> statuses = new ArrayList<>();
        for (CompletableFuture<HttpResponse<String>> f : answers) {
            HttpResponse<String> r = f.get(30, TimeUnit.SECONDS);
            statuses.add(r.statusCode());
            if (r.statusCode() == 200) {
                ok++;
            }
        }
        QuotaAccount account = settled(s);
        assertEquals(1, calls(s), kind() + ": model calls for one key, statuses " + statuses + ", ledger " + ledger(s));
        assertEquals(1, ok, kind() + ": statuses " + statuses);
        assertEquals(USAGE, account.used(), kind() + ": " + account + ", ledger " + ledger(s));
    }

    /**
     * A call whose endpoint failed before the model (503, released) and the client's retry with the same
     * key: the key buys at most one model call, and the first call already used it (docs/servlet.md step 4:
     * 409 whether the first one is still running or finished). Expected: the retry 409, no second model
     * call, nothing charged. (Held attack.)
     */
    @Test
    void aKeyReplayedAfterItsCallWasReleasedGets409AndNoCall() {
        String s = subject();
        String key = "idem-" + UUID.randomUUID();
        HttpResponse<String> first = TestHttp.send(chat(container.uri("/ai/down/v1/chat/completions"), s, CHAT,
                "Idempotency-Key", key));
        assertEquals(503, first.statusCode(), first.body());
        assertEquals(0, settled(s).used(), ledger(s));
        HttpResponse<String> retry = TestHttp.send(chat(container.uri("/ai/down/v1/chat/completions"), s, CHAT,
                "Idempotency-Key", key));
        assertEquals(409, retry.statusCode(), kind() + ": " + retry.body());
        assertEquals(1, calls(s), kind() + ": model calls");
        assertEquals(0, settled(s).used(), kind() + ": " + ledger(s));
    }

    /**
     * The month turn with two service instances on one store: a call with an {@code Idempotency-Key} is
     * held through instance A at 23:59:50 on January 31 and is still running when the client's retry with
     * the same key reaches instance B (another path, a one-minute hold TTL) at 00:00:10 on February 1.
     * Expected: the retry 409, one model call, January charged 5,000 and February nothing. (Held attack.)
     */
    @Test
    void aKeyRetriedThroughTheOtherInstanceAfterMidnightBuysOneCall() throws Exception {
        clock.set(java.time.Instant.parse("2031-01-31T23:59:50Z"));
        String s = subject();
        String key = "idem-" + UUID.randomUUID();
        RELEASE.put(s, new CountDownLatch(1));
        CompletableFuture<HttpResponse<String>> first = CompletableFuture.supplyAsync(() ->
                TestHttp.send(chat(container.uri("/tc/v1/chat/completions"), s, CHAT, "Idempotency-Key", key)));
        long deadline = System.nanoTime() + Duration.ofSeconds(20).toNanos();
        while (ENTERED.getOrDefault(s, new AtomicInteger()).get() == 0 && System.nanoTime() < deadline) {
            TimeUnit.MILLISECONDS.sleep(10);
        }
        assertEquals(1, ENTERED.get(s).get(), "the January call is running");
        clock.set(java.time.Instant.parse("2031-02-01T00:00:10Z"));
        HttpResponse<String> retry;
        try {
            retry = TestHttp.send(chat(container.uri("/tc2/v1/chat/completions"), s, CHAT, "Idempotency-Key", key));
        } finally {
            RELEASE.get(s).countDown();
        }
        HttpResponse<String> r = first.get(30, TimeUnit.SECONDS);
        assertEquals(200, r.statusCode(), r.body());
        long settleBy = System.nanoTime() + Duration.ofSeconds(15).toNanos();
        QuotaAccount january = clockedStore.account(s, YearMonth.of(2031, 1)).orElseThrow();
        while (january.reserved() != 0 && System.nanoTime() < settleBy) {
            TimeUnit.MILLISECONDS.sleep(10);
            january = clockedStore.account(s, YearMonth.of(2031, 1)).orElseThrow();
        }
        long february = clockedStore.account(s, YearMonth.of(2031, 2)).map(a -> a.used() + a.reserved()).orElse(0L);
        assertEquals(409, retry.statusCode(), kind() + ": " + retry.body());
        assertEquals(1, calls(s), kind() + ": model calls for one key");
        assertEquals(USAGE, january.used(), kind() + ": January " + january);
        assertEquals(0, february, kind() + ": February");
    }

    // ------------------------------------------------------------------ item 8: memory

    long retainedFor(String query) throws Exception {
        String s = subject();
        HttpResponse<Void> r = TestHttp.client().send(TestHttp.request(container.uri("/ai/files/file-83/content?" + query),
                "x-user-id", s).GET().build(), HttpResponse.BodyHandlers.discarding());
        assertEquals(200, r.statusCode());
        QuotaAccount a = settled(s);
        assertEquals(USAGE, a.used(), kind() + ": the file's usage line is read (" + query + "), ledger " + ledger(s));
        return RETAINED.get(s);
    }

    /**
     * A gzip answer the relay passes on as stored, whose member header names a 48 MB file name
     * (zero-terminated, as RFC 1952 allows: an upload's name is the client's to choose). The usage
     * reader gathers the header whole before it inflates anything ({@code AnswerDecoding.Inflating}:
     * {@code pending} grows until the name's zero byte, copied out again on every write), so the
     * request holds the name's bytes, and more, for as long as its answer streams. The same number of
     * bytes with a short name and a long stored content costs next to nothing. Expected (README: memory
     * per request is bounded whatever the response): under 8 MB more.
     *
     * <p>Run on a {@value #NAME_BYTES}-byte name against the bound in proportion ({@link #NAME_BYTES}).
     */
    @Test
    void aGzipAnswerWithALongFileNameKeepsBoundedMemory() throws Exception {
        int size = NAME_BYTES;
        long padded = Long.MAX_VALUE;
        long named = Long.MAX_VALUE;
        List<String> pairs = new ArrayList<>();
        for (int pair = 0; pair < MEASURES && (pair == 0 || named - padded >= NAME_BOUND); pair++) {
            padded = Math.min(padded, retainedFor("pad=" + size));
            named = Math.min(named, retainedFor("name=" + size));
            pairs.add((padded >> 10) + "/" + (named >> 10));
        }
        assertTrue(named - padded < NAME_BOUND, kind() + ": the filter held " + ((named - padded) >> 10)
                + " KB more for a " + (size >> 20) + " MB gzip answer whose member header names a long file than for "
                + (size >> 20) + " MB of stored content (" + (padded >> 10) + " KB; least so far, padded/named KB, after"
                + " each pair: " + pairs + ")");
    }

    /**
     * The pairs of answers {@link #aGzipAnswerWithALongFileNameKeepsBoundedMemory} measures at most, the least
     * figure of each kind counting. A heap figure is the whole JVM's: what other threads hold at that instant (the
     * in-process client's buffers of the 16 MB still on their way, the containers' and the forked JVM's other
     * threads, a thread-local allocation buffer taken since the collection) only ever adds to it, and more so on a
     * loaded machine. A reader that gathers the name holds its 16 MB in every measure, six times the bound, so the
     * least of a few measures tells it as well as one; a further pair is measured only while the bound is passed.
     */
    static final int MEASURES = 4;

    /**
     * The file name's length: a third of the round's 48 MB (two 48 MB answers took 2.5-7 s a container), against
     * a third of its 8 MB bound. A reader that gathers the header holds at least the name's 16 MB, six times the
     * bound, as the round's 48 MB were; one that passes over it holds next to nothing whatever the length.
     */
    static final int NAME_BYTES = 16 << 20;
    /** The round's 8 MB for a 48 MB name, in proportion. */
    static final long NAME_BOUND = (8L << 20) * NAME_BYTES / (48 << 20);

    /** Every charset this JVM knows, each by its shortest name. */
    static List<String> everyCharset() {
        List<String> names = new ArrayList<>();
        for (Charset c : Charset.availableCharsets().values()) {
            String best = c.name();
            for (String alias : c.aliases()) {
                if (alias.length() < best.length()) {
                    best = alias;
                }
            }
            names.add(best);
        }
        names.sort(Comparator.comparingInt(String::length));
        return names;
    }

    long allocatedFor(String contentType, byte[] body) {
        String s = subject();
        store.setPlan(s, 50_000_000);
        HttpResponse<String> r = TestHttp.send(TestHttp.request(container.uri("/ai/big/v1/chat/completions"),
                "x-user-id", s, "Content-Type", contentType).POST(HttpRequest.BodyPublishers.ofByteArray(body)).build());
        assertEquals(200, r.statusCode(), r.body());
        assertEquals(USAGE, settled(s).used(), ledger(s));
        try {
            // the container may send the answer before the meter's filter returns
            return ALLOCATED.computeIfAbsent(s, k -> new java.util.concurrent.CompletableFuture<>())
                    .get(30, java.util.concurrent.TimeUnit.SECONDS);
        } catch (Exception e) {
            throw new AssertionError("the meter recorded nothing for " + s, e);
        }
    }

    /**
     * A 600 KB chat body (under the 1 MiB limit) labelled with one charset, then the same body labelled
     * {@code application/json; charset=utf-8; charset=l1; charset=L9; ...} with every charset the JVM
     * knows (173, 2.5 KB of header: Jetty and Tomcat take 8 KB). The filter reads the body once in
     * every charset its label names ({@code QuotaFilter.estimateOf}, {@code BodyText.labelled}: distinct
     * charsets, no limit), so the client multiplies the work of each call by the length of a header it
     * writes. Measured as the bytes the request thread allocates (the JVM's counter, not time).
     * Expected: a label costs no more than a few readings, at most 8 times the single label's allocation.
     */
    @Test
    void aLabelNamingEveryCharsetDoesNotMultiplyTheEstimatesWork() {
        StringBuilder text = new StringBuilder();
        while (text.length() < 600_000) {
            text.append("The quarterly report shows revenue growth in every region, led by new contracts. ");
        }
        byte[] body = ("{\"model\":\"gpt-4o\",\"max_tokens\":1000,\"messages\":[{\"role\":\"user\",\"content\":\""
                + text + "\"}]}").getBytes(StandardCharsets.UTF_8);
        long one = allocatedFor("application/json; charset=utf-8", body);
        StringBuilder label = new StringBuilder("application/json; charset=utf-8");
        for (String name : everyCharset()) {
            label.append("; charset=").append(name);
        }
        long every = allocatedFor(label.toString(), body);
        assertTrue(every <= 8 * one, kind() + ": a " + label.length() + "-byte label naming " + everyCharset().size()
                + " charsets made the request thread allocate " + (every >> 20) + " MB for a " + (body.length >> 10)
                + " KB body, against " + (one >> 20) + " MB with one charset (" + (every / Math.max(1, one)) + "x)");
    }

    // ------------------------------------------------------------------ item 9: paths

    /**
     * Spring Boot's {@code quota.filter.prefixes: [/glob/**]}, written as Spring users write every path
     * pattern, passes to {@code protect("/glob/**")}. The builder accepts it (a bad setting is an
     * {@code IllegalArgumentException} at {@code build()}, README), and the filter then protects only paths
     * that start with the characters {@code /glob/**}: every model call under {@code /glob/} is free.
     * Expected: refused at build, or the call under {@code /glob/} held and charged its 5,000 tokens.
     */
    @Test
    void anAntStylePrefixIsRefusedOrProtectsItsPaths() {
        if (globRefused != null) {
            assertTrue(globRefused instanceof IllegalArgumentException, globRefused.toString());
            return;
        }
        String s = subject();
        HttpResponse<String> r = TestHttp.send(chat(container.uri("/glob/v1/chat/completions"), s, CHAT));
        assertEquals(200, r.statusCode(), r.body());
        assertEquals(1, calls(s));
        QuotaAccount a = settled(s);
        assertEquals(USAGE, a.used(), kind() + ": protect(\"/glob/**\") was accepted and a model call under /glob/"
                + " was charged " + a.used() + " (headers " + r.headers().map().keySet() + "), ledger " + ledger(s));
    }

    /**
     * A Spring MVC application (DispatcherServlet at {@code /}, as Spring Boot maps it) configured to match
     * paths regardless of case ({@code PathPatternParser.setCaseSensitive(false)}). {@code /ai/mvc/chat} is
     * held and charged; {@code /AI/mvc/chat} reaches the same handler, which calls the model, but the
     * filter compares its prefixes case-sensitively (servlet path and raw path alike) and lets it through.
     * Expected: both charged 5,000.
     */
    @Test
    void aCaseInsensitiveRouteIsChargedAsItsLowerCaseSpelling() {
        String control = subject();
        HttpResponse<String> plain = TestHttp.send(chat(container.uri("/ai/mvc/chat"), control, CHAT));
        assertEquals(200, plain.statusCode(), plain.body());
        assertEquals(USAGE, settled(control).used(), ledger(control));

        String s = subject();
        HttpResponse<String> upper = TestHttp.send(chat(container.uri("/AI/mvc/chat"), s, CHAT));
        assertEquals(200, upper.statusCode(), upper.body());
        assertEquals(1, calls(s), kind() + ": the handler ran");
        QuotaAccount a = settled(s);
        assertEquals(USAGE, a.used(), kind() + ": POST /AI/mvc/chat reached the model through Spring's"
                + " case-insensitive route and was charged " + a.used() + ", ledger " + ledger(s));
    }

    // ------------------------------------------------------------------ item 11: payment callbacks

    HttpResponse<String> callback(String json) {
        byte[] body = json.getBytes(StandardCharsets.UTF_8);
        return TestHttp.post(container.uri("/quota-api/payment-callback"), body, "Content-Type", "application/json",
                "X-Signature", TestHttp.signature(PAYMENT_SECRET, body));
    }

    /**
     * A provider reports a captured payment ({@code completed}, {@code "amount": "3300.00"}) whose credit
     * would take the month past the policy's {@code maxQuota} (100,000,000): the API answers
     * {@code 422 max-quota-exceeded} as documented, but {@code QuotaApiServlet.recordedOrNew} recorded the
     * purchase as pending before {@code complete} refused, so the refused callback leaves a purchase and a
     * {@code PURCHASE_RECORDED} event behind (docs/servlet.md: a refused request changes nothing).
     * Control: the same callback for 5,000 tokens is credited.
     */
    @Test
    void aCompletedCallbackRefusedForTheMaxQuotaLeavesNoPurchaseBehind() {
        String s = subject();
        String ok = "tx-" + UUID.randomUUID();
        HttpResponse<String> credited = callback("{\"transaction_id\":\"" + ok + "\",\"user_id\":\"" + s
                + "\",\"token_amount\":5000,\"amount\":\"3300.00\",\"currency\":\"USD\",\"payment_method\":\"card\","
                + "\"status\":\"completed\"}");
        assertEquals(200, credited.statusCode(), credited.body());
        assertEquals(ALLOWANCE + 5_000, store.account(s).limit());

        String tx = "tx-" + UUID.randomUUID();
        HttpResponse<String> refused = callback("{\"transaction_id\":\"" + tx + "\",\"user_id\":\"" + s
                + "\",\"token_amount\":100000000,\"amount\":\"3300000.00\",\"currency\":\"USD\","
                + "\"payment_method\":\"card\",\"status\":\"completed\"}");
        assertEquals(422, refused.statusCode(), refused.body());
        assertTrue(refused.body().contains("max-quota-exceeded"), refused.body());
        Optional<Purchase> left = store.purchase(tx);
        List<Purchase> month = store.purchases(s, YearMonth.now(ZoneOffset.UTC));
        assertTrue(left.isEmpty(), kind() + ": the refused callback left " + left.orElse(null) + "; purchases of the"
                + " month " + month.stream().map(p -> p.transactionId() + ":" + p.status()).toList() + ", events " + ledger(s));
        assertEquals(ALLOWANCE + 5_000, store.account(s).limit(), kind() + ": " + store.account(s));
    }

    // ------------------------------------------------------------------ item 12: admin auth

    /**
     * The admin token read from a secret file ({@code Files.readString("/run/secrets/quota_admin_token")},
     * written by {@code echo}, so it ends with a newline). {@code AdminAuthorizer.bearerToken} accepts it,
     * and trims the presented token before comparing: no request can ever match, every admin call is 403.
     * Expected: the builder refuses such a token with an error, or the admin's
     * {@code Authorization: Bearer <token>} is let in. Control: the token given in code is let in.
     */
    @Test
    void anAdminTokenReadFromASecretFileLetsTheAdminIn() {
        String s = subject();
        HttpResponse<String> control = TestHttp.get(container.uri("/quota-api/admin/users/" + s + "/quota"),
                "Authorization", "Bearer " + ADMIN_TOKEN);
        assertEquals(200, control.statusCode(), control.body());
        if (fileTokenRefused != null) {
            assertTrue(fileTokenRefused instanceof IllegalArgumentException, fileTokenRefused.toString());
            assertNotNull(fileTokenRefused.getMessage());
            return;
        }
        HttpResponse<String> r = TestHttp.get(container.uri("/quota-api-file/admin/users/" + s + "/quota"),
                "Authorization", "Bearer " + ADMIN_TOKEN);
        assertEquals(200, r.statusCode(), kind() + ": a bearer token read with its trailing newline was accepted by"
                + " AdminAuthorizer.bearerToken and then refused the admin: " + r.statusCode() + " " + r.body());
    }
}
