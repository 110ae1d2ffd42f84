package io.tokenquota.servlet;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import jakarta.servlet.ServletOutputStream;
import jakarta.servlet.WriteListener;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;
import java.lang.reflect.Proxy;
import java.nio.charset.StandardCharsets;
import org.junit.jupiter.api.Test;

/** What the usage reader sees of the bytes an application writes. */
final class QuotaResponseTest {

    /** A committed JSON response whose client has gone: every write fails. */
    private static HttpServletResponse hungUp() {
        return hungUp("application/json");
    }

    /** A committed response labelled {@code contentType} whose client has gone: every write and flush fails. */
    private static HttpServletResponse hungUp(String contentType) {
        ServletOutputStream broken = new ServletOutputStream() {
            @Override
            public void write(int b) throws IOException {
                throw new IOException("Broken pipe");
            }

            @Override
            public void flush() throws IOException {
                throw new IOException("Broken pipe");
            }

            @Override
            public boolean isReady() {
                return true;
            }

            @Override
            public void setWriteListener(WriteListener listener) {
                // not asynchronous
            }
        };
        return (HttpServletResponse) Proxy.newProxyInstance(QuotaResponseTest.class.getClassLoader(),
                new Class<?>[] {HttpServletResponse.class}, (proxy, method, args) -> switch (method.getName()) {
                    case "getOutputStream" -> broken;
                    case "getContentType" -> contentType;
                    case "isCommitted" -> true;
                    case "getStatus" -> 200;
                    case "getHeaders" -> java.util.List.of();
                    default -> null;
                });
    }

    @Test
    void usageInAWriteThatFailsIsStillRead() throws IOException {
        // the model answered: its usage counts although the client hung up before it was delivered
        UsageSniffer sniffer = new UsageSniffer();
        QuotaResponse response = new QuotaResponse(hungUp(), sniffer, () -> { }, false, () -> true);
        byte[] answer = "{\"choices\":[],\"usage\":{\"total_tokens\":12040}}".getBytes(StandardCharsets.UTF_8);
        ServletOutputStream out = response.getOutputStream();
        assertThrows(IOException.class, () -> out.write(answer, 0, answer.length));
        assertThrows(IOException.class, () -> out.write('\n'));
        sniffer.finish();
        assertTrue(response.clientGone());
        assertEquals(12_040L, sniffer.usage());
    }

    /** A chat completion written as Jackson writes one: its text first, its usage last. */
    private static final byte[] COMPLETION = ("{\"id\":\"chatcmpl-1\",\"object\":\"chat.completion\",\"choices\":[{\"index\":0,"
            + "\"message\":{\"role\":\"assistant\",\"content\":\"" + "word ".repeat(2_000) + "\"},\"finish_reason\":\"stop\"}],"
            + "\"usage\":{\"prompt_tokens\":1200,\"completion_tokens\":8800,\"total_tokens\":10000}}").getBytes(StandardCharsets.UTF_8);

    /** Writes {@code answer} in pieces of 1,000 bytes, then flushes. */
    private static void writeInPieces(ServletOutputStream out, byte[] answer) throws IOException {
        for (int off = 0; off < answer.length; off += 1_000) {
            out.write(answer, off, Math.min(1_000, answer.length - off));
        }
        out.flush();
    }

    @Test
    void oneDocumentWhoseWriteFailsMidwayIsWrittenOnToItsUsage() throws IOException {
        // round 336: the model finished before the document was written; failing the write stops Jackson before the usage
        UsageSniffer sniffer = new UsageSniffer();
        QuotaResponse response = new QuotaResponse(hungUp(), sniffer, () -> { }, false, () -> true);
        ServletOutputStream out = response.getOutputStream();
        writeInPieces(out, COMPLETION);
        out.write('\n');
        response.flushBuffer();
        sniffer.finish();
        assertTrue(response.clientGone());
        assertEquals(10_000L, sniffer.usage());
    }

    @Test
    void aSecondDocumentAfterADroppedOneFails() throws IOException {
        // JSON lines, under a JSON label or a stream's: a stream after all, whose relay must see its write fail.
        // The label does not decide (round 351: a client's Accept chose application/stream+json for one
        // completion), so a relay learns at its second line that its client went
        for (String label : new String[] {"application/json", "application/x-ndjson", "application/stream+json"}) {
            QuotaResponse response = new QuotaResponse(hungUp(label), new UsageSniffer(), () -> { }, false, () -> true);
            ServletOutputStream out = response.getOutputStream();
            writeInPieces(out, COMPLETION);
            out.write('\n');
            assertThrows(IOException.class, () -> out.write("{\"done\":true}".getBytes(StandardCharsets.UTF_8)), label);
        }
    }

    @Test
    void streamsStillFailAtTheFirstFailedWrite() throws IOException {
        String event = "data: " + new String(COMPLETION, StandardCharsets.UTF_8) + "\n\n";
        String array = "[" + new String(COMPLETION, StandardCharsets.UTF_8) + "]";
        String[][] streams = {{"text/event-stream", event}, {"application/json", array},
                {"application/json-seq", "\u001E" + new String(COMPLETION, StandardCharsets.UTF_8)}};
        for (String[] stream : streams) {
            QuotaResponse response = new QuotaResponse(hungUp(stream[0]), new UsageSniffer(), () -> { }, false, () -> true);
            ServletOutputStream out = response.getOutputStream();
            byte[] bytes = stream[1].getBytes(StandardCharsets.UTF_8);
            assertThrows(IOException.class, () -> out.write(bytes, 0, 1_000), stream[0] + " " + stream[1].charAt(0));
            assertTrue(response.clientGone());
        }
    }

    /** A committed response labelled {@code contentType} that takes every write, its status as last set. */
    private static HttpServletResponse open(String contentType, int status) {
        int[] now = {status};
        ServletOutputStream sink = new ServletOutputStream() {
            @Override
            public void write(int b) {
                // the client's
            }

            @Override
            public boolean isReady() {
                return true;
            }

            @Override
            public void setWriteListener(WriteListener listener) {
                // not asynchronous
            }
        };
        return (HttpServletResponse) Proxy.newProxyInstance(QuotaResponseTest.class.getClassLoader(),
                new Class<?>[] {HttpServletResponse.class}, (proxy, method, args) -> switch (method.getName()) {
                    case "getOutputStream" -> sink;
                    case "getContentType" -> contentType;
                    case "isCommitted" -> true;
                    case "getStatus" -> now[0];
                    case "setStatus" -> {
                        now[0] = (Integer) args[0];
                        yield null;
                    }
                    case "getHeaders" -> java.util.List.of();
                    default -> null;
                });
    }

    /** The request of an async cycle an include started ({@link EndpointRequest.IncludeCycle}). */
    private static EndpointRequest.IncludeCycle cycle() {
        return new EndpointRequest.IncludeCycle((jakarta.servlet.http.HttpServletRequest) Proxy.newProxyInstance(
                QuotaResponseTest.class.getClassLoader(), new Class<?>[] {jakarta.servlet.http.HttpServletRequest.class},
                (proxy, method, args) -> null));
    }

    /** An include that started {@code cycle} and returned at once, its worker still to write. */
    private static void includeReturns(QuotaResponse page, EndpointRequest.IncludeCycle cycle, boolean lateFigure)
            throws Exception {
        includeReturns(page, cycle, lateFigure ? 10_000L : null);
    }

    /** As above, the cycle's worker reporting {@code lateFigure} (null: nothing). */
    private static void includeReturns(QuotaResponse page, EndpointRequest.IncludeCycle cycle, Long lateFigure)
            throws Exception {
        page.nestedInclude(() -> { }, () -> false, () -> cycle, () -> lateFigure);
    }

    private static final byte[] SUGGESTIONS = "<h2>Did you mean</h2><ul><li>Quarterly planning</li></ul>"
            .getBytes(StandardCharsets.UTF_8);

    @Test
    void whatAnIncludesAsyncCycleWritesAfterTheIncludeReturnedIsJudgedUnderTheIncludesStatus() throws Exception {
        // round 478: a not-found page's suggestions fragment, written by its worker once the include returned
        QuotaResponse page = new QuotaResponse(open("text/html", 200), new UsageSniffer(), () -> { }, false, () -> true);
        page.setStatus(404);
        page.getOutputStream().write("<p>No such article.</p>".getBytes(StandardCharsets.UTF_8));
        EndpointRequest.IncludeCycle cycle = cycle();
        includeReturns(page, cycle, false);
        assertTrue(!page.answering(), "the page's own text under its 404 is no answer");
        QuotaResponse.throughInclude(cycle, page).getOutputStream().write(SUGGESTIONS);
        assertTrue(page.answering(), "the include's bytes are its answer, under its own 200");
    }

    @Test
    void thePagesOwnBytesAfterTheIncludeReturnedStayThePages() throws Exception {
        // control: the same bytes written through the page's response, not the cycle's
        QuotaResponse page = new QuotaResponse(open("text/html", 200), new UsageSniffer(), () -> { }, false, () -> true);
        page.setStatus(404);
        includeReturns(page, cycle(), false);
        page.getOutputStream().write(SUGGESTIONS);
        assertTrue(!page.answering());
    }

    @Test
    void usageAnIncludesAsyncCycleWritesAfterTheIncludeReturnedIsCoveredByItsFigure() throws Exception {
        // round 478: a shim's v1 worker reports its figure and answers with usage after the include returned
        QuotaResponse page = new QuotaResponse(open("application/json", 200), new UsageSniffer(), () -> { }, false,
                () -> true);
        EndpointRequest.IncludeCycle cycle = cycle();
        includeReturns(page, cycle, true);
        QuotaResponse.throughInclude(cycle, page).getOutputStream().write(COMPLETION);
        page.endSniffing();
        assertEquals(10_000L, page.sniffer().usage());
        assertEquals(10_000L, page.coveredUsage(), "the include's figure stands for the usage it wrote");
    }

    @Test
    void usageAnIncludesAsyncCycleWritesIsThePagesWithoutAFigure() throws Exception {
        // no figure to stand for it: the usage is the only reading of that call
        QuotaResponse page = new QuotaResponse(open("application/json", 200), new UsageSniffer(), () -> { }, false,
                () -> true);
        EndpointRequest.IncludeCycle cycle = cycle();
        includeReturns(page, cycle, false);
        QuotaResponse.throughInclude(cycle, page).getOutputStream().write(COMPLETION);
        page.endSniffing();
        assertEquals(0L, page.coveredUsage());
    }

    @Test
    void usageTheDispatchOfAnIncludesAsyncCycleWritesIsCoveredByTheIncludesFigure() throws Exception {
        // round 485: the worker reports its call through the cycle's request, then dispatches to a view (or back,
        // as DeferredResult does) that writes the model's answer, usage included: one call, its figure
        QuotaResponse page = new QuotaResponse(open("application/json", 200), new UsageSniffer(), () -> { }, false,
                () -> true);
        EndpointRequest.IncludeCycle cycle = cycle();
        includeReturns(page, cycle, true);
        cycle.dispatched();
        QuotaResponse.throughInclude(cycle, page).getOutputStream().write(COMPLETION);
        page.endSniffing();
        assertEquals(10_000L, page.sniffer().usage());
        assertEquals(10_000L, page.coveredUsage(), "the include's figure stands for the answer its dispatch wrote");
    }

    @Test
    void theDispatchOfAnIncludesAsyncCycleWritesUnderTheCallsStatus() throws Exception {
        // a dispatch sets the status of the call's answer as any dispatch does: the include's 200 is over
        QuotaResponse page = new QuotaResponse(open("text/html", 200), new UsageSniffer(), () -> { }, false, () -> true);
        page.setStatus(404);
        EndpointRequest.IncludeCycle cycle = cycle();
        includeReturns(page, cycle, false);
        cycle.dispatched();
        QuotaResponse.throughInclude(cycle, page).getOutputStream().write(SUGGESTIONS);
        assertTrue(!page.answering(), "the dispatch's bytes are judged under the call's 404");
    }

    /**
     * The dispatch of an include's async cycle makes an include of its own ({@code reports}: whether that include
     * reports a figure the ledger can charge) that writes {@link #COMPLETION}; {@code cycleFigure}: whether the
     * cycle's worker reported one. Returns the page's covered usage.
     */
    private static long coveredWhenTheDispatchIncludes(boolean cycleFigure, boolean reports, boolean nestedTwice)
            throws Exception {
        QuotaResponse page = new QuotaResponse(open("application/json", 200), new UsageSniffer(), () -> { }, false,
                () -> true);
        EndpointRequest.IncludeCycle cycle = cycle();
        includeReturns(page, cycle, cycleFigure);
        cycle.dispatched();
        jakarta.servlet.ServletResponse dispatch = QuotaResponse.throughInclude(cycle, page);
        QuotaResponse.Included body = () -> dispatch.getOutputStream().write(COMPLETION);
        page.nestedInclude(nestedTwice ? () -> page.nestedInclude(body, () -> false, () -> null, () -> null) : body,
                () -> reports, () -> null, () -> null);
        page.endSniffing();
        assertEquals(10_000L, page.sniffer().usage());
        return page.coveredUsage();
    }

    @Test
    void anIncludeTheDispatchMakesReportingNothingWritesAsTheCyclesCall() throws Exception {
        // round 489: the worker reports its call and dispatches to a layout view, which includes the body that
        // writes the answer (JSP, Tiles, SiteMesh): the body's usage is that one call, covered by the cycle's figure
        assertEquals(10_000L, coveredWhenTheDispatchIncludes(true, false, false));
        assertEquals(10_000L, coveredWhenTheDispatchIncludes(true, false, true), "a fragment of the body's too");
        // no figure to stand for it: the usage is the only reading of that call
        assertEquals(0L, coveredWhenTheDispatchIncludes(false, false, false));
    }

    @Test
    void anIncludeTheDispatchMakesReportingItsOwnFigureIsCoveredByThatFigure() throws Exception {
        // as any include's: its figure stands for what it wrote, once, whether or not the cycle's worker reported
        assertEquals(10_000L, coveredWhenTheDispatchIncludes(false, true, false));
        assertEquals(10_000L, coveredWhenTheDispatchIncludes(true, true, false), "covered once, not by both figures");
        assertEquals(10_000L, coveredWhenTheDispatchIncludes(false, true, true), "what a fragment of it wrote too");
    }

    /**
     * The dispatch of an include's async cycle (its worker reported a figure) makes an include that starts a cycle of
     * its own, reporting nothing, whose response is made over the dispatched cycle's ({@code overTheDispatchs}: as
     * Spring's {@code startAsync(request, response)} makes it there) or over the page's; that cycle's worker writes
     * {@link #COMPLETION} once the include returned. Returns the page's covered usage.
     */
    private static long coveredWhenAFragmentsCycleWritesInTheDispatch(boolean overTheDispatchs) throws Exception {
        QuotaResponse page = new QuotaResponse(open("application/json", 200), new UsageSniffer(), () -> { }, false,
                () -> true);
        EndpointRequest.IncludeCycle first = cycle();
        includeReturns(page, first, true);
        first.dispatched();
        jakarta.servlet.ServletResponse dispatch = QuotaResponse.throughInclude(first, page);
        EndpointRequest.IncludeCycle related = cycle();
        page.nestedInclude(() -> { }, () -> false, () -> related, () -> null);
        QuotaResponse.throughInclude(related, overTheDispatchs ? dispatch : page).getOutputStream().write(COMPLETION);
        page.endSniffing();
        assertEquals(10_000L, page.sniffer().usage());
        return page.coveredUsage();
    }

    @Test
    void aFragmentsCycleStartedOverTheDispatchedCyclesResponseWritesAsItsOwnCall() throws Exception {
        // round 499: the outermost cycle's mark wins; the inner one's made the related call's usage the dispatched
        // cycle's, covered by its figure
        assertEquals(0L, coveredWhenAFragmentsCycleWritesInTheDispatch(true));
        assertEquals(0L, coveredWhenAFragmentsCycleWritesInTheDispatch(false), "control: over the page's response");
    }

    /**
     * The dispatch back of an include's cycle ({@code firstFigure}: whether its worker reported the call) makes that
     * include again, which starts a second cycle ({@code resumes}: made by the same include, as
     * {@link EndpointRequest.IncludeCycle#madeBy} tells; {@code ownFigure}: whether it reports a call of its own) whose
     * worker writes {@link #COMPLETION}. Returns the page's covered usage.
     */
    private static long coveredWhenASecondCycleWritesInTheDispatchBack(boolean firstFigure, boolean resumes,
                                                                      boolean ownFigure) throws Exception {
        return coveredWhenASecondCycleWritesInTheDispatchBack(firstFigure ? 10_000L : null, resumes,
                ownFigure ? 10_000L : null);
    }

    /** As above, with the figures the first and the second cycle report (null: nothing). */
    private static long coveredWhenASecondCycleWritesInTheDispatchBack(Long firstFigure, boolean resumes,
                                                                      Long ownFigure) throws Exception {
        QuotaResponse page = new QuotaResponse(open("application/json", 200), new UsageSniffer(), () -> { }, false,
                () -> true);
        EndpointRequest.IncludeCycle first = cycle();
        first.madeBy("INCLUDE /ai/v1/chat /ai/v1/chat", null);
        includeReturns(page, first, firstFigure);
        first.dispatched();
        EndpointRequest.IncludeCycle second = cycle();
        second.madeBy(resumes ? "INCLUDE /ai/v1/chat /ai/v1/chat" : "INCLUDE /ai/v1/related /ai/v1/related",
                new jakarta.servlet.http.HttpServletRequestWrapper(first));
        page.nestedInclude(() -> { }, () -> false, () -> second, () -> ownFigure);
        QuotaResponse.throughInclude(second, page).getOutputStream().write(COMPLETION);
        page.endSniffing();
        assertEquals(10_000L, page.sniffer().usage());
        return page.coveredUsage();
    }

    @Test
    void aSecondCycleGoingOnWithTheDispatchedCyclesCallIsCoveredByItsFigure() throws Exception {
        // round 509: the answer of the call the first cycle's worker reported, written on the dispatch's own cycle
        assertEquals(10_000L, coveredWhenASecondCycleWritesInTheDispatchBack(true, true, false));
        // a figure of its own stands for it, as any include's (counted beside the first's)
        assertEquals(10_000L, coveredWhenASecondCycleWritesInTheDispatchBack(false, true, true));
        // no figure for either: the usage is the only reading of that call
        assertEquals(0L, coveredWhenASecondCycleWritesInTheDispatchBack(false, true, false));
        // another include's cycle is a call of its own (round 499)
        assertEquals(0L, coveredWhenASecondCycleWritesInTheDispatchBack(true, false, false));
    }

    @Test
    void aSecondCycleGoingOnAfterTheFirstReportedZeroWritesACallOfItsOwn() throws Exception {
        // round 512: the first cycle's worker called no model (a cache lookup, a queue slot) and reported 0; the
        // second cycle makes the request's one model call: nothing of the first's stands for it, its usage counts
        assertEquals(0L, coveredWhenASecondCycleWritesInTheDispatchBack(0L, true, null));
        // a going-on cycle that replays a stored answer reports 0 itself, which stands for what it wrote
        assertEquals(10_000L, coveredWhenASecondCycleWritesInTheDispatchBack(0L, true, 0L));
        // its own figure after the first's 0, as any include's
        assertEquals(10_000L, coveredWhenASecondCycleWritesInTheDispatchBack(0L, true, 4_000L));
        // a first figure above 0 is a call, which the second cycle's bytes are the answer of (round 509)
        assertEquals(10_000L, coveredWhenASecondCycleWritesInTheDispatchBack(4_000L, true, null));
    }

    @Test
    void theDispatchOfAnIncludesAsyncCycleThatReportedZeroIsCoveredByIt() throws Exception {
        // round 485's rule holds for 0: a handler replaying a stored answer on the dispatch reports 0 for it
        QuotaResponse page = new QuotaResponse(open("application/json", 200), new UsageSniffer(), () -> { }, false,
                () -> true);
        EndpointRequest.IncludeCycle cycle = cycle();
        includeReturns(page, cycle, 0L);
        cycle.dispatched();
        QuotaResponse.throughInclude(cycle, page).getOutputStream().write(COMPLETION);
        page.endSniffing();
        assertEquals(10_000L, page.coveredUsage(), "the cycle's own 0 stands for what its dispatch wrote");
    }

    /** A response whose container refuses trailer fields, as Jetty and Tomcat do for an HTTP/1.0 request. */
    private static HttpServletResponse refusingTrailers(int[] asked) {
        return (HttpServletResponse) Proxy.newProxyInstance(QuotaResponseTest.class.getClassLoader(),
                new Class<?>[] {HttpServletResponse.class}, (proxy, method, args) -> {
                    if (method.getName().equals("setTrailerFields")) {
                        asked[0]++;
                        throw new IllegalStateException("Trailers not supported");
                    }
                    return method.getName().equals("getHeaders") ? java.util.List.of() : null;
                });
    }

    private static final java.util.function.Supplier<java.util.Map<String, String>> FIGURE =
            () -> java.util.Map.of("x-quota-actual-tokens", "9000", "x-relay", "eu-1");

    @Test
    void anHttp10RequestsTrailerFieldsAreKeptForTheSettlementAndNotHandedToTheContainer() {
        // round 521: the client chose HTTP/1.0; the relay's figure still counts and the relay meets no refusal
        int[] asked = {0};
        QuotaResponse response = new QuotaResponse(refusingTrailers(asked), new UsageSniffer(), () -> { }, false,
                () -> true);
        response.requestProtocol("HTTP/1.0");
        response.setTrailerFields(FIGURE);
        assertEquals(0, asked[0], "the container is not asked");
        assertEquals("9000", response.trailer(QuotaResponse.ACTUAL_TOKENS_HEADER));
        assertEquals("eu-1", response.getTrailerFields().get().get("x-relay"), "the endpoint sees what it set");
    }

    @Test
    void theContainersRefusalOfTrailerFieldsOnHttp11StillReachesTheEndpointAndLosesNoFigure() {
        // the refusal of a committed response is the container's to give; the figure is kept before it is asked
        int[] asked = {0};
        QuotaResponse response = new QuotaResponse(refusingTrailers(asked), new UsageSniffer(), () -> { }, false,
                () -> true);
        response.requestProtocol("HTTP/1.1");
        assertThrows(IllegalStateException.class, () -> response.setTrailerFields(FIGURE));
        assertEquals(1, asked[0]);
        assertEquals("9000", response.trailer(QuotaResponse.ACTUAL_TOKENS_HEADER));
    }

    @Test
    void onlyHttp10And09CarryNoTrailers() {
        assertTrue(!QuotaResponse.carriesTrailers("HTTP/1.0") && !QuotaResponse.carriesTrailers("HTTP/0.9"));
        assertTrue(QuotaResponse.carriesTrailers("HTTP/1.1") && QuotaResponse.carriesTrailers("HTTP/2.0")
                && QuotaResponse.carriesTrailers(null));
    }
}
