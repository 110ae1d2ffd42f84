package io.tokenquota.examples.bench;

import io.tokenquota.HoldRequest;
import io.tokenquota.QuotaStore;
import io.tokenquota.Reservation;
import io.tokenquota.servlet.QuotaFilter;
import io.tokenquota.servlet.SubjectResolver;
import jakarta.servlet.DispatcherType;
import jakarta.servlet.http.HttpServlet;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import org.eclipse.jetty.ee10.servlet.FilterHolder;
import org.eclipse.jetty.ee10.servlet.ServletContextHandler;
import org.eclipse.jetty.ee10.servlet.ServletHolder;
import org.eclipse.jetty.server.Server;
import org.eclipse.jetty.server.ServerConnector;
import org.eclipse.jetty.util.thread.QueuedThreadPool;

import java.io.IOException;
import java.io.OutputStream;
import java.lang.management.ManagementFactory;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.EnumSet;

/**
 * Issue 5, parts 4 and 6b: the same trivial endpoint in embedded Jetty, reached through the
 * {@link QuotaFilter} and around it, driven by a closed-loop Java HTTP client on loopback.
 * One instance serves one store; not thread-safe apart from the server it runs.
 */
final class FilterBench implements AutoCloseable {
    static final String FILTERED = "/api/v1/ai/chat";
    /** The same endpoint behind a second filter over an in-memory store: the filter's own cost, no database. */
    static final String FILTERED_IN_MEMORY = "/mem/chat";
    static final String PLAIN = "/plain/chat";
    static final String THREAD_PREFIX = "bench-jetty";

    /** The model stand-in: reads the whole body, answers with an OpenAI-style usage object. */
    static final class EchoModelServlet extends HttpServlet {
        private static final long serialVersionUID = 1L;
        private static final byte[] ANSWER = ("{\"id\":\"chatcmpl-1\",\"object\":\"chat.completion\","
                + "\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\",\"content\":\"ok\"}}],"
                + "\"usage\":{\"prompt_tokens\":42,\"completion_tokens\":8,\"total_tokens\":50}}")
                .getBytes(StandardCharsets.UTF_8);

        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            req.getInputStream().transferTo(OutputStream.nullOutputStream());
            resp.setContentType("application/json");
            resp.setContentLength(ANSWER.length);
            resp.getOutputStream().write(ANSWER);
        }
    }

    private final Server server;
    private final int port;
    private final HttpClient client;
    private final java.util.concurrent.atomic.LongAdder transportRetries = new java.util.concurrent.atomic.LongAdder();

    FilterBench(QuotaStore store, long maxBodyBytes) throws Exception {
        QueuedThreadPool pool = new QueuedThreadPool(32, 8);
        pool.setName(THREAD_PREFIX);
        server = new Server(pool);
        ServerConnector connector = new ServerConnector(server);
        connector.setHost("127.0.0.1");
        connector.setPort(0);
        server.addConnector(connector);
        ServletContextHandler context = new ServletContextHandler("/");
        QuotaStore inMemory = new io.tokenquota.memory.InMemoryQuotaStore(LedgerBench.unlimitedPolicy());
        for (String prefix : java.util.List.of("/api/v1/ai/", "/mem/")) {
            QuotaFilter filter = QuotaFilter.builder(prefix.equals("/mem/") ? inMemory : store)
                    .protect(prefix)
                    .subjectResolver(SubjectResolver.trustedHeader("x-user-id", "127.0.0.1"))
                    .maxBodyBytes(maxBodyBytes)
                    .build();
            FilterHolder holder = new FilterHolder(filter);
            holder.setAsyncSupported(true);
            context.addFilter(holder, prefix + "*", EnumSet.of(DispatcherType.REQUEST));
            context.addServlet(new ServletHolder(new EchoModelServlet()), prefix + "*");
        }
        context.addServlet(new ServletHolder(new EchoModelServlet()), "/plain/*");
        server.setHandler(context);
        server.start();
        port = connector.getLocalPort();
        client = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1)
                .connectTimeout(Duration.ofSeconds(5)).build();
    }

    /** A chat request body of about {@code bytes} bytes: one user message, a 100-token output budget. */
    static byte[] chatBody(int bytes) {
        StringBuilder text = new StringBuilder();
        String sentence = "Please summarise the quarterly usage report for the analytics team. ";
        while (text.length() < Math.max(16, bytes - 120)) {
            text.append(sentence);
        }
        text.setLength(Math.max(16, bytes - 120));
        return ("{\"model\":\"mock-gpt\",\"max_tokens\":100,\"messages\":[{\"role\":\"user\",\"content\":\""
                + text + "\"}]}").getBytes(StandardCharsets.UTF_8);
    }

    /** One POST; false unless the answer is 200 (a 429 would mean the allowance created up front ran out). */
    boolean post(String path, String subject, byte[] body) throws IOException, InterruptedException {
        HttpRequest request = HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + path))
                .header("content-type", "application/json")
                .header("x-user-id", subject)
                .POST(HttpRequest.BodyPublishers.ofByteArray(body))
                .build();
        HttpResponse<byte[]> response;
        try {
            response = client.send(request, HttpResponse.BodyHandlers.ofByteArray());
        } catch (IOException stale) {
            // the JDK client now and then reuses a keep-alive connection just as it closes, before any byte of
            // the request reached the server; one retry on a fresh connection, counted in the report
            transportRetries.increment();
            response = client.send(request, HttpResponse.BodyHandlers.ofByteArray());
        }
        if (response.statusCode() != 200) {
            throw new IllegalStateException(path + " answered " + response.statusCode() + ": "
                    + new String(response.body(), StandardCharsets.UTF_8));
        }
        return true;
    }

    /** Bytes allocated so far by the server's request threads (HotSpot's per-thread counters). */
    static long serverAllocatedBytes() {
        var threads = (com.sun.management.ThreadMXBean) ManagementFactory.getThreadMXBean();
        long total = 0;
        for (Thread t : Thread.getAllStackTraces().keySet()) {
            if (t.getName().startsWith(THREAD_PREFIX)) {
                long bytes = threads.getThreadAllocatedBytes(t.getId());
                if (bytes > 0) {
                    total += bytes;
                }
            }
        }
        return total;
    }

    /**
     * Part 4: req/s and latency through the filter vs around it, at concurrency 1, 4 and 16, two
     * alternating rounds each (plain, filtered, plain, filtered) merged, so drift hits both alike.
     * Returns the p99 added at concurrency 1, in milliseconds.
     */
    static double latency(Settings settings, Report report, Backend backend, LedgerBench.LedgerFactory factory)
            throws Exception {
        var ds = backend.newDatabase(16);
        factory.installSchema(ds);
        Schema.createAccounts(ds, backend.dialect(), "u", settings.subjects(), LedgerBench.HUGE,
                LedgerBench.unlimitedPolicy().currentMonth());
        QuotaStore store = factory.open(ds, LedgerBench.unlimitedPolicy());
        Subjects subjects = Subjects.uniform(settings.subjects());
        byte[] body = chatBody(1024);
        double addedP99AtOne = Double.NaN;
        double addedP99AtSixteen = Double.NaN;
        double inMemoryRatioAtFour = Double.NaN;
        double inMemoryCpuRatioAtFour = Double.NaN;
        double ledgerP99AtOne = Double.NaN;
        long retries;
        java.util.List<java.util.List<String>> rows = new java.util.ArrayList<>();
        String direct = "ledger alone";
        java.util.List<String> paths = java.util.List.of(PLAIN, FILTERED_IN_MEMORY, FILTERED, direct);
        java.util.Map<String, String> names = java.util.Map.of(PLAIN, "unfiltered",
                FILTERED_IN_MEMORY, "through QuotaFilter, in-memory store",
                FILTERED, "through QuotaFilter, " + backend.name(),
                direct, "reserve + commit alone, no HTTP");
        try (FilterBench bench = new FilterBench(store, 2 << 20)) {
            java.util.function.Function<String, LoadRun.Op> op = path -> path.equals(direct)
                    ? (thread, random) -> {
                        Reservation hold = store.reserve(HoldRequest.of(subjects.pick(random), 300).endpoint(FILTERED)
                                .build()).reservation();
                        store.commit(hold.id(), 50);
                        return true;
                    }
                    : (thread, random) -> bench.post(path, subjects.pick(random), body);
            // every path twice, unmeasured: the container, the client and the filter all start cold, and the
            // filter's path is far more code for the JIT to compile (on 2 busy cores, C2 still compiles it
            // 15 s in); measured before that, the ratio says how fast the JIT is, not the filter
            // (3 s each with --quick's 500 ms warm-up; the smoke test's tiny windows stay tiny)
            Duration warm = settings.warmup().multipliedBy(6);
            for (int round = 0; round < 2; round++) {
                for (String path : paths) {
                    LoadRun.run(4, warm, settings.measure(), false, op.apply(path));
                }
            }
            for (int concurrency : java.util.List.of(1, 4, 16)) {
                java.util.Map<String, LoadRun.Result> merged = new java.util.HashMap<>();
                // alternating rounds (forward, then backward), merged, so drift on the machine hits all paths alike
                for (int round = 0; round < settings.rounds(); round++) {
                    for (int i = 0; i < paths.size(); i++) {
                        String path = paths.get(round % 2 == 0 ? i : paths.size() - 1 - i);
                        LoadRun.Result r = LoadRun.run(concurrency, settings.warmup(), settings.measure(), true,
                                CpuClock.wholeProcess(), op.apply(path));
                        LedgerBench.failOnErrors(names.get(path), r);
                        merged.merge(path, r, FilterBench::merge);
                    }
                }
                LoadRun.Result plain = merged.get(PLAIN);
                for (String path : paths) {
                    LoadRun.Result r = merged.get(path);
                    String key = "filter." + backend.name() + ".c" + concurrency + "." + (path.equals(PLAIN) ? "plain"
                            : path.equals(FILTERED) ? "filtered" : path.equals(direct) ? "ledgerAlone" : "inMemory");
                    report.record(key + ".rps", r.opsPerSecond());
                    report.record(key + ".p99ms", r.percentileMicros(0.99) / 1000);
                    rows.add(java.util.List.of(String.valueOf(concurrency), names.get(path), Report.num(r.opsPerSecond()),
                            Report.num(cpuMicrosPerRequest(r)), ms(r.percentileMicros(0.50)),
                            ms(r.percentileMicros(0.99)), ms(r.percentileMicros(0.999)), String.valueOf(r.ops())));
                }
                for (String path : java.util.List.of(FILTERED_IN_MEMORY, FILTERED)) {
                    LoadRun.Result through = merged.get(path);
                    rows.add(java.util.List.of(String.valueOf(concurrency), "**added by the filter, "
                                    + (path.equals(FILTERED) ? backend.name() : "in-memory store") + "**",
                            Report.ratio(through.opsPerSecond() / plain.opsPerSecond()),
                            Report.ratio(cpuMicrosPerRequest(plain) / cpuMicrosPerRequest(through)),
                            ms(through.percentileMicros(0.50) - plain.percentileMicros(0.50)),
                            ms(through.percentileMicros(0.99) - plain.percentileMicros(0.99)),
                            ms(through.percentileMicros(0.999) - plain.percentileMicros(0.999)), ""));
                }
                double addedP99 = (merged.get(FILTERED).percentileMicros(0.99) - plain.percentileMicros(0.99)) / 1000;
                if (concurrency == 1) {
                    addedP99AtOne = addedP99;
                    ledgerP99AtOne = merged.get(direct).percentileMicros(0.99) / 1000;
                } else if (concurrency == 4) {
                    inMemoryRatioAtFour = merged.get(FILTERED_IN_MEMORY).opsPerSecond() / plain.opsPerSecond();
                    inMemoryCpuRatioAtFour = cpuMicrosPerRequest(plain) / cpuMicrosPerRequest(merged.get(FILTERED_IN_MEMORY));
                } else {
                    addedP99AtSixteen = addedP99;
                }
            }
            retries = bench.transportRetries.sum();
        } finally {
            if (store instanceof AutoCloseable closeable) {
                closeable.close();
            }
        }
        report.heading("Filter latency: " + backend.name());
        if (retries > 0) {
            report.line("(" + retries + " requests were retried once after the JDK client reused a closing keep-alive"
                    + " connection; their latency includes the retry.)");
        }
        report.line("Embedded Jetty " + org.eclipse.jetty.util.Jetty.VERSION + " on loopback; POST of a " + body.length
                + "-byte chat request (max_tokens 100) to a servlet that reads the body and answers a usage object;"
                + " subjects uniform over " + settings.subjects() + " pre-created accounts; Java HttpClient (HTTP/1.1,"
                + " keep-alive) in the same JVM, closed loop. Through the filter: resolve subject from a trusted"
                + " header, parse and estimate, reserve (the quota headers come from the reserve's own row), run the"
                + " chain, read usage, commit on the request thread, then end the response (the client has the end"
                + " of the answer once its charge has landed). The same filter over the in-memory store shows the"
                + " filter's own cost; \"reserve + commit alone\" calls the same store directly (no HTTP), the floor"
                + " of what the filter adds. Every path is first warmed up twice, until the JIT has compiled the"
                + " filter; then each runs in " + settings.rounds() + " alternating rounds, merged; latency percentiles"
                + " by nearest rank over every measured request. CPU per request is this JVM's whole CPU (the"
                + " container's, the client's, the JIT's and the GC's) during the windows / requests: on a CPU-bound"
                + " loop the rate follows it, and it is far less disturbed by other processes on the machine than"
                + " req/s; the added rows give its ratio, unfiltered / filtered.");
        report.table(java.util.List.of("concurrency", "path", "req/s (added row: ratio)",
                "CPU µs/req (added row: by CPU)", "p50 ms", "p99 ms", "p99.9 ms", "requests"), rows);
        report.headline("Filter on " + backend.name() + ": p99 added at concurrency 1 = " + Report.num(addedP99AtOne)
                + " ms, at concurrency 16 = " + Report.num(addedP99AtSixteen) + " ms (target < 2 ms); the reserve"
                + " + commit alone have p99 " + Report.num(ledgerP99AtOne) + " ms at concurrency 1");
        report.headline("Filter over the in-memory store at concurrency 4: " + Report.ratio(inMemoryRatioAtFour)
                + " the unfiltered endpoint's req/s (target >= 0.7x), " + Report.ratio(inMemoryCpuRatioAtFour)
                + " by CPU per request");
        return addedP99AtOne;
    }

    /**
     * Part 6b: 1 MB bodies through the filter and around it at concurrency 4: bytes the server's
     * threads allocate per request (the filter buffers the body to estimate it, then replays it).
     * The ledger is the in-memory store, whose own allocation per request is a few KB.
     */
    static void bigBodies(Settings settings, Report report) throws Exception {
        // the in-memory store: an in-process database (H2) would allocate on the request threads too
        QuotaStore store = new io.tokenquota.memory.InMemoryQuotaStore(LedgerBench.unlimitedPolicy());
        byte[] body = chatBody(settings.filterRequestsKb() * 1024);
        Subjects subjects = Subjects.uniform(1000);
        java.util.List<java.util.List<String>> rows = new java.util.ArrayList<>();
        double[] perRequest = new double[2];
        try (FilterBench bench = new FilterBench(store, body.length * 2L)) {
            for (int filtered = 0; filtered < 2; filtered++) {
                String path = filtered == 1 ? FILTERED : PLAIN;
                LoadRun.run(4, settings.warmup(), settings.warmup(), false,
                        (thread, random) -> bench.post(path, subjects.pick(random), body));
                long before = serverAllocatedBytes();
                LoadRun.Result r = LoadRun.run(4, Duration.ZERO, settings.measure(), true,
                        (thread, random) -> bench.post(path, subjects.pick(random), body));
                long allocated = serverAllocatedBytes() - before;
                LedgerBench.failOnErrors("POST " + path, r);
                // the counters cover every request that ran, the last ones past the window included
                perRequest[filtered] = (double) allocated / Math.max(1, r.completedInAll());
                report.record("bigBodies." + (filtered == 1 ? "filtered" : "plain") + ".bytesPerRequest",
                        perRequest[filtered]);
                rows.add(java.util.List.of(filtered == 1 ? "through QuotaFilter" : "unfiltered",
                        Report.num(r.opsPerSecond()), ms(r.percentileMicros(0.5)), ms(r.percentileMicros(0.99)),
                        Report.num(perRequest[filtered] / 1024) + " KB",
                        Report.ratio(perRequest[filtered] / body.length)));
            }
        }
        report.heading("Filter buffer use with " + (body.length / 1024) + " KB bodies");
        report.line("Concurrency 4, InMemoryQuotaStore (so that no database work runs on the request threads). Allocation = bytes allocated by the Jetty request threads during the measured "
                + "window (HotSpot per-thread counters) / requests completed in it. The filter's body limit was set "
                + "to 2x the body size; at most concurrency x limit bytes are ever buffered at once.");
        report.table(java.util.List.of("path", "req/s", "p50 ms", "p99 ms", "allocated per request",
                "per request / body size"), rows);
        report.headline("Filter with " + (body.length / 1024) + " KB bodies allocates "
                + Report.num((perRequest[1] - perRequest[0]) / 1024) + " KB per request more than the bare endpoint ("
                + Report.ratio((perRequest[1] - perRequest[0]) / body.length) + " the body)");
    }

    private static String ms(double micros) {
        return Report.num(micros / 1000);
    }

    private static LoadRun.Result merge(LoadRun.Result a, LoadRun.Result b) {
        long[] all = new long[a.latenciesNanos().length + b.latenciesNanos().length];
        System.arraycopy(a.latenciesNanos(), 0, all, 0, a.latenciesNanos().length);
        System.arraycopy(b.latenciesNanos(), 0, all, a.latenciesNanos().length, b.latenciesNanos().length);
        java.util.Arrays.sort(all);
        return new LoadRun.Result(a.threads(), a.ops() + b.ops(), a.refused() + b.refused(), a.errors() + b.errors(),
                a.seconds() + b.seconds(), all, a.firstError() != null ? a.firstError() : b.firstError(),
                a.completedInAll() + b.completedInAll(),
                a.cpuNanos() < 0 || b.cpuNanos() < 0 ? -1 : a.cpuNanos() + b.cpuNanos(),
                a.serverCpuNanos() < 0 || b.serverCpuNanos() < 0 ? -1 : a.serverCpuNanos() + b.serverCpuNanos());
    }

    /** The process's CPU per measured request, in microseconds; NaN when not measured. */
    private static double cpuMicrosPerRequest(LoadRun.Result r) {
        return r.cpuNanos() < 0 || r.ops() == 0 ? Double.NaN : r.cpuNanos() / 1_000.0 / r.ops();
    }

    @Override
    public void close() {
        // HttpClient has no close() before Java 21; its threads die with it once unreachable
        try {
            server.stop();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        } catch (Exception e) {
            throw new IllegalStateException("Jetty did not stop", e);
        }
    }
}
