package io.tokenquota.servlet;

import io.tokenquota.ErrorCode;
import io.tokenquota.HoldRequest;
import io.tokenquota.Limits;
import io.tokenquota.ModelWeights;
import io.tokenquota.QuotaAccount;
import io.tokenquota.QuotaException;
import io.tokenquota.QuotaExceededException;
import io.tokenquota.QuotaLedger;
import io.tokenquota.Reservation;
import io.tokenquota.ReservationState;
import io.tokenquota.Reserved;
import io.tokenquota.TokenEstimator;
import io.tokenquota.estimator.DefaultTokenEstimator;
import jakarta.servlet.DispatcherType;
import jakarta.servlet.Filter;
import jakarta.servlet.FilterChain;
import jakarta.servlet.RequestDispatcher;
import jakarta.servlet.ServletException;
import jakarta.servlet.ServletRequest;
import jakarta.servlet.ServletResponse;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletRequestWrapper;
import jakarta.servlet.http.HttpServletResponse;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.Charset;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Objects;
import java.util.concurrent.atomic.AtomicLong;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A Jakarta Servlet 6 filter that puts a token quota in front of AI endpoints: it holds the request's
 * estimated tokens before the endpoint runs, answers 429 when the subject has too few left, and
 * charges what the call really used afterwards (or releases the hold when the call failed).
 *
 * <p>For a request whose path ({@code servletPath + pathInfo}, decoded and normalised by the
 * container, so {@code %2e%2e} tricks cannot skip it) or whose raw path (the request URI less the
 * context path, path parameters removed, percent-decoded, dot segments kept, as frameworks that route on
 * the URI read it) lies under a protected prefix, on path-segment boundaries and ignoring case
 * ({@code /api/ai} covers {@code /api/ai}, {@code /api/ai/chat} and {@code /API/ai/chat}, not
 * {@code /api/ai-admin}):
 * <ol>
 *   <li>the {@link SubjectResolver} names the subject; none: 401 problem+json; an unknown request
 *       charset: 415;</li>
 *   <li>the body is read whatever its {@code Content-Type} says, at most {@link Builder#maxBodyBytes}
 *       bytes (413 past that, checked against {@code Content-Length} first and counted while reading),
 *       because most model endpoints parse JSON without looking at the label. A JSON object body costs
 *       its text fields plus the requested output budget (the largest of {@code max_tokens},
 *       {@code max_completion_tokens}, {@code max_output_tokens}, {@code n_predict}, {@code min_tokens} and
 *       the other servers' names, {@link RequestEstimator#OUTPUT_FIELDS}, at the top level or in Gemini's
 *       {@code generationConfig}, Ollama's {@code options}, TGI's {@code parameters}, Bedrock's
 *       {@code inferenceConfig}; capped), else the
 *       endpoint's default output budget, for each completion asked for ({@code n}), plus
 *       {@link Builder#mediaItemTokens} for each image, audio clip or file it sends (more for an image
 *       it measures or cannot see, or audio it measures), plus what the provider state it names (a stored Response, a
 *       conversation, a stored prompt) was seen to cost; a batch of requests
 *       (a JSON array of them, a {@code requests} list, JSON lines) the sum of its requests; other text costs
 *       its characters, at least the endpoint's fallback estimate (plus the budget a YAML or XML body names);
 *       binary bodies cost the fallback.
 *       Multipart bodies are read through the container's own parts. Without a JSON body, the
 *       budget and {@code n} are read from the parameters (query string, form or multipart fields),
 *       and a form or multipart body gets the default budget as a JSON body does; an audio file adds its
 *       duration's tokens, and a transcription is held at the audio and its transcript alone
 *       ({@link AudioDuration});</li>
 *   <li>the estimate is reserved, with the {@code Idempotency-Key} header when present; quota exceeded:
 *       429 problem+json with {@code Retry-After}; a key already used (by a finished or a still running
 *       request): 409, so a key buys at most one model call; with {@link Builder#fitOutputBudget} a JSON
 *       request whose budget does not fit, but whose input plus the minimum output does, is held and
 *       forwarded with its budget fields lowered to what the balance allows
 *       ({@value #OUTPUT_CAPPED_HEADER});</li>
 *   <li>{@code X-Quota-Limit}, {@code X-Quota-Remaining} (after the hold), {@code X-Quota-Reset},
 *       {@code RateLimit-Policy}, {@code RateLimit} and, past the policy's warning threshold,
 *       {@code X-Quota-Warning} are set before the chain runs, because a streamed response commits its
 *       headers with the first byte;</li>
 *   <li>the chain runs with the body replayed intact; afterwards the hold is settled by the rules of
 *       {@link Settlement#decide}: the handler's own figure, else the usage the response reported where
 *       its provider puts it (also after an exception, an async timeout, a hang-up or the hold's expiry),
 *       else nothing for a refusal (3xx/4xx) or a 5xx ({@link Builder#releaseOnError}), else the estimate.
 *       Async requests are settled once, when the async cycle completes (also after a timeout or an
 *       error, whose listener may still dispatch and write the answer).</li>
 * </ol>
 * When the ledger is unreachable the filter answers 503 (fail-closed, the default) or lets the request
 * through uncharged with a logged warning, counted by {@link #failOpenCount()} (fail-open); such a call spends
 * its {@code Idempotency-Key} all the same: the filter keeps the keys of the calls it lets through or holds while
 * each runs and a hold's TTL after ({@link SeenKeys}: in this JVM, at most 65,536, only ended calls' keys dropped,
 * oldest first), and while the store is away, or for a key the store never saw, a request with one is answered
 * 409 as a replay.
 *
 * <p>Register it for the {@code REQUEST} dispatcher with async support on. Immutable and thread-safe.
 */
public final class QuotaFilter implements Filter {
    /** Request attribute (a {@link Number}) a downstream handler sets to report the actual tokens used. */
    public static final String ACTUAL_TOKENS_ATTRIBUTE = "io.tokenquota.actualTokens";
    /** Response header a downstream handler may set instead of the attribute; it is not sent to the client. */
    public static final String ACTUAL_TOKENS_HEADER = QuotaResponse.ACTUAL_TOKENS_HEADER;
    /** Request header carrying the client's idempotency key for the hold. */
    public static final String IDEMPOTENCY_KEY_HEADER = "Idempotency-Key";
    /**
     * Response header naming the output budget (per completion) a request was forwarded with when
     * {@link Builder#fitOutputBudget} lowered it to fit the balance.
     */
    public static final String OUTPUT_CAPPED_HEADER = "X-Quota-Output-Capped";

    private static final Logger LOG = LoggerFactory.getLogger(QuotaFilter.class);
    /**
     * Tomcat's request attributes naming the current dispatch's type and the path its filters were
     * matched by (none for a dispatch by name); other containers set neither.
     */
    private static final String TOMCAT_DISPATCH_TYPE = "org.apache.catalina.core.DISPATCHER_TYPE";
    private static final String TOMCAT_DISPATCH_PATH = "org.apache.catalina.core.DISPATCHER_REQUEST_PATH";
    /** Filters built so far: each names its own {@link #handled} mark. */
    private static final AtomicLong INSTANCES = new AtomicLong();
    /**
     * A request, and a forward, include or async dispatch into a protected path from an unprotected
     * one (an alias, a {@code forward:} view, a page that includes the model's answer): once per
     * request, whichever comes first ({@link #handled}). An error dispatch into a protected path is
     * a call of its own ({@link #doFilter}).
     */
    private static final java.util.Set<DispatcherType> QUOTED_DISPATCHES = java.util.EnumSet.of(
            DispatcherType.REQUEST, DispatcherType.FORWARD, DispatcherType.INCLUDE, DispatcherType.ASYNC,
            DispatcherType.ERROR);

    private final QuotaLedger ledger;
    private final List<String> prefixes;
    private final SubjectResolver subjects;
    private final RequestEstimator estimator;
    /** The estimator for an image endpoint's requests ({@link #estimatorFor}). */
    private final RequestEstimator drawingEstimator;
    private final long maxBodyBytes;
    private final Map<String, Long> maxBodies;
    private final long outputBudgetCap;
    private final Map<String, Long> fallbackEstimates;
    private final long defaultFallbackEstimate;
    private final Map<String, Long> outputBudgets;
    private final long defaultOutputBudget;
    private final long mediaItemTokens;
    private final boolean failOpen;
    private final boolean releaseOnError;
    private final Duration holdTtl;
    /** Keeps the holds of calls still in the chain from expiring under them. */
    private final HoldKeeper keeper;
    /** Least output budget a fitted request is sent with; 0: no fitting. */
    private final long fitMinimum;
    /** Per-model weights of holds and charges; {@code null}: plain token counts, as without the feature. */
    private final ModelWeights weights;
    /** Per-model weights of the endpoints under a prefix, the longest prefix covering a path winning over {@link #weights}. */
    private final Map<String, ModelWeights> weightsByPrefix;
    /**
     * The request attribute that marks a request this filter handles. Each filter has its own: a
     * second quota filter on the same request (a team's budget beside the user's) holds and charges
     * its own subject.
     */
    private final String handled = QuotaFilter.class.getName() + ".handled." + INSTANCES.incrementAndGet();
    /** The request attribute holding a handled request's {@link Settlement}, for its async dispatches. */
    private final String settling = handled + ".settlement";
    /** The request attribute present while a dispatch this filter holds is under way (on its thread). */
    private final String passing = handled + ".passing";
    /** The request attribute holding the call let through uncharged, keyed or not, whose async cycle is open ({@link #unavailable}). */
    private final String letThrough = handled + ".letThrough";
    /**
     * The request attribute naming, by store and subject ({@link Held}), the quota filter (its {@link #handled}
     * mark) whose call holds that subject on this request, or was let through for it under fail-open
     * ({@link #holdsOnRequest}). A forward or include from that call into another
     * quota filter's protected path for the same subject on the same store (two filters over one store, a prefix
     * and settings each), or the request itself under both filters' prefixes, is the same model call: the other
     * filter passes it through, so it is held and charged once (round 325: 3,000 for 1,500; round 363). A filter
     * for another subject (a team's budget beside the user's), or over another store (another ledger that meters
     * the same users), holds its own (round 370: a filter over its own store passed such a call through and its
     * 2,000 allowance stopped nothing).
     */
    private static final String HOLDING = QuotaFilter.class.getName() + ".holding";
    /**
     * The request attribute naming, by store and subject ({@link Held}), the calls includes or forwards started and
     * left to an async cycle of their own ({@link Kept}): taken off {@link #HOLDING} when the dispatch returned, so that the
     * page's next include is a call of its own for every filter, and still the subject's call for a dispatch of
     * that cycle ({@link Kept#reaches}).
     */
    private static final String KEPT = QuotaFilter.class.getName() + ".kept";
    /** The request attribute holding this filter's call an include left to its async cycle ({@link #keep}). */
    private final String kept = handled + ".kept";
    private final AtomicLong failOpenCount = new AtomicLong();
    /**
     * The keys of the calls this filter let through uncharged ({@link #unavailable}) or reserved on the store: a
     * retry of one during an outage, or of one the store never saw, is a replay.
     */
    private final SeenKeys seenKeys;
    private final AtomicLong settleFailureCount = new AtomicLong();
    /** Usage of recent answers by ETag: a 304 an ETag filter makes of a computed answer is charged it. */
    private final AnswerUsages answers;
    /** Entries of {@link #answers} every filter keeps. */
    static final int ANSWER_MEMORY = 65_536;
    /** What state kept at the provider cost, by its id: a call naming it is held and charged with it. */
    private final ProviderState providerState;
    /**
     * The ledger whose accounts this filter changes ({@link QuotaLedger#underlying}: a timed view and its store are
     * one), which tells another quota filter on the same store that a request's call is already held (round 398).
     */
    private final QuotaLedger heldOn;

    private QuotaFilter(Builder b) {
        this.ledger = b.ledger;
        this.prefixes = List.copyOf(b.prefixes);
        this.subjects = b.subjects;
        this.estimator = new RequestEstimator(b.estimator, b.mediaItemTokens);
        this.drawingEstimator = estimator.drawing();
        this.maxBodyBytes = b.maxBodyBytes;
        this.maxBodies = Map.copyOf(b.maxBodies);
        this.outputBudgetCap = b.outputBudgetCap;
        this.fallbackEstimates = Map.copyOf(b.fallbackEstimates);
        this.defaultFallbackEstimate = b.defaultFallbackEstimate;
        this.outputBudgets = Map.copyOf(b.outputBudgets);
        this.defaultOutputBudget = b.defaultOutputBudget;
        this.mediaItemTokens = b.mediaItemTokens;
        this.failOpen = b.failOpen;
        this.releaseOnError = b.releaseOnError;
        this.holdTtl = b.holdTtl;
        // without a TTL of its own, a hold lives the policy's
        this.keeper = new HoldKeeper(ledger, b.holdTtl != null ? b.holdTtl : ledger.policy().holdTtl(), b.settlementRetries);
        // a key seen is kept while its call runs and as long after as a hold on the store would keep it, by the same clock
        this.seenKeys = new SeenKeys(b.holdTtl != null ? b.holdTtl : ledger.policy().holdTtl(), keeper::now);
        this.fitMinimum = b.fitMinimum;
        this.weights = b.weights;
        this.weightsByPrefix = Map.copyOf(b.weightsByPrefix);
        this.providerState = new ProviderState(b.providerStateEntries);
        this.answers = new AnswerUsages(b.answerMemory);
        this.heldOn = ledger.underlying();
    }

    /**
     * Lets the hold keeper's threads end once the calls still in the chain, and the settlements still
     * being retried, no longer need their holds kept: a context restarted in place lets them finish.
     */
    @Override
    public void destroy() {
        keeper.close();
    }

    public static Builder builder(QuotaLedger ledger) {
        return new Builder(ledger);
    }

    /** How many requests went through uncharged because the ledger was unreachable (fail-open). */
    public long failOpenCount() {
        return failOpenCount.get();
    }

    /**
     * How many settlements failed since the filter was built: the ledger refused the charge or release
     * (logged; the hold then expires), or could not be reached for about eight seconds (logged; tried
     * again in the background for as long as a hold is kept, an hour at least, from that first refusal). A metrics system
     * should alert on it: those calls may go uncharged.
     */
    public long settleFailureCount() {
        return settleFailureCount.get();
    }

    /**
     * Servlets mapped under a protected prefix or over one ({@link #protectedServletsOf}), by name, each with
     * its mapping's path: a forward or include by name ({@code getNamedDispatcher}, Spring's
     * {@code ServletForwardingController}) reaches them with the caller's paths, and containers apply a
     * filter's URL patterns to path-based dispatches only. Set by {@link #init}: those without a view of
     * their own ({@link #registerByServletName}).
     */
    private final Map<jakarta.servlet.ServletContext, Map<String, String>> protectedServlets =
            java.util.Collections.synchronizedMap(new java.util.WeakHashMap<>());
    /**
     * Whether the container puts a filter into a chain once however many of its mappings match (Tomcat's
     * {@code ApplicationFilterChain.addFilter}; Jetty runs it once per matching mapping). Set by {@link #init}.
     */
    private volatile boolean chainsOnce;

    /**
     * Protected servlets given a filter of their own by {@link #registerByServletName}, by name, each with
     * its mapping's path: a dispatch by name to one of them is held under the path {@link #targetOf} makes of it.
     */
    private final Map<jakarta.servlet.ServletContext, Map<String, String>> viewedServlets =
            java.util.Collections.synchronizedMap(new java.util.WeakHashMap<>());

    /*
     * Both by context: one filter instance may guard several contexts (added to each), whose servlets of the
     * same name are others (round 310: the second context's registration, or a context without protected
     * servlets initialised last, left a forward by name in the other one free).
     */

    /** The servlets of {@code context} given a view of their own ({@link #viewedServlets}). */
    private Map<String, String> viewed(jakarta.servlet.ServletContext context) {
        return viewedServlets.computeIfAbsent(context, c -> new java.util.concurrent.ConcurrentHashMap<>());
    }

    /** The protected servlets of {@code context} without a view ({@link #protectedServlets}); empty before its init. */
    private Map<String, String> protectedIn(jakarta.servlet.ServletContext context) {
        return protectedServlets.getOrDefault(context, Map.of());
    }

    /**
     * Maps, for each servlet registered so far under a protected prefix or over one (a router at {@code /}:
     * {@link #protectedServletsOf}), a filter that stands for this one by that servlet's name, for forwards,
     * includes and error dispatches. A forward or include by name ({@code getNamedDispatcher}, Spring's
     * {@code ServletForwardingController}) keeps the caller's paths
     * and, in Jetty and Tomcat, the caller's servlet mapping: only a filter mapped by the one servlet's
     * name knows that the dispatch ends there, and so whether it is held (a router's, only when it routes
     * it under a prefix: {@link #routedTarget}) and under which prefix's settings (an output budget, the
     * image estimate). It also holds a forward by name that an error page makes, which Tomcat
     * keeps an error dispatch with the page's own paths.
     *
     * <p>Call it while the context starts, where filters may still be added (a
     * {@code ServletContainerInitializer}, a {@code ServletContextListener} declared by the application, Spring
     * Boot's {@code ServletContextInitializer}), after the servlets are registered and whether this filter is
     * registered there or elsewhere. Without it, {@link #init} maps this filter itself by those names, and a
     * dispatch by name is held under the path of the first protected servlet the container lists that would
     * hold it (exact with one protected servlet). Servlets registered after the call are mapped that way.
     *
     * @throws IllegalStateException if the context has started (the servlet API refuses new filters then)
     */
    public void registerByServletName(jakarta.servlet.ServletContext context) {
        Map<String, String> viewed = viewed(context);
        protectedServletsOf(context).forEach((servlet, path) -> {
            if (viewed.containsKey(servlet)) {
                return;
            }
            String name = QuotaFilter.class.getName() + "@" + Integer.toHexString(System.identityHashCode(this))
                    + "/" + servlet;
            jakarta.servlet.FilterRegistration.Dynamic view = context.addFilter(name, new ServletView(servlet, path));
            if (view == null) {
                // a filter of that name is registered already: this filter's view, from an earlier call
                return;
            }
            view.setAsyncSupported(true);
            view.addMappingForServletNames(java.util.EnumSet.of(DispatcherType.FORWARD, DispatcherType.INCLUDE,
                    DispatcherType.ERROR), true, servlet);
            viewed.put(servlet, path);
        });
    }

    /**
     * This filter as one protected servlet's dispatches meet it: a dispatch that reached the servlet by
     * name is held under the servlet's protected path; any other passes to the filter as it came.
     */
    private final class ServletView implements Filter {
        private final String servlet;
        private final String path;

        ServletView(String servlet, String path) {
            this.servlet = servlet;
            this.path = path;
        }

        @Override
        public void doFilter(ServletRequest req, ServletResponse res, FilterChain chain) throws IOException, ServletException {
            dispatch(req, res, chain, this);
        }
    }

    /**
     * The servlets under a protected prefix, by name, each with its first such mapping's path, and those
     * whose mappings cover a protected prefix (the default {@code /}, {@code /*}, or {@code /x/*} above a
     * prefix), each with that mapping's path less {@code /*} ({@code ""} for {@code /}), under no prefix:
     * a router there (a Spring Boot {@code DispatcherServlet} at {@code /}) may route a dispatch by name
     * to a protected handler ({@link #routedTarget}; round 396: a forward by name from {@code /legacy/*}
     * to Spring's dispatcher at {@code /} reached {@code /ai/chat} unfiltered, 0 charged for 3,000). In the
     * order the container lists them; empty for a context that cannot list its servlets.
     */
    private Map<String, String> protectedServletsOf(jakarta.servlet.ServletContext context) {
        Map<String, String> names = new LinkedHashMap<>();
        for (jakarta.servlet.ServletRegistration servlet : context.getServletRegistrations().values()) {
            String covering = null;
            for (String mapping : servlet.getMappings()) {
                String path = mapping.endsWith("/*") ? mapping.substring(0, mapping.length() - 2) : mapping;
                if (path.startsWith("/") && match(path) != null) {
                    names.putIfAbsent(servlet.getName(), path);
                    covering = null;
                    break;
                }
                String base = mapping.equals("/") ? "" : mapping.endsWith("/*") ? path : null;
                if (covering == null && base != null && prefixes.stream().anyMatch(p -> covers(base, p))) {
                    covering = base;
                }
            }
            if (covering != null) {
                names.putIfAbsent(servlet.getName(), covering);
            }
        }
        return names;
    }

    /**
     * Warns of prefixes that begin with the context's own path: prefixes are matched inside the context (as
     * {@code getServletPath() + getPathInfo()}), so under {@code server.servlet.context-path=/api} a prefix
     * {@code /api/v1/ai/} copied from the URL a client calls covers {@code /api/api/v1/ai/...} and leaves
     * {@code /api/v1/ai/chat} unprotected (round 347). A warning, not a refusal: such a path may be meant.
     */
    void warnOfContextPath(String contextPath) {
        if (contextPath == null || contextPath.isEmpty() || contextPath.equals("/")) {
            return;
        }
        String root = contextPath.endsWith("/") ? contextPath : contextPath + "/";
        for (String p : prefixes) {
            if (p.regionMatches(true, 0, root, 0, root.length()) || p.equalsIgnoreCase(contextPath)) {
                LOG.warn("the protected prefix {} begins with this context's path {}: prefixes are matched inside"
                        + " the context, so it protects {}{} and not the URLs under {}; drop the context path from"
                        + " it", p, contextPath, contextPath, p, p);
            }
        }
    }

    /**
     * Maps this filter also by the names of the servlets under or over its protected prefixes
     * ({@link #protectedServletsOf}) that have no view of their own ({@link #registerByServletName}), for
     * forwards, includes and error dispatches, so that a dispatch to one by name is held like a request to
     * its path (with several, the first one's that would hold it: the container does not tell which one a
     * dispatch by name reaches). A
     * container that does not let a filter add mappings from {@code init} (the servlet API allows refusing
     * it once the context is initialised) gets a warning naming the servlets: map the filter by their
     * names yourself ({@code <servlet-name>} in a {@code <filter-mapping>}, or {@code FilterRegistration
     * .addMappingForServletNames}), with dispatcher types FORWARD, INCLUDE and ERROR.
     */
    @Override
    public void init(jakarta.servlet.FilterConfig config) {
        // initialised again after destroy() (the same instance, its context restarted): keep holds as before
        keeper.open();
        jakarta.servlet.ServletContext context = config.getServletContext();
        chainsOnce = context.getClass().getName().startsWith("org.apache.catalina.");
        warnOfContextPath(context.getContextPath());
        Map<String, String> names;
        try {
            names = protectedServletsOf(context);
        } catch (RuntimeException unsupported) {
            // a context that cannot list its servlets (a programmatic one in some containers): nothing to add
            return;
        }
        // those with a filter of their own (registerByServletName) are held under their own paths by it
        names.keySet().removeAll(viewed(context).keySet());
        // in the order the container lists them: the fallback of a dispatch by name whose target is not told
        // is the same each time
        protectedServlets.put(context, java.util.Collections.unmodifiableMap(names));
        if (names.isEmpty()) {
            return;
        }
        if (names.size() > 1) {
            LOG.info("a forward or include by name to one of the protected servlets {} is held under the path of"
                    + " the first that would hold it (the container does not tell which one it reaches): call"
                    + " registerByServletName while the context starts to hold each under its own path", names.keySet());
        }
        jakarta.servlet.FilterRegistration own = context.getFilterRegistration(config.getFilterName());
        try {
            if (own == null) {
                throw new IllegalStateException("no registration for filter " + config.getFilterName());
            }
            own.addMappingForServletNames(java.util.EnumSet.of(DispatcherType.FORWARD, DispatcherType.INCLUDE,
                            DispatcherType.ERROR), true,
                    names.keySet().toArray(String[]::new));
        } catch (RuntimeException refused) {
            LOG.warn("could not map the quota filter by the names of the servlets under its protected paths {}"
                    + " ({}): a forward or include to one of them by name would not be held. Map the filter by"
                    + " those servlet names yourself, with dispatcher types FORWARD, INCLUDE and ERROR", names.keySet(),
                    refused.toString());
        }
    }

    @Override
    public void doFilter(ServletRequest req, ServletResponse res, FilterChain chain) throws IOException, ServletException {
        dispatch(req, res, chain, null);
    }

    /**
     * One dispatch through this filter, or (with {@code view}) through the filter standing for it by the
     * name of the protected servlet the dispatch ends at.
     */
    private void dispatch(ServletRequest req, ServletResponse res, FilterChain chain, ServletView view)
            throws IOException, ServletException {
        // a dispatch of the cycle an include or forward left its call to (the cycle's async dispatch, a hop into another
        // context, a pass run again, or one made through the call's own request) is that call's again: its mark
        // and entry are back on the request for the rules below
        if (req.getAttribute(kept) instanceof Kept call && call.reaches(req)) {
            resume(req, call);
            if (call.madeThrough(req)) {
                // a worker's include or forward through the cycle's request runs beside the page's own dispatch,
                // which shares the request's attributes: the call is the page's no more once it returns (round 544)
                try {
                    pass(req, res, chain, view);
                } finally {
                    keepAgain(req, call);
                }
                return;
            }
        }
        pass(req, res, chain, view);
    }

    /** One dispatch through this filter, its call on the request if it has one ({@link #dispatch}). */
    private void pass(ServletRequest req, ServletResponse res, FilterChain chain, ServletView view)
            throws IOException, ServletException {
        // an async dispatch of the call that holds the request is part of it, whatever type the container
        // reports for it (Jetty: REQUEST, a new request of each context it crosses into; crossContextAsync)
        if (req.getAttribute(handled) != null && (req.getDispatcherType() == DispatcherType.ASYNC
                || crossContextAsync(req))) {
            asyncDispatch(req, res, chain);
            return;
        }
        if (req.getDispatcherType() == DispatcherType.REQUEST && req.getAttribute(handled) != null
                && req.getAttribute(passing) == null) {
            // the container runs the request again once the dispatch that held it has returned (a REQUEST
            // dispatch meeting this filter inside its own, mapped by path and by servlet name, is not): Tomcat,
            // when an HTTP/2 stream the client reset fails the async cycle and the endpoint's own complete() is
            // refused, passes the request through its pipeline once more, and the endpoint calls its model again
            // (round 338 under load: two model calls, one charged). While the call that held the request is
            // still under way (its cycle started, not settled) the pass is part of it, as its async dispatches
            // are: it runs through that call's own wrappers, so what it writes or reports is that call's, charged
            // once (rounds 426 and 428: a pass that wrote nothing was charged its estimate on top, one that
            // reported the call's figure or wrote its answer charged it twice), and a figure it reports is added
            // to the call's as an include's is (PassAgain); once that call is over, the pass is a call of its own.
            // A call let through under fail-open is part of it the same way while it runs, met above
            // (crossContextAsync): it has no settlement to pass through
            if (req.isAsyncStarted() && req.getAttribute(settling) instanceof Settlement call && !call.settled()) {
                PassAgain pass = new PassAgain(call.endpointRequest(), call.answer());
                asyncDispatch(pass, pass.answer, chain);
                return;
            }
            unmark(req);
        }
        // an include inside a held dispatch is a fragment of its page; a forward hands the request over
        // and passes through below, its endpoint's figure the holding call's
        if (req.getAttribute(handled) != null && req.getDispatcherType() == DispatcherType.INCLUDE) {
            nested(req, res, chain);
            return;
        }
        // an error page is rendered after the call that failed has settled (a protected endpoint's 404 is
        // released): one under a protected prefix that calls the model is a call of its own, and so is a
        // forward from an error page into one (Tomcat keeps such a forward an ERROR dispatch). While a call
        // of the request is open (its async cycle), an error page the container renders on the request as
        // it came (an async timeout's) is one too; a dispatch inside the open call's chain (the same
        // dispatch passing again, mapped by path and by servlet name; a forward) writes through its
        // response, and is part of it
        // a forward is an error page's when it carries an error's status: Spring's exception resolvers expose the
        // error attributes with status 200 on any view they render, so an @ExceptionHandler's "forward:" to a
        // model endpoint is a call of its own (round 362: released, 0 charged for 3,809)
        boolean errorPage = req.getDispatcherType() == DispatcherType.ERROR
                || (req.getDispatcherType() == DispatcherType.FORWARD
                && req.getAttribute(RequestDispatcher.ERROR_STATUS_CODE) instanceof Integer code && code >= 400);
        if (!(req instanceof HttpServletRequest request) || !(res instanceof HttpServletResponse response)
                || !QUOTED_DISPATCHES.contains(req.getDispatcherType())
                || (req.getAttribute(handled) != null && (!errorPage || EndpointRequest.in(req, handled) != null))) {
            chain.doFilter(req, res);
            return;
        }
        String path = pathOf(request);
        String named = view == null ? namedTarget(request) : viewTarget(request, view);
        if (named != null) {
            // a dispatch by name keeps the caller's paths: the servlet's own protected path stands for them
            path = named;
        }
        String prefix = match(path);
        if (prefix == null && named == null) {
            // the path as sent, dot segments kept: a framework that routes on the request URI (Spring's
            // PathPatternParser) may reach a protected route that the container's normalised path leaves
            String raw = rawPathOf(request);
            prefix = raw == null ? null : match(raw);
            if (prefix != null) {
                path = raw;
            }
        }
        if (prefix == null || isQuotaApi(request)) {
            chain.doFilter(req, res);
            return;
        }
        // OPTIONS (a CORS preflight) and TRACE (the servlet API's echo of the request) ask for no model, with
        // a body too (the servlet API's own doOptions and doTrace answer them), and an error page answers a
        // call that failed; but a route matched by path alone, a relay that forwards every method, or a
        // "did you mean" page may call one for them: they are held as their request is (a body-less one as
        // a GET would be), and charged the usage they report, or (OPTIONS and TRACE) the estimate for
        // content under a 2xx but a TRACE's echo: Settlement#quietNow
        Settlement.Quiet quiet = errorPage ? Settlement.Quiet.ERROR_PAGE
                : "OPTIONS".equals(request.getMethod()) || "TRACE".equals(request.getMethod())
                ? Settlement.Quiet.OPTIONS_OR_TRACE : Settlement.Quiet.NO;
        Object outer = request.getAttribute(settling);
        Object outerMark = request.getAttribute(handled);
        request.setAttribute(handled, Boolean.TRUE);
        Object outerPassing = request.getAttribute(passing);
        request.setAttribute(passing, Boolean.TRUE);
        boolean settlesLater = false;
        try {
            // a path include to a servlet this filter is also mapped to by name meets it twice in a row
            boolean echoes = view == null && named == null && request.getDispatcherType() == DispatcherType.INCLUDE
                    && mappedByName(request);
            settlesLater = filter(request, response, chain, path, quiet, errorPage, echoes);
        } finally {
            request.setAttribute(passing, outerPassing);
            // an async cycle this dispatch started belongs to its hold: its async dispatches find the mark,
            // and a dispatch into a protected path meanwhile is part of the call
            if (!settlesLater && outerMark != null) {
                // an error page of a call whose async cycle is still under way: that call's mark and
                // settlement stay the ones its async dispatches find
                request.setAttribute(settling, outer);
            } else if (!settlesLater) {
                // settled: a later dispatch into a protected path (the page that made this include includes
                // the model again, once per item; the error page that follows a released 404 forwards
                // to the assistant) is a model call of its own
                unmark(request);
            } else if (outerMark == null && (request.getDispatcherType() == DispatcherType.INCLUDE
                    || request.getDispatcherType() == DispatcherType.FORWARD)) {
                // an include or forward that started the request's async cycle returned to its page with its call
                // open: the call is the cycle's, the page goes on (a forward into async mode leaves the response
                // open: Servlet 6.0, 9.4), and its next include or forward is a call of its own (round 544)
                keep(request);
            }
        }
    }

    /**
     * A call an include or forward held (or let through under fail-open) that returned to its page with the async
     * cycle it started still open, its settlement waiting for that cycle's end (a fragment whose model call runs on a
     * worker). The servlet API has one set of attributes for the page and the cycle, so the call's mark, settlement,
     * running mark and {@link #HOLDING} entry stayed on the page's request after the include returned: with one filter
     * the page's next include met the mark and passed as a fragment nested in the call, with another filter over the
     * same store as the subject's call on the request, uncharged either way (round 535: a page's include of the
     * model after an async summary fragment charged 0 for 1,500, or 4,000 for 5,500; "a hold and a charge per
     * include, also after the page started its async cycle"; round 544: the same after a forward that started the
     * cycle, which leaves the response open for the page). So when the include or forward returns the call is kept
     * here, off the page's request, and put back by the dispatch that is the cycle's ({@link #reaches}): for good by
     * one the container makes, which never runs while the page's own dispatch does, and only while it runs by one
     * made through the call's own request ({@link #madeThrough}), which a worker makes while the page may still be
     * rendering (round 544: the worker's include of its view left the mark and entry on the page, whose next
     * include of the model passed uncharged, 4,000 for 5,500).
     *
     * @param endpoint the call's endpoint request; null: a call let through, which has none the filter can find
     */
    private record Kept(ServletRequest endpoint, Object settlement, Object letThrough) {
        /**
         * Whether {@code req} is a dispatch of the cycle: one the container makes (the cycle's async dispatch, a
         * cross-context hop Jetty runs as a REQUEST, a pass run again, an error page), which never runs while the
         * page's own dispatch does, or an include or forward made through the call's own request (its worker's).
         * An include or forward the page makes through its own request is not the call's.
         */
        boolean reaches(ServletRequest req) {
            if (!madeThrough(req)) {
                return true;
            }
            for (ServletRequest r = req; r != null && endpoint != null; r = EndpointRequest.wrapped(r)) {
                if (r == endpoint) {
                    return true;
                }
            }
            return false;
        }

        /**
         * Whether {@code req}, a dispatch that {@link #reaches} the call, is one made through the call's own request
         * (an include or forward, on the worker's thread) rather than one the container makes: it may run while the
         * page's dispatch does, so the call is the request's only while it runs ({@link QuotaFilter#keepAgain}).
         */
        static boolean madeThrough(ServletRequest req) {
            return req.getDispatcherType() == DispatcherType.INCLUDE || req.getDispatcherType() == DispatcherType.FORWARD;
        }
    }

    /**
     * Takes {@code call} off the page's request again when a dispatch made through the call's own request, which put
     * it back ({@link #resume}), returns: the page's dispatch may still be running on the same attributes, and its
     * next include is a call of its own (round 544). Nothing is kept when the request no longer carries the call
     * (its settlement was replaced or taken off meanwhile): there is nothing of it left on the page.
     */
    private void keepAgain(ServletRequest req, Kept call) {
        if (req instanceof HttpServletRequest request && request.getAttribute(handled) != null
                && request.getAttribute(settling) == call.settlement()) {
            keep(request);
        }
    }

    /** Takes the call an include or forward left to its async cycle off the page's request ({@link Kept}). */
    private void keep(HttpServletRequest request) {
        Object settlement = request.getAttribute(settling);
        Kept call = new Kept(settlement instanceof Settlement s ? s.endpointRequest() : null, settlement,
                request.getAttribute(letThrough));
        Map<Held, Kept> left = kept(request);
        holding(request).forEach((held, owner) -> {
            if (handled.equals(owner)) {
                left.put(held, call);
            }
        });
        unmark(request);
        request.setAttribute(kept, call);
    }

    /** Puts the call an include left to its async cycle back on the request, for a dispatch of that cycle. */
    private void resume(ServletRequest request, Kept call) {
        request.removeAttribute(kept);
        request.setAttribute(handled, Boolean.TRUE);
        if (call.settlement() != null) {
            request.setAttribute(settling, call.settlement());
        }
        if (call.letThrough() != null) {
            request.setAttribute(letThrough, call.letThrough());
        }
        if (request.getAttribute(KEPT) instanceof Map<?, ?> left && request instanceof HttpServletRequest http) {
            Map<Held, String> holders = holding(http);
            left.forEach((held, owner) -> {
                if (owner == call) {
                    holders.putIfAbsent((Held) held, handled);
                }
            });
            left.values().removeIf(v -> v == call);
        }
    }

    /** The calls includes left to their async cycles on this request ({@link #KEPT}), created empty on first use. */
    @SuppressWarnings("unchecked")
    private static Map<Held, Kept> kept(HttpServletRequest request) {
        if (request.getAttribute(KEPT) instanceof Map<?, ?> left) {
            return (Map<Held, Kept>) left;
        }
        Map<Held, Kept> left = new java.util.concurrent.ConcurrentHashMap<>();
        request.setAttribute(KEPT, left);
        return left;
    }

    /**
     * Whether a quota filter's call for {@code held} is under way on {@code request} ({@link #HOLDING}), or was left
     * by an include to its async cycle and {@code request} is a dispatch of that cycle ({@link Kept#reaches}).
     */
    private static boolean callOnRequest(HttpServletRequest request, Held held) {
        if (holding(request).containsKey(held)) {
            return true;
        }
        return request.getAttribute(KEPT) instanceof Map<?, ?> left && left.get(held) instanceof Kept call
                && call.reaches(request);
    }

    /**
     * Whether {@code req}, a REQUEST dispatch carrying this filter's mark, is an async dispatch the container made
     * of the call that holds it across contexts. Tomcat reports such a dispatch as ASYNC, as the servlet API names
     * it, but Jetty 12 runs {@code AsyncContext.dispatch(ServletContext, String)} to another context as a new request
     * of that context, of type REQUEST, over the call's own request (its attributes, so this filter's mark and
     * settlement, and its answer) and with no async cycle of its own. One filter instance registered in both
     * contexts met it there as a pass run again after its call was over, held it as a call of its own and charged
     * the one model call twice (round 465: 3,000 for 1,500). Each further cross-context hop is again such a new
     * request, so one that bounces back lands in the call's own context (/a, async to /b, async back to /a's model;
     * round 471: 3,000 for 1,500, with one filter instance or two): the context it lands in tells nothing. What
     * tells is the request: a request other than the call's own (under every wrapper) can carry the call's open
     * settlement only as a dispatch the container made of the call's request, so it is part of the call, as its
     * async dispatches are, whatever its context. A pass the container runs again is the call's own request (the
     * same container request beneath the wrappers of any forward the call was held behind, a cross-context one
     * included: {@link #dispatch}, round 338), and stays what it was.
     *
     * <p>A call let through under fail-open has no settlement, only its running mark ({@link SeenKeys.Call}, the
     * {@code letThrough} attribute, keyed or not: round 520): while it runs, a dispatch of its request is part of it too, whether a
     * cross-context one or the container's pass run again (a keyed one was answered 409 as a replay of its own key,
     * an unkeyed one reserved and charged as a new call). Both are let through as its async dispatches are, with no
     * wrapper of a call's to route them through and nothing to charge, so they need not be told apart.
     */
    private boolean crossContextAsync(ServletRequest req) {
        if (req.getDispatcherType() != DispatcherType.REQUEST) {
            return false;
        }
        if (req.getAttribute(settling) instanceof Settlement call && !call.settled()) {
            // identity only: nothing is asked of the call's request, which the container may have let go of
            return innermost(req) != innermost(call.endpointRequest());
        }
        return req.getAttribute(letThrough) instanceof SeenKeys.Call seen && !seen.over();
    }

    /** The container's request beneath every wrapper of {@code request}. */
    private static ServletRequest innermost(ServletRequest request) {
        ServletRequest r = request;
        for (ServletRequest inner = EndpointRequest.wrapped(r); inner != null; inner = EndpointRequest.wrapped(r)) {
            r = inner;
        }
        return r;
    }

    /**
     * A pass the container runs again while the call that held the request is under way, as that call's
     * endpoint sees it ({@link #dispatch}): the figure it reports ({@link #ACTUAL_TOKENS_ATTRIBUTE}, or the
     * {@link #ACTUAL_TOKENS_HEADER} it sets on its answer or as a trailer field: {@link Answer}) is kept here
     * and added to the call's charge, as an include's is, never taking the place of the call's own figure nor
     * mixed with what the call's worker reports meanwhile (round 429: the pass's report of 0 for itself made the
     * call's 5,000 free, and its own call's 3,000 replaced the worker's 5,000). It is read when the call's charge
     * is, not when the pass returns ({@link EndpointRequest#nestedReporting}), by this filter's call and by every
     * other quota filter's the call's request wraps (round 436: a team's as well as a user's). It is the
     * {@link FigureHolder} of an include made inside it: the include's figure is recorded apart and registered with
     * the same calls, never taking the pass's single slot (round 443: a fragment's 2,000 lost to the pass's 3,000).
     */
    private static final class PassAgain extends HttpServletRequestWrapper implements FigureHolder {
        /** The answer as the pass writes it: the call's, but for the figure header and trailer fields. */
        final Answer answer;
        /** The figure the pass set as the attribute (the last); null: none. Set by its workers, read by the settlement's thread. */
        private volatile Object reported;

        PassAgain(EndpointRequest call, QuotaResponse answer) {
            super(call);
            this.answer = new Answer(answer);
            // registered before the pass runs: a pass that throws settles the call at once, with its figure
            EndpointRequest.nestedReporting(call, this::figure);
        }

        /**
         * The pass's figure as a call's is read: the attribute, else the header, else its trailer field, which is
         * asked only when the call settles ({@link EndpointRequest.NestedFigure#read}).
         */
        private Object figure(boolean settling) {
            Object own = reported;
            return own != null ? own : answer.reported(settling);
        }

        @Override
        public Object reportedActual() {
            return reported;
        }

        @Override
        public void restoreReportedActual(Object before) {
            reported = before;
        }

        /** An include's figure counts with every call the pass's does. */
        @Override
        public void nestedReported(EndpointRequest.NestedFigure figure) {
            EndpointRequest.nestedReporting(getRequest(), figure);
        }

        @Override
        public void setAttribute(String name, Object value) {
            if (!ACTUAL_TOKENS_ATTRIBUTE.equals(name)) {
                super.setAttribute(name, value);
            } else if (value != null) {
                reported = value;
            }
        }

        // a figure outlives the attribute's removal, as EndpointRequest keeps it: a framework removes the
        // attributes an include added (Spring's DispatcherServlet), and an include inside the pass reports so;
        // the call's own attribute beneath (its worker's) is not the pass's to remove
        @Override
        public void removeAttribute(String name) {
            if (!ACTUAL_TOKENS_ATTRIBUTE.equals(name)) {
                super.removeAttribute(name);
            }
        }

        @Override
        public Object getAttribute(String name) {
            return ACTUAL_TOKENS_ATTRIBUTE.equals(name) ? reported : super.getAttribute(name);
        }

        /**
         * The call's answer as the pass writes it: the figure header ({@link #ACTUAL_TOKENS_HEADER}) the pass sets
         * or adds, and the trailer fields it sets, are kept here, the pass's own, its figure read as a call's is when
         * the call's charge is (round 436: a pass's header of 0 became the call's figure); the rest is the call's.
         */
        static final class Answer extends jakarta.servlet.http.HttpServletResponseWrapper {
            /** The header's value as the pass set it (added values joined by ", ", as HTTP lists them). */
            private String reported;
            /** The trailer fields the pass set: its own, not the call's (they would replace the call's). */
            private java.util.function.Supplier<Map<String, String>> trailers;

            Answer(QuotaResponse answer) {
                super(answer);
            }

            /**
             * The pass's figure: its header, else (the call settling) the figure among its trailer fields. The
             * supplier is asked only then, and not under this answer's lock: it is the application's, and may wait
             * for the worker that fills it in (a running figure must not hold up the subject's next request).
             */
            String reported(boolean settling) {
                java.util.function.Supplier<Map<String, String>> fields;
                synchronized (this) {
                    if (reported != null || trailers == null || !settling) {
                        return reported;
                    }
                    fields = trailers;
                }
                Map<String, String> trailer;
                try {
                    trailer = fields.get();
                } catch (RuntimeException failed) {
                    // the call settles all the same: its own figure, the usage or the estimate decides
                    LOG.warn("the trailer fields of a pass run again could not be read: {}", failed.toString());
                    return null;
                }
                if (trailer != null) {
                    for (Map.Entry<String, String> f : trailer.entrySet()) {
                        if (figure(f.getKey())) {
                            return f.getValue();
                        }
                    }
                }
                return null;
            }

            @Override
            public synchronized void setTrailerFields(java.util.function.Supplier<Map<String, String>> supplier) {
                trailers = supplier;
            }

            private boolean figure(String name) {
                return ACTUAL_TOKENS_HEADER.equalsIgnoreCase(name);
            }

            @Override
            public synchronized void setHeader(String name, String value) {
                if (figure(name)) {
                    reported = value;
                } else {
                    super.setHeader(name, value);
                }
            }

            @Override
            public synchronized void addHeader(String name, String value) {
                if (figure(name)) {
                    // a null added is ignored, as containers ignore it
                    if (value != null) {
                        reported = reported == null ? value : reported + ", " + value;
                    }
                } else {
                    super.addHeader(name, value);
                }
            }

            @Override
            public void setIntHeader(String name, int value) {
                if (figure(name)) {
                    setHeader(name, Integer.toString(value));
                } else {
                    super.setIntHeader(name, value);
                }
            }

            @Override
            public void addIntHeader(String name, int value) {
                if (figure(name)) {
                    addHeader(name, Integer.toString(value));
                } else {
                    super.addIntHeader(name, value);
                }
            }

            @Override
            public synchronized boolean containsHeader(String name) {
                return figure(name) ? reported != null : super.containsHeader(name);
            }

            @Override
            public synchronized String getHeader(String name) {
                return figure(name) ? reported : super.getHeader(name);
            }
        }
    }

    /** Forgets this filter's call on the request: a later dispatch into a protected path is a call of its own. */
    private void unmark(ServletRequest request) {
        request.removeAttribute(handled);
        request.removeAttribute(settling);
        request.removeAttribute(letThrough);
        if (request.getAttribute(HOLDING) instanceof Map<?, ?> holders) {
            holders.values().removeIf(handled::equals);
        }
    }

    /** The subjects quota filters hold on this request ({@link #HOLDING}), created empty on first use. */
    @SuppressWarnings("unchecked")
    private static Map<Held, String> holding(HttpServletRequest request) {
        if (request.getAttribute(HOLDING) instanceof Map<?, ?> holders) {
            return (Map<Held, String>) holders;
        }
        Map<Held, String> holders = new java.util.concurrent.ConcurrentHashMap<>();
        request.setAttribute(HOLDING, holders);
        return holders;
    }

    /** A subject held on a store: {@link #heldOn}, by its equality. */
    private record Held(QuotaLedger ledger, String subject) {
    }

    /**
     * Tells every other quota filter over this store ({@link #HOLDING}) that this filter's call for {@code subject}
     * is under way on {@code request}: a held call, or one let through uncharged under fail-open ({@link
     * #unavailable}). Either is the subject's one model call, and a dispatch of its request that meets another
     * filter's protected path (a forward or include, the request under both prefixes, an async hop into another
     * context whose application runs its own filter) passes through that filter. A let-through call's running mark
     * ({@code letThrough}) is this instance's own attribute, which another filter never reads: it was held there as
     * a new call once the store was back and charged (round 525: 1,500, or 1,000 for a hop that only rendered the
     * answer, for a call let through uncharged; with one instance in both contexts, 0: round 520). The entry goes
     * when this filter forgets its call ({@link #unmark}), as a held call's does, and moves to {@link #KEPT} while an
     * include's call waits for the cycle it started ({@link #keep}).
     */
    private void holdsOnRequest(HttpServletRequest request, String subject) {
        holding(request).putIfAbsent(new Held(heldOn, subject), handled);
    }

    /**
     * Holds, runs and settles one call; {@code true} when its settlement waits for the async cycle the
     * call started.
     */
    private boolean filter(HttpServletRequest request, HttpServletResponse response, FilterChain chain,
                           String path, Settlement.Quiet quiet, boolean errorPage, boolean echoes)
            throws IOException, ServletException {
        String subject = subjects.resolve(request);
        // another quota filter over this store already holds this subject's call on this request: a forward or include into this
        // filter's path (round 325), or the request itself under both filters' prefixes (round 363: "/ai/" and
        // "/ai/agents/" nested, the call was charged twice, and a keyed one refused as a replay of itself). It is
        // one model call, held and settled by the filter that met it first, with that filter's settings
        if (subject != null && !errorPage && callOnRequest(request, new Held(heldOn, subject))) {
            chain.doFilter(request, response);
            return false;
        }
        if (subject == null) {
            if (quiet == Settlement.Quiet.OPTIONS_OR_TRACE && !carriesBody(request) && isPreflight(request)) {
                // a browser's preflight carries no credentials: nobody to charge, and a 401 would fail its
                // CORS check. An error page is refused as any call is: dropping the credentials (or making
                // the resolver distrust them) must not make the page's model call free
                chain.doFilter(request, response);
                return false;
            }
            Problems.send(response, 401, Problems.UNAUTHENTICATED, "the request carries no authenticated subject");
            return false;
        }
        Charset charset = declaredCharset(request);
        if (charset == null) {
            Problems.send(response, 415, Problems.UNSUPPORTED_MEDIA_TYPE,
                    "the request declares a character encoding this server does not know");
            return false;
        }
        // the container's charset, and any other its Content-Type names that an endpoint may read it in
        List<Charset> labels = BodyText.readings(charset, BodyText.labelled(request.getContentType()));
        // per-prefix settings follow the request's path: the longest configured prefix covering it wins,
        // also one under the protected prefix that matched ("/ai/chat/" under "/ai/")
        long limit = longestPrefix(maxBodies, path, maxBodyBytes);
        // an error page's request body belongs to the call that failed, which read it or left it unread:
        // the page is held as a body-less request
        if (!errorPage && request.getContentLengthLong() > limit) {
            Problems.bodyTooLarge(request, response, limit);
            return false;
        }
        // every body is read and estimated whatever its Content-Type claims: most model endpoints
        // parse JSON without looking at the label, so a label must not shrink the hold
        HttpServletRequest forward;
        long estimate;
        // a body whose output budget may be lowered (to the cap, or to fit the balance): JSON the filter
        // forwards as it read it
        byte[] spliceable = null;
        // the body as read, for the request's digest under which a 304 finds the answer it names
        byte[] kept = null;
        // the body as the endpoint reads it (inflated): the message ids a client resending its thread sent
        byte[] readBody = null;
        // whether the request sends a body (a multipart one's is read by parts): what a call sends
        boolean sendsBody = false;
        // the body's bytes, the most of any reading (as sent, inflated, the JSON a binary body stands for): what a
        // token count's answer cannot carry more than (UsageSniffer#countsTheRequest)
        long sentBytes = 0;
        // the state kept at the provider that the request names (a stored Response, a conversation, a
        // stored prompt), and what the filter saw it cost
        ProviderState.Reading state = providerState.read(ProviderState.Refs.NONE, false);
        // what the subject's last call at this reasoning effort wrote, held beyond the default budget: a guess
        long guessed = 0;
        // with weights: every model the request names, wherever an endpoint may read it
        ModelWeights weights = weightsFor(path);
        Weighing.Candidates models = weights == null ? null : new Weighing.Candidates(weights);
        if (models != null) {
            models.fromPath(path);
        }
        // a budget or n in the query string is read as in a JSON body when the request has no JSON body:
        // the servlet API (and Spring's @RequestParam) merges the query string into the parameters a
        // form, multipart or GET endpoint reads; beside a JSON body only its budget counts (estimateAs)
        String query = queryOf(request);
        RequestEstimator.Asked asked = new RequestEstimator.Asked();
        Map<String, List<String>> queryFields = new LinkedHashMap<>();
        if (query != null && !query.isEmpty()) {
            BufferedRequest.decode(query, StandardCharsets.UTF_8, queryFields);
            queryFields.forEach((name, values) -> values.forEach(value -> readParameter(name, value, asked)));
            if (models != null) {
                models.fromParameters(queryFields);
            }
        }
        // a file uploaded to the provider (no model call), the step of a multi-part one, or null
        FileUpload upload = errorPage ? null : FileUpload.of(path, isMultipart(request),
                request.getHeader(FileUpload.GEMINI_COMMAND) != null);
        if (!errorPage && isMultipart(request)) {
            // an image endpoint's files are the images the model edits: its input, at OpenAI's rate
            boolean drawing = ImageOutput.drawsAt(path);
            // a file uploaded to the provider is measured as the model will read it where a request names it,
            // also in parts (OpenAI's Uploads API) unless they are a batch's requests
            boolean uploadsFile = upload != null && (upload.step() == FileUpload.Step.FILE
                    || upload.step() == FileUpload.Step.PART && !providerState.batchUpload(upload.uploadId()));
            MultipartBody parts = MultipartBody.read(request, limit, charset, estimator::text,
                    drawing || uploadsFile ? MediaSize.Rate.OPENAI : null,
                    uploadsFile && upload.step() == FileUpload.Step.PART && providerState.pdfUpload(upload.uploadId()));
            sendsBody = true;
            sentBytes = parts.size();
            if (parts.tooLarge()) {
                Problems.bodyTooLarge(request, response, limit);
                return false;
            }
            if (parts.unreadable()) {
                Problems.send(response, 415, Problems.UNSUPPORTED_MEDIA_TYPE, "this endpoint cannot read multipart bodies"
                        + " (no multipart configuration, or over the container's own multipart limits)");
                return false;
            }
            // a field's value, and a file's text, by the one rule: a budget, or a JSON request (a JSON
            // request uploaded as a file under any label, curl's application/octet-stream, is parsed
            // by an endpoint as one sent as a field is)
            parts.fields().forEach((name, values) -> values.forEach(value -> readParameter(name, value, asked)));
            parts.files().forEach((name, values) -> values.forEach(value -> readParameter(name, value, asked)));
            if (models != null) {
                models.fromParameters(parts.fields());
            }
            // a JSON part counts as a JSON body would, and its budget and n as the request's own
            long jsonInput = 0;
            StringBuilder text = new StringBuilder(parts.text());
            for (MultipartBody.JsonPart part : parts.json()) {
                // read as a body is (readings), in every charset its label names: round 369, a part labelled
                // charset=IBM037 (Spring's Jackson converter decodes it so) read as bytes alone hid its max_tokens,
                // charged 1,921 for 12,800 and served a 16,000 budget past the allowance. Every reading that is
                // JSON counts, the largest kept (an endpoint binds the part as JSON); none: the costliest text
                long partInput = -1;
                String costliest = null;
                long most = -1;
                for (Reading reading : readings(part.bytes(), part.charsets())) {
                    RequestEstimator.Estimate e = estimatorFor(path).estimate(reading.json());
                    if (e != null) {
                        partInput = Math.max(partInput, clamp(e.inputTokens(), media(e)));
                        asked.include(e);
                    } else {
                        // broken JSON: its text, as any other text part
                        String decoded = new String(part.bytes(), reading.charset());
                        long cost = textTokens(decoded);
                        if (cost > most) {
                            most = cost;
                            costliest = decoded;
                        }
                    }
                }
                if (partInput >= 0) {
                    jsonInput = clamp(jsonInput, partInput);
                } else {
                    text.append(costliest).append('\n');
                }
            }
            if (upload != null && upload.step() == FileUpload.Step.FILE
                    && parts.fields().getOrDefault("purpose", List.of()).contains(FileUpload.BATCH)) {
                // a file and its purpose: a batch's input file is estimated as the batch it will be
                upload = upload.withFigure(batchLines(uploadedBytes(parts), path));
            } else if (upload != null && upload.step() == FileUpload.Step.PART && providerState.batchUpload(upload.uploadId())) {
                // a part of a batch's input file: its lines, joined to the last one the part before left cut
                upload = upload.withPart(uploadedBytes(parts), lines -> batchLines(lines, path));
            }
            if (parts.pdfPiece() != null) {
                // a piece of a PDF uploaded in parts: its pages are counted with the pieces beside it
                upload = upload.withPart(parts.pdfPiece(), null);
            }
            // a file's sound; and its pictures, except where it is transcribed: a model reading a video
            // (Gemini) is billed by its length, its sound with it
            long audio = parts.audioMillis() < 0 ? 0 : AudioDuration.transcribes(path) ? AudioDuration.inputTokens(parts.audioMillis())
                    : MediaSize.playedTokens(new AudioDuration.Played(parts.audioMillis(), parts.videoMillis()),
                    AudioDuration.AUDIO_TOKENS_PER_SECOND);
            // the fields, text files and JSON parts, and files that read as text rather than audio
            long input = AudioDuration.saturatingAdd(AudioDuration.saturatingAdd(estimator.text(text) + jsonInput,
                    parts.textTokens()), parts.mediaTokens());
            if (uploadsFile && !drawing) {
                if (upload.figure() < 0) {
                    // what the model reads of the file where a later request names it by id: its text, its
                    // pages and images, its audio
                    upload = upload.withFigure(clamp(input, audio));
                }
                // the upload itself is held as before: its pages are read by the calls that name it
                input = Math.max(0, input - parts.mediaTokens());
            }
            if (parts.audioMillis() >= 0 && AudioDuration.transcribes(path)) {
                // a transcription writes what the model heard, no more: held at the audio and the transcript
                // it may write, not the fallback (answered as plain text it reports no usage and is charged
                // this); a budget the request names (or a JSON part's, as a JSON body's) when it is more
                long output = Math.max(AudioDuration.transcriptTokens(parts.audioMillis()),
                        asked.asks() || !parts.json().isEmpty() ? output(asked, path) : 0);
                estimate = clamp(clamp(input, audio), output);
                asked.countOutput(output);
            } else {
                // its fields, text files and audio, plus the output budget a JSON body of the same fields
                // gets: an endpoint that answers about audio may write at length; an image model's image
                // (an edit sent as multipart, as OpenAI's SDKs send it) counts as in a JSON body, read from
                // the fields the endpoint's parameters merge (the query string's too)
                Map<String, List<String>> fields = new LinkedHashMap<>(queryFields);
                parts.fields().forEach((name, values) -> fields.merge(name, values, (a, b) -> {
                    List<String> both = new ArrayList<>(a);
                    both.addAll(b);
                    return both;
                }));
                long image = ImageOutput.tokens(fields, drawing);
                long output = output(image > 0 ? Math.max(asked.budget, image) : asked.budget, asked.orDefault,
                        asked.completions, path);
                estimate = Math.max(textEstimate(text, path), clamp(clamp(input, audio), output));
                asked.countOutput(output);
            }
            forward = request;
        } else {
            byte[] body = errorPage ? new byte[0] : readBounded(request.getInputStream(), request.getContentLengthLong(), limit);
            kept = body;
            if (body == null) {
                Problems.bodyTooLarge(request, response, limit);
                return false;
            }
            // a compressed body is estimated (and size-limited) as the endpoint will read it, inflated
            // every line of the field counts: they are one list of codings (RFC 9110 section 5.3)
            byte[] readable = decoded(body, String.join(",", java.util.Collections.list(request.getHeaders("Content-Encoding"))),
                    limit);
            if (readable == TOO_LARGE) {
                Problems.bodyTooLarge(request, response, limit);
                return false;
            }
            if (readable == null) {
                Problems.send(response, 415, Problems.UNSUPPORTED_MEDIA_TYPE,
                        "the request's Content-Encoding is not one the quota filter can read (gzip, deflate)");
                return false;
            }
            readBody = readable;
            sendsBody = readable.length > 0;
            sentBytes = Math.max(body.length, readable.length);
            // a KServe v2 request with binary tensors is estimated as the JSON it stands for
            String binaryTensors = request.getHeader(KserveBinary.HEADER);
            byte[] tensorsAsJson = binaryTensors == null ? null : KserveBinary.asJson(readable, binaryTensors);
            sentBytes = Math.max(sentBytes, tensorsAsJson == null ? 0 : tensorsAsJson.length);
            estimate = estimateOf(tensorsAsJson != null ? tensorsAsJson : readable, labels,
                    BodyText.isMedia(request.getContentType()), path, asked);
            // a CBOR or Smile body (Spring binds both as JSON) is estimated as the JSON it stands for, and as it
            // came too: an endpoint that ignores the label reads the bytes, so the larger reading is held
            BinaryJson.Reading binaryAsJson = BinaryJson.read(readable, request.getContentType());
            if (binaryAsJson != null) {
                estimate = Math.max(estimate, estimateOf(binaryAsJson.json(), List.of(), false, path, asked));
                sentBytes = Math.max(sentBytes, binaryAsJson.json().length);
            }
            if (isForm(request)) {
                Map<String, List<String>> fields = new LinkedHashMap<>();
                if (readable.length == 0) {
                    // a filter before this one parsed (and consumed) the form, whatever the method: Spring
                    // Security's CSRF check makes the container parse a POST, Spring's FormContentFilter
                    // parses a PUT, PATCH or DELETE itself; the parameters are what the endpoint reads
                    bodyParameters(request, query).forEach(fields::put);
                } else {
                    BufferedRequest.decode(new String(readable, charset), charset, fields);
                }
                estimate = Math.max(estimate, formEstimate(fields, asked, path));
                if (models != null) {
                    models.fromParameters(fields);
                }
            }
            forward = new BufferedRequest(request, body, charset);
            // only bytes forwarded as they were read can be spliced (not a compressed body), in UTF-8
            // (other labels are read two ways, at other offsets); a form's fields are not rewritten
            if (readable == body && tensorsAsJson == null && binaryAsJson == null && readsAsUtf8(body, labels)
                    && !isForm(request)) {
                spliceable = body;
            }
            // a Responses call that continues a stored Response or a conversation, or names a stored
            // prompt, makes the model read them: what this filter saw them cost is input of this call
            // (a stream cut before its last event is charged the estimate, which must not leave them out)
            ProviderState.Refs refs = ProviderState.Refs.of(readable, labels, estimator::text).calledBy(path, subject);
            // a request that bounds no output and names no effort runs a reasoning model at its default
            // effort, which the provider bills as a named one: it has a figure of its own (learnt only
            // from answers that report reasoning, so never for a model that does not reason)
            state = providerState.read(asked.budgetNamed() ? refs : refs.unbounded(path), asked.mediaItems() == 0);
            estimate = clamp(estimate, state.held());
            if (!asked.budgetNamed() && state.reasoning() != null) {
                // a reasoning effort without a budget (named, or the model's default) writes what the model
                // decides: what it wrote before, in place of the default budget
                long beyond = Math.max(0, times(state.reasoning(), asked.completions) - output(-1, asked.completions, path));
                guessed = beyond;
                estimate = clamp(estimate, beyond);
                asked.countOutput(clamp(asked.countedOutput(), beyond));
            }
        }
        // the query string counts too: a prompt can ride in ?prompt=... as well as in the body
        if (query != null && !query.isEmpty()) {
            estimate = clamp(estimate, estimator.text(decodedQuery(query)));
        }
        // and so can the path (a route /ai/explain/{question}): a path longer than routes are carries text
        if (path.length() > ROUTE_LENGTH) {
            estimate = clamp(estimate, estimator.text(path));
        }
        // nothing the client sends may make the answer unreadable (gzip, a range) or fail it after the
        // model answered (a charset no encoder has), and an async answer goes through the usage reader
        EndpointRequest endpointRequest = new EndpointRequest(forward);
        if (models != null) {
            // the models of every JSON reading the estimate counted (each charset, part, parameter and
            // batched request), read by the estimator's own walk: the hold is weighed for that text
            asked.models().forEach(models::add);
        }
        Weighing weighing = models == null ? null : new Weighing(weights, models.models());
        Fitted cappedBody = null;
        // output past the cap an endpoint is sent unlowered (a token count's budget the filter cannot rewrite)
        long beyondCap = 0;
        if (asked.aboveCap || asked.budget > outputBudgetCap) {
            // the endpoint is never asked for more than the cap: what an answer without usage is charged.
            // Beside a JSON body the parameters' budget is the query string's, which cannot be rewritten.
            // A token count ignores the budget, so lowering it changes nothing there
            cappedBody = spliceable == null || asked.budget > outputBudgetCap ? null
                    : capped(spliceable, estimate, asked.countedOutput(), path);
            if (cappedBody != null) {
                spliceable = cappedBody.body();
            } else if (UsageSniffer.countsTokens(path)) {
                // a token count is neither refused nor held for a budget it ignores (an SDK counts the
                // whole request it will send); but the path is the client's to choose, and a model it
                // reaches may write the whole budget: an answer that is no count is charged it (below).
                // Not fitted: the body goes as it came
                beyondCap = Math.max(asked.beyondCap(), asked.budget > outputBudgetCap
                        ? times(asked.budget - outputBudgetCap, asked.completions) : 0);
                spliceable = null;
            } else {
                Problems.send(response, 422, Problems.OUTPUT_BUDGET_TOO_LARGE, "the request asks for more than "
                        + outputBudgetCap + " output tokens per completion (the output budget cap), where the quota"
                        + " filter cannot lower it (a form or query parameter, a compressed or non-UTF-8 body, a"
                        + " batch, a budget nested in the body): ask for at most " + outputBudgetCap);
                return false;
            }
        }
        // the key names the client's call, which an error page only answers for: the page's hold takes none,
        // or the key would be replayed (409 in place of the page) or spent by the page
        String key = errorPage ? null : request.getHeader(IDEMPOTENCY_KEY_HEADER);
        // the pair the filter's record of keys knows the key by, digested once for every question asked of it
        java.nio.ByteBuffer pair = key == null ? null : SeenKeys.pair(subject, key);
        if (pair != null && seenKeys.letThroughOnly(pair)) {
            // the store never saw this key: a call with it was let through while the store was away. A key the
            // store saw is the store's to answer while it answers (its replay carries the account)
            usedUnderFailOpen(response, "went through while the quota ledger was unavailable");
            return false;
        }
        // a reserve expires the subject's holds past their TTL: those of its calls still running first
        // move on; its settlements under way land first, or what they owe is counted below. Before the
        // fitting, which fits to what is left once that is paid (round 359: a team-mate's stream that had
        // reported 15,000 of the team's 20,000 on a 1,008 hold left 5,000, and a call asking 8,000 was
        // fitted to the ledger's 18,992, held unfitted and refused 429 for the 13,992 owed, not sent 4,992)
        UnlandedCharges.Owed owed = keeper.beforeReserve(subject);
        Fitted fitted = spliceable == null || fitMinimum == 0 ? null
                : fit(subject, owed, spliceable, charset, estimate, asked.countedOutput(), asked.budget, weighing, path,
                query, state.held());
        if (fitted == null) {
            fitted = cappedBody;
        }
        // the fitted body goes to the endpoint only once its hold is granted; fail-open lets the
        // client's own body through, uncharged, as without fitting
        EndpointRequest held = endpointRequest;
        long output = asked.countedOutput();
        if (fitted != null) {
            held = new EndpointRequest(new BufferedRequest(request, fitted.body(), charset, true));
            estimate = fitted.estimate();
            output = fitted.output();
        }
        // what a report of the output alone leaves out (TGI, Ollama's cached prompt), in raw tokens
        long inputEstimate = Math.max(0, estimate - output);
        // under CAP_AT_HOLD, the hold without the guessed figure: what a first call of its kind is held (below)
        long unguessed = fitted == null && guessed > 0 && ledger.policy().overrunPolicy() == io.tokenquota.OverrunPolicy.CAP_AT_HOLD
                ? held(weighing, Math.max(0, estimate - guessed), Math.max(0, output - guessed)) : -1;
        // input at the model's input rate, the requested output budget at its output rate
        estimate = held(weighing, estimate, output);

        Reserved reserved;
        try {
            if (unguessed >= 0) {
                // under CAP_AT_HOLD a call is charged at most its hold, so a guess guards no allowance and is no
                // reason to refuse (round 277: one long answer at an effort refused every later call at that
                // effort for the month, since a refused call teaches nothing): a call that fits without it is
                // held as much of it as fits. Under CHARGE_ACTUAL the guess keeps a call that would overdraw
                // from running (round 111). The balance is read first, as fitting reads it, so that no refusal
                // is logged for a call that is served
                // the stricter of the member's account and its team's (round 299: the member's own balance
                // let a learnt figure the team could not give refuse every later call), each less what it owes
                long room = room(subject, owed);
                if (room < estimate && unguessed <= room) {
                    estimate = room;
                }
            }
            if (owed.any()) {
                // refused before it holds anything, so that an Idempotency-Key is not spent on a refusal; what
                // this month is not owed (round 433: an earlier month's overrun it pays itself) refuses nothing
                // here: the reserve refuses what it must, as the ledger does (its scope and event)
                QuotaAccount now = ledger.account(subject);
                long owes = owes(owed, now);
                if (owes > 0 && now.available() < estimate + owes) {
                    throw new QuotaExceededException(subject, Math.min(Limits.MAX_TOKENS, estimate + owes),
                            now.limit(), spendable(now.available(), owes), ledger.policy().resetOf(now.month()));
                }
            }
            reserved = ledger.reserve(HoldRequest.of(subject, estimate)
                    .idempotencyKey(key).ttl(holdTtl)
                    .endpoint(label(path)).build());
        } catch (QuotaExceededException e) {
            Problems.exceeded(response, e, ledger.policy());
            return false;
        } catch (QuotaException e) {
            if (e.code() == ErrorCode.STORE_UNAVAILABLE) {
                return unavailable(endpointRequest, response, chain, subject, pair, e);
            }
            Problems.send(response, e);
            return false;
        } catch (RuntimeException e) {
            return unavailable(endpointRequest, response, chain, subject, pair, e);
        }
        // the key is this filter's to remember: a retry that meets an outage is not let through as a first request
        SeenKeys.Call seen;
        try {
            seen = pair == null ? null : seenKeys.reserved(pair);
        } catch (SeenKeys.Full full) {
            if (!reserved.replayed()) {
                // every key the filter keeps is a running call's: served unrecorded, this call's retry in an
                // outage would buy a second model call, and forgetting a running call's key would let its retry do
                // so. Its hold is released, nothing charged, and its key is spent on the store as any key of a
                // released hold is (round 345): 409, as a retry with the key would get; a new key serves the call
                release(reserved.reservation(), "of a key the filter cannot record");
                LOG.warn("refusing the keyed request of {}: {} keyed calls are running, as many as the filter"
                        + " records", subject, seenKeys.size());
                Problems.send(response, ErrorCode.IDEMPOTENCY_CONFLICT.httpStatus(),
                        ErrorCode.IDEMPOTENCY_CONFLICT.type(), "Idempotency-Key was spent on a hold this filter"
                                + " released: it records as many running keyed calls as it can; send the call again"
                                + " with a new key");
                return false;
            }
            // the store's replay, answered 409 below: nothing of it runs
            seen = null;
        }
        if (pair != null && seen == null && !reserved.replayed()) {
            // a request with this key was let through while this reserve was on its way to the store, which never
            // saw that call and took this one as a first request: it is that call's replay. Its new hold is
            // released, nothing charged (round 508: both were served, two model calls for one key). A replay the
            // store answered is the first request's hold, answered below
            release(reserved.reservation(), "of a key let through while it was reserved");
            usedUnderFailOpen(response, "went through while the quota ledger was unavailable");
            return false;
        }
        // until the settlement owns the key's call (whenEnds), every way out ends it, a throw too: a call never
        // ended would keep its key among the running ones for good
        SeenKeys.Call unowned = seen;
        try {
            // a team member's headers show the stricter of its own account and its team's: the one that
            // refuses its next request first
            QuotaAccount account = reserved.team() != null && reserved.team().available() < reserved.account().available()
                    ? reserved.team() : reserved.account();
            if (reserved.replayed()) {
                // the first request with this key owns it (and its one model call); a response cannot be replayed.
                // The refusal is a protected response like any other: it carries the account's fields
                QuotaHeaders.set(response, account, ledger.policy());
                Problems.send(response, ErrorCode.IDEMPOTENCY_CONFLICT.httpStatus(), ErrorCode.IDEMPOTENCY_CONFLICT.type(),
                        "Idempotency-Key was already used by a request that is "
                                + (reserved.reservation().state() == ReservationState.HELD ? "still running"
                                : reserved.reservation().state().name().toLowerCase(Locale.ROOT)));
                return false;
            }
            Reservation hold = reserved.reservation();
            // the subject's (and its team-mates') calls in this JVM owe that much beyond their holds, and their
            // charges have not landed: past it the call would be served beyond the allowance. Counted, not
            // held, so nothing is counted twice once those charges land
            long owes = owes(owed, reserved.account());
            if (reserved.account().available() < owes) {
                refuseForOwed(hold, reserved.account(), false, estimate, owes, response);
                return false;
            }
            long owedByTeam = 0;
            if (reserved.team() != null && hold.teamId() != null) {
                owedByTeam = owes(keeper.owedByTeam(hold.teamId()), reserved.team());
                if (reserved.team().available() < owedByTeam) {
                    refuseForOwed(hold, reserved.team(), true, estimate, owedByTeam, response);
                    return false;
                }
            }
            // the headers tell what the refusal above would: what is left once this hold and what the unlanded
            // calls owe are counted (round 448: beside a December stream whose late charge takes back every
            // token January carried, a January call's headers offered those tokens, and a client pacing itself
            // on RateLimit sent a call of that size and got 429), the stricter of the member's and its team's
            long userLeft = spendable(reserved.account().available(), owes);
            long teamLeft = reserved.team() == null ? Long.MAX_VALUE : spendable(reserved.team().available(), owedByTeam);
            QuotaAccount shown = teamLeft < userLeft ? reserved.team() : reserved.account();
            long remaining = Math.min(userLeft, teamLeft);

            // the account as the hold left it, from the reserve itself: no second read on the request path
            String capped = fitted == null ? null : Long.toString(fitted.budget());
            Runnable headers = () -> {
                QuotaHeaders.set(response, shown, remaining, ledger.policy());
                if (capped != null) {
                    response.setHeader(OUTPUT_CAPPED_HEADER, capped);
                }
            };
            headers.run();
            UsageSniffer sniffer = new UsageSniffer(inputEstimate);
            if (UsageSniffer.countsTokens(path)) {
                // a count's answer holds no more than the request sent, its query string too
                sniffer.countingPath(path, plus(sentBytes, query == null ? 0 : query.length()));
            }
            if (asked.completionsAsked() > 1) {
                sniffer.manyCompletions();
            }
            // when the usage never comes, the answer's own text tells what was written: the output part of
            // the estimate is a default when the request names no budget, and a relay may send its own budget
            byte[] sentBody = readBody;
            // text written raw (no provider framing) is a model's only on a call: a GET or HEAD may read stored
            // text back (a file's content, a transcript, a job's progress lines), named by its path or query; one
            // that sends a body (JSON, a form, multipart) sends what a call sends (a route mapped for every method)
            boolean reads = ("GET".equals(request.getMethod()) || "HEAD".equals(request.getMethod())) && !sendsBody;
            sniffer.countText(estimator::text, () -> estimator.echoedPrompt(sentBody), asked.budgetNamed() ? output : -1, !reads);
            // a text generation answer may repeat the prompt ahead of what the model wrote (return_full_text)
            sniffer.promptSent(PromptEcho.sentIn(sentBody));
            // an AI message the answer echoes with an id the request sent is the client's thread, not this call's
            sniffer.requestMessages(RequestMessageIds.sentBy(readBody));
            // every Accept line: a list header may be split over several, and a framework reads them all
            sniffer.accepted(UsageSniffer.acceptedTypes(String.join(",", java.util.Collections.list(request.getHeaders("Accept")))));
            java.util.concurrent.atomic.AtomicBoolean inChain = new java.util.concurrent.atomic.AtomicBoolean(true);
            DispatcherType dispatch = request.getDispatcherType();
            EndpointRequest endpoint = held;
            QuotaResponse wrapped = new QuotaResponse(response, sniffer, headers,
                    dispatch == DispatcherType.INCLUDE,
                    // the end of what the endpoint writes on this dispatch's own thread, the filter's to send;
                    // not inside a forward the endpoint makes (round 401): Tomcat, which puts its forward's request
                    // under the endpoint's view (which then reports FORWARD), ends the response itself when the
                    // forward returns, past every wrapper (it suspends it: a byte sent later is dropped), so a byte
                    // kept back there never went out (274 of 275 bytes, and the client waited 60 s for the last)
                    () -> inChain.get() && !request.isAsyncStarted()
                            && (endpoint.getDispatcherType() != DispatcherType.FORWARD || dispatch == DispatcherType.FORWARD));
            // an HTTP/1.0 client takes no trailer fields: the endpoint's are kept for the settlement alone
            wrapped.requestProtocol(request.getProtocol());
            held.answeredThrough(wrapped);
            if (dispatch == DispatcherType.INCLUDE || dispatch == DispatcherType.FORWARD) {
                // the figure an earlier include of the same request reported (a poll's 0) is not this call's
                request.removeAttribute(ACTUAL_TOKENS_ATTRIBUTE);
            }
            byte[] keptBody = kept;
            // a multipart body is not kept whole: its answers are not remembered (a 304 is charged the estimate)
            java.util.function.Supplier<String> answerKey = keptBody == null ? null
                    : () -> AnswerUsages.requestKey(subject, request.getMethod(), request.getRequestURI(), query, keptBody);
            // the hold counts at most the cap; an endpoint sent a larger budget is charged it when its answer
            // is no count and reports no usage (weighed at the output rate, as the hold's output is)
            long charged = beyondCap == 0 ? estimate : clamp(estimate, held(weighing, beyondCap, beyondCap));
            held.holds(handled, echoes ? dispatchOf(request) : null);
            holdsOnRequest(request, subject);
            // unweighed too: an answer that names a dearer model than the request did is charged at its rates
            Settlement settlement = new Settlement(ledger, hold, charged, clamp(inputEstimate, plus(output, beyondCap)),
                    plus(output, beyondCap), quiet, releaseOnError, request, held, wrapped, answers, answerKey, providerState, state, settleFailureCount, weighing, keeper);
            if (upload != null && upload.step() == FileUpload.Step.CREATE && FileUpload.BATCH.equals(Json.topLevelString(readBody, "purpose"))) {
                upload = upload.withFigure(0);
            } else if (upload != null && upload.step() == FileUpload.Step.CREATE
                    && "application/pdf".equalsIgnoreCase(String.valueOf(Json.topLevelString(readBody, "mime_type")).trim())) {
                upload = upload.ofPdf();
            } else if (upload != null && upload.step() == FileUpload.Step.COMPLETE) {
                // the last line the parts left cut
                upload = upload.withPart(new byte[0], lines -> batchLines(lines, path));
            }
            settlement.uploads(upload);
            byte[] named = readBody;
            // what the body names, for a request that starts an application's job again by its id
            settlement.bodyValues(() -> Json.topLevelValues(named, 64));
            settlement.bodyField(name -> Json.topLevelString(named, name));
            settlement.bodyTrue(name -> Json.topLevelTrue(named, name));
            // the body as one JSON-RPC message (MCP's and A2A's), read once, when the settlement asks
            settlement.rpc(new java.util.function.Supplier<>() {
                private JsonRpc.Message message;
                private boolean read;

                @Override
                public synchronized JsonRpc.Message get() {
                    if (!read) {
                        message = JsonRpc.of(named);
                        read = true;
                    }
                    return message;
                }
            });
            if (seen != null) {
                settlement.whenEnds(seen::ended);
            }
            // the settlement ends the key's call from here
            unowned = null;
            request.setAttribute(settling, settlement);
            held.settledBy(settlement);
            keeper.running(hold, settlement::chargeSoFar);
            // an include or forward made after the page started its async cycle ends when it returns: the
            // cycle is the page's, and the page may include the model again
            boolean asyncBefore = request.getDispatcherType() != DispatcherType.REQUEST && request.isAsyncStarted();
            boolean returned = false;
            try {
                chain.doFilter(held, wrapped);
                returned = true;
                held.dispatchEnded();
            } finally {
                inChain.set(false);
                if (!returned) {
                    settlement.settle(Settlement.End.THREW);
                    wrapped.releaseEnd();
                } else if (asyncBefore) {
                    settlement.settle(Settlement.End.RETURNED);
                    wrapped.releaseEnd();
                } else if (request.isAsyncStarted()) {
                    // what the synchronous part kept back of the end goes out: the async cycle ends it
                    wrapped.releaseEnd();
                    try {
                        if (!held.settlementListens()) {
                            // started on a request that bypassed the endpoint's view (the container's own)
                            request.getAsyncContext().addListener(settlement);
                        }
                    } catch (IllegalStateException e) {
                        // the async cycle already ended on another thread
                        settlement.settle(Settlement.End.RETURNED);
                    }
                } else if (request.getDispatcherType() == DispatcherType.INCLUDE) {
                    // an included answer is part of the including page, which goes on writing
                    settlement.settle(Settlement.End.RETURNED);
                } else {
                    // the charge lands before the client has the end of the answer: a client that sends its
                    // next call the instant it has this one, on another connection or another instance, is
                    // reserved against a ledger that has it; then the client does not wait for the container
                    settlement.settle(Settlement.End.RETURNED, true);
                    wrapped.finishForClient();
                }
            }
            return returned && !asyncBefore && request.isAsyncStarted();
        } finally {
            if (unowned != null) {
                unowned.ended();
            }
        }
    }

    /**
     * What the subject can still spend now: its account's available less what of {@code owed}, what its calls
     * whose charges have not landed owe beyond their holds ({@link HoldKeeper#beforeReserve}), reaches its month
     * ({@link UnlandedCharges.Owed#against}), or, when it is in a team and that is less, its team's available
     * less what of the team's members' calls' debts reaches the team's month ({@link HoldKeeper#owedByTeam}):
     * past either the call is refused after its hold (round 359).
     */
    private long room(String subject, UnlandedCharges.Owed owed) {
        QuotaAccount own = ledger.account(subject);
        long room = own.available() - owes(owed, own);
        java.util.Optional<String> team = ledger.team(subject);
        if (team.isEmpty()) {
            return room;
        }
        QuotaAccount teams = ledger.account(io.tokenquota.Team.subject(team.get()));
        return Math.min(room, teams.available() - owes(keeper.owedByTeam(team.get()), teams));
    }

    /**
     * What of {@code owed} {@code account} must have room for ({@link UnlandedCharges.Owed#against}), a debt of an
     * earlier month priced on that month's stored account, the subject's or the team's (round 433). A month that
     * cannot be read (past the history window, a store error) counts at most what the late charge could take.
     */
    private long owes(UnlandedCharges.Owed owed, QuotaAccount account) {
        return owed.against(account, ledger.policy(), month -> {
            try {
                return ledger.account(account.subject(), month);
            } catch (RuntimeException unreadable) {
                return java.util.Optional.empty();
            }
        });
    }

    /**
     * What the filter tells a subject (or its team) it can still spend: an account's available less what of the
     * unlanded calls' debts reaches its month ({@link #owes}), never below 0. One rule for the {@code available}
     * of a 429 for what is owed and for {@code X-Quota-Remaining} and {@code RateLimit r} on a served call, so
     * that the headers never offer what the next call would be refused for (round 448).
     */
    private static long spendable(long available, long owes) {
        return Math.max(0, available - owes);
    }

    /** Whether the request is shaped as a CORS preflight: an {@code OPTIONS} naming the method it prepares. */
    private static boolean isPreflight(HttpServletRequest request) {
        return "OPTIONS".equals(request.getMethod()) && request.getHeader("Origin") != null
                && request.getHeader("Access-Control-Request-Method") != null;
    }

    /**
     * Whether the request has a body: a length above 0, chunked framing, or, when it states no length,
     * a first byte. HTTP/2 and HTTP/3 frame a body without either header ({@code content-length} is
     * optional there, {@code transfer-encoding} forbidden), so only reading tells (round 290: a chat body
     * streamed over h2c passed as a preflight); an HTTP/1.1 request without them has none, and its read
     * ends at once. Read only for a request refused if it has one: nothing is left to replay.
     */
    private static boolean carriesBody(HttpServletRequest request) throws IOException {
        long length = request.getContentLengthLong();
        return length > 0 || request.getHeader("Transfer-Encoding") != null
                || length < 0 && request.getInputStream().read() >= 0;
    }

    /**
     * Releases the hold of a call refused before it ran ({@code what} names it in the log), tried again while the
     * store is away as a settlement's release is ({@link HoldKeeper#release}; round 515: tried once, a release a
     * failover refused left the hold held until its TTL and the subject's next call refused for it).
     */
    private void release(Reservation hold, String what) {
        try {
            keeper.release(hold, settleFailureCount);
        } catch (RuntimeException e) {
            // a refusal trying again cannot mend: the hold expires by itself, it was never used
            LOG.warn("could not release the hold {} {}: {}", hold.id(), what, e.toString());
        }
    }

    /**
     * Answers 429 for a call whose hold was granted but whose account has no room left for what the
     * subject's earlier calls owe beyond their holds ({@link HoldKeeper#beforeReserve}), and releases the
     * hold: the numbers are the account's as it stood before this call's hold.
     */
    private void refuseForOwed(Reservation hold, QuotaAccount account, boolean team, long estimate, long owed,
                               HttpServletResponse response) throws IOException {
        release(hold, "of a call refused for what earlier calls owe");
        long available = spendable(account.available() + hold.held(), owed);
        Problems.exceeded(response, new QuotaExceededException(hold.subject(), Math.min(Limits.MAX_TOKENS,
                estimate + owed), account.limit(), available, ledger.policy().resetOf(account.month()),
                team ? QuotaExceededException.Scope.TEAM : QuotaExceededException.Scope.USER, hold.teamId()),
                ledger.policy());
    }

    /**
     * An include made inside a dispatch this filter holds takes no hold of its own. A figure it reports
     * through {@link #ACTUAL_TOKENS_ATTRIBUTE} counts its own model call, not the holding call's: the
     * attribute, and what the page's {@link FigureHolder} kept of it (the holding dispatch's request, or a
     * pass run again the include was made in: {@link #figureHolder}), are put back as they were before
     * it (so it does not replace the page's own figure; putting the attribute back reports nothing to another
     * quota filter's holder beneath: {@link #setUnreported}), and the include's figure is recorded apart, to
     * be added up with the holding call's at settlement (a page's summary fragments each report theirs;
     * a status fragment's 0 adds nothing). What it writes is judged as an include's answer
     * ({@link QuotaResponse#nestedInclude}); when it reported a figure, the usage read from what it wrote
     * is that figure's call and is not charged again as the page's usage. The include starts without the
     * attribute (taken off as no report, put back after it): what the include's own code finds there at its end is
     * its figure or nothing, never the page's written back by a framework restoring its attributes (round 467).
     * An async cycle the include starts is the include's ({@link EndpointRequest.IncludeCycle}): a figure its worker
     * sets through the cycle's request after the include returned is the include's, read when the call's charge is
     * and taking the place of what the include reported before, never the page's own figure (round 473); and what
     * its worker writes through the cycle's response after the include returned is the include's answer, under its
     * status, covered by that figure ({@link QuotaResponse#throughInclude}, round 478), as is what the cycle's
     * dispatch writes, the answer of the call that figure stands for (round 485), and what a cycle the same include,
     * made again by that dispatch, starts to write that answer ({@link EndpointRequest.IncludeCycle#madeBy}, round 509).
     */
    private void nested(ServletRequest req, ServletResponse res, FilterChain chain) throws IOException, ServletException {
        Object before = req.getAttribute(ACTUAL_TOKENS_ATTRIBUTE);
        // this filter's own: with a second quota filter the innermost endpoint request is the other's
        EndpointRequest endpoint = EndpointRequest.in(req, handled);
        // an include by name carries no path of its own, and a filter meets it once (containers apply URL
        // patterns to path-based dispatches only): it is never the holding dispatch passing again
        if (endpoint == null || (!byName((HttpServletRequest) req) && endpoint.passesAgain(dispatchOf((HttpServletRequest) req)))) {
            // the holding dispatch itself, passing this filter again (mapped by path and by servlet name)
            chain.doFilter(req, res);
            return;
        }
        FigureHolder holder = figureHolder(req, endpoint);
        Object kept = holder.reportedActual();
        // what the include sets is told from what was there before it
        holder.restoreReportedActual(null);
        if (before != null) {
            // the include starts without the page's figure: a framework that puts back, inside the include, the
            // attributes it changed (Spring's DispatcherServlet, after every include) would otherwise write the
            // page's figure over the include's, and that write is a report to every holder it passes (round 467)
            setUnreported(req, null);
        }
        // an async cycle the include starts is its own: what its worker reports after the include returned is the
        // include's figure, not the page's (round 473)
        EndpointRequest.IncludeCycle cycleBefore = endpoint.includeStarts();
        IncludeEnd end = new IncludeEnd();
        try {
            if (endpoint.answeredThrough() instanceof QuotaResponse page) {
                // what it writes is its own answer, under its own status, not the page's
                // what it wrote while reporting a figure the ledger can charge is that figure's (not read as
                // usage again); a figure that is ignored leaves its usage to count. What its async cycle writes
                // after it returned is its too, covered by the figure its worker reports (round 478): the cycle
                // is known as the include returns, before the page's response judges another byte
                page.nestedInclude(() -> {
                            try {
                                chain.doFilter(req, res);
                            } finally {
                                end.returned(endpoint.includeEnds(cycleBefore));
                            }
                        },
                        () -> Settlement.chargeable(holder.reportedActual()) != null,
                        () -> end.cycle,
                        () -> end.cycle == null ? null : Settlement.chargeable(end.cycle.figure(end.reported)));
            } else {
                chain.doFilter(req, res);
            }
        } finally {
            if (!end.returned) {
                end.returned(endpoint.includeEnds(cycleBefore));
            }
            EndpointRequest.IncludeCycle cycle = end.cycle;
            // closed to the cycle's request first: a worker's write from now on is kept in the cycle, never the holder's
            Object reported = cycle == null ? holder.reportedActual() : cycle.includeReturned(holder);
            if (cycle != null) {
                // the same include made again in the dispatch of its cycle goes on with that cycle's call (round 509)
                HttpServletRequest include = (HttpServletRequest) req;
                cycle.madeBy(byName(include) ? null : dispatchOf(include), req);
            }
            end.reported = reported;
            setUnreported(req, before);
            holder.restoreReportedActual(kept);
            if (cycle != null) {
                // read when the call's charge is: the worker's figure, set after this, replaces the include's earlier one
                holder.nestedReported(settling -> cycle.figure(reported));
            } else if (reported != null) {
                holder.nestedReported(settling -> reported);
            }
        }
    }

    /** How an include nested in a held dispatch ended ({@link #nested}). */
    private static final class IncludeEnd {
        /** Whether {@link EndpointRequest#includeEnds} was told. */
        boolean returned;
        /** The request of the async cycle the include started; null: none. */
        volatile EndpointRequest.IncludeCycle cycle;
        /** What the include had reported when it returned; its cycle's worker may replace it later. */
        volatile Object reported;

        void returned(EndpointRequest.IncludeCycle started) {
            returned = true;
            cycle = started;
        }
    }

    /**
     * Sets {@link #ACTUAL_TOKENS_ATTRIBUTE} on {@code req} to {@code value} (null: removed) as no figure: every
     * {@link FigureHolder} the write passes through keeps what it held before it. {@link #nested} takes the attribute
     * off before an include and puts the page's back after it this way; neither is anyone's report. The write goes
     * down through every wrapper of the request, and with a second quota filter those include the other filter's
     * endpoint request, whose {@code setAttribute} takes whatever is set as the figure just reported: the page's own
     * figure put back there replaced what the include reported, so that filter counted the page's figure once per
     * include and the fragments' never (round 459: a digest reporting 0 before its three fragments of 4,000 charged
     * the user 0, the team 12,000). That is the outer filter's (a user's under a team's), and the inner's too where a
     * filter meets the include again by servlet name after both met it by path (Jetty's order: the user's second
     * pass wrote through the team's request, which charged the page's 1,000 once more). Each filter saves and
     * restores its own holder around the include ({@link #nested}).
     *
     * <p>Taking the attribute off before the include matters as much: a framework that snapshots the request's
     * attributes when it serves an include and puts back, inside it, every one the include changed (Spring's
     * {@code DispatcherServlet.restoreAttributesAfterInclude}) wrote the page's figure over the fragment's with a
     * plain {@code setAttribute}, before the filter read the include's report, and every holder took it for one
     * (round 467: a page's 1,000 before a 4,000 Spring fragment charged 2,000; a digest's 0 before three charged 0).
     * With no attribute in its snapshot, such a framework removes what the include added instead, and the figure the
     * include reported outlives the removal in its holder.
     */
    private static void setUnreported(ServletRequest req, Object value) {
        List<FigureHolder> holders = new ArrayList<>();
        List<Object> held = new ArrayList<>();
        for (ServletRequest r = req; r != null; r = EndpointRequest.wrapped(r)) {
            if (r instanceof FigureHolder h) {
                holders.add(h);
                held.add(h.reportedActual());
            }
        }
        if (value == null) {
            req.removeAttribute(ACTUAL_TOKENS_ATTRIBUTE);
        } else {
            req.setAttribute(ACTUAL_TOKENS_ATTRIBUTE, value);
        }
        for (int i = 0; i < holders.size(); i++) {
            holders.get(i).restoreReportedActual(held.get(i));
        }
    }

    /**
     * What keeps the figure an include made through {@code req} reports, for this filter's {@code endpoint}: the
     * innermost pass run again {@code req} wraps above that endpoint, which keeps what is set through it (its own
     * figure, not the call's), else the endpoint itself. Another filter's endpoint request on the way passes the
     * figure on to this one's, and is that filter's to save and restore.
     */
    private static FigureHolder figureHolder(ServletRequest req, EndpointRequest endpoint) {
        for (ServletRequest r = req; r != null && r != endpoint; ) {
            if (r instanceof PassAgain pass) {
                return pass;
            }
            r = EndpointRequest.wrapped(r);
        }
        return endpoint;
    }

    /**
     * What tells one dispatch of a request from another: its type and target. A filter mapped by path and
     * by servlet name runs twice in one dispatch, and sees the same; so does an include of the same path
     * made inside it, which {@link EndpointRequest#passesAgain} tells apart by order: the second pass
     * comes first, before the endpoint runs.
     */
    private static String dispatchOf(HttpServletRequest request) {
        return request.getDispatcherType() + " " + pathOf(request) + " " + rawPathOf(request);
    }

    /**
     * An async dispatch of a request this filter holds (Spring's emitters and {@code DeferredResult}
     * dispatch back to write their end): passed through, but when it throws and starts no new async
     * cycle, the cycle is over and the request is settled here. Jetty does not call the async
     * listeners' {@code onComplete} after an exception escapes an async dispatch, which left such a
     * hold to expire uncharged. One that throws after starting a new cycle is recorded: the container
     * reports its exception to the cycle's {@code onError}, which must not take it for the client gone
     * ({@link Settlement#errorEnd}).
     */
    private void asyncDispatch(ServletRequest req, ServletResponse res, FilterChain chain) throws IOException, ServletException {
        boolean returned = false;
        try {
            chain.doFilter(req, res);
            returned = true;
        } finally {
            if (req.getAttribute(settling) instanceof Settlement settlement) {
                if (!returned && !req.isAsyncStarted()) {
                    settlement.settle(Settlement.End.THREW);
                } else {
                    settlement.dispatchEnded(!returned);
                }
            } else if (!returned && !req.isAsyncStarted() && req.getAttribute(letThrough) instanceof SeenKeys.Call call) {
                // a call let through: its cycle is over, whether or not the container tells its listeners
                call.ended();
            }
        }
    }

    /**
     * A body whose output budget was lowered to {@code budget} per completion, its estimate, and the
     * part of it that is output.
     */
    private record Fitted(byte[] body, long estimate, long output, long budget) {
    }

    /** What a request is held: its estimate, weighed by model when weights are set. */
    private static long held(Weighing weighing, long estimate, long output) {
        return weighing == null ? estimate : weighing.hold(estimate, output);
    }

    /**
     * The body with its output budget lowered so that its estimate fits what the subject has left
     * ({@link #room}: for a team member the less of its own and its team's available tokens, each less
     * what of the debts of the calls that have not landed reaches its month, {@code owed} the subject's own),
     * or {@code null} to go on as without fitting: the body fits as asked, is no single JSON request
     * with a budget field (no field, a batch, broken), its query string names a budget
     * ({@code queryBudget} at least 0), its input plus {@link Builder#fitOutputBudget}
     * per completion does not fit, or the balance cannot be read. The budget {@code v} is the largest
     * whole number whose hold of {@code input + n × v} (n: the completions the estimator read; weighed
     * by model when weights are set) fits what is available, at least the minimum and at most the
     * budget held for the original; the rewritten body is estimated again as any body is, and that
     * estimate, not the arithmetic, is what is held.
     *
     * <p>The balance is read before any hold: a refused hold would be logged as a refusal (and counted
     * by the refusals metric) although the request is served. A spender racing in between makes the
     * hold of the fitted estimate fail like any other: 429, never a hold past the balance.
     */
    private Fitted fit(String subject, UnlandedCharges.Owed owed, byte[] body, Charset charset, long estimate,
                       long countedOutput, long queryBudget, Weighing weighing, String path, String query,
                       long stateHeld) {
        if (queryBudget >= 0) {
            // an endpoint may read the query string's budget (@RequestParam("max_tokens") beside the
            // @RequestBody), which the filter cannot rewrite: lowering the body's would not bound what
            // it writes, so the request is held as asked (the larger of both budgets) or refused
            return null;
        }
        RequestEstimator.Estimate e = estimatorFor(path).estimate(body);
        if (e == null || !e.requests().isEmpty() || e.outputBudget() <= 0 || e.orDefault()
                || estimate >= Limits.MAX_TOKENS) {
            return null;
        }
        long completions = Math.max(1, e.completions());
        long asked = Math.min(e.outputBudget(), outputBudgetCap);
        // output at the output rate: the answer's budget and the reasoning it does not bound
        long thinking = unboundedThinking(e);
        long output = plus(output(e.outputBudget(), completions, path), thinking);
        if (asked < fitMinimum || output >= Limits.MAX_TOKENS) {
            return null;
        }
        long available;
        try {
            // a team member's hold must fit its team's account too: fit to the stricter of the two,
            // else a team nearly spent refuses the request the fitting was meant to serve; less what is owed,
            // else a running call's reported excess refuses it after its hold (round 359)
            available = room(subject, owed);
        } catch (RuntimeException unreadable) {
            // the reserve that follows meets the same trouble and answers as it always does
            return null;
        }
        if (held(weighing, estimate, countedOutput) <= available) {
            return null;
        }
        // the input, media and query text: the estimate less what the budget adds
        long input = estimate - output;
        long least = plus(fitMinimum * completions, thinking);
        if (held(weighing, plus(input, least), least) > available) {
            return null;
        }
        // the hold grows with the budget (rates are not negative): the largest budget that fits
        long budget = fitMinimum;
        long above = asked + 1;
        while (above - budget > 1) {
            long mid = budget + (above - budget) / 2;
            long midOutput = plus(mid * completions, thinking);
            if (held(weighing, plus(input, midOutput), midOutput) <= available) {
                budget = mid;
            } else {
                above = mid;
            }
        }
        List<OutputBudgetFit.Span> spans = OutputBudgetFit.locate(body);
        if (spans == null || spans.stream().allMatch(OutputBudgetFit.Span::thinking)) {
            return null;
        }
        byte[] fitted = OutputBudgetFit.splice(body, spans, budget);
        // the fitted body names the same provider state, read as the original's was
        long fittedEstimate = clamp(estimateOf(fitted, List.of(charset), false, path, new RequestEstimator.Asked()),
                stateHeld);
        if (query != null && !query.isEmpty()) {
            fittedEstimate = clamp(fittedEstimate, estimator.text(decodedQuery(query)));
        }
        long fittedOutput = plus(output(budget, completions, path), thinking);
        return held(weighing, fittedEstimate, fittedOutput) <= available
                ? new Fitted(fitted, fittedEstimate, fittedOutput, budget) : null;
    }

    /**
     * The body with every output budget above the {@link Builder#outputBudgetCap} (a "no limit" one
     * too) lowered to the cap, or {@code null} when none of its budget fields can be rewritten. The
     * hold counts at most the cap per completion; an endpoint sent a larger budget may write more,
     * and an answer that reports no usage is charged the hold: the endpoint is asked for no more
     * than is held. The estimate does not change (it counted the cap).
     */
    private Fitted capped(byte[] body, long estimate, long output, String path) {
        List<OutputBudgetFit.Span> spans = OutputBudgetFit.locate(body);
        if (spans == null || spans.stream().noneMatch(s -> !s.thinking() && s.value() > outputBudgetCap)) {
            return null;
        }
        byte[] lowered = OutputBudgetFit.splice(body, spans, outputBudgetCap);
        // a budget the splice does not reach (nested where only the estimator reads it) is still there
        RequestEstimator.Estimate again = estimatorFor(path).estimate(lowered);
        if (again == null || aboveCap(again)) {
            return null;
        }
        return new Fitted(lowered, estimate, output, outputBudgetCap);
    }

    /** Whether a JSON body's budget, or one of its requests', is above the {@link Builder#outputBudgetCap}. */
    private boolean aboveCap(RequestEstimator.Estimate e) {
        return e.outputBudget() > outputBudgetCap || e.thinkingBudget() > outputBudgetCap
                || e.requests().stream().anyMatch(this::aboveCap);
    }

    /**
     * Whether the body reads the same in every charset its label names as in UTF-8 (UTF-8 itself, or
     * ASCII bytes under an ASCII-compatible label): only then are the splice's offsets the endpoint's.
     */
    private static boolean readsAsUtf8(byte[] body, List<Charset> labels) {
        String utf8 = null;
        for (Charset label : labels) {
            if (!StandardCharsets.UTF_8.equals(label)) {
                if (utf8 == null) {
                    utf8 = new String(body, StandardCharsets.UTF_8);
                }
                if (!utf8.equals(new String(body, label))) {
                    return false;
                }
            }
        }
        return true;
    }

    /**
     * The ledger could not be reached for the reserve: 503, or under fail-open the call goes through uncharged;
     * {@code true} when it goes on in the async cycle it started. Its {@code key} is then spent all the same: the
     * store, which records keys, never saw it, so the filter records it ({@link SeenKeys}), and a retry with it is
     * answered as a replay, once the store is back too (round 502: a keyed call let through during a failover, its
     * retry with the same key reserved as a first request and served, two model calls for one key). Of concurrent
     * requests with a key, one goes; a key this filter reserved on the store, its call running or ended within a
     * TTL, is not let through again (round 507). The key is kept while the call runs: to the end of its async cycle,
     * whose dispatches are this call's, as a held call's are (the request stays marked: round 507, a Spring
     * {@code DeferredResult}'s answer, written by its async dispatch, was refused as a replay of its own key), and a
     * TTL after. An unkeyed call is marked the same while it runs, recorded nowhere ({@link SeenKeys#unkeyed}), so
     * its dispatches are its own too (round 520: one crossing into another context once the store was back was held
     * and charged as a new call).
     */
    private boolean unavailable(HttpServletRequest request, HttpServletResponse response, FilterChain chain,
                                String subject, java.nio.ByteBuffer pair, RuntimeException e) throws IOException, ServletException {
        if (!failOpen) {
            LOG.warn("quota ledger unavailable, refusing the request of {} (fail-closed): {}", subject, e.toString());
            Problems.send(response, 503, Problems.STORE_UNAVAILABLE, "the quota ledger is unavailable; try again later");
            return false;
        }
        // the call's running mark, keyed or not: while it runs, a dispatch of its request is part of it
        // (crossContextAsync), and only a keyed one is recorded (round 520: an unkeyed call's dispatch into another
        // context, once the store was back, was held and charged as a new call)
        SeenKeys.Call seen = pair == null ? seenKeys.unkeyed() : null;
        if (pair != null) {
            try {
                seen = seenKeys.letThrough(pair);
            } catch (SeenKeys.Full full) {
                // every key the filter keeps is a running call's: letting this one through unrecorded, or forgetting
                // one of theirs, would let a retry buy a second model call. 503, not 409: the key was not used
                // (nothing was let through, nothing reserved), so the client's retry once calls end is its call
                LOG.warn("quota ledger unavailable, refusing the keyed request of {}: {} keyed calls are running,"
                        + " as many as the filter records: {}", subject, seenKeys.size(), e.toString());
                Problems.send(response, 503, Problems.STORE_UNAVAILABLE, "the quota ledger is unavailable and this"
                        + " filter records as many running keyed calls as it can; try again later");
                return false;
            }
            if (seen == null) {
                usedUnderFailOpen(response, "this filter let through or reserved, and the quota ledger is unavailable");
                return false;
            }
        }
        long n = failOpenCount.incrementAndGet();
        LOG.warn("quota ledger unavailable, letting the request of {} through uncharged (fail-open, {} so far): {}",
                subject, n, e.toString());
        // the subject's call on this request for every other filter over this store, as a held call is (round 525)
        holdsOnRequest(request, subject);
        EndpointRequest endpoint = request instanceof EndpointRequest r ? r : null;
        if (endpoint != null) {
            endpoint.endsWith(seen);
        }
        // an include or forward made after the page started its async cycle ends when it returns
        boolean asyncBefore = request.getDispatcherType() != DispatcherType.REQUEST && request.isAsyncStarted();
        boolean cycle = false;
        try {
            chain.doFilter(request, response);
            if (endpoint != null) {
                endpoint.dispatchEnded();
            }
            cycle = !asyncBefore && request.isAsyncStarted();
            if (cycle) {
                request.setAttribute(letThrough, seen);
                if (endpoint == null || !endpoint.settlementListens()) {
                    // started on a request that bypassed the endpoint's view (the container's own)
                    request.getAsyncContext().addListener(seen);
                }
            }
        } catch (IllegalStateException ended) {
            if (!cycle) {
                throw ended;
            }
            // the async cycle already ended on another thread
            cycle = false;
        } finally {
            if (!cycle) {
                seen.ended();
            }
        }
        return cycle;
    }

    /**
     * The 409 of a replayed key that the filter's own record answers ({@link SeenKeys}): before any reserve, with
     * the store away, or with the hold the store granted it released (a key let through while it was reserved), so
     * without the quota headers (no account is shown for it), and charging nothing.
     */
    private static void usedUnderFailOpen(HttpServletResponse response, String by) throws IOException {
        Problems.send(response, ErrorCode.IDEMPOTENCY_CONFLICT.httpStatus(), ErrorCode.IDEMPOTENCY_CONFLICT.type(),
                "Idempotency-Key was already used by a request that " + by);
    }

    /**
     * The estimator for a request to {@code path}: on an image endpoint ({@link ImageOutput#drawsAt})
     * every request draws an image, whatever model it names; images are priced at the rates of the model
     * the path names too ({@link RequestEstimator#pathModels}).
     */
    private RequestEstimator estimatorFor(String path) {
        return (ImageOutput.drawsAt(path) ? drawingEstimator : estimator).at(path);
    }

    /**
     * The request's estimate: a JSON object body by its text fields plus the requested output
     * budget; any other text by its characters, at least the fallback; a PDF by its pages
     * ({@link MediaSize#documentTokens}), at least the fallback; a body that is not text (or empty)
     * costs the fallback, plus the budget the request's parameters ask for ({@code asked}):
     * a JSON body's own fields say what the endpoint reads, a query string's {@code n} on a JSON call
     * may mean anything (a page, a count of events).
     */
    long estimateOf(byte[] body, List<Charset> labels, boolean media, String path, RequestEstimator.Asked asked) {
        // an endpoint may read the body in a charset its label names (getReader() in the container's
        // reading of the label; Spring parses the label itself, any case, the last of two) or ignore the
        // label and detect the encoding from the bytes (most JSON parsers): a label must not shrink the
        // hold, so the largest reading counts
        long estimate = 0;
        for (Reading reading : readings(body, labels)) {
            estimate = Math.max(estimate, estimateAs(reading.json(), body, reading.charset(), media, path, asked));
        }
        return estimate;
    }

    /** A reading of a body: its text as JSON bytes, and the charset it is decoded in as text. */
    private record Reading(byte[] json, Charset charset) {
    }

    /**
     * The readings of a body (or a multipart JSON part): its bytes as sent (a JSON parser detects
     * UTF-8/16/32 itself; as text, UTF-8), and its text in each other charset of {@code labels},
     * re-encoded as UTF-8.
     */
    private static List<Reading> readings(byte[] body, List<Charset> labels) {
        List<Reading> readings = new ArrayList<>(labels.size() + 1);
        readings.add(new Reading(body, StandardCharsets.UTF_8));
        for (Charset charset : labels) {
            if (!StandardCharsets.UTF_8.equals(charset)) {
                readings.add(new Reading(new String(body, charset).getBytes(StandardCharsets.UTF_8), charset));
            }
        }
        return readings;
    }

    /**
     * The estimate of {@code json} as a JSON object, else of {@code body} as text in {@code charset} and
     * as the document its bytes may be.
     */
    private long estimateAs(byte[] json, byte[] body, Charset charset, boolean media, String path,
                            RequestEstimator.Asked asked) {
        RequestEstimator.Estimate e = estimatorFor(path).estimate(json);
        if (e == null) {
            CharSequence decoded = BodyText.text(body, charset, media);
            // a body that is a document (a PDF by its magic, whatever its label) is read by the model as the
            // same document inline is: its pages, beside any text it reads as (round 491)
            long own = plus(textTokens(decoded), MediaSize.documentTokens(body));
            long text = Math.max(longestPrefix(fallbackEstimates, path, defaultFallbackEstimate), own);
            List<RequestEstimator.Estimate> each = estimatorFor(path).estimateEach(json);
            if (each != null) {
                // a batch of requests in one JSON array: each element's own text and budget times its
                // n, summed; never less than the array read as text, as it was before
                if (each.stream().anyMatch(this::aboveCap)) {
                    asked.aboveCap = true;
                    long beyond = 0;
                    for (RequestEstimator.Estimate one : each) {
                        beyond = plus(beyond, beyondCap(one));
                    }
                    asked.countBeyondCap(beyond);
                }
                // each element's budget is output, as a requests list's is (outputOf), and each names
                // its own model: weighed at the output rate of the dearest of them
                long output = 0;
                for (RequestEstimator.Estimate one : each) {
                    output = clamp(output, outputOf(one, path));
                    asked.countModels(one);
                }
                asked.countOutput(output);
                return Math.max(text, sum(each, path));
            }
            // a YAML or XML body (Spring binds them as it binds JSON when Jackson's YAML or XML format is on
            // the classpath) names its budget as a key or an element: held as a JSON body's is
            long named = RequestEstimator.structuredTextBudget(decoded);
            if (named >= 0) {
                asked.countOutput(named);
                return Math.max(text, clamp(own, named));
            }
            // a GET ?prompt=...&max_tokens=16000 asks for its budget as surely as a JSON body does
            if (asked.asks()) {
                asked.countOutput(output(asked, path));
                return clamp(text, output(asked, path));
            }
            // the fallback above the text's own tokens stands for the answer the model will write
            asked.countOutput(text - own);
            return text;
        }
        if (asked.budget > e.outputBudget()) {
            // a budget name means a budget in the query string too (@RequestParam("max_tokens") beside a
            // @RequestBody); a query string's n may mean anything on a JSON call, so only the budget
            e = new RequestEstimator.Estimate(e.inputTokens(), asked.budget, e.completions(), e.mediaItems(),
                    e.requests(), e.orDefault(), e.thinkingBudget(), e.models());
        }
        asked.countOutput(outputOf(e, path));
        asked.countBudget(e);
        asked.countModels(e);
        asked.countCompletions(e.completions());
        asked.countMedia(e.mediaItems());
        if (aboveCap(e)) {
            asked.aboveCap = true;
            asked.countBeyondCap(beyondCap(e));
        }
        return total(e, path);
    }

    /**
     * The output a body's budgets above the {@link Builder#outputBudgetCap} ask for past it (the
     * estimate counts the cap): what an endpoint sent the body unlowered may write beyond the hold.
     */
    private long beyondCap(RequestEstimator.Estimate e) {
        long per = plus(Math.max(0, e.outputBudget() - outputBudgetCap), Math.max(0, e.thinkingBudget() - outputBudgetCap));
        long beyond = times(per, e.completions());
        for (RequestEstimator.Estimate one : e.requests()) {
            beyond = plus(beyond, beyondCap(one));
        }
        return beyond;
    }

    /** {@code a} plus {@code b} (both at least 0), at most {@link Limits#MAX_TOKENS}. */
    private static long plus(long a, long b) {
        long sum = a + b;
        return sum < 0 || sum > Limits.MAX_TOKENS ? Limits.MAX_TOKENS : sum;
    }

    /** {@code per} times {@code n}, at most {@link Limits#MAX_TOKENS}. */
    private static long times(long per, long n) {
        long k = Math.max(1, n);
        return per > Limits.MAX_TOKENS / k ? Limits.MAX_TOKENS : per * k;
    }

    /**
     * A JSON body's estimate: its text, its media items and its output budget times its {@code n};
     * for a batch of requests (a {@code requests} list, JSON lines), never less than the sum of its
     * requests' own estimates.
     */
    /** The files an upload's {@code parts} carry, each its bytes: its JSON parts and the files that read as text. */
    private static byte[] uploadedBytes(MultipartBody parts) {
        java.io.ByteArrayOutputStream files = new java.io.ByteArrayOutputStream();
        parts.json().forEach(part -> files.writeBytes(part.bytes()));
        parts.files().values().forEach(readings -> {
            if (!readings.isEmpty()) {
                files.writeBytes(readings.get(0).getBytes(StandardCharsets.UTF_8));
            }
        });
        return files.toByteArray();
    }

    /**
     * What the requests of a batch input file's {@code lines} may cost: each line (a request with its
     * {@code body}) estimated as a batch body's requests are, added up; a line that is no JSON (a part of
     * one cut where a multi-part upload split the file) by its text alone.
     */
    private long batchLines(byte[] lines, String path) {
        long sum = 0;
        int start = 0;
        for (int i = 0; i <= lines.length; i++) {
            if (i == lines.length || lines[i] == '\n') {
                byte[] line = java.util.Arrays.copyOfRange(lines, start, i);
                start = i + 1;
                RequestEstimator.Estimate e = line.length == 0 ? null : estimatorFor(path).estimate(line);
                sum = clamp(sum, e != null ? total(e, path) : estimator.text(new String(line, StandardCharsets.UTF_8)));
            }
        }
        return sum;
    }

    private long total(RequestEstimator.Estimate e, String path) {
        long whole = clamp(clamp(e.inputTokens(), media(e)), output(e, path));
        return e.requests().isEmpty() ? whole : Math.max(whole, sum(e.requests(), path));
    }

    /** The output budget part of a JSON body's {@link #total}: its own, or its requests' when they add up to more. */
    private long outputOf(RequestEstimator.Estimate e, String path) {
        long own = output(e, path);
        long theirs = 0;
        for (RequestEstimator.Estimate one : e.requests()) {
            theirs = clamp(theirs, outputOf(one, path));
        }
        return Math.max(own, e.requests().isEmpty() ? 0 : theirs);
    }

    private long sum(List<RequestEstimator.Estimate> requests, String path) {
        long sum = 0;
        for (RequestEstimator.Estimate one : requests) {
            sum = clamp(sum, total(one, path));
        }
        return sum;
    }

    /** What a JSON body's media items cost at least: {@link Builder#mediaItemTokens} each. */
    private long media(RequestEstimator.Estimate e) {
        long items = e.mediaItems();
        return items > 0 && mediaItemTokens > Limits.MAX_TOKENS / items ? Limits.MAX_TOKENS : items * mediaItemTokens;
    }

    /**
     * The output budget of {@code completions} completions: {@code budget} capped (-1 or 0: the
     * endpoint's default budget) for each.
     */
    private long output(RequestEstimator.Estimate e, String path) {
        long answer = output(e.outputBudget(), e.orDefault(), e.completions(), path);
        long thinking = unboundedThinking(e);
        return thinking == 0 ? answer : clamp(answer, thinking);
    }

    /**
     * Reasoning that the answer's budget does not bound (Qwen's {@code thinking_budget} beside
     * {@code max_tokens}): written on top of the answer, each completion, capped like a budget; 0 when
     * none. Fitting lowers the answer's budget only, so this part stays in what a fitted request holds.
     */
    private long unboundedThinking(RequestEstimator.Estimate e) {
        if (e.thinkingBudget() <= 0) {
            return 0;
        }
        long completions = Math.max(1, e.completions());
        long thinking = Math.min(e.thinkingBudget(), outputBudgetCap);
        return thinking > Limits.MAX_TOKENS / completions ? Limits.MAX_TOKENS : thinking * completions;
    }

    private long output(RequestEstimator.Asked asked, String path) {
        return output(asked.budget, asked.orDefault, asked.completions, path);
    }

    /** As below, and at least the endpoint's default when the request may leave it that ({@code orDefault}). */
    private long output(long budget, boolean orDefault, long completions, String path) {
        long named = output(budget, completions, path);
        return orDefault ? Math.max(named, output(-1, completions, path)) : named;
    }

    private long output(long budget, long completions, String path) {
        // a budget of 0 holds what naming none holds: an endpoint that reads 0 as "its default" (or
        // refuses it) must not be served for less than a body without a budget
        long output = budget > 0 ? Math.min(budget, outputBudgetCap) : longestPrefix(outputBudgets, path, defaultOutputBudget);
        // the cap bounds one completion; n completions may each use it
        return output > Limits.MAX_TOKENS / completions ? Limits.MAX_TOKENS : output * completions;
    }


    private long textEstimate(CharSequence text, String path) {
        // the fallback is the whole estimate of a non-JSON request; only a longer text raises it
        return Math.max(longestPrefix(fallbackEstimates, path, defaultFallbackEstimate), textTokens(text));
    }

    /** A text's own estimate: 0 for none (a binary body, an empty one). */
    private long textTokens(CharSequence text) {
        return text == null || text.length() == 0 ? 0 : clamp(estimator.text(text), 0);
    }

    /**
     * The longest path counted as a route alone: a longer one (a question or document in a path variable)
     * is estimated as text too. Routes with ids ({@code /ai/projects/{uuid}/chat/completions}) stay below.
     */
    private static final int ROUTE_LENGTH = 128;

    private static long clamp(long input, long output) {
        long total = input + output;
        if (total < 0 || total > Limits.MAX_TOKENS) {
            total = Limits.MAX_TOKENS;
        }
        return Math.max(1, total);
    }

    /** The declared request charset (UTF-8 when none), or {@code null} when it is unknown or illegal. */
    static Charset declaredCharset(HttpServletRequest request) {
        String name;
        try {
            name = request.getCharacterEncoding();
        } catch (RuntimeException e) {
            return null;
        }
        if (name == null) {
            return StandardCharsets.UTF_8;
        }
        if (name.isBlank()) {
            // charset="" names no charset; Jetty then throws from getContentType(), Tomcat passes it on
            return null;
        }
        try {
            return Charset.forName(name.trim());
        } catch (IllegalArgumentException e) {
            // IllegalCharsetNameException and UnsupportedCharsetException both extend it
            return null;
        }
    }

    /** The query string as text; a malformed escape ({@code %zz}) is counted as it stands. */
    private static String decodedQuery(String query) {
        try {
            return java.net.URLDecoder.decode(query, StandardCharsets.UTF_8);
        } catch (IllegalArgumentException malformed) {
            return query;
        }
    }

    /** Marks a decoded body that passed the limit. */
    private static final byte[] TOO_LARGE = new byte[0];

    /**
     * The body as the endpoint will read it: inflated for {@code gzip}/{@code deflate}, as it came
     * without an encoding; {@link #TOO_LARGE} when the inflated body passes {@code limit} (a small
     * compressed body may inflate to gigabytes), counted across all its gzip members; {@code null} for an
     * encoding the filter cannot read (several stacked among them) or a body that is not validly compressed.
     * The field's codings are read as the answer's are ({@link AnswerDecoding#codings}: {@code identity} is
     * none), and inflated by the answer's rule ({@link AnswerDecoding.Inflating#checked}): round 419, the
     * JDK's {@code GZIPInputStream} ended a body at the zero bytes after its first member, which CPython's
     * {@code gzip.decompress} skips to read the next, so a 1.5 MB body passed the 1 MiB limit as 40 bytes;
     * round 420, deflate that Netty's reader took as raw blocks and the filter as a zlib stream (a 1.5 MB or
     * 66,000-token request read as 63,222 bytes) is read as Netty reads it, or refused where readers part.
     */
    private static byte[] decoded(byte[] body, String encoding, long limit) {
        List<String> codings = AnswerDecoding.codings(encoding);
        if (codings.isEmpty()) {
            return body;
        }
        if (codings.size() > 1 || !codings.get(0).equals("gzip") && !codings.get(0).equals("deflate")) {
            return null;
        }
        ExposedBuffer inflated = new ExposedBuffer(8192);
        AnswerDecoding.Inflating inflating = AnswerDecoding.Inflating.checked(codings.get(0).equals("gzip"), limit,
                (bytes, off, len) -> {
                    if (inflated.size() <= limit) {
                        inflated.write(bytes, off, len);
                    }
                });
        // fed a few KB at a time, so a body that inflates a thousandfold stops soon after the limit
        for (int at = 0; at < body.length && inflated.size() <= limit; at += 4096) {
            inflating.feed(body, at, Math.min(4096, body.length - at));
        }
        if (inflated.size() > limit) {
            return TOO_LARGE;
        }
        return inflating.complete() ? inflated.bytes() : null;
    }

    /**
     * Whether the request goes to the quota HTTP API itself (mounted under a protected prefix): a
     * balance check calls no model, and a user with no tokens left must still be able to read it.
     */
    private static boolean isQuotaApi(HttpServletRequest request) {
        String servlet = servletOf(request);
        if (servlet == null) {
            return false;
        }
        try {
            jakarta.servlet.ServletRegistration registration = request.getServletContext().getServletRegistration(servlet);
            return registration != null && QuotaApiServlet.class.getName().equals(registration.getClassName());
        } catch (RuntimeException unknown) {
            return false;
        }
    }

    /**
     * The request's parameters less those of its query string (the servlet API merges both, the query
     * string's values first), which are counted on their own.
     */
    private static Map<String, List<String>> bodyParameters(HttpServletRequest request, String query) {
        Map<String, List<String>> fromQuery = new LinkedHashMap<>();
        if (query != null && !query.isEmpty()) {
            BufferedRequest.decode(query, StandardCharsets.UTF_8, fromQuery);
        }
        Map<String, List<String>> fields = new LinkedHashMap<>();
        request.getParameterMap().forEach((name, values) -> {
            List<String> rest = new ArrayList<>(Arrays.asList(values));
            for (String value : fromQuery.getOrDefault(name, List.of())) {
                rest.remove(value);
            }
            if (!rest.isEmpty()) {
                fields.put(name, rest);
            }
        });
        return fields;
    }

    private static boolean isForm(HttpServletRequest request) {
        String type = request.getContentType();
        return type != null && type.regionMatches(true, 0, "application/x-www-form-urlencoded", 0,
                "application/x-www-form-urlencoded".length());
    }

    /**
     * A form read like a JSON object of its fields: their text, plus the output budget a
     * {@code max_tokens} (or sibling) field asks for, else the endpoint's default budget, for each
     * completion {@code n} asks for (here or in the query string, {@code asked}), so the same call
     * costs the same whether it is sent as JSON or as a form.
     */
    private long formEstimate(Map<String, List<String>> fields, RequestEstimator.Asked asked, String path) {
        long input = 0;
        for (Map.Entry<String, List<String>> field : fields.entrySet()) {
            for (String value : field.getValue()) {
                if (!readParameter(field.getKey(), value, asked)) {
                    // not a budget or a count: its text counts like any other field's
                    input = clamp(input, estimator.text(value));
                }
            }
        }
        return clamp(input, output(asked, path));
    }

    /**
     * Reads one parameter (query string, form or multipart field, or the text of a multipart file) for
     * the request's budget and {@code n}: a budget or count field itself, or a value that is a JSON
     * request, whose budget and {@code n} count as the request's (an endpoint that reads
     * {@code getParameter("payload")} or a file part with an ObjectMapper; {@code curl -F payload=...}
     * sends such a field without a Content-Type, {@code curl -F request=@chat.json} such a file as
     * {@code application/octet-stream}), whose models are candidates too. Returns whether the parameter was a budget or a count (else its text
     * counts as text).
     */
    private boolean readParameter(String name, String value, RequestEstimator.Asked asked) {
        if (asked.read(name, value)) {
            return true;
        }
        // a byte order mark in front (a file saved so), which JSON parsers reading bytes skip
        String v = (value.startsWith("\uFEFF") ? value.substring(1) : value).strip();
        if (v.startsWith("{") || v.startsWith("[")) {
            byte[] json = v.getBytes(StandardCharsets.UTF_8);
            // its budget, n and models count as a JSON body's (Asked.include)
            RequestEstimator.Estimate e = estimator.estimate(json);
            List<RequestEstimator.Estimate> each = e == null ? estimator.estimateEach(json) : List.of(e);
            if (each != null) {
                for (RequestEstimator.Estimate one : each) {
                    asked.include(one);
                    one.requests().forEach(asked::include);
                }
            }
        }
        return false;
    }

    private static boolean isMultipart(HttpServletRequest request) {
        String type = request.getContentType();
        return type != null && type.regionMatches(true, 0, "multipart/form-data", 0, "multipart/form-data".length());
    }

    /**
     * Reads the whole body, or returns {@code null} as soon as it passes {@code limit} bytes. A known
     * {@code Content-Length} (at most {@code limit}) sizes the array exactly; a body longer than it
     * declared is treated as too large, a shorter one is returned as it came.
     */
    private static byte[] readBounded(InputStream in, long contentLength, long limit) throws IOException {
        if (contentLength >= 0 && contentLength <= limit && contentLength <= Integer.MAX_VALUE - 8) {
            // the three-argument readNBytes fills the array in place; the one-argument form collects chunks and copies
            byte[] body = new byte[(int) contentLength];
            int read = in.readNBytes(body, 0, body.length);
            if (read < body.length) {
                return Arrays.copyOf(body, read);
            }
            return in.read() == -1 ? body : null;
        }
        ExposedBuffer out = new ExposedBuffer(8192);
        byte[] buffer = new byte[8192];
        long total = 0;
        int n;
        while ((n = in.read(buffer)) != -1) {
            total += n;
            if (total > limit) {
                return null;
            }
            out.write(buffer, 0, n);
        }
        return out.bytes();
    }

    /** Hands out its array without the copy {@code toByteArray()} makes when it is exactly full. */
    private static final class ExposedBuffer extends ByteArrayOutputStream {
        ExposedBuffer(int size) {
            super(size);
        }

        byte[] bytes() {
            return count == buf.length ? buf : toByteArray();
        }
    }

    /**
     * Whether a path include meets this filter once more, by the name of the servlet it reaches: through
     * that servlet's view, or through this filter's own mapping by its name ({@link #init}, or by hand) in
     * a container that runs a filter once per matching mapping. A container that does not say which
     * servlet an include reaches is taken to say one mapped by name.
     */
    private boolean mappedByName(HttpServletRequest request) {
        Map<String, String> viewed = viewed(request.getServletContext());
        if (!(request.getAttribute(RequestDispatcher.INCLUDE_MAPPING) instanceof jakarta.servlet.http.HttpServletMapping mapping)) {
            return !chainsOnce || !viewed.isEmpty();
        }
        String servlet = mapping.getServletName();
        return viewed.containsKey(servlet) || (!chainsOnce && protectedIn(request.getServletContext()).containsKey(servlet));
    }

    /**
     * Whether a forward or include reached its servlet by name. A dispatch by name sets none of the path
     * attributes a dispatch by path sets. Tomcat keeps the first forward's attributes in a forward by
     * name made after a forward by path; its own mark of the path it matched filters by is then empty
     * ({@link #TOMCAT_DISPATCH_PATH}).
     */
    private static boolean byName(HttpServletRequest request) {
        DispatcherType type = request.getDispatcherType();
        boolean tomcatNamed = type == DispatcherType.FORWARD && request.getAttribute(TOMCAT_DISPATCH_TYPE) != null
                && request.getAttribute(TOMCAT_DISPATCH_PATH) == null;
        return (type == DispatcherType.FORWARD && request.getAttribute(RequestDispatcher.FORWARD_REQUEST_URI) == null)
                || (type == DispatcherType.INCLUDE && request.getAttribute(RequestDispatcher.INCLUDE_REQUEST_URI) == null)
                || tomcatNamed;
    }

    /**
     * For a dispatch that reached, by name, the protected servlet a {@link ServletView} stands for, that
     * servlet's protected path; else {@code null}. Tomcat keeps a forward by name that an error page makes
     * an error dispatch with the page's paths and marks, and the page's servlet mapping: an error dispatch
     * at a path that is not protected, which the view meets (so it ends at the view's servlet) but whose
     * mapping names another servlet, is one. One whose mapping names the view's servlet is an error page
     * served by that servlet under a path that is not protected (a servlet mapped at both), and passes.
     */
    private String viewTarget(HttpServletRequest request, ServletView view) {
        if (byName(request)) {
            return targetOf(request, view.path);
        }
        if (request.getDispatcherType() != DispatcherType.ERROR || match(pathOf(request)) != null) {
            return null;
        }
        String servlet = servletOf(request);
        return view.servlet.equals(servlet) ? null : targetOf(request, view.path);
    }

    /**
     * The protected path a dispatch by name to a servlet listed with {@code path} ({@link #protectedServletsOf})
     * is held under: that path for a servlet under a protected prefix; for one whose mappings cover a
     * prefix, the path it routes the dispatch on ({@link #routedTarget}), or {@code null} when that lies
     * under no prefix.
     */
    private String targetOf(HttpServletRequest request, String path) {
        return match(path) != null ? path : routedTarget(request, path);
    }

    /**
     * Where a router mapped at {@code base} ({@code ""} for {@code /} and {@code /*}) sends a dispatch by
     * name, when that lies under a protected prefix; else {@code null}. A dispatch by name keeps the
     * caller's paths and, in Jetty and Tomcat, the caller's servlet mapping, and Spring routes on the
     * request URI less the context path and less the servlet path of a {@code PATH} match
     * ({@code ServletRequestPathUtils}): round 396, {@code /legacy/ai/chat} forwarded by name from a
     * servlet at {@code /legacy/*} to Spring Boot's {@code DispatcherServlet} at {@code /} ran the
     * {@code /ai/chat} handler (3,000 served, 0 charged). The container's normalised form and the raw one
     * (dot segments kept, for a router on the request URI: {@link #rawPath}) are matched as a request's are.
     */
    private String routedTarget(HttpServletRequest request, String base) {
        String servletPath = request.getServletPath() == null ? "" : request.getServletPath();
        String pathInfo = request.getPathInfo() == null ? "" : request.getPathInfo();
        String stripped = pathMatched(request) ? servletPath : "";
        String routed = servletPath.substring(stripped.length()) + pathInfo;
        String raw = rawPath(request.getRequestURI(), request.getContextPath() + stripped);
        for (String candidate : List.of(routed, raw)) {
            String path = base + (candidate.isEmpty() ? "/" : candidate);
            if (match(path) != null) {
                return path;
            }
        }
        return null;
    }

    /** Whether the request's mapping is a {@code PATH} match ({@code /x/*}), whose servlet path a router strips. */
    private static boolean pathMatched(HttpServletRequest request) {
        try {
            jakarta.servlet.http.HttpServletMapping mapping = request.getHttpServletMapping();
            return mapping != null && mapping.getMappingMatch() == jakarta.servlet.http.MappingMatch.PATH;
        } catch (RuntimeException unsupported) {
            return false;
        }
    }

    /** The name of the servlet the request's mapping names, or {@code null} when the container does not say. */
    private static String servletOf(HttpServletRequest request) {
        try {
            jakarta.servlet.http.HttpServletMapping mapping = request.getHttpServletMapping();
            return mapping == null ? null : mapping.getServletName();
        } catch (RuntimeException unsupported) {
            return null;
        }
    }

    /**
     * For a forward or include by name to a protected servlet ({@link #protectedServletsOf}), the path it is
     * held under ({@link #targetOf}); else {@code null}. This filter runs in one only through the servlet-name
     * mappings {@link #init} added, for the protected servlets without a view ({@link #registerByServletName}).
     */
    private String namedTarget(HttpServletRequest request) {
        Map<String, String> named = protectedIn(request.getServletContext());
        if (!byName(request) || named.isEmpty()) {
            return null;
        }
        String servlet = servletOf(request);
        String own = servlet == null ? null : named.get(servlet);
        String target = own == null ? null : targetOf(request, own);
        if (target != null) {
            return target;
        }
        // the mapping a container reports in a dispatch by name may be the caller's (a router at / that
        // forwards by name, Spring's ServletForwardingController): the target is one of the protected
        // servlets, and the first in the container's order that would hold it stands for it
        for (String path : named.values()) {
            target = targetOf(request, path);
            if (target != null) {
                return target;
            }
        }
        return null;
    }

    /**
     * The query string whose parameters the endpoint gets: an include's own (its
     * {@code jakarta.servlet.include.query_string}, which the container puts before the including
     * request's) and the request's; {@code getQueryString()} of an include is the including page's.
     */
    private static String queryOf(HttpServletRequest request) {
        String own = request.getQueryString();
        if (request.getDispatcherType() != DispatcherType.INCLUDE) {
            return own;
        }
        Object included = request.getAttribute(RequestDispatcher.INCLUDE_QUERY_STRING);
        if (included == null || included.toString().isEmpty()) {
            return own;
        }
        return own == null || own.isEmpty() ? included.toString() : included + "&" + own;
    }

    static String pathOf(HttpServletRequest request) {
        if (request.getDispatcherType() == DispatcherType.INCLUDE) {
            // an include keeps the including request's paths; the included target is in these attributes
            Object servletPath = request.getAttribute(RequestDispatcher.INCLUDE_SERVLET_PATH);
            Object pathInfo = request.getAttribute(RequestDispatcher.INCLUDE_PATH_INFO);
            return (servletPath == null ? "" : servletPath.toString()) + (pathInfo == null ? "" : pathInfo.toString());
        }
        String servletPath = request.getServletPath();
        String pathInfo = request.getPathInfo();
        return (servletPath == null ? "" : servletPath) + (pathInfo == null ? "" : pathInfo);
    }

    /**
     * The request's path as sent, for frameworks that route on the request URI rather than on the
     * container's normalised {@link #pathOf path}: {@link #rawPath} of the request URI (an include's
     * {@code jakarta.servlet.include.request_uri}) and context path; {@code null} for a dispatch by name,
     * which has no path of its own.
     */
    static String rawPathOf(HttpServletRequest request) {
        DispatcherType type = request.getDispatcherType();
        Object uri;
        Object context;
        if (type == DispatcherType.INCLUDE) {
            uri = request.getAttribute(RequestDispatcher.INCLUDE_REQUEST_URI);
            context = request.getAttribute(RequestDispatcher.INCLUDE_CONTEXT_PATH);
        } else if (type == DispatcherType.FORWARD && request.getAttribute(RequestDispatcher.FORWARD_REQUEST_URI) == null) {
            uri = null;
            context = null;
        } else {
            uri = request.getRequestURI();
            context = request.getContextPath();
        }
        if (uri == null) {
            return null;
        }
        return rawPath(uri.toString(), context == null ? request.getContextPath() : context.toString());
    }

    /**
     * {@code requestUri} less the context path, each segment with its path parameters ({@code ;...})
     * removed and then percent-decoded as UTF-8 (so {@code %2e%2e} is {@code ..}), empty segments
     * dropped and dot segments kept: {@code /app/gw/ai/v1/../../../pub;jsessionid=x} under the context
     * {@code /app} is {@code /gw/ai/v1/../../../pub}. {@code %2f} decodes to {@code /} like any other
     * escape, which can only put a path under more prefixes (containers refuse it by default). The
     * context path is removed as the shortest run of leading segments that resolves to it, since a
     * container may spell it differently from the URI; one the URI does not hold removes nothing.
     */
    static String rawPath(String requestUri, String contextPath) {
        String context = contextPath == null ? "" : contextPath;
        if (isCanonical(requestUri) && isCanonical(context) && requestUri.startsWith(context)
                && (requestUri.length() == context.length() || requestUri.charAt(context.length()) == '/')) {
            // nearly every request: nothing to decode, drop or resolve, so the segments are the URI's own
            int end = requestUri.length();
            while (end > context.length() && requestUri.charAt(end - 1) == '/') {
                end--;
            }
            return end == context.length() ? "/" : requestUri.substring(context.length(), end);
        }
        return segmentedPath(requestUri, context);
    }

    /**
     * Whether a raw path is already what {@link #segmentedPath} would make of it: empty, or {@code /}
     * followed by segments without escapes, path parameters, empty or dot segments (a trailing
     * {@code /} aside).
     */
    private static boolean isCanonical(String path) {
        if (path.isEmpty()) {
            return true;
        }
        if (path.charAt(0) != '/') {
            return false;
        }
        for (int i = 0; i < path.length(); i++) {
            char c = path.charAt(i);
            if (c == '%' || c == ';') {
                return false;
            }
            if (c == '/' && i + 1 < path.length() && (path.charAt(i + 1) == '/' || path.charAt(i + 1) == '.')) {
                return false;
            }
        }
        return true;
    }

    /** {@link #rawPath} the long way, segment by segment: for any URI. */
    static String segmentedPath(String requestUri, String contextPath) {
        List<String> segments = segments(requestUri);
        List<String> context = segments(contextPath == null ? "" : contextPath);
        context = resolved(context, context.size());
        int start = 0;
        if (!context.isEmpty()) {
            for (int k = 1; k <= segments.size(); k++) {
                if (resolved(segments, k).equals(context)) {
                    start = k;
                    break;
                }
            }
        }
        return "/" + String.join("/", segments.subList(start, segments.size()));
    }

    /** The non-empty segments of a raw path, each without its path parameters and percent-decoded. */
    private static List<String> segments(String raw) {
        List<String> segments = new ArrayList<>();
        for (String segment : raw.split("/", -1)) {
            int parameters = segment.indexOf(';');
            String text = decode(parameters < 0 ? segment : segment.substring(0, parameters));
            if (!text.isEmpty()) {
                segments.add(text);
            }
        }
        return segments;
    }

    /** The first {@code count} segments with their dot segments resolved. */
    private static List<String> resolved(List<String> segments, int count) {
        List<String> stack = new ArrayList<>();
        for (String segment : segments.subList(0, count)) {
            if ("..".equals(segment)) {
                if (!stack.isEmpty()) {
                    stack.remove(stack.size() - 1);
                }
            } else if (!".".equals(segment)) {
                stack.add(segment);
            }
        }
        return stack;
    }

    /** Percent-decoding as UTF-8; a {@code %} without two hex digits stays as it is. */
    private static String decode(String text) {
        if (text.indexOf('%') < 0) {
            return text;
        }
        ByteArrayOutputStream bytes = new ByteArrayOutputStream(text.length());
        for (int i = 0; i < text.length(); i++) {
            char c = text.charAt(i);
            int hi = c == '%' && i + 2 < text.length() ? Character.digit(text.charAt(i + 1), 16) : -1;
            int lo = hi < 0 ? -1 : Character.digit(text.charAt(i + 2), 16);
            if (lo >= 0) {
                bytes.write(hi << 4 | lo);
                i += 2;
            } else {
                int end = Character.isHighSurrogate(c) && i + 1 < text.length() ? i + 2 : i + 1;
                byte[] own = text.substring(i, end).getBytes(StandardCharsets.UTF_8);
                bytes.write(own, 0, own.length);
                i = end - 1;
            }
        }
        return bytes.toString(StandardCharsets.UTF_8);
    }

    private String match(String path) {
        for (String p : prefixes) {
            if (covers(p, path)) {
                return p;
            }
        }
        return null;
    }

    /**
     * Whether {@code prefix} covers {@code path} on path-segment boundaries, ignoring case: {@code /api/ai}
     * covers {@code /api/ai}, {@code /api/ai/chat} and {@code /API/Ai/chat}, never {@code /api/ai-admin}. Prefixes are stored
     * without their trailing slash, so {@code /api/ai/} covers the bare {@code /api/ai} as well.
     */
    static boolean covers(String prefix, String path) {
        if (prefix.isEmpty()) {
            return true;
        }
        // ignoring case: a router that matches paths case-insensitively (Spring MVC's PathPatternParser
        // with setCaseSensitive(false), IIS, a Windows file servlet) sends /AI/chat to the /ai/chat
        // handler; on a case-sensitive router such a path is a 404, which is released, so nothing is
        // charged that never reached a model
        return path.regionMatches(true, 0, prefix, 0, prefix.length())
                && (path.length() == prefix.length() || path.charAt(prefix.length()) == '/');
    }

    /** The weights of {@code path}'s endpoints: its longest prefix's own table, else the filter's (or none). */
    private ModelWeights weightsFor(String path) {
        String best = null;
        for (String p : weightsByPrefix.keySet()) {
            if (covers(p, path) && (best == null || p.length() > best.length())) {
                best = p;
            }
        }
        return best == null ? weights : weightsByPrefix.get(best);
    }

    private static long longestPrefix(Map<String, Long> byPrefix, String path, long otherwise) {
        String best = null;
        for (String p : byPrefix.keySet()) {
            if (covers(p, path) && (best == null || p.length() > best.length())) {
                best = p;
            }
        }
        return best == null ? otherwise : byPrefix.get(best);
    }

    /**
     * A prefix as given to the builder, checked and normalised: it starts with {@code /} and holds no
     * pattern character ({@code *}, {@code ?}, <code>{</code>). Prefixes are plain path prefixes, so
     * {@code /ai/**}, written as Spring and Ant patterns are, would protect only paths starting with
     * those very characters and leave every call under {@code /ai/} free; it is refused instead (the
     * Spring Boot property then fails at startup).
     */
    static String pathPrefix(String prefix) {
        Objects.requireNonNull(prefix, "path prefix");
        if (!prefix.startsWith("/")) {
            throw new IllegalArgumentException("a path prefix starts with '/': " + prefix);
        }
        for (int i = 0; i < prefix.length(); i++) {
            char c = prefix.charAt(i);
            if (c == '*' || c == '?' || c == '{') {
                throw new IllegalArgumentException("path prefix " + prefix + " holds the pattern character '" + c
                        + "': prefixes are plain path prefixes, not patterns, and cover every path beneath them"
                        + " (write " + plain(prefix, i) + " to protect what is under it)");
            }
            // matched against the decoded, normalised path: a prefix holding what no such path holds would
            // protect nothing, and the endpoint it names would be served free
            if (c == '%' || c == ';' || c == '\\' || c == '#' || Character.isWhitespace(c) || Character.isISOControl(c)) {
                throw new IllegalArgumentException("path prefix \"" + prefix + "\" holds '" + (Character.isISOControl(c)
                        ? String.format("\\u%04x", (int) c) : String.valueOf(c)) + "', which no decoded request path"
                        + " it is matched against holds: write the path as the application sees it, decoded, without"
                        + " blanks or path parameters");
            }
        }
        for (String segment : prefix.substring(1).split("/", -1)) {
            if (segment.equals(".") || segment.equals("..")) {
                throw new IllegalArgumentException("path prefix \"" + prefix + "\" holds the dot segment '" + segment
                        + "', which no normalised request path holds: write the path it stands for");
            }
        }
        if (normalise(prefix).contains("//")) {
            throw new IllegalArgumentException("path prefix \"" + prefix + "\" holds an empty segment ('//'), which no"
                    + " request path holds: join the parts with one '/'");
        }
        return normalise(prefix);
    }

    /** The prefix up to the segment holding its first pattern character, for the error message. */
    private static String plain(String prefix, int patternAt) {
        int slash = prefix.lastIndexOf('/', patternAt);
        return prefix.substring(0, slash + 1);
    }

    /** "/api/ai/" and "/api/ai" are the same prefix; "/" (everything) becomes the empty prefix. */
    static String normalise(String prefix) {
        String p = prefix;
        while (p.endsWith("/")) {
            p = p.substring(0, p.length() - 1);
        }
        return p;
    }

    /** The path as an event label: control characters replaced, cut to the label limit. */
    private static String label(String path) {
        // the usual path is already a valid label: no copy
        if (path.length() <= Limits.MAX_ENDPOINT_LENGTH && !hasControlCharacter(path)) {
            return path;
        }
        StringBuilder sb = new StringBuilder(Math.min(path.length(), Limits.MAX_ENDPOINT_LENGTH));
        path.codePoints().limit(Limits.MAX_ENDPOINT_LENGTH)
                .forEach(c -> sb.appendCodePoint(Character.isISOControl(c) ? '?' : c));
        return sb.toString();
    }

    private static boolean hasControlCharacter(String s) {
        for (int i = 0; i < s.length(); i++) {
            if (Character.isISOControl(s.charAt(i))) {
                return true;
            }
        }
        return false;
    }

    /**
     * Configures a {@link QuotaFilter}. Every setting is checked when it is set or at {@link #build()};
     * the filter it builds is immutable. The builder itself is not thread-safe.
     */
    public static final class Builder {
        private final QuotaLedger ledger;
        private final List<String> prefixes = new ArrayList<>();
        private SubjectResolver subjects;
        private TokenEstimator estimator;
        private long maxBodyBytes = 1 << 20;
        private final Map<String, Long> maxBodies = new LinkedHashMap<>();
        private long outputBudgetCap = 16_384;
        private final Map<String, Long> fallbackEstimates = new LinkedHashMap<>();
        private long defaultFallbackEstimate = 1_000;
        private final Map<String, Long> outputBudgets = new LinkedHashMap<>();
        private long defaultOutputBudget = 1_000;
        private long mediaItemTokens = RequestEstimator.DEFAULT_MEDIA_ITEM_TOKENS;
        private boolean failOpen;
        private boolean releaseOnError = true;
        private Duration holdTtl;
        private long fitMinimum;
        private ModelWeights weights;
        private final Map<String, ModelWeights> weightsByPrefix = new LinkedHashMap<>();
        private int providerStateEntries = ProviderState.DEFAULT_ENTRIES;
        private Settlement.Retries settlementRetries = Settlement.RETRIES;
        private int answerMemory = ANSWER_MEMORY;

        private Builder(QuotaLedger ledger) {
            this.ledger = Objects.requireNonNull(ledger, "ledger");
        }

        /**
         * Adds protected path prefixes, matched against the decoded {@code servletPath + pathInfo}
         * (context path excluded) and against the raw request path with its dot segments kept, e.g.
         * {@code protect("/api/v1/ai/", "/api/v1/agents/")}, on path-segment boundaries and ignoring case.
         * Longer prefixes are tried first.
         *
         * @throws IllegalArgumentException for a prefix that does not start with {@code /} or holds a
         *         pattern character ({@code *}, {@code ?}, <code>{</code>): prefixes are plain path prefixes
         */
        public Builder protect(String... pathPrefixes) {
            for (String p : pathPrefixes) {
                prefixes.add(pathPrefix(p));
            }
            return this;
        }

        /** Required: who the request belongs to. */
        public Builder subjectResolver(SubjectResolver resolver) {
            this.subjects = Objects.requireNonNull(resolver, "resolver");
            return this;
        }

        /** Estimates text tokens; default {@link DefaultTokenEstimator}. */
        public Builder estimator(TokenEstimator estimator) {
            this.estimator = Objects.requireNonNull(estimator, "estimator");
            return this;
        }

        /**
         * Largest request body (default 1 MiB), whatever its media type: the filter reads it whole to
         * estimate it; larger bodies get 413.
         */
        public Builder maxBodyBytes(long bytes) {
            this.maxBodyBytes = positive(bytes, "maxBodyBytes");
            return this;
        }

        /** Largest request body under {@code pathPrefix} (longest prefix wins), e.g. audio uploads. */
        public Builder maxBodyBytes(String pathPrefix, long bytes) {
            maxBodies.put(pathPrefix(pathPrefix), positive(bytes, "maxBodyBytes"));
            return this;
        }

        /** Cap on the output budget a client may ask for with {@code max_tokens} and friends (default 16,384). */
        public Builder outputBudgetCap(long tokens) {
            this.outputBudgetCap = nonNegative(tokens, "outputBudgetCap");
            return this;
        }

        /** Output budget added to a JSON request that names none (default 1,000). */
        public Builder defaultOutputBudget(long tokens) {
            this.defaultOutputBudget = nonNegative(tokens, "defaultOutputBudget");
            return this;
        }

        /** Output budget for JSON requests under {@code pathPrefix} that name none (longest prefix wins). */
        public Builder defaultOutputBudget(String pathPrefix, long tokens) {
            outputBudgets.put(pathPrefix(pathPrefix), nonNegative(tokens, "defaultOutputBudget"));
            return this;
        }

        /**
         * Least a media item of a JSON body costs (default 258, what Gemini bills an image of up to
         * 384x384 pixels; 0 counts none): an image, audio clip or file sent as a base64 payload, a
         * {@code data:} URL, an {@code image_url} / {@code input_image} / {@code inlineData} part, an
         * Anthropic image or document source; each item once, a part and the payload it holds being one.
         * Providers bill media by their own measures, not by the characters of its encoding. An item the
         * filter can measure costs what it measures when that is more (an image by its header's size, a
         * PDF by its pages), and so does an image it cannot see (by URL or file id): 1,600, the most a
         * provider with documented rules reads for one image, or 85 with OpenAI's {@code "detail": "low"}.
         */
        public Builder mediaItemTokens(long tokens) {
            this.mediaItemTokens = nonNegative(tokens, "mediaItemTokens");
            return this;
        }

        /**
         * How many figures of state kept at the provider the filter remembers (default 65,536, about
         * 160 bytes each, at most 240: 10 MB, at most 16 MB; 0 remembers none): what an OpenAI stored
         * Response, a conversation or a stored prompt cost the call that made or extended it, by its
         * id, least recently used out. A later call naming one ({@code previous_response_id},
         * {@code conversation}, {@code prompt}) is held with it, and so charged with it when its answer
         * reports no usage (a stream the client cut).
         */
        public Builder providerStateEntries(int entries) {
            this.providerStateEntries = (int) nonNegative(entries, "providerStateEntries");
            return this;
        }

        /** Whole estimate of a request whose body is not JSON, broken, or not read (default 1,000). */
        public Builder fallbackEstimate(long tokens) {
            this.defaultFallbackEstimate = positive(tokens, "fallbackEstimate");
            return this;
        }

        /** Fallback estimate for requests under {@code pathPrefix} (longest prefix wins). */
        public Builder fallbackEstimate(String pathPrefix, long tokens) {
            fallbackEstimates.put(pathPrefix(pathPrefix), positive(tokens, "fallbackEstimate"));
            return this;
        }

        /** {@code true}: let requests through uncharged when the ledger is down. Default {@code false} (503). */
        public Builder failOpen(boolean failOpen) {
            this.failOpen = failOpen;
            return this;
        }

        /** Whether a 5xx or an exception releases the hold (default) or charges it. */
        public Builder releaseOnError(boolean releaseOnError) {
            this.releaseOnError = releaseOnError;
            return this;
        }

        /**
         * Internal, for the tests: when the settlements the store could not take are tried again, instead of
         * {@link Settlement#RETRIES} (0.1, 1, 2, 5 s, and up to 5 s inline). A test that waits a refused
         * settlement's retries out runs them in milliseconds; what is retried, and when it is counted or given up,
         * stays the same.
         */
        Builder settlementRetries(long[] pausesMs, long inlineMaxPauseMs, Duration inline) {
            this.settlementRetries = new Settlement.Retries(pausesMs, inlineMaxPauseMs, inline.toNanos());
            return this;
        }

        /**
         * Internal, for the tests: how many entries the memory of recent answers' usage ({@link AnswerUsages}: by
         * ETag, results files' calls, streams sent) keeps, instead of {@link #ANSWER_MEMORY}. A test of what
         * other users' traffic does to that memory fills a small one with hundreds of calls rather than tens of
         * thousands; how it is kept and turned over stays the same.
         */
        Builder answerMemory(int entries) {
            this.answerMemory = (int) nonNegative(entries, "answerMemory");
            return this;
        }

        /**
         * How long a hold lives if never settled (a crashed node); {@code null} (the default) means the
         * policy's hold TTL.
         *
         * @throws IllegalArgumentException outside {@link Limits#MIN_TTL}..{@link Limits#MAX_TTL}
         */
        public Builder holdTtl(Duration ttl) {
            if (ttl != null && (ttl.compareTo(Limits.MIN_TTL) < 0 || ttl.compareTo(Limits.MAX_TTL) > 0)) {
                throw new IllegalArgumentException("holdTtl must be between " + Limits.MIN_TTL + " and "
                        + Limits.MAX_TTL + ", was " + ttl);
            }
            this.holdTtl = ttl;
            return this;
        }

        /**
         * Fits the output budget instead of refusing (off by default): when a JSON request's estimate
         * with the output budget it asks for ({@code max_tokens}, {@code max_completion_tokens},
         * {@code max_output_tokens}, Gemini's {@code generationConfig.maxOutputTokens} and every other
         * {@link RequestEstimator#OUTPUT_FIELDS budget field} the estimator reads) does not fit what the
         * subject has left, but its input plus {@code minimumOutput} per completion ({@code n}) does,
         * the filter lowers those fields in the forwarded body to the largest budget that fits (every
         * other byte as the client sent it), holds the estimate of that body and tells the client in
         * {@value QuotaFilter#OUTPUT_CAPPED_HEADER}. A request whose input alone does not fit, one that
         * names no budget, a batch, a form, a multipart or a compressed body is refused with 429 as
         * without fitting. Costs a balance read and a team lookup before the hold of a JSON request with
         * a budget (one more balance read for a team member, whose fit is to the stricter of its own and
         * its team's account).
         *
         * @param minimumOutput least output budget per completion worth sending, 1..{@link Limits#MAX_TOKENS}
         */
        public Builder fitOutputBudget(long minimumOutput) {
            this.fitMinimum = positive(minimumOutput, "fitOutputBudget");
            return this;
        }

        /**
         * Weighs holds and charges by model (see {@link ModelWeights} and the README's "Per-model
         * weights"): the hold is the estimate's input and output parts at the request model's rates, the
         * charge the answer's usage by kind of token at the answering model's rates, and each charge's
         * event keeps the model and raw counts. {@code null} (the default): plain token counts.
         */
        public Builder modelWeights(ModelWeights weights) {
            this.weights = weights;
            return this;
        }

        /**
         * Weights of the endpoints under {@code pathPrefix} alone (the longest prefix covering a path wins over
         * {@link #modelWeights(ModelWeights)}): for an endpoint that serves one model whatever the request names,
         * give it a table whose default is that model's rates. Such servers echo the requested name back
         * (llama.cpp's server, llamafile: {@code "model"} is the client's), so the answer cannot say which model
         * ran, and under the general table the client would choose its price (round 333: 1,350 charged for 9,000
         * by naming a cheap model).
         */
        public Builder modelWeights(String pathPrefix, ModelWeights weights) {
            weightsByPrefix.put(pathPrefix(pathPrefix), Objects.requireNonNull(weights, "weights"));
            return this;
        }

        /**
         * @throws IllegalStateException without a subject resolver or a protected prefix, or with a
         *                               {@link #fitOutputBudget} minimum above the {@link #outputBudgetCap}
         */
        public QuotaFilter build() {
            if (subjects == null) {
                throw new IllegalStateException("a subject resolver is required");
            }
            if (prefixes.isEmpty()) {
                throw new IllegalStateException("at least one protected path prefix is required");
            }
            if (fitMinimum > outputBudgetCap) {
                throw new IllegalStateException("the fitOutputBudget minimum (" + fitMinimum
                        + ") is above the outputBudgetCap (" + outputBudgetCap + "): no budget could be fitted");
            }
            if (estimator == null) {
                estimator = new DefaultTokenEstimator();
            }
            prefixes.sort(Comparator.comparingInt(String::length).reversed());
            return new QuotaFilter(this);
        }

        private static long positive(long value, String name) {
            if (value <= 0 || value > Limits.MAX_TOKENS) {
                throw new IllegalArgumentException(name + " must be between 1 and " + Limits.MAX_TOKENS + ", was " + value);
            }
            return value;
        }

        private static long nonNegative(long value, String name) {
            if (value < 0 || value > Limits.MAX_TOKENS) {
                throw new IllegalArgumentException(name + " must be between 0 and " + Limits.MAX_TOKENS + ", was " + value);
            }
            return value;
        }
    }
}
