package io.tokenquota.servlet;

import jakarta.servlet.ServletOutputStream;
import jakarta.servlet.WriteListener;
import jakarta.servlet.http.HttpServletResponse;
import jakarta.servlet.http.HttpServletResponseWrapper;
import java.io.IOException;
import java.io.PrintWriter;
import java.io.Writer;
import java.util.concurrent.TimeUnit;
import java.nio.charset.StandardCharsets;

/**
 * Passes every byte and every flush straight to the real response (nothing is held back, so
 * server-sent events reach the client as they are written) and shows a copy to a
 * {@link UsageSniffer}; only the end of a synchronous answer waits for its settlement (the handler's
 * close, and the last byte of a declared Content-Length, {@link #finishForClient}). Captures the {@code X-Quota-Actual-Tokens} header instead of sending it,
 * and the trailer field of that name ({@link #setTrailerFields}).
 * A write that fails because the client went away fails the endpoint's write too (or is reported to its
 * {@code WriteListener}), but while the answer is one JSON document that is not a stream ({@link #drops}):
 * then the bytes go on to the sniffer alone.
 * Writes may come from an async servlet's own thread; the sniffer synchronises.
 */
final class QuotaResponse extends HttpServletResponseWrapper {
    static final String ACTUAL_TOKENS_HEADER = "X-Quota-Actual-Tokens";

    /** The reader of the answer: another one after a reset that discards what it had begun to read. Guarded by this. */
    private UsageSniffer sniffer;
    private final Runnable quotaHeaders;
    private volatile String actualTokens;
    private volatile boolean clientGone;
    private ServletOutputStream stream;
    private PrintWriter writer;
    /** The container's writer under {@link #writer}. Guarded by this. */
    private PrintWriter containerWriter;
    /**
     * Bytes written before the response was committed, not yet read: until the headers go out the
     * application may still change its Content-Type or reset the buffer, so the format is chosen when
     * they do (or when this holds {@link #pendingLimit} bytes, or at the end). Guarded by this.
     */
    private final java.io.ByteArrayOutputStream pending = new java.io.ByteArrayOutputStream();
    private static final int MAX_PENDING = 64 * 1024;
    /**
     * The most held while nothing is sent, when the container's buffer is larger than
     * {@link #MAX_PENDING}: a reset may discard all the container holds, and what follows it must be
     * read from its own first bytes (an 80 KB page in a 256 KB buffer, dropped for the model's JSON).
     */
    private static final int MOST_PENDING = 1 << 20;

    /** Wraps an include: the Content-Type belongs to the including page, not to this answer. */
    private final boolean included;

    QuotaResponse(HttpServletResponse response, UsageSniffer sniffer, Runnable quotaHeaders, boolean included,
                  java.util.function.BooleanSupplier endsHere) {
        super(response);
        this.endsHere = endsHere;
        this.sniffer = sniffer;
        this.quotaHeaders = quotaHeaders;
        this.included = included;
    }

    /**
     * The status the endpoint of an include set: the container ignores {@code setStatus} and
     * {@code sendError} inside an include (the page's status stands), but a 400 the included endpoint
     * answered still says it called no model. 0 until one is set. Guarded by this.
     */
    private int includedStatus;

    /**
     * The answer's status for settlement: the status the container sends, or, for an include, the
     * one the included endpoint set ({@link #answerStatus}).
     */
    synchronized int status() {
        if (included) {
            return answerStatus();
        }
        // what the client was sent: an exception after a committed 200 (an emitter completed with an
        // error) makes some containers report 500 afterwards, although the answer went out as a 2xx
        return sentStatus != 0 ? sentStatus : getStatus();
    }

    /**
     * The status the endpoint answers under now. For an include (one this filter holds, or one nested in
     * the held dispatch while it runs, {@link #nestedInclude}), the one it set, else 200: the including
     * page's status says nothing about the fragment (a not-found page that includes the model's
     * suggestions), and an included endpoint cannot set one, so one that set none answered as a 2xx.
     * Callers hold this.
     */
    private int answerStatus() {
        if (included || nesting > 0) {
            return includedStatus != 0 ? includedStatus : 200;
        }
        return getStatus();
    }

    /**
     * The status bytes written now are judged under: those an include's async cycle writes after the include
     * returned and before the cycle is dispatched ({@code late}, {@link LateWrites#asInclude}) under the status
     * that include had set, else 200, as while it ran; else {@link #answerStatus}. Callers hold this.
     */
    private int answerStatus(LateWrites late) {
        if (late != null) {
            return late.status != 0 ? late.status : 200;
        }
        return answerStatus();
    }

    /*
     * The container's response as the filter reads it, also once the container has let go of it under an endpoint
     * still at work (round 418: Tomcat's stop of a busy service recycles an open async request, whose facade then
     * throws on every call, and the settlement of a stream whose usage the client had read failed): what the
     * answer was committed with, else what the endpoint set; no other header.
     */

    @Override
    public int getStatus() {
        try {
            return super.getStatus();
        } catch (RuntimeException letGo) {
            synchronized (this) {
                return sentStatus != 0 ? sentStatus : includedStatus != 0 ? includedStatus : 200;
            }
        }
    }

    @Override
    public String getContentType() {
        try {
            return super.getContentType();
        } catch (RuntimeException letGo) {
            synchronized (this) {
                return sentType;
            }
        }
    }

    @Override
    public boolean isCommitted() {
        try {
            return super.isCommitted();
        } catch (RuntimeException letGo) {
            synchronized (this) {
                return sentStatus != 0;
            }
        }
    }

    /** How many includes nested in the held dispatch are running now (one inside another). Guarded by this. */
    private int nesting;

    /**
     * Runs an include nested in the held dispatch ({@code QuotaFilter.nested}): what it writes is judged
     * under its own status ({@link #answerStatus}), not the page's, and the page's status is the page's
     * again afterwards. {@code startedCycle}, asked once the include returned: the request of the async cycle
     * the include started, or null; what that cycle writes from then on is still the include's
     * ({@link #throughInclude}), judged under the include's status, and covered when {@code lateFigure}, asked
     * when the call settles, gives the figure the include reported that the ledger can charge (null: none).
     */
    void nestedInclude(Included include, java.util.function.BooleanSupplier reportedFigure,
                       java.util.function.Supplier<EndpointRequest.IncludeCycle> startedCycle,
                       java.util.function.Supplier<Long> lateFigure)
            throws IOException, jakarta.servlet.ServletException {
        int pageStatus;
        Long before;
        long textBefore;
        long usageCoveredBefore;
        long textCoveredBefore;
        long lateUsageBefore;
        long lateTextBefore;
        IncludeFrame frame;
        synchronized (this) {
            pageStatus = includedStatus;
            includedStatus = 0;
            nesting++;
            frame = including = new IncludeFrame(including);
            before = usageReadSoFar();
            textBefore = sniffer.textSoFar();
            usageCoveredBefore = coveredUsage;
            textCoveredBefore = sniffer.covered();
            lateUsageBefore = lateUsage;
            lateTextBefore = lateText;
        }
        try {
            include.run();
        } finally {
            synchronized (this) {
                nesting--;
                including = frame.outer;
                int own = includedStatus;
                includedStatus = pageStatus;
                EndpointRequest.IncludeCycle cycle = startedCycle.get();
                if (cycle != null) {
                    // opened under the same lock as the include's own share is measured: no byte its worker writes
                    // falls between the two and is taken for the page's (round 478)
                    lateWrites.put(cycle, new LateWrites(cycle, own, lateFigure));
                }
                if (reportedFigure.getAsBoolean()) {
                    // the include's figure stands for everything it wrote: usage read from its bytes (an
                    // endpoint that reports its figure and answers with usage, included by a shim) is
                    // that same call, already charged by the figure, and must not count again
                    // (less what includes nested in it covered already: round 281, a fragment's fragment's text
                    // was covered twice, the second time out of the page's own; and less what another include's
                    // async cycle wrote meanwhile, which is that include's: round 478)
                    Long after = usageReadSoFar();
                    long read = (after == null ? 0 : after) - (before == null ? 0 : before)
                            - (coveredUsage - usageCoveredBefore) - (lateUsage - lateUsageBefore);
                    if (read > 0) {
                        coveredUsage += read;
                    }
                    // and so does the text it wrote (round 279: a fragment's 4,400 tokens of text were charged
                    // again beside its figure)
                    sniffer.cover(sniffer.textSoFar() - textBefore - (sniffer.covered() - textCoveredBefore)
                            - (lateText - lateTextBefore));
                } else {
                    if (cycle != null) {
                        // no figure yet, but a cycle that may report one later: what the include wrote while it ran
                        // (its worker's answer, written before the include returned) is that cycle's call too, and
                        // the late figure stands for it as for what the cycle writes from now on (round 497: the
                        // usage its worker wrote during the include was charged beside the figure it reported after)
                        // (less what includes nested in it covered, what other cycles wrote meanwhile, and what it
                        // held for a dispatched cycle, handed over below)
                        Long after = usageReadSoFar();
                        long read = (after == null ? 0 : after) - (before == null ? 0 : before)
                                - (coveredUsage - usageCoveredBefore) - (lateUsage - lateUsageBefore) - frame.heldUsage();
                        long text = sniffer.textSoFar() - textBefore - (sniffer.covered() - textCoveredBefore)
                                - (lateText - lateTextBefore) - frame.heldText();
                        LateWrites late = lateWrites.get(cycle);
                        long usage = Math.max(read, 0);
                        text = Math.max(text, 0);
                        late.usage += usage;
                        late.text += text;
                        lateUsage += usage;
                        lateText += text;
                    }
                    // what it wrote through a dispatched cycle's response was held apart (in the read above, had it
                    // reported a figure): without a figure of its own, it is that cycle's call (round 489)
                    frame.handOver();
                }
            }
        }
    }

    /**
     * The innermost include nested in the held dispatch running now ({@link #nestedInclude}); null: none. Guarded by
     * this.
     */
    private IncludeFrame including;

    /**
     * An include nested in the held dispatch while it runs, and what it wrote through the response of an include's
     * async cycle that was dispatched: the dispatch made this include (a layout view including the body that writes
     * the worker's answer, round 489). Whose call those bytes are is known when the include returns, as it may
     * report after it wrote ({@link #writingInclude}). Guarded by the response.
     */
    private final class IncludeFrame {
        final IncludeFrame outer;
        /** By the cycle: the usage and the text read from what this include (and those nested in it) wrote. */
        private final java.util.Map<LateWrites, long[]> held = new java.util.IdentityHashMap<>(2);

        IncludeFrame(IncludeFrame outer) {
            this.outer = outer;
        }

        void hold(LateWrites late, long usage, long text) {
            long[] written = held.computeIfAbsent(late, k -> new long[2]);
            written[0] += usage;
            written[1] += text;
        }

        /**
         * The include returned without a figure of its own ({@link #including} is the enclosing one again): what it
         * held is written again as the cycle's, so held by the enclosing include, whose figure stands for all it
         * wrote, else the cycle's late writes, covered by the cycle's figure ({@link #lateWritten}).
         */
        /** The usage and the text held for all cycles. */
        long heldUsage() {
            return held.values().stream().mapToLong(written -> written[0]).sum();
        }

        long heldText() {
            return held.values().stream().mapToLong(written -> written[1]).sum();
        }

        void handOver() {
            held.forEach((late, written) -> lateWritten(late, written[0], written[1]));
        }
    }

    /**
     * The thread writing through the response of an async cycle an include nested in the held dispatch started
     * ({@link #throughInclude}): that cycle while it writes, else null. Per thread: the page's own thread may write
     * to the same response meanwhile, and what it writes is the page's.
     */
    private static final ThreadLocal<EndpointRequest.IncludeCycle> WRITING_THROUGH = new ThreadLocal<>();

    /**
     * The response an async cycle started inside an include nested in the held dispatch is given
     * ({@link EndpointRequest.IncludeCycle}), over {@code response}, the one its endpoint would have had: every
     * write, flush and close through it is marked as that cycle's, so that what the include's worker writes after
     * the include returned is judged as the include's answer, not the page's ({@link #writingInclude}). The
     * servlet API hands the worker the page's response there, and a not-found page's 404 released the model's
     * suggestions the worker wrote, a shim's v1 worker's usage was charged again beside the figure it reported
     * (round 478). One wrapper per cycle: a second quota filter receives the first's and keeps it.
     */
    static jakarta.servlet.ServletResponse throughInclude(EndpointRequest.IncludeCycle cycle,
                                                          jakarta.servlet.ServletResponse response) {
        if (!(response instanceof HttpServletResponse http)
                || response instanceof CycleResponse made && made.cycle == cycle) {
            return response;
        }
        return new CycleResponse(cycle, http);
    }

    /**
     * What an include's async cycle wrote through its response ({@link #throughInclude}) once the include returned:
     * its worker's writes, and those of the dispatch of the cycle ({@link #writingInclude}). Guarded by the
     * response.
     */
    private static final class LateWrites {
        final EndpointRequest.IncludeCycle cycle;
        /** The status the include had set when it returned; 0: none (judged as 200). */
        final int status;
        /**
         * The include's figure the ledger can charge, read when the call settles (its worker's last); null: none.
         */
        final java.util.function.Supplier<Long> figure;
        /** The usage and the text read from what it wrote. */
        long usage;
        long text;

        LateWrites(EndpointRequest.IncludeCycle cycle, int status, java.util.function.Supplier<Long> figure) {
            this.cycle = cycle;
            this.status = status;
            this.figure = figure;
        }

        /**
         * Whether what the cycle writes now is judged as the include's answer, under its status: until the cycle is
         * dispatched. A dispatch runs a path of the call's again (a view, the page itself), which sets the status
         * of the call's answer as any dispatch does.
         */
        boolean asInclude() {
            return !cycle.wasDispatched();
        }
    }

    /** The includes whose async cycle outlived them, by the cycle's request ({@link #nestedInclude}). Guarded by this. */
    private final java.util.Map<EndpointRequest.IncludeCycle, LateWrites> lateWrites = new java.util.IdentityHashMap<>();
    /** The usage and the text read from all that {@link #lateWrites} wrote: no running include's. Guarded by this. */
    private long lateUsage;
    private long lateText;
    /** {@link #lateWrites} were covered by their figures, once, as the call settles ({@link #endSniffing}). */
    private boolean lateCovered;

    /**
     * The one rule for whose bytes these are: those the current thread writes through the response of an async
     * cycle an include started, once that include returned, are that include's model call, covered by its figure
     * (null: whoever writes them now, the page or the include under way). So are those the cycle's dispatch
     * writes (the container hands the dispatch the cycle's response): a worker that reports its call through the
     * cycle's request and dispatches to a view, or back as Spring's {@code DeferredResult} does, to write the
     * model's answer on a container thread has its one call written there, and that answer's usage, read as the
     * page's, was charged beside the figure (round 485: 8,000 for 4,000). Its status is the dispatch's, though
     * ({@link LateWrites#asInclude}). An include the dispatch makes (a layout view including the body that writes
     * the answer: JSP, Tiles, SiteMesh) writes under its own status, and its bytes are covered by its own figure if
     * it reports one, as any include's; else they are the cycle's call too, covered by the cycle's figure
     * ({@link #lateWritten}; round 489: taken for a fragment of its own, the body's usage was charged beside the
     * worker's 4,000). Callers hold this.
     */
    private LateWrites writingInclude() {
        EndpointRequest.IncludeCycle cycle = WRITING_THROUGH.get();
        return cycle == null ? null : lateWrites.get(cycle);
    }

    /**
     * Records the usage and the text read from bytes {@code late}'s cycle wrote ({@link #writingInclude}): an
     * include its dispatch makes holds them until it returns, when it is known whose figure stands for them
     * ({@link IncludeFrame#handOver}); else they are the cycle's. Callers hold this.
     */
    private void lateWritten(LateWrites late, long usage, long text) {
        if (including != null && late.cycle.wasDispatched()) {
            including.hold(late, usage, text);
            return;
        }
        late.usage += usage;
        late.text += text;
        lateUsage += usage;
        lateText += text;
    }

    /**
     * Covers, once, the usage and the text each include's async cycle wrote after the include returned when the
     * include's figure can be charged ({@link #covered}): that figure stands for them, as for what it wrote while it
     * ran. Read as the call settles, since the worker may report after it wrote. Callers hold this.
     */
    private void coverLateWrites() {
        if (lateCovered) {
            return;
        }
        lateCovered = true;
        for (LateWrites late : lateWrites.values()) {
            if (covered(late)) {
                if (late.usage > 0) {
                    coveredUsage += late.usage;
                }
                sniffer.cover(late.text);
            }
        }
    }

    /**
     * Whether a figure the ledger can charge stands for what {@code late}'s cycle wrote: its include's, any figure
     * (a 0 too: a handler replaying a stored answer reports 0 for it, round 485), else, for a cycle that goes on
     * with the call of a cycle whose dispatch made the same include again ({@link EndpointRequest.IncludeCycle#madeBy}),
     * that call's figure, when it stands for a call (round 509: the dispatch back starting a second cycle to write
     * the answer its worker reported was charged 8,000 for 4,000). A figure of its own is a call of its own, counted
     * beside the first's. A 0 the cycle it goes on with reported says that pass called no model (a cache lookup, a
     * wait for a queue slot): there is no call of that cycle's for the bytes to be the answer of, so they are a call
     * of their own, read from their usage (round 512: the one model call, made on the second cycle, was charged 0 for
     * 4,000); a going-on cycle that replays a stored answer reports 0 itself. Callers hold this.
     */
    private boolean covered(LateWrites late) {
        Long own = late.figure.get();
        if (own != null) {
            return true;
        }
        // each cycle resumes one started before it: the chain ends, but is never followed past every cycle
        for (int left = lateWrites.size(); left > 0; left--) {
            EndpointRequest.IncludeCycle resumed = late.cycle.resumes();
            late = resumed == null ? null : lateWrites.get(resumed);
            if (late == null) {
                return false;
            }
            Long figure = late.figure.get();
            if (figure != null) {
                return figure > 0;
            }
        }
        return false;
    }

    /**
     * Runs {@code write} marked as {@code cycle}'s ({@link #WRITING_THROUGH}), unless a cycle's response it passed
     * through already marked it: the outermost mark wins. The writer wrote to the response its cycle was given; a
     * cycle's response beneath it is only there because that cycle was started inside the other's dispatch, with the
     * response the dispatch was handed (Spring's {@code startAsync(request, response)} in a fragment the dispatch's
     * view includes). With the innermost mark winning, the fragment's model call was filed under the dispatched
     * cycle's late writes and covered by that cycle's figure (round 499: 4,000 for 8,000 on Jetty).
     */
    private static void through(EndpointRequest.IncludeCycle cycle, IoWrite write) throws IOException {
        if (WRITING_THROUGH.get() != null) {
            write.run();
            return;
        }
        WRITING_THROUGH.set(cycle);
        try {
            write.run();
        } finally {
            WRITING_THROUGH.remove();
        }
    }

    private interface IoWrite {
        void run() throws IOException;
    }

    /** The response of an include's async cycle ({@link #throughInclude}). */
    private static final class CycleResponse extends HttpServletResponseWrapper {
        final EndpointRequest.IncludeCycle cycle;
        /** Guarded by this. */
        private ServletOutputStream stream;
        private PrintWriter writer;

        CycleResponse(EndpointRequest.IncludeCycle cycle, HttpServletResponse response) {
            super(response);
            this.cycle = cycle;
        }

        @Override
        public synchronized ServletOutputStream getOutputStream() throws IOException {
            ServletOutputStream out = super.getOutputStream();
            if (stream == null || ((CycleStream) stream).out != out) {
                stream = new CycleStream(cycle, out);
            }
            return stream;
        }

        @Override
        public synchronized PrintWriter getWriter() throws IOException {
            PrintWriter out = super.getWriter();
            if (writer == null || ((CycleWriter) writer).out != out) {
                writer = new CycleWriter(cycle, out);
            }
            return writer;
        }

        @Override
        public void flushBuffer() throws IOException {
            through(cycle, () -> super.flushBuffer());
        }
    }

    /** The stream of an include's async cycle: each call marked as the cycle's. */
    private static final class CycleStream extends ServletOutputStream {
        private final EndpointRequest.IncludeCycle cycle;
        final ServletOutputStream out;

        CycleStream(EndpointRequest.IncludeCycle cycle, ServletOutputStream out) {
            this.cycle = cycle;
            this.out = out;
        }

        @Override
        public void write(int b) throws IOException {
            through(cycle, () -> out.write(b));
        }

        @Override
        public void write(byte[] b, int off, int len) throws IOException {
            through(cycle, () -> out.write(b, off, len));
        }

        @Override
        public void print(String s) throws IOException {
            through(cycle, () -> out.print(s));
        }

        @Override
        public void println(String s) throws IOException {
            through(cycle, () -> out.println(s));
        }

        @Override
        public void println() throws IOException {
            through(cycle, () -> out.println());
        }

        @Override
        public void flush() throws IOException {
            through(cycle, () -> out.flush());
        }

        @Override
        public void close() throws IOException {
            through(cycle, () -> out.close());
        }

        @Override
        public boolean isReady() {
            return out.isReady();
        }

        @Override
        public void setWriteListener(WriteListener listener) {
            out.setWriteListener(listener);
        }
    }

    /** The writer of an include's async cycle: each call marked as the cycle's. */
    private static final class CycleWriter extends PrintWriter {
        final PrintWriter out;

        CycleWriter(EndpointRequest.IncludeCycle cycle, PrintWriter out) {
            // PrintWriter(Writer) adds no buffer of its own: each write reaches out as it is made
            super(new Writer() {
                @Override
                public void write(char[] cbuf, int off, int len) throws IOException {
                    through(cycle, () -> out.write(cbuf, off, len));
                }

                @Override
                public void write(String s, int off, int len) throws IOException {
                    through(cycle, () -> out.write(s, off, len));
                }

                @Override
                public void flush() throws IOException {
                    through(cycle, () -> out.flush());
                }

                @Override
                public void close() throws IOException {
                    through(cycle, () -> out.close());
                }
            });
            this.out = out;
        }

        @Override
        public boolean checkError() {
            return super.checkError() | out.checkError();
        }
    }

    /**
     * The usage read from what was written so far: bytes still held back until the format can be told
     * are read now (with the headers as they are now), so that what an include wrote is told from what
     * came before it. Callers hold this.
     */
    private Long usageReadSoFar() {
        readPending();
        return sniffer.usage();
    }

    /** Reads the bytes still held back until the format can be told, with the headers as they are now. Callers hold this. */
    private void readPending() {
        if (!sniffer.started() && pending.size() > 0 && !blank(pending.toByteArray(), 0, pending.size())) {
            startSniffing(null, 0, 0);
        }
    }

    /**
     * Before bytes go out to the client (a flush, the end kept back): what they report is read first, so
     * that the subject's next call, sent the instant the client has them, counts it
     * ({@link Settlement#owedSoFar}).
     */
    private synchronized void readBeforeSending() {
        readPending();
    }

    /**
     * The usage read from what includes nested in the held dispatch wrote while they reported a figure
     * of their own ({@link #nestedInclude}): their figures charge it. Guarded by this.
     */
    private long coveredUsage;

    /** The usage in the response that nested includes' figures stand for ({@link #nestedInclude}). */
    synchronized long coveredUsage() {
        return coveredUsage;
    }

    /** An include to run ({@link #nestedInclude}). */
    interface Included {
        void run() throws IOException, jakarta.servlet.ServletException;
    }

    /** The status of the response when it was first seen committed; 0 before. Guarded by this. */
    private int sentStatus;
    /** The Content-Type it was committed with ({@link #getContentType}). Guarded by this. */
    private String sentType;
    /**
     * What the endpoint wrote under a 2xx: whether it was answering when an
     * exception, a timeout or a 5xx ended the call. A buffering wrapper of a filter in front of this one
     * (Spring's {@code ContentCachingResponseWrapper} in a logging filter) swallows every flush and
     * close and sends the bytes itself after this filter has settled, even after the exception; a
     * container discards them instead, but the model answered all the same. Guarded by this.
     */
    private final AnswerStart answer = new AnswerStart();

    /**
     * What includes nested in the held dispatch wrote under their own 2xx ({@link #answerStatus}): an
     * answer of its own, whatever status the page sets. Guarded by this.
     */
    private final AnswerStart includedAnswer = new AnswerStart();

    /** The endpoint wrote a byte of body, any dispatch's, under any status, kept or reset since. Guarded by this. */
    private boolean wroteBody;

    /**
     * Whether the endpoint wrote any body at all (white space too, and bytes a reset discarded): an answer with
     * none (MCP's {@code 202 Accepted} "with no body") is known by nothing else.
     */
    synchronized boolean wroteBody() {
        return wroteBody;
    }

    /** Whether the endpoint was answering: it wrote content, not a preamble (see {@link AnswerStart}). */
    synchronized boolean answering() {
        return answer.content() || includedAnswer.content();
    }

    /** Notes the status that went out, once the response is committed. */
    private synchronized void noteSent() {
        if (sentStatus == 0 && !included && isCommitted()) {
            sentStatus = super.getStatus();
            sentType = super.getContentType();
        }
    }

    @Override
    public void flushBuffer() throws IOException {
        readBeforeSending();
        if (dropping()) {
            return;
        }
        try {
            super.flushBuffer();
        } catch (IOException | RuntimeException e) {
            if (drops(e)) {
                return;
            }
            throw e;
        }
        noteSent();
    }

    /**
     * The failure of the container's write that made the answer go to the reader alone ({@link #drops}), or
     * {@code null} while it goes to the client. Guarded by this.
     */
    private Exception dropped;

    /**
     * After the container's write failed with {@code failure}, the bytes (already shown to the reader) given:
     * whether the endpoint's write is to succeed all the same, the answer's bytes to the client dropped from
     * now on. So while the answer is one JSON document that is not a stream, its end not yet written
     * ({@link UsageSniffer#oneDocument}): the model finished before such a document is written, and reading
     * the rest of it (its usage comes last) costs no model work, while failing the write makes the
     * endpoint (Jackson) stop before the usage, and the call is charged its hold (round 336: 1,014 for
     * 10,000, the OpenAI SDK's own timeout having closed the connection). A stream's write fails as
     * before, so that a relay notices and cancels its provider call. Records the client as gone either way.
     * Any failure of the container's write is one ({@code IOException} or unchecked): a response the container
     * recycled under the endpoint throws {@code NullPointerException} (Tomcat's "this.ob" is null, round 418).
     */
    private synchronized boolean drops(Exception failure) {
        clientGone = true;
        if (dropped == null) {
            readPending();
            if (!sniffer.oneDocument(true)) {
                return false;
            }
            dropped = failure;
        }
        droppedAt = System.nanoTime();
        return true;
    }

    /**
     * When the answer's bytes last went to the reader alone ({@link #drops}, {@link #dropping}, {@link #wroteOn}).
     * Guarded by this.
     */
    private long droppedAt;

    /**
     * The endpoint wrote text through its writer while the answer goes to the reader alone: it is at work, as a
     * dropped byte write says (round 453: a relay writing its completion through {@code getWriter()} after its client
     * went never restarted the wait, and was settled with 5,788 of 14,200). A writer never throws, so the check
     * for a second document ({@link #dropping}) has nothing to tell it.
     */
    private synchronized void wroteOn() {
        if (dropped != null) {
            droppedAt = System.nanoTime();
        }
    }

    /**
     * How long ago the endpoint last wrote to the reader alone (or the client's going was last taken as a failing
     * write): how long it has been quiet while the call waits for it to write on (round 452, {@link Settlement}).
     */
    synchronized long millisSinceDropped() {
        return TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - droppedAt);
    }

    /**
     * The container reported {@code failure} to the async cycle ({@link Settlement#onError}, round 447), which may
     * come before the endpoint's own write has failed: taken as a failing write is ({@link #drops}). Whether the
     * endpoint is to write on its one JSON document to the reader alone: the document's end not read yet (also
     * when an earlier failure began the drop, and a relay wrote on to its end before this report).
     */
    synchronized boolean dropsUnfinished(IOException failure) {
        return drops(failure) && sniffer.oneDocument(true);
    }

    /** Whether a failure made the answer's bytes go to the reader alone at some point ({@link #drops}). */
    private synchronized boolean droppedAny() {
        return dropped != null;
    }

    /**
     * Whether the answer's bytes go to the reader alone ({@link #drops}); throws the failure that began that
     * once the answer turns out to be more than one document (a second one after the first: JSON lines),
     * which a stream's relay must see.
     */
    private synchronized boolean dropping() throws IOException {
        if (dropped == null) {
            return false;
        }
        if (!sniffer.oneDocument(false)) {
            if (dropped instanceof RuntimeException unchecked) {
                throw unchecked;
            }
            throw (IOException) dropped;
        }
        droppedAt = System.nanoTime();
        return true;
    }

    @Override
    public void setStatus(int sc) {
        synchronized (this) {
            includedStatus = sc;
            if (sc == 406 && beforeError == 0) {
                // Spring's exception handler answers the 406 as a ResponseEntity (a ProblemDetail under
                // spring.mvc.problemdetails.enabled), by setStatus, not sendError (round 353)
                beforeError = super.getStatus();
            }
        }
        super.setStatus(sc);
    }

    @Override
    public void sendError(int sc) throws IOException {
        replacedBy(sc);
        super.sendError(sc);
    }

    @Override
    public void sendError(int sc, String msg) throws IOException {
        replacedBy(sc);
        super.sendError(sc, msg);
    }

    /**
     * The status the endpoint had set when the first {@code sendError}, or a 406 set over it, replaced it; 0 before
     * one. Guarded by this.
     */
    private int beforeError;

    private synchronized void replacedBy(int sc) {
        includedStatus = sc;
        if (beforeError == 0) {
            beforeError = super.getStatus();
        }
    }

    /**
     * The refusal a framework's 406 replaced, or 0: a 4xx the endpoint set (Spring MVC sets a returned
     * {@code ResponseEntity}'s status first) before an error of the framework's own took its place, as
     * Spring's 406 does when no converter writes the refusal's body in the client's {@code Accept}
     * (round 275: a handler's 400, or a relayed 429, to a client accepting {@code text/event-stream}; round
     * 353: the same 406 answered as a ProblemDetail by a {@code ResponseEntityExceptionHandler} advice).
     */
    synchronized int refusalBehindError() {
        return !included && beforeError >= 400 && beforeError < 500 && beforeError != 406 ? beforeError : 0;
    }

    /** Whether writing to the client failed: it went away in the middle of the response. */
    boolean clientGone() {
        return clientGone;
    }

    /** The value the downstream handler gave {@code X-Quota-Actual-Tokens}, or {@code null}. */
    /**
     * What the endpoint's header reports for the whole request, or {@code null}. After a {@code reset()}
     * that kept a figure ({@link #carriedFigure}): nothing until the endpoint reports again; then a figure
     * it sets is never below the kept one (a new total, or a cache hit's 0 over the call it made), and one
     * it adds is added to it.
     */
    synchronized Object actualTokensHeader() {
        if (carried == null) {
            return actualTokens;
        }
        if (!reportedSinceReset) {
            return null;
        }
        Long now = Settlement.chargeable(actualTokens);
        return replacedSinceReset && now != null ? (Object) Math.max(now, carried) : actualTokens;
    }

    /**
     * A figure above 0 a {@code reset()} kept, when the endpoint has reported nothing since: model calls
     * that ran before the answer that follows, which is charged by the other rules beside it; else
     * {@code null}.
     */
    synchronized Long carriedFigure() {
        return carried != null && !reportedSinceReset ? carried : null;
    }

    /** The request's figure a {@code reset()} kept (above 0), or {@code null}. Guarded by this. */
    private Long carried;
    /** Since that reset, the endpoint reported through the header, and whether it set (not added) a figure. Guarded by this. */
    private boolean reportedSinceReset;
    private boolean replacedSinceReset;


    /**
     * Whether the end of the body is kept back for the settlement: the handler's own request is
     * synchronous and not an include (the filter ends it, {@link #finishForClient}). An async request
     * ends when its cycle completes, an include with its page.
     */
    private final java.util.function.BooleanSupplier endsHere;
    /** The Content-Length the handler declared, or -1. Guarded by this. */
    private long declaredLength = -1;
    /** Bytes written to the stream since the last reset. Guarded by this. */
    private long streamed;
    /** The body's last byte, kept back while the settlement runs ({@link #keepLast}); -1 when none. Guarded by this. */
    private int keptLast = -1;
    /** The handler closed the body; the close waits for {@link #finishForClient}. Guarded by this. */
    private boolean closeAsked;

    /**
     * Whether a write of {@code len} bytes keeps its last byte back: it completes the body's declared
     * Content-Length, which a container sends at once, and the client must not have the whole answer
     * before its charge has landed (its next call, on any instance, would be reserved against a ledger
     * without it). Counts the write.
     */
    private synchronized boolean keepLast(int len) {
        boolean keep = len > 0 && declaredLength >= 0 && streamed + len == declaredLength && keptLast < 0
                && !included && endsHere.getAsBoolean();
        streamed += len;
        return keep;
    }

    /**
     * The byte kept back, taken before a write past the declared length (which the container refuses
     * or cuts, as without this filter), so that the bytes stay in order; -1 when none.
     */
    private synchronized int takeKept() {
        int last = keptLast;
        keptLast = -1;
        return last;
    }

    /** A close of the body by the handler: kept for {@link #finishForClient} while the end is kept back. */
    private synchronized boolean closeLater() {
        if (included || !endsHere.getAsBoolean()) {
            return false;
        }
        closeAsked = true;
        return true;
    }

    private void declare(String name, String value) {
        if ("Content-Length".equalsIgnoreCase(name)) {
            long length = -1;
            try {
                length = value == null ? -1 : Long.parseLong(value.trim());
            } catch (NumberFormatException notANumber) {
                // the container refuses or ignores it; nothing is kept back for it
            }
            synchronized (this) {
                declaredLength = length;
            }
        }
    }

    @Override
    public void setContentLength(int len) {
        super.setContentLength(len);
        synchronized (this) {
            declaredLength = len;
        }
    }

    @Override
    public void setContentLengthLong(long len) {
        super.setContentLengthLong(len);
        synchronized (this) {
            declaredLength = len;
        }
    }

    /**
     * Sends what was kept back of the end ({@link #keepLast}) and, when the handler closed the body,
     * closes it: for an async cycle started after a synchronous write, and after an exception.
     */
    void releaseEnd() {
        end(false);
    }

    /**
     * Ends the body for the client once the hold was settled, when the handler returned a non-error
     * response it wrote a body for: the charge lands before the client has the whole answer (see
     * {@link #keepLast}), and the container's own end (after the filter returns) is not waited for.
     * Closing, not {@code flushBuffer()}: a flush alone commits the response without a length and
     * switches it to chunked framing, whose last chunk still goes out only after the filter returns.
     * Error statuses are left to the container, which may still render an error page for them (the
     * byte kept back is sent first). A client that went away is recorded, not thrown.
     */
    void finishForClient() {
        end(true);
    }

    /** Sends the byte kept back, then closes: when the handler asked to, or ({@code finish}) as above. */
    private void end(boolean finish) {
        ServletOutputStream s;
        PrintWriter w;
        boolean closeAsked;
        int last;
        synchronized (this) {
            s = stream;
            w = writer == null ? null : containerWriter;
            closeAsked = this.closeAsked;
            last = keptLast;
            keptLast = -1;
            this.closeAsked = false;
        }
        try {
            if (last >= 0 && s instanceof TeeStream tee) {
                readBeforeSending();
                tee.out.write(last);
            }
            if (finish ? getStatus() >= 400 || (s == null && w == null) : !closeAsked) {
                return;
            }
            if (w != null) {
                // the container's writer: the handler's close of its own was kept back (closeLater).
                // PrintWriter keeps I/O errors to itself; checkError() reports them
                w.close();
                if (w.checkError()) {
                    clientGone = true;
                }
            } else if (s instanceof TeeStream tee) {
                tee.out.close();
            }
        } catch (IOException e) {
            clientGone = true;
        }
    }

    @Override
    public void setHeader(String name, String value) {
        if (ACTUAL_TOKENS_HEADER.equalsIgnoreCase(name)) {
            synchronized (this) {
                actualTokens = value;
                reportedSinceReset = true;
                replacedSinceReset = true;
            }
            QuotaResponse outer = outerFilters();
            if (outer != null) {
                outer.setHeader(name, value);
            }
        } else {
            if (UsageSniffer.readsHeader(name)) {
                sniffer.header(name, value);
            }
            declare(name, value);
            super.setHeader(name, value);
        }
    }

    @Override
    public void addHeader(String name, String value) {
        if (ACTUAL_TOKENS_HEADER.equalsIgnoreCase(name)) {
            // HTTP's list form: a figure added once per model call is charged their sum
            synchronized (this) {
                String before = actualTokens;
                actualTokens = before == null ? value : before + ", " + value;
                reportedSinceReset = true;
            }
            QuotaResponse outer = outerFilters();
            if (outer != null) {
                outer.addHeader(name, value);
            }
        } else {
            if (UsageSniffer.readsHeader(name)) {
                sniffer.header(name, value);
            }
            declare(name, value);
            super.addHeader(name, value);
        }
    }

    /**
     * The response of another quota filter this one wraps (a team's budget beside the user's), or
     * {@code null}. The figure the endpoint reports through the header is the call's for every filter
     * holding it, and each keeps it from the client, so each passes it on outwards: kept here alone, the
     * outer filter saw no figure and charged its estimate (round 325: 1,009 for 9,000). The request
     * attribute reaches every filter by itself.
     */
    private QuotaResponse outerFilters() {
        jakarta.servlet.ServletResponse next = getResponse();
        while (next instanceof jakarta.servlet.ServletResponseWrapper wrapper) {
            if (wrapper instanceof QuotaResponse outer) {
                return outer;
            }
            next = wrapper.getResponse();
        }
        return null;
    }

    /**
     * The endpoint's trailer fields ({@code setTrailerFields}), read once ({@link Trailers}); {@code null}
     * before it set any. Guarded by this.
     */
    private Trailers trailers;

    /**
     * Whether the request's protocol can carry trailer fields to the client ({@link #carriesTrailers}); set once
     * by the filter ({@link #requestProtocol}) before the endpoint runs.
     */
    private volatile boolean trailersOnTheWire = true;

    /**
     * The request line's protocol ({@code ServletRequest.getProtocol()}), which decides whether the endpoint's
     * trailer fields are handed to the container ({@link #setTrailerFields}).
     */
    void requestProtocol(String protocol) {
        trailersOnTheWire = carriesTrailers(protocol);
    }

    /**
     * Whether a response to a request of {@code protocol} can carry trailer fields: not HTTP/1.0 or 0.9, which
     * have no chunked coding (containers refuse {@code setTrailerFields} there); any other, or none known, is
     * left to the container.
     */
    static boolean carriesTrailers(String protocol) {
        return protocol == null
                || !("HTTP/1.0".equalsIgnoreCase(protocol.trim()) || "HTTP/0.9".equalsIgnoreCase(protocol.trim()));
    }

    /**
     * Hands the container a {@link Trailers} over the endpoint's supplier: the fields are the answer's status
     * for a gRPC call (grpc-servlet's {@code ForceTrailersServerInterceptor} puts {@code grpc-status} there) and
     * may carry the request's figure, known only after the body (RFC 9110 section 6.5): round 356, a relay's
     * {@code X-Quota-Actual-Tokens: 9000} trailer was ignored (1,007 charged) and went on to the client.
     * The supplier is kept for the settlement before the container is asked, so a refusal does not lose the figure;
     * and on a request whose protocol cannot carry trailers the container is not asked at all: it would refuse,
     * and the client chose the version, so a relay that set its supplier after opening its provider call would fail
     * a call the model already served, or drop its figure by catching the refusal (round 521: 0 and 1,007 charged
     * for 9,000). The fields could not reach that client anyway. Another quota filter outside this one is still
     * handed them, as it reads the figure too and decides for itself. The container's refusal for any other
     * reason (a committed response not chunked) reaches the endpoint as before.
     */
    @Override
    public void setTrailerFields(java.util.function.Supplier<java.util.Map<String, String>> supplier) {
        boolean outer = outerFilters() != null;
        Trailers fields = supplier == null ? null : new Trailers(supplier, outer);
        synchronized (this) {
            trailers = fields;
        }
        if (trailersOnTheWire || outer) {
            super.setTrailerFields(fields);
        }
    }

    /** What the endpoint set ({@link #setTrailerFields}), also when it was kept from the container. */
    @Override
    public java.util.function.Supplier<java.util.Map<String, String>> getTrailerFields() {
        if (trailersOnTheWire || outerFilters() != null) {
            return super.getTrailerFields();
        }
        synchronized (this) {
            return trailers;
        }
    }

    /**
     * The value of the trailer field {@code name} (any case), or {@code null}: asked when settling, once the
     * endpoint has returned or its async cycle completed, as the container asks when it writes them.
     */
    String trailer(String name) {
        Trailers fields;
        synchronized (this) {
            fields = trailers;
        }
        return fields == null ? null : fields.field(name);
    }

    /**
     * The endpoint's trailer supplier, called once, by the settlement or by the container, whichever asks first
     * (the container may write the trailers after the settlement, or before it, on another thread): both see the
     * same fields. The container is handed the endpoint's map itself, or, when it holds the request's figure, a
     * copy without it (kept from the client as the header is); unless another quota filter wraps this one
     * ({@link #outerFilters}), which reads the figure too and keeps it from the client itself. Its own lock: the
     * container calls it inside its own.
     */
    private static final class Trailers implements java.util.function.Supplier<java.util.Map<String, String>> {
        private final java.util.function.Supplier<java.util.Map<String, String>> endpoint;
        private final boolean passFigure;
        private boolean read;
        /** What the endpoint's supplier gave, and what the container is given. Guarded by this. */
        private java.util.Map<String, String> fields;
        private java.util.Map<String, String> sent;

        Trailers(java.util.function.Supplier<java.util.Map<String, String>> endpoint, boolean passFigure) {
            this.endpoint = endpoint;
            this.passFigure = passFigure;
        }

        private synchronized void read() {
            if (read) {
                return;
            }
            read = true;
            fields = endpoint.get();
            sent = fields;
            if (!passFigure && fields != null
                    && fields.keySet().stream().anyMatch(ACTUAL_TOKENS_HEADER::equalsIgnoreCase)) {
                sent = new java.util.LinkedHashMap<>(fields);
                sent.keySet().removeIf(ACTUAL_TOKENS_HEADER::equalsIgnoreCase);
            }
        }

        @Override
        public synchronized java.util.Map<String, String> get() {
            read();
            return sent;
        }

        synchronized String field(String name) {
            read();
            if (fields != null) {
                for (java.util.Map.Entry<String, String> e : fields.entrySet()) {
                    if (name.equalsIgnoreCase(e.getKey())) {
                        return e.getValue();
                    }
                }
            }
            return null;
        }
    }

    @Override
    public void setIntHeader(String name, int value) {
        setHeader(name, Integer.toString(value));
    }

    @Override
    public void addIntHeader(String name, int value) {
        addHeader(name, Integer.toString(value));
    }

    @Override
    public String getHeader(String name) {
        if (ACTUAL_TOKENS_HEADER.equalsIgnoreCase(name)) {
            return actualTokens;
        }
        try {
            return super.getHeader(name);
        } catch (RuntimeException letGo) {
            // the container let go of the response (see getStatus)
            return null;
        }
    }

    @Override
    public boolean containsHeader(String name) {
        return ACTUAL_TOKENS_HEADER.equalsIgnoreCase(name) ? actualTokens != null : super.containsHeader(name);
    }

    @Override
    public void reset() {
        readDiscarded();
        super.reset();
        synchronized (this) {
            // as the container's reset: the headers are gone, and the endpoint may choose the writer or the
            // stream anew. The filter's own header is not the answer's: a figure above 0 counted model calls
            // that ran (a page that failed after its call, a moderation refusal), so it is kept, and the
            // answer that follows is charged beside it unless the endpoint reports again
            // (actualTokensHeader); a cache hit's 0 goes with the answer it described
            Long figure = carriedFigure();
            if (figure == null) {
                figure = Settlement.chargeable(actualTokensHeader());
            }
            carried = figure == null || figure == 0 ? null : figure;
            actualTokens = carried == null ? null : carried.toString();
            reportedSinceReset = false;
            replacedSinceReset = false;
            writer = null;
            containerWriter = null;
            stream = null;
            declaredLength = -1;
            streamed = 0;
        }
        // a downstream reset() must not strip the quota headers the client is promised
        quotaHeaders.run();
    }

    @Override
    public void resetBuffer() {
        readDiscarded();
        super.resetBuffer();
        synchronized (this) {
            streamed = 0;
        }
    }

    /**
     * Bytes a reset is about to discard are read first (inside an include, where the container ignores
     * the reset and sends them, they are an answer whose usage adds up with the next one's), with the headers as they are: the client will
     * never see them, but a usage in them (an answer written, then an exception handler's error page
     * in its place) counts what the model did.
     */
    private synchronized void readDiscarded() {
        if (included) {
            // inside an include the container ignores the reset: what was written before it reaches the
            // client with the page, an answer of its own; what follows is another, read by another
            // reader from its own first bytes, and the two add up
            if (sniffer.started()) {
                sniffer.finish();
                UsageSniffer next = sniffer.another();
                next.sentBefore(sniffer);
                sniffer = next;
            } else if (pending.size() > 0) {
                byte[] held = pending.toByteArray();
                UsageSniffer sent = sniffer.another();
                sent.begin(null, contentEncoding(), held);
                sent.feed(held, 0, held.length);
                sent.finish();
                sniffer.sentBefore(sent);
            }
            pending.reset();
            return;
        }
        if (sniffer.started() && !isCommitted()) {
            // the reader chose its format on bytes this reset discards (a page larger than what is held
            // before reading): what follows is read by another, from its own first bytes, and what the
            // discarded bytes reported still counts when it is the larger
            sniffer.finish();
            UsageSniffer next = sniffer.another();
            next.discarded(sniffer);
            sniffer = next;
        } else if (!sniffer.started() && pending.size() > 0) {
            // read on their own: what the endpoint writes after the reset (the real answer after an
            // HTML prelude) is still read from its own first bytes
            byte[] held = pending.toByteArray();
            UsageSniffer discarded = sniffer.another();
            discarded.begin(included ? null : getContentType(), contentEncoding(), held);
            discarded.feed(held, 0, held.length);
            discarded.finish();
            sniffer.discarded(discarded);
        }
        pending.reset();
    }

    /**
     * The answer's {@code Content-Encoding}, every line of it joined: they are one list of codings (RFC 9110
     * section 5.3), which {@link AnswerDecoding#codings} reads. Round 383: only the first line was read, and
     * a relay's {@code identity} line before its {@code gzip} line made a gzip answer plain, not read, charged
     * the estimate (7,010 for 15,800).
     */
    private String contentEncoding() {
        return String.join(",", super.getHeaders("Content-Encoding"));
    }

    /** The reader of the answer the client gets. */
    synchronized UsageSniffer sniffer() {
        return sniffer;
    }

    /** The end of the response: bytes still pending are read with the headers as they are now. */
    synchronized void endSniffing() {
        if (!sniffer.started() && pending.size() > 0) {
            startSniffing(null, 0, 0);
        }
        coverLateWrites();
    }

    @Override
    public synchronized ServletOutputStream getOutputStream() throws IOException {
        if (writer != null) {
            throw new IllegalStateException("getWriter() was already called");
        }
        if (stream == null) {
            stream = new TeeStream(super.getOutputStream());
        }
        return stream;
    }

    @Override
    public synchronized PrintWriter getWriter() throws IOException {
        if (stream != null) {
            throw new IllegalStateException("getOutputStream() was already called");
        }
        if (writer == null) {
            // the container's writer does the encoding; PrintWriter(Writer) adds no buffer of its own
            PrintWriter container = super.getWriter();
            containerWriter = container;
            writer = new PrintWriter(new TeeWriter(container)) {
                // a PrintWriter asks an inner writer for its errors only when that is a PrintWriter
                // itself: the container's writer keeps its I/O errors (the client went away) to itself,
                // and a relay that polls checkError() to cancel the model call must still see them
                @Override
                public boolean checkError() {
                    return super.checkError() | container.checkError();
                }
            };
            sniffer.fedWriterText();
        }
        return writer;
    }

    /**
     * Chooses the format from the headers as they are now and reads what was pending. The first bytes
     * shown to the sniffer include those of the write that starts it ({@code b}, not fed here): a
     * container commits the response within the first write when it reaches the Content-Length, and
     * the answer's first bytes must still be seen. Callers hold this.
     */
    private void startSniffing(byte[] b, int off, int len) {
        byte[] held = pending.toByteArray();
        byte[] head = held;
        int peek = Math.min(len, MAX_PENDING - held.length);
        if (peek > 0) {
            head = java.util.Arrays.copyOf(held, held.length + peek);
            System.arraycopy(b, off, head, held.length, peek);
        }
        sniffer.begin(included ? null : getContentType(), contentEncoding(), head);
        if (held.length > 0) {
            pending.reset();
            sniffer.feed(held, 0, held.length);
        }
    }

    private void sniff(byte[] b, int off, int len) {
        if (len == 0) {
            return;
        }
        LateWrites late;
        Long usageBefore = null;
        long textBefore = 0;
        boolean held = false;
        synchronized (this) {
            wroteBody = true;
            late = writingInclude();
            if (late != null) {
                // what came before is read as whose it was, so that these bytes' usage and text are told apart
                usageBefore = usageReadSoFar();
                textBefore = sniffer.textSoFar();
            }
            // an include's bytes too, under its own status: they are the included call's answer (its cycle's
            // dispatch writes the call's answer, under the call's status)
            LateWrites asInclude = late != null && late.asInclude() ? late : null;
            int status = answerStatus(asInclude);
            if (status >= 200 && status < 300) {
                (asInclude != null || nesting > 0 ? includedAnswer : answer).feed(b, off, len);
            }
            if (!sniffer.started()) {
                // the format is told from the first visible characters: a relay that passes on an
                // upstream's keep-alive spaces (flushed before a slow answer) has shown none yet
                if ((!isCommitted() || (blank(pending.toByteArray(), 0, pending.size()) && blank(b, off, len)))
                        && pending.size() + len <= pendingLimit()) {
                    pending.write(b, off, len);
                    held = true;
                } else {
                    startSniffing(b, off, len);
                }
            }
            if (late != null) {
                // fed under the same lock as the measures around it: a page thread or another worker writing
                // between them would have its bytes' usage and text counted as this include's (startSniffing feeds
                // under this lock too; a cycle's response is always locked before this one, never after)
                if (!held) {
                    sniffer.feed(b, off, len);
                }
                Long after = usageReadSoFar();
                long usage = (after == null ? 0 : after) - (usageBefore == null ? 0 : usageBefore);
                lateWritten(late, usage, sniffer.textSoFar() - textBefore);
                return;
            }
        }
        if (!held) {
            sniffer.feed(b, off, len);
        }
    }

    /**
     * How much is held before the format is chosen: {@link #MAX_PENDING}, or, while nothing is sent,
     * up to what the container buffers (at most {@link #MOST_PENDING}), which a reset can still discard.
     */
    private int pendingLimit() {
        return isCommitted() ? MAX_PENDING : Math.min(MOST_PENDING, Math.max(MAX_PENDING, getBufferSize()));
    }

    /** Whether the bytes are white space (or a UTF-8 byte order mark's) only. */
    private static boolean blank(byte[] b, int off, int len) {
        for (int i = off; i < off + len; i++) {
            int c = b[i] & 0xFF;
            if (c != ' ' && c != '\t' && c != '\r' && c != '\n' && c != 0xEF && c != 0xBB && c != 0xBF) {
                return false;
            }
        }
        return true;
    }

    private final class TeeStream extends ServletOutputStream {
        final ServletOutputStream out;

        TeeStream(ServletOutputStream out) {
            this.out = out;
        }

        @Override
        public void write(int b) throws IOException {
            write(new byte[] {(byte) b}, 0, 1);
        }

        @Override
        public void write(byte[] b, int off, int len) throws IOException {
            int earlier = takeKept();
            if (dropsAfter(b, off, len)) {
                return;
            }
            boolean keep = keepLast(len);
            try {
                if (earlier >= 0) {
                    out.write(earlier);
                }
                if (keep) {
                    out.write(b, off, len - 1);
                    synchronized (QuotaResponse.this) {
                        keptLast = b[off + len - 1] & 0xFF;
                    }
                } else {
                    out.write(b, off, len);
                }
            } catch (IOException | RuntimeException e) {
                // the model produced what the application writes, whether the client gets it or not
                sniff(b, off, len);
                if (drops(e)) {
                    return;
                }
                throw e;
            }
            sniff(b, off, len);
            noteSent();
        }

        /**
         * Once the answer's bytes go to the reader alone ({@link #drops}): shows these to it, and whether the
         * write is done (it fails instead once they begin a second document).
         */
        private boolean dropsAfter(byte[] b, int off, int len) throws IOException {
            if (!dropping()) {
                return false;
            }
            sniff(b, off, len);
            dropping();
            return true;
        }

        @Override
        public void flush() throws IOException {
            readBeforeSending();
            if (dropping()) {
                return;
            }
            try {
                out.flush();
            } catch (IOException | RuntimeException e) {
                if (drops(e)) {
                    return;
                }
                throw e;
            }
            noteSent();
        }

        /**
         * Text written through the stream is encoded by the container as it encodes it without this
         * filter (Jetty in the response's charset; the servlet API's default takes ISO-8859-1 only), and
         * shown to the sniffer in the response's charset: usage fields are ASCII either way.
         */
        @Override
        public void print(String s) throws IOException {
            String text = String.valueOf(s);
            int earlier = takeKept();
            if (dropping()) {
                sniffText(text);
                dropping();
                return;
            }
            try {
                if (earlier >= 0) {
                    out.write(earlier);
                }
                out.print(text);
            } catch (IOException | RuntimeException e) {
                sniffText(text);
                if (drops(e)) {
                    return;
                }
                throw e;
            }
            sniffText(text);
            noteSent();
        }

        @Override
        public void println(String s) throws IOException {
            print(String.valueOf(s) + "\r\n");
        }

        @Override
        public void println() throws IOException {
            print("\r\n");
        }

        private void sniffText(String text) {
            java.nio.charset.Charset charset = StandardCharsets.ISO_8859_1;
            try {
                String name = getCharacterEncoding();
                if (name != null) {
                    charset = java.nio.charset.Charset.forName(name);
                }
            } catch (RuntimeException unknown) {
                // the container refused to encode in it too, or wrote Latin-1: the fallback reads the ASCII fields
            }
            byte[] bytes = text.getBytes(charset);
            sniff(bytes, 0, bytes.length);
        }

        @Override
        public void close() throws IOException {
            if (!closeLater()) {
                try {
                    out.close();
                } catch (IOException e) {
                    // the end of one document whose client went away (an async cycle's, an include's)
                    if (dropping()) {
                        return;
                    }
                    throw e;
                }
            }
        }

        /**
         * The endpoint's last {@link #isReady} was false (or it set its listener): the container owes it an
         * {@code onWritePossible}, which a failure reported to {@link Relayed#onError} instead leaves to the filter.
         */
        private volatile boolean awaiting;

        /**
         * Always, once the answer's bytes go to the reader alone ({@link #drops}): the next write is shown to it, or
         * throws the failure that began it once a second document begins (round 400, see {@link Relayed}).
         */
        @Override
        public boolean isReady() {
            boolean ready = droppedAny() || out.isReady();
            awaiting = !ready;
            return ready;
        }

        @Override
        public void setWriteListener(WriteListener listener) {
            awaiting = true;
            out.setWriteListener(listener == null ? null : new Relayed(listener));
        }

        /**
         * The endpoint's listener, round 336's rule applied to non-blocking writes (round 400): the container reports a
         * write to a client that went away to {@code onError}, not as a thrown write, and a relay writing a finished
         * chat completion from {@code onWritePossible} (Jetty's {@code AsyncProxyServlet}) stopped before its usage,
         * charged its hold (Tomcat: 1,014 for 27,700; Jetty, a 4 MB answer with log probabilities: 9,508 for
         * 10,000). So while the answer is one JSON document not read to its end, the failure is taken as a failing
         * write is ({@link #drops}) and not passed on: the endpoint is given the {@code onWritePossible} it waits
         * for, on the container's thread that reports the failure, and writes on to the reader alone, bounded as
         * the blocking path is (its document's end, or a second document, whose write throws). A stream's failure,
         * or one after the document's end, is passed on.
         */
        private final class Relayed implements WriteListener {
            private final WriteListener endpoint;

            Relayed(WriteListener endpoint) {
                this.endpoint = endpoint;
            }

            @Override
            public void onWritePossible() throws IOException {
                awaiting = false;
                endpoint.onWritePossible();
            }

            @Override
            public void onError(Throwable t) {
                if (!(t instanceof IOException failure) || !drops(failure)) {
                    endpoint.onError(t);
                    return;
                }
                if (awaiting) {
                    try {
                        onWritePossible();
                    } catch (IOException | RuntimeException e) {
                        // what the container does with a listener's failure
                        endpoint.onError(e);
                    }
                }
            }
        }
    }

    private final class TeeWriter extends Writer {
        private final PrintWriter out;

        TeeWriter(PrintWriter out) {
            this.out = out;
        }

        @Override
        public void write(char[] cbuf, int off, int len) {
            // usage fields are ASCII; a surrogate pair split across two writes only garbles string content
            byte[] bytes = new String(cbuf, off, len).getBytes(StandardCharsets.UTF_8);
            if (failedToWrite(() -> out.write(cbuf, off, len), bytes)) {
                return;
            }
            sniff(bytes, 0, bytes.length);
            noteSent();
            wroteOn();
        }

        @Override
        public void write(String s, int off, int len) {
            byte[] bytes = s.substring(off, off + len).getBytes(StandardCharsets.UTF_8);
            if (failedToWrite(() -> out.write(s, off, len), bytes)) {
                return;
            }
            sniff(bytes, 0, bytes.length);
            noteSent();
            wroteOn();
        }

        /**
         * Runs the container's write; a {@code PrintWriter} keeps an {@code IOException} to itself, but an unchecked
         * failure of a response the container recycled under the endpoint escapes it (Tomcat's "this.ob" is null,
         * round 418; round 455's review: a relay writing its completion through {@code getWriter()} after its client
         * went, stopped by it before the usage). Taken as the byte stream takes it ({@link #drops}): while the answer
         * is one JSON document not read to its end, its text goes to the reader alone and the write succeeds.
         * Whether it failed so (the text already shown to the reader).
         */
        private boolean failedToWrite(Runnable write, byte[] bytes) {
            try {
                write.run();
                return false;
            } catch (RuntimeException e) {
                sniff(bytes, 0, bytes.length);
                if (drops(e)) {
                    wroteOn();
                    return true;
                }
                throw e;
            }
        }

        @Override
        public void flush() {
            readBeforeSending();
            if (failedToWrite(out::flush, new byte[0])) {
                return;
            }
            noteSent();
            wroteOn();
        }

        @Override
        public void close() {
            if (!closeLater()) {
                out.close();
            }
        }
    }
}
