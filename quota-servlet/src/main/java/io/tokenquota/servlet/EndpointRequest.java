package io.tokenquota.servlet;

import jakarta.servlet.AsyncContext;
import jakarta.servlet.AsyncListener;
import jakarta.servlet.ServletResponse;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletRequestWrapper;
import java.nio.charset.Charset;
import java.util.ArrayList;
import java.util.Collections;
import java.util.Enumeration;
import java.util.List;
import java.util.Locale;
import java.util.Set;

/**
 * A protected request as the endpoint sees it. The filter must be able to read the answer's usage,
 * and nothing a client sends may make the answer unreadable or make a served call fail afterwards:
 * <ul>
 *   <li>no {@code Accept-Encoding}: an endpoint that passes the client's headers on to the model's API
 *       gets an uncompressed answer (compression the container applies to the response, Jetty's
 *       {@code GzipHandler} or Tomcat's {@code compression}, happens after the filter);</li>
 *   <li>no {@code Range} and {@code If-Range}: a model call is always answered whole, never from its
 *       second byte on (a 206 that starts like neither JSON nor an event stream);</li>
 *   <li>no media range in {@code Accept} and no entry in {@code Accept-Charset} whose charset Java
 *       cannot encode ({@code ISO-2022-CN} decodes only): a framework that honours it (Spring's
 *       {@code StringHttpMessageConverter}) throws after the model answered, before anything was
 *       committed, and a failure before the answer is released; and no media range of a format the
 *       filter reads no usage from ({@link #readable}: XML, YAML, CBOR...), in which such a framework would
 *       write the provider's answer;</li>
 *   <li>no conditional headers ({@code If-None-Match}, {@code If-Modified-Since}, {@code If-Match},
 *       {@code If-Unmodified-Since}): an ETag filter or Spring MVC checks them after the model answered,
 *       and a 304 or 412 then carries no usage, so a model call is always answered whole;</li>
 *   <li>no response field mask and no response format but JSON and SSE for Google's APIs: no
 *       {@code X-Goog-FieldMask} header, and no {@code $fields}, {@code $alt} or {@code $callback} query
 *       parameter (nor {@code fields}, {@code alt} or {@code callback} on a Google API path
 *       ({@link #googleApiPath}) such as {@code models/gemini-2.5-flash:generateContent} or
 *       {@code v1beta/interactions}): a proxy passing the client's headers or query
 *       string on to Gemini or Vertex AI would get an answer without its {@code usageMetadata}
 *       ({@code X-Goog-FieldMask: candidates}), in protobuf ({@code alt=proto}), or wrapped as a JSONP
 *       script ({@code callback=cb}) ({@link #hiddenParameter});</li>
 *   <li>a {@code HEAD} is a {@code GET} ({@link #getMethod}): a framework that runs its {@code GET} handler
 *       for a {@code HEAD} and drops the body itself (a JAX-RS runtime without a {@code @HEAD} method, an
 *       {@code HttpServlet} in {@code legacyDoHead} mode) ran the model with its answer never reaching the
 *       filter (round 342: 1,014 for 8,000); answered as a {@code GET}, the body passes the usage reader and
 *       the container, which knows the request is a {@code HEAD}, sends none of it;</li>
 *   <li>no {@code Upgrade}, and {@link #upgrade} refuses: a connection upgraded after the filter settled
 *       would carry model calls nobody holds or charges;</li>
 *   <li>{@code startAsync()} starts the async cycle with the filter's response: the servlet API
 *       otherwise hands the context the container's own response, and an answer written to
 *       {@code getAsyncContext().getResponse()}, or by an {@code AsyncContext.dispatch()}, would pass
 *       the usage reader by.</li>
 *   <li>the figure the endpoint reports through {@link QuotaFilter#ACTUAL_TOKENS_ATTRIBUTE} is kept as
 *       it is set ({@link #reportedActual}): a framework may remove the attributes an include added
 *       before the filter settles (Spring's {@code DispatcherServlet} restores the request's attributes
 *       after every include), and the figure must outlive that.</li>
 * </ul>
 * Not thread-safe, like any request.
 */
final class EndpointRequest extends HttpServletRequestWrapper implements FigureHolder {
    private static final Set<String> HIDDEN = Set.of("accept-encoding", "range", "if-range", "upgrade",
            "if-none-match", "if-modified-since", "if-match", "if-unmodified-since", "x-goog-fieldmask");

    private ServletResponse response;
    /** The last figure set through this request as {@link QuotaFilter#ACTUAL_TOKENS_ATTRIBUTE}; null: none. */
    private volatile Object reportedActual;

    EndpointRequest(HttpServletRequest request) {
        super(request);
    }

    @Override
    public void setAttribute(String name, Object value) {
        super.setAttribute(name, value);
        if (QuotaFilter.ACTUAL_TOKENS_ATTRIBUTE.equals(name) && value != null) {
            reportedActual = value;
        }
    }

    /**
     * The figure the endpoint last set as {@link QuotaFilter#ACTUAL_TOKENS_ATTRIBUTE} through this
     * request (or a wrapper of it, or its async context), whatever removed the attribute since; null
     * when it set none.
     */
    @Override
    public Object reportedActual() {
        return reportedActual;
    }

    @Override
    public void restoreReportedActual(Object before) {
        reportedActual = before;
    }

    /**
     * The figures that includes nested in the held dispatch reported, one per include that reported
     * one, in order, and those of passes run again while the call is under way, each read when asked
     * ({@link #nestedReporting}); settlement adds them up with the holding call's own. Written on the
     * request's thread, read by the settlement's (an async cycle's end) and by other calls of the subject
     * (a running figure).
     */
    private final List<NestedFigure> nestedActuals = new java.util.concurrent.CopyOnWriteArrayList<>();

    /**
     * A figure reported beside the call's own, read each time the call's charge is. {@code settling} false: a
     * running figure ({@code Settlement#chargeSoFar}), read on another call's thread while the call runs, which
     * asks no supplier of the application's (a trailer field's may wait for the worker that fills it in, and would
     * hold up the subject's next request), as the call's own trailer field is read only when it settles.
     */
    @FunctionalInterface
    interface NestedFigure {
        Object read(boolean settling);
    }

    /** Records the figure an include nested in the held dispatch reported, read each time the call's charge is. */
    @Override
    public void nestedReported(NestedFigure figure) {
        nestedActuals.add(figure);
    }

    /**
     * Records {@code figure}, read each time the call's charge is (its settlement), with the call whose endpoint
     * request {@code request} is, and with each other quota filter's call that request wraps (a team's under a
     * user's), once per filter: a pass the container runs again while the call is under way reports when it
     * likes, from its own worker after its dispatch returned too, and a trailer field is known only once its body
     * is complete (round 441: a figure read when the pass returned missed them); the pass reports to one filter's
     * wrappers only, and every filter it ran under counts it (round 441: a run again between a team's filter and
     * a user's reached the user's alone). An include made inside such a pass reports its figure to the same calls
     * ({@link FigureHolder#nestedReported}).
     */
    static void nestedReporting(jakarta.servlet.ServletRequest request, NestedFigure figure) {
        Set<String> owners = new java.util.HashSet<>();
        for (jakarta.servlet.ServletRequest r = request; r != null; ) {
            if (r instanceof EndpointRequest endpoint && owners.add(String.valueOf(endpoint.owner))) {
                endpoint.nestedActuals.add(figure);
            }
            r = wrapped(r);
        }
    }

    /**
     * The figures nested includes and passes run again reported ({@link #nestedReported}, {@link #nestedReporting})
     * so far; {@code settling} as {@link NestedFigure#read} takes it.
     */
    List<Object> nestedActuals(boolean settling) {
        List<Object> figures = new ArrayList<>();
        for (NestedFigure f : nestedActuals) {
            Object figure = f.read(settling);
            if (figure != null) {
                figures.add(figure);
            }
        }
        return figures;
    }

    /**
     * The holding dispatch ({@code QuotaFilter#dispatchOf}) when the filter will meet it once more before
     * its endpoint runs (mapped by path and by the target servlet's name); {@code null} once met, or when
     * it will not be.
     */
    private String echo;
    /**
     * Which filter holds it (its own mark): a second quota filter on the same request (a team's beside
     * a user's) wraps the request in an endpoint request of its own, inside this one.
     */
    private String owner;

    void holds(String owner, String echo) {
        this.owner = owner;
        this.echo = echo;
    }

    /**
     * Whether {@code dispatch} is the holding dispatch passing the filter again, not one nested inside it
     * (an include of the same path, made by the endpoint): true once at most.
     */
    boolean passesAgain(String dispatch) {
        if (dispatch.equals(echo)) {
            echo = null;
            return true;
        }
        return false;
    }

    /**
     * The endpoint's dispatch returned to the container: a body the filter replays tells a
     * {@code ReadListener} registered during it from now on ({@link BufferedRequest#dispatchEnded}).
     */
    void dispatchEnded() {
        if (getRequest() instanceof BufferedRequest replayed) {
            replayed.dispatchEnded();
        }
    }

    /** The request {@code request} wraps, one level down; null when it wraps none (the container's). */
    static jakarta.servlet.ServletRequest wrapped(jakarta.servlet.ServletRequest request) {
        return request instanceof jakarta.servlet.ServletRequestWrapper w ? w.getRequest() : null;
    }

    /** The endpoint request of the filter {@code owner} that {@code request} is or wraps; null when none. */
    static EndpointRequest in(jakarta.servlet.ServletRequest request, String owner) {
        for (jakarta.servlet.ServletRequest r = request; r != null; ) {
            if (r instanceof EndpointRequest endpoint && owner.equals(endpoint.owner)) {
                return endpoint;
            }
            r = wrapped(r);
        }
        return null;
    }

    /** The response the endpoint writes to: the one an async cycle started here must write to as well. */
    void answeredThrough(ServletResponse response) {
        this.response = response;
    }

    /** The response the endpoint writes to ({@link #answeredThrough}), or {@code null}. */
    ServletResponse answeredThrough() {
        return response;
    }

    /**
     * A protected path is not upgraded: what runs over an upgraded connection (a WebSocket, a realtime
     * relay) runs after the filter settled the request, unheld and unmetered. The endpoint does not
     * see the client's {@code Upgrade} header either, so a framework's handshake (Spring's
     * WebSocket support) finds no upgrade to make.
     */
    @Override
    public <T extends jakarta.servlet.http.HttpUpgradeHandler> T upgrade(Class<T> handlerClass)
            throws jakarta.servlet.ServletException {
        throw new jakarta.servlet.ServletException("a path under the quota filter cannot be upgraded: what runs"
                + " over the upgraded connection could not be held or charged");
    }

    @Override
    public AsyncContext startAsync() {
        if (response == null) {
            return listened(super.startAsync());
        }
        return startCycle(this, response);
    }

    @Override
    public AsyncContext startAsync(jakarta.servlet.ServletRequest request, ServletResponse response) {
        return startCycle(request, response);
    }

    private AsyncContext startCycle(jakarta.servlet.ServletRequest request, ServletResponse response) {
        jakarta.servlet.ServletRequest cycle = cycleRequest(request);
        AsyncContext started = super.startAsync(cycle, cycleResponse(cycle, response));
        if (cycle instanceof IncludeCycle include) {
            // from now on it is this cycle's request, and no other cycle's (cycleRequest)
            include.started();
        }
        return listened(started);
    }

    /**
     * The response an async cycle started with {@code cycle} as its request is given: an include's cycle writes as
     * the include ({@link QuotaResponse#throughInclude}), also after the include returned (round 478); else
     * {@code response} as it is.
     */
    private static ServletResponse cycleResponse(jakarta.servlet.ServletRequest cycle, ServletResponse response) {
        return cycle instanceof IncludeCycle include ? QuotaResponse.throughInclude(include, response) : response;
    }

    /**
     * How many includes nested in the held dispatch are under way ({@code QuotaFilter#nested}): an async cycle
     * started meanwhile is the innermost one's ({@link IncludeCycle}). Only the thread running the includes changes
     * it (the servlet API gives a request to one thread at a time, and an include runs on the thread that makes it);
     * volatile so that a cycle started on another thread reads it.
     */
    private volatile int includesUnderWay;
    /** The request of the async cycle the include under way started ({@link #cycleRequest}); null: none. */
    private volatile IncludeCycle includeCycle;

    /**
     * An include nested in the held dispatch starts ({@code QuotaFilter#nested}); returns what {@link #includeEnds}
     * is given back when it returns.
     */
    IncludeCycle includeStarts() {
        includesUnderWay++;
        return includeCycle;
    }

    /**
     * The include {@link #includeStarts} answered {@code before} for has returned: the request of the async cycle it
     * started, if it started one (an include nested in it has claimed its own), else null.
     */
    IncludeCycle includeEnds(IncludeCycle before) {
        includesUnderWay--;
        IncludeCycle started = includeCycle;
        includeCycle = before;
        return started == before ? null : started;
    }

    /**
     * The request an async cycle started through this request is given: inside an include nested in the held
     * dispatch, the include's ({@link IncludeCycle}); else {@code request} as it is. With a second quota filter
     * the app-facing filter's endpoint request makes it and the other's receives it here, each recording it for
     * its own include: one not started yet is that same start passing down. One that started a cycle already is
     * another include's: inside the dispatch of that include's cycle, Tomcat hands an include the view makes that
     * cycle's request itself, and a fragment there starting its own cycle with the request it was given (Spring's
     * {@code startAsync(request, response)}) took that cycle's request for its own, so the dispatched cycle's figure
     * was counted again as the fragment's and covered the fragment's usage (round 499: v1's 1,500 charged twice, the
     * related call's 4,000 not at all). It gets its own, over that one.
     */
    private jakarta.servlet.ServletRequest cycleRequest(jakarta.servlet.ServletRequest request) {
        if (includesUnderWay <= 0 || !(request instanceof HttpServletRequest http)) {
            return request;
        }
        IncludeCycle cycle = request instanceof IncludeCycle made && !made.wasStarted() ? made : new IncludeCycle(http);
        includeCycle = cycle;
        return cycle;
    }

    /**
     * The request of an async cycle an include nested in a held dispatch started (a fragment whose model call runs
     * on a worker, answering after the page's rendering went on). The servlet API hands the worker the page's own
     * request there, which the page reports its own figure through too, so a figure the worker set after the
     * include returned replaced the page's (round 473: page 1,000 + fragment 4,000 charged 4,000; a status
     * fragment's 0 made the page's call free). A figure set through this request belongs to the include: while the
     * include is under way it passes down as any the include sets, and {@code QuotaFilter#nested} reads it when
     * the include returns; from then on it is kept here, never reaching the page's holders, and counted as the
     * include's figure (the last it set, in place of what it reported before) when the call's charge is read,
     * until the cycle is dispatched: an async dispatch runs the page's path again, and what it reports is the
     * call's own, as any async dispatch's is.
     */
    static final class IncludeCycle extends HttpServletRequestWrapper {
        /** The include returned and the cycle was not dispatched since: figures set through it are kept here. */
        private boolean owned;
        /** Volatile: read without this lock by the response's writes ({@link #wasDispatched}). */
        private volatile boolean dispatched;
        /** An async cycle was started with this request ({@link EndpointRequest#cycleRequest}). */
        private volatile boolean started;
        /** What the include reported when it returned, through its holder ({@link #includeReturned}). */
        private Object inside;
        /** The include that started it, by its dispatch's type and path ({@link #madeBy}); null: by name. */
        private volatile String include;
        /** The include's cycle whose call this one goes on with ({@link #madeBy}); null: a call of its own. */
        private volatile IncludeCycle resumes;
        /** The figure last set through this request since the include returned; null: none. */
        private volatile Object late;

        IncludeCycle(HttpServletRequest request) {
            super(request);
        }

        /**
         * The include has returned: from now on, figures set through this request are its own, kept here. Returns
         * what {@code holder} kept of the include's report, read under the same lock, so that no write through
         * this request reaches the holder after it is read.
         */
        synchronized Object includeReturned(FigureHolder holder) {
            Object reported = holder.reportedActual();
            if (!owned && !dispatched) {
                owned = true;
                inside = reported;
            }
            return reported;
        }

        /**
         * The cycle is dispatched: what its dispatch and worker set from now on is the call's, as it passes down. What
         * the worker reported before stays the include's figure ({@link #figure}), and covers what the dispatch
         * writes, that call's answer ({@code QuotaResponse.writingInclude}, round 485).
         */
        synchronized void dispatched() {
            dispatched = true;
            owned = false;
        }

        /**
         * The include {@code include} (its dispatch's type and path; null: one by name, which has none), made through
         * {@code request}, started this cycle and returned. Inside the dispatch of an include's cycle, the same include
         * made again is that include's call going on, not a call of its own: a cycle dispatched back runs the page
         * again, which includes the same endpoint again, and that endpoint writes the answer of the call its worker
         * reported (Spring's {@code DeferredResult}); when that answer is itself async (a {@code ResponseBodyEmitter},
         * a {@code StreamingResponseBody}) it starts a second cycle to write it. Read as a call of its own, that
         * cycle's bytes were the page's usage beside the figure of the one call they answer (round 509: 8,000 for
         * 4,000). So this cycle resumes the dispatched one's call: what it writes is covered by its own figure if it
         * reports one (a call of its own, counted beside), else by the one it resumes when that one reported a call
         * (above 0: a 0 says its pass called no model, so this cycle's writes are a call of their own, round 512;
         * {@code QuotaResponse#covered}). Another include the dispatch makes (a related fragment in the
         * view) is another endpoint, and its cycle a call of its own (round 499). The dispatch's request is, or wraps,
         * the cycle it dispatches: the first cycle request {@code request} wraps, if dispatched, is the one whose
         * dispatch made this include.
         */
        void madeBy(String include, jakarta.servlet.ServletRequest request) {
            this.include = include;
            for (jakarta.servlet.ServletRequest r = request; r != null; r = wrapped(r)) {
                if (r instanceof IncludeCycle dispatch && dispatch != this) {
                    if (include != null && dispatch.wasDispatched() && include.equals(dispatch.include)) {
                        resumes = dispatch;
                    }
                    return;
                }
            }
        }

        /** The include's cycle whose call this one goes on with ({@link #madeBy}); null: a call of its own. */
        IncludeCycle resumes() {
            return resumes;
        }

        /** The container started the async cycle this request was made for. */
        void started() {
            started = true;
        }

        /** Whether an async cycle was started with this request: a later start inside an include is another's. */
        boolean wasStarted() {
            return started;
        }

        /**
         * Whether the cycle was dispatched: what it writes from then on is judged under the call's status, not the
         * include's, and still covered by the include's figure ({@link QuotaResponse#throughInclude}).
         */
        boolean wasDispatched() {
            return dispatched;
        }

        /** The include's figure: the last set through this request after it returned, else {@code reported}. */
        Object figure(Object reported) {
            Object set = late;
            return set != null ? set : reported;
        }

        @Override
        public void setAttribute(String name, Object value) {
            if (!QuotaFilter.ACTUAL_TOKENS_ATTRIBUTE.equals(name)) {
                super.setAttribute(name, value);
                return;
            }
            synchronized (this) {
                if (!owned) {
                    // under the lock: the include's scope reads its holders once it has closed them to this request
                    super.setAttribute(name, value);
                } else if (value != null) {
                    late = value;
                }
            }
        }

        // the include's figure outlives the attribute's removal, as a held call's does (EndpointRequest); the
        // page's attribute beneath is not the include's to remove
        @Override
        public void removeAttribute(String name) {
            if (QuotaFilter.ACTUAL_TOKENS_ATTRIBUTE.equals(name)) {
                synchronized (this) {
                    if (owned) {
                        return;
                    }
                    super.removeAttribute(name);
                }
                return;
            }
            super.removeAttribute(name);
        }

        @Override
        public Object getAttribute(String name) {
            if (QuotaFilter.ACTUAL_TOKENS_ATTRIBUTE.equals(name)) {
                synchronized (this) {
                    if (owned) {
                        Object set = late;
                        return set != null ? set : inside;
                    }
                }
            }
            return super.getAttribute(name);
        }
    }

    /** The filter's settlement of this request, the first listener of its async cycle; null: none. */
    private Settlement settlement;
    private boolean listening;

    /** The settlement to add as the first listener of an async cycle the endpoint starts. */
    void settledBy(Settlement settlement) {
        this.settlement = settlement;
    }

    /** Whether the settlement (or the listener of a call let through) listens to the async cycle already ({@link #listened}). */
    boolean settlementListens() {
        return listening;
    }

    /**
     * The listener of a call let through without a settlement (fail-open) that tells its end ({@link SeenKeys.Call}):
     * added to an async cycle the endpoint starts, as the settlement is; null: none.
     */
    private AsyncListener unsettled;

    /** The listener to add to an async cycle the endpoint of a call let through without a settlement starts. */
    void endsWith(AsyncListener listener) {
        this.unsettled = listener;
    }

    /**
     * Adds the settlement first, before the listeners the application adds: containers call them in
     * order, and the charge must land as soon as the answer is complete, not after an application
     * listener's slow work, while the client may already be sending its next call.
     */
    private AsyncContext listened(AsyncContext context) {
        if (settlement != null && !listening) {
            context.addListener(settlement);
            listening = true;
        }
        if (settlement == null) {
            if (unsettled != null && !listening) {
                context.addListener(unsettled);
                listening = true;
            }
            return context;
        }
        ending = new Ending(context, settlement);
        return ending;
    }

    /** The async context last handed to the endpoint ({@link #listened}); null: none. */
    private volatile Ending ending;

    /** The context the endpoint was handed, when it asks for the cycle it started again. */
    @Override
    public AsyncContext getAsyncContext() {
        AsyncContext context = super.getAsyncContext();
        Ending handed = ending;
        return handed != null && handed.context == context ? handed : context;
    }

    /**
     * The container's async context as the endpoint is handed it, but for an end the container refuses
     * because it has let go of the request (round 418): Tomcat's stop of a busy service queues a timeout for an
     * open async request, then drops it with its executor, and recycles the request without calling the
     * cycle's listeners (no {@code onTimeout}, {@code onComplete} or {@code onError}); a stream whose usage the
     * client had read (1,500 + 7,500) was never settled, its hold left to expire (used 0, reserved 1,012). The
     * endpoint's {@code complete()} or {@code dispatch()} then throws, and the context no longer reaches its
     * request: the endpoint is done, nobody else will settle the call, so it is settled now, with what was read
     * ({@link Settlement#endRefused}). A refusal while the context still reaches its request (a second
     * {@code complete()}, one raced by the container's own timeout) is the container's to report: only thrown.
     * The endpoint's listeners are added as the settlement hands them ({@link Settlement#endpointListener}), and
     * its end settles a call whose one JSON document it wrote on after the container reported its client gone
     * ({@link Settlement#endpointEnds}, round 447): the container's cycle is over then, its refusal expected.
     */
    private static final class Ending implements AsyncContext {
        final AsyncContext context;
        private final Settlement settlement;

        Ending(AsyncContext context, Settlement settlement) {
            this.context = context;
            this.settlement = settlement;
        }

        /**
         * The cycle is dispatched: an include that started it no longer owns what is set through its request
         * ({@link IncludeCycle#dispatched}).
         */
        private void handedBack() {
            try {
                if (context.getRequest() instanceof IncludeCycle cycle) {
                    cycle.dispatched();
                }
            } catch (IllegalStateException letGo) {
                // the container let go of the request: the dispatch is refused below
            }
        }

        private IllegalStateException refused(IllegalStateException refusal) {
            try {
                context.getRequest();
            } catch (IllegalStateException letGo) {
                settlement.endRefused();
            }
            return refusal;
        }

        @Override
        public void complete() {
            boolean wroteOn = settlement.endpointEnds();
            try {
                context.complete();
            } catch (IllegalStateException e) {
                if (!wroteOn) {
                    throw refused(e);
                }
            }
        }

        @Override
        public void dispatch() {
            handedBack();
            boolean wroteOn = settlement.endpointEnds();
            try {
                context.dispatch();
            } catch (IllegalStateException e) {
                if (!wroteOn) {
                    throw refused(e);
                }
            }
        }

        @Override
        public void dispatch(String path) {
            handedBack();
            boolean wroteOn = settlement.endpointEnds();
            try {
                context.dispatch(path);
            } catch (IllegalStateException e) {
                if (!wroteOn) {
                    throw refused(e);
                }
            }
        }

        @Override
        public void dispatch(jakarta.servlet.ServletContext servletContext, String path) {
            handedBack();
            boolean wroteOn = settlement.endpointEnds();
            try {
                context.dispatch(servletContext, path);
            } catch (IllegalStateException e) {
                if (!wroteOn) {
                    throw refused(e);
                }
            }
        }

        @Override
        public jakarta.servlet.ServletRequest getRequest() {
            return context.getRequest();
        }

        @Override
        public ServletResponse getResponse() {
            return context.getResponse();
        }

        @Override
        public boolean hasOriginalRequestAndResponse() {
            return context.hasOriginalRequestAndResponse();
        }

        @Override
        public void start(Runnable run) {
            context.start(run);
        }

        @Override
        public void addListener(AsyncListener listener) {
            context.addListener(settlement.endpointListener(listener));
        }

        @Override
        public void addListener(AsyncListener listener, jakarta.servlet.ServletRequest request, ServletResponse response) {
            context.addListener(settlement.endpointListener(listener), request, response);
        }

        @Override
        public <T extends AsyncListener> T createListener(Class<T> clazz) throws jakarta.servlet.ServletException {
            return context.createListener(clazz);
        }

        @Override
        public void setTimeout(long timeout) {
            context.setTimeout(timeout);
        }

        @Override
        public long getTimeout() {
            return context.getTimeout();
        }
    }

    private static boolean hidden(String name) {
        return name != null && HIDDEN.contains(name.toLowerCase(Locale.ROOT));
    }

    private static boolean negotiated(String name) {
        return "accept".equalsIgnoreCase(name) || "accept-charset".equalsIgnoreCase(name);
    }

    @Override
    public String getHeader(String name) {
        if (hidden(name)) {
            return null;
        }
        if (negotiated(name)) {
            List<String> values = Collections.list(getHeaders(name));
            return values.isEmpty() ? null : values.get(0);
        }
        return super.getHeader(name);
    }

    @Override
    public Enumeration<String> getHeaders(String name) {
        if (hidden(name)) {
            return Collections.emptyEnumeration();
        }
        Enumeration<String> values = super.getHeaders(name);
        if (!negotiated(name) || values == null) {
            return values;
        }
        boolean accept = "accept".equalsIgnoreCase(name);
        List<String> kept = new ArrayList<>();
        for (String value : Collections.list(values)) {
            String encodable = encodable(value);
            if (accept) {
                encodable = readable(encodable);
            }
            if (!encodable.isEmpty()) {
                kept.add(encodable);
            }
        }
        return Collections.enumeration(kept);
    }

    /**
     * The media ranges of an {@code Accept} value without those that name a format the filter reads no
     * usage from: XML, YAML, CBOR, Smile, Protocol Buffers, MessagePack, Avro, Ion. A framework that
     * honours it (Spring MVC with Jackson's XML, YAML or CBOR data format on the classpath) writes the
     * provider's answer, usage and all, in that format, and the call would be charged its estimate;
     * JSON takes their place.
     */
    static String readable(String value) {
        StringBuilder kept = new StringBuilder();
        for (String element : value.split(",")) {
            String trimmed = element.trim();
            String type = trimmed.split(";")[0].trim().toLowerCase(Locale.ROOT);
            String subtype = type.substring(type.indexOf('/') + 1);
            String suffix = subtype.substring(subtype.lastIndexOf('+') + 1);
            if (trimmed.isEmpty()) {
                continue;
            }
            if (type.equals("text/*") || type.equals("application/*")) {
                // a range that covers XML: JSON ahead of it, at its quality, or a framework may pick XML for it
                // (Spring MVC resolves a wildcard to the first type it covers that a converter writes)
                int parameters = trimmed.indexOf(';');
                if (kept.length() > 0) {
                    kept.append(", ");
                }
                kept.append("application/json").append(parameters < 0 ? "" : trimmed.substring(parameters));
            }
            if (UNREAD_FORMATS.contains(subtype) || UNREAD_FORMATS.contains(suffix)) {
                // JSON in its place, at its quality: an Accept left empty reads as */*, and a framework then
                // writes its first converter's format, which may be the very one asked for (Spring MVC's
                // WebMvcConfigurationSupport puts Jackson's XML before JSON)
                int parameters = trimmed.indexOf(';');
                trimmed = "application/json" + (parameters < 0 ? "" : trimmed.substring(parameters));
            }
            if (kept.length() > 0) {
                kept.append(", ");
            }
            kept.append(trimmed);
        }
        return kept.toString();
    }

    /** Subtypes (or structured syntax suffixes) of the formats {@link #readable} takes out of {@code Accept}. */
    private static final java.util.Set<String> UNREAD_FORMATS = java.util.Set.of("xml", "yaml", "x-yaml", "cbor",
            "x-jackson-smile", "smile", "protobuf", "x-protobuf", "vnd.google.protobuf", "proto", "msgpack",
            "x-msgpack", "avro", "avro-binary", "ion", "x-amzn-ion");

    /**
     * Whether the endpoint does not see query parameter {@code name} (with {@code values}): Google's
     * system parameters that filter the response's fields or choose its format (Google Cloud's
     * "System parameters": {@code $fields}, {@code $alt}, {@code $callback}; without the {@code $} only on
     * a Google API path ({@link #googleApiPath}), where no application's own parameter of that name is likely:
     * Google's front end honours the plain spellings on every path it serves, a method's or a collection's).
     * {@code alt=json} and {@code alt=sse} stay: the filter reads both. A JSONP callback ({@code $callback} or
     * {@code callback}) makes Google answer {@code // API callback}, then {@code name(<document>);} as
     * {@code text/javascript}: no JSON document, so no usage read (round 457: 1,030 charged for 8,024); hidden,
     * the proxy's client gets the plain JSON document. The table's other parameters stay: {@code prettyPrint}
     * only changes the JSON's whitespace, {@code $.xgafv} only an error's shape, {@code key} and
     * {@code quotaUser} nothing in the answer.
     */
    boolean hiddenParameter(String name, String[] values) {
        String bare = name.startsWith("$") ? name.substring(1) : name;
        boolean unread = bare.equals("fields") || bare.equals("callback");
        if (bare.equals("alt")) {
            for (String value : values) {
                unread |= !value.equalsIgnoreCase("json") && !value.equalsIgnoreCase("sse");
            }
        }
        // the path is looked at last: only for a parameter that would be hidden on it
        return unread && (name.startsWith("$") || googleApiPath());
    }

    /** A Google API version segment: Gemini's {@code v1}, {@code v1beta}, {@code v1alpha}; Vertex AI's {@code v1beta1}. */
    private static final java.util.regex.Pattern GOOGLE_VERSION =
            java.util.regex.Pattern.compile("v[0-9]+(?:(?:alpha|beta)[0-9]*)?");
    /**
     * The Gemini API's collections, right after its version, that run or read back model calls without naming
     * a method with a colon: the Interactions API ({@code POST v1beta/interactions}, {@code interactions/{id}}),
     * context caches ({@code POST v1beta/cachedContents}, charged as a call), batches read back with their
     * results' usage ({@code batches/{id}}) and the OpenAI compatibility layer ({@code v1beta/openai/chat/completions}).
     * The last two only after a preview version ({@code v1beta}, {@code v1alpha}: {@link #GEMINI_PREVIEW_ONLY}), where
     * Gemini serves them: OpenAI's own API and gateways in front of it name {@code /v1/batches} and {@code /v1/openai/…}.
     */
    private static final Set<String> GEMINI_COLLECTIONS = Set.of("interactions", "cachedContents", "batches", "openai");
    private static final Set<String> GEMINI_PREVIEW_ONLY = Set.of("batches", "openai");

    /**
     * Whether the request's path is one of Google's AI APIs, whose front end applies its system parameters
     * (the plain {@code fields}, {@code alt}, {@code callback} too) to whatever the path answers: a method named
     * the Google way in the last segment ({@code models/x:generateContent}, round 334), or, after a version
     * segment ({@link #GOOGLE_VERSION}), one of the Gemini API's collections answered without a colon method
     * ({@link #GEMINI_COLLECTIONS}; round 466: {@code ?fields=id,status,outputs} on {@code v1beta/interactions}
     * dropped the Interaction's {@code usage}, 1,028 charged for 8,024), or anything under a Google Cloud
     * location ({@code v1/projects/{p}/locations/{l}/…}: Vertex AI's OpenAI-compatible
     * {@code endpoints/openapi/chat/completions}, its dedicated endpoints, its caches). Both the path as the client
     * sent it and as the container routed it count: a proxy may pass either on. An application's own path
     * ({@code /ai/v1/search}, {@code /ai/app/interactions}) is none of these, and keeps its parameters.
     */
    private boolean googleApiPath() {
        return googleApiPath(getRequestURI()) || googleApiPath(QuotaFilter.pathOf(this));
    }

    private static boolean googleApiPath(String path) {
        if (path == null || path.isEmpty()) {
            return false;
        }
        String[] segments = path.split("/", -1);
        for (int i = 0; i < segments.length; i++) {
            segments[i] = segment(segments[i]);
        }
        if (segments[segments.length - 1].indexOf(':') > 0) {
            return true;
        }
        for (int i = 0; i + 1 < segments.length; i++) {
            if (!GOOGLE_VERSION.matcher(segments[i]).matches()) {
                continue;
            }
            if (GEMINI_COLLECTIONS.contains(segments[i + 1])
                    && (!GEMINI_PREVIEW_ONLY.contains(segments[i + 1]) || !segments[i].matches("v[0-9]+"))) {
                return true;
            }
            if (i + 5 < segments.length && segments[i + 1].equals("projects") && segments[i + 3].equals("locations")
                    && !segments[i + 2].isEmpty() && !segments[i + 4].isEmpty()) {
                return true;
            }
        }
        return false;
    }

    /** A path segment as a name: without its path parameters ({@code ;jsessionid=…}), percent-decoded. */
    private static String segment(String raw) {
        int parameters = raw.indexOf(';');
        String name = parameters < 0 ? raw : raw.substring(0, parameters);
        return name.indexOf('%') < 0 ? name : decoded(name.replace("+", "%2B"));
    }

    @Override
    public String getQueryString() {
        String query = super.getQueryString();
        if (query == null || query.isEmpty()) {
            return query;
        }
        StringBuilder kept = new StringBuilder();
        boolean dropped = false;
        for (String pair : query.split("&", -1)) {
            int eq = pair.indexOf('=');
            String name = decoded(eq < 0 ? pair : pair.substring(0, eq));
            String value = eq < 0 ? "" : decoded(pair.substring(eq + 1));
            if (hiddenParameter(name, new String[] {value})) {
                dropped = true;
                continue;
            }
            if (kept.length() > 0) {
                kept.append('&');
            }
            kept.append(pair);
        }
        return !dropped ? query : kept.length() == 0 ? null : kept.toString();
    }

    private static String decoded(String part) {
        try {
            return java.net.URLDecoder.decode(part, java.nio.charset.StandardCharsets.UTF_8);
        } catch (IllegalArgumentException malformed) {
            return part;
        }
    }

    @Override
    public String getParameter(String name) {
        return name != null && hiddenParameter(name, valuesOf(name)) ? null : super.getParameter(name);
    }

    @Override
    public String[] getParameterValues(String name) {
        return name != null && hiddenParameter(name, valuesOf(name)) ? null : super.getParameterValues(name);
    }

    @Override
    public java.util.Map<String, String[]> getParameterMap() {
        java.util.Map<String, String[]> all = super.getParameterMap();
        java.util.Map<String, String[]> kept = new java.util.LinkedHashMap<>();
        all.forEach((name, values) -> {
            if (!hiddenParameter(name, values == null ? new String[0] : values)) {
                kept.put(name, values);
            }
        });
        return kept.size() == all.size() ? all : Collections.unmodifiableMap(kept);
    }

    @Override
    public Enumeration<String> getParameterNames() {
        return Collections.enumeration(getParameterMap().keySet());
    }

    private String[] valuesOf(String name) {
        String[] values = super.getParameterValues(name);
        return values == null ? new String[0] : values;
    }

    /** {@code GET} for a {@code HEAD} (see the class comment); any other method as it is. */
    @Override
    public String getMethod() {
        String method = super.getMethod();
        return "HEAD".equals(method) ? "GET" : method;
    }

    @Override
    public long getDateHeader(String name) {
        return hidden(name) ? -1L : super.getDateHeader(name);
    }

    @Override
    public int getIntHeader(String name) {
        return hidden(name) ? -1 : super.getIntHeader(name);
    }

    @Override
    public Enumeration<String> getHeaderNames() {
        List<String> names = Collections.list(super.getHeaderNames());
        names.removeIf(name -> hidden(name) || negotiated(name) && !getHeaders(name).hasMoreElements());
        return Collections.enumeration(names);
    }

    /**
     * The elements of an {@code Accept} or {@code Accept-Charset} value without those that name a
     * charset Java cannot encode: {@code text/plain;charset=ISO-2022-CN} and {@code ISO-2022-CN;q=1}
     * go, {@code application/json}, {@code utf-8} and {@code *} stay.
     */
    static String encodable(String value) {
        if (value == null) {
            return "";
        }
        StringBuilder kept = new StringBuilder();
        for (String element : value.split(",")) {
            String trimmed = element.trim();
            if (trimmed.isEmpty() || !encodableCharset(charsetOf(trimmed))) {
                continue;
            }
            if (kept.length() > 0) {
                kept.append(", ");
            }
            kept.append(trimmed);
        }
        return kept.toString();
    }

    /** The charset an element names: its {@code charset} parameter, else (Accept-Charset) its first token. */
    private static String charsetOf(String element) {
        String[] parts = element.split(";");
        for (int i = 1; i < parts.length; i++) {
            String p = parts[i].trim();
            if (p.regionMatches(true, 0, "charset=", 0, "charset=".length())) {
                return p.substring("charset=".length()).replace("\"", "").trim();
            }
        }
        String first = parts[0].trim();
        // a media range (type/subtype) without a charset parameter names none
        return first.contains("/") || first.equals("*") ? null : first;
    }

    private static boolean encodableCharset(String name) {
        if (name == null) {
            return true;
        }
        try {
            return Charset.isSupported(name) && Charset.forName(name).canEncode();
        } catch (IllegalArgumentException e) {
            // an illegal name: a framework that parses it fails as it does for an unknown one
            return false;
        }
    }
}
