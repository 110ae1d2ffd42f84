package io.tokenquota.servlet;

import io.tokenquota.ErrorCode;
import io.tokenquota.Limits;
import io.tokenquota.QuotaException;
import io.tokenquota.QuotaLedger;
import io.tokenquota.Reservation;
import jakarta.servlet.AsyncContext;
import jakarta.servlet.AsyncEvent;
import jakarta.servlet.AsyncListener;
import jakarta.servlet.http.HttpServletRequest;
import java.io.IOException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Finishes one hold exactly once, by the filter's settlement rules, which all live in
 * {@link #decide}. Also the {@link AsyncListener} of an async request, whose container may report
 * completion, an error and a timeout for the same cycle; the first one wins. Thread-safe.
 */
final class Settlement implements AsyncListener {
    private static final Logger LOG = LoggerFactory.getLogger(Settlement.class);
    /**
     * Spring MVC's {@code DispatcherServlet.WEB_APPLICATION_CONTEXT_ATTRIBUTE}: set on every request
     * the DispatcherServlet handles. Names only: this module does not depend on Spring.
     */
    static final String SPRING_DISPATCHER_CONTEXT = "org.springframework.web.servlet.DispatcherServlet.CONTEXT";
    /**
     * Spring MVC's {@code HandlerMapping.BEST_MATCHING_HANDLER_ATTRIBUTE}: set by Spring's handler
     * mappings (annotated controllers, URL mappings, functional routes) once they matched a handler,
     * before it runs.
     */
    static final String SPRING_BEST_MATCHING_HANDLER = "org.springframework.web.servlet.HandlerMapping.bestMatchingHandler";

    /** How the endpoint's work ended, as far as the filter can tell. */
    enum End {
        /** The chain returned, or the async cycle completed. */
        RETURNED,
        /** The chain threw, or the async cycle failed other than by the client going away. */
        THREW,
        /** The container's async timeout fired. */
        TIMED_OUT,
        /** Writing to the client failed, or the container reported it gone ({@link #errorEnd}): it went away. */
        CLIENT_GONE
    }

    /**
     * What to do with the hold: charge {@code tokens}, or release it ({@code tokens} is then -1).
     */
    record Decision(boolean release, long tokens, String reason) {
        static Decision charge(long tokens, String reason) {
            return new Decision(false, tokens, reason);
        }

        static Decision release(String reason) {
            return new Decision(true, -1, reason);
        }
    }

    /** Calls that ask for no model, and what still makes their answer a model's. */
    enum Quiet {
        /** A call like any other. */
        NO,
        /**
         * An {@code OPTIONS} or {@code TRACE}, with a body or without: a preflight's answer and the
         * servlet API's {@code Allow} carry no content, and a {@code TRACE}'s is the request's echo
         * ({@code message/http}); other content under a 2xx is an answer, judged as any call's.
         */
        OPTIONS_OR_TRACE,
        /**
         * An error page (an ERROR dispatch, or a forward an error page made): its content is the error's
         * page (a framework's error body, a site's 404 page), not a model's answer; one that calls a
         * model reports it (its usage, or its own figure).
         */
        ERROR_PAGE
    }

    private final QuotaLedger ledger;
    private final Reservation hold;
    private final long estimate;
    /** The estimate before weighing, and the output budget in it (raw tokens; the same as above unweighed). */
    private final long rawEstimate;
    private final long rawOutput;
    /**
     * How the call asks for no model: {@link Quiet#NO}, or only a figure or usage it reports is charged
     * ({@link #quietNow}).
     */
    private final Quiet quiet;
    private final boolean releaseOnError;
    private final HttpServletRequest request;
    /** The request as the endpoint saw it: it keeps the figure the endpoint reported ({@link #explicitActual}). */
    private final EndpointRequest endpoint;
    private final QuotaResponse response;
    /** The filter's memory of recent answers' usage by ETag, for a 304 made of a computed answer. */
    private final AnswerUsages answers;
    /**
     * This request's key in {@link #answers} (its subject, method, URI, query and body), computed only
     * when an answer is remembered or a 304 looked up; {@code null}: never remembered.
     */
    private final java.util.function.Supplier<String> answerKey;
    /** The filter's memory of what state kept at the provider costs, and what this request names of it. */
    private final ProviderState providerState;
    private final ProviderState.Reading state;
    private final AtomicBoolean done = new AtomicBoolean();
    /** How an async cycle ended before it completed (timeout, error); settled on completion. */
    private volatile End asyncEnd;
    /** The filter's count of settlements that failed (a ledger outage after the answer was sent). */
    private final AtomicLong failures;
    /** The filter's per-model weighing of this request, or {@code null} without weights. */
    private final Weighing weighing;

    /**
     * Keeps the call's hold alive until the settlement has landed or finally failed, and runs the retries
     * of a settlement the store could not take.
     */
    private final HoldKeeper keeper;
    /** When the call began ({@link System#nanoTime}), before the endpoint had a word of its answer. */
    private final long begun = System.nanoTime();

    Settlement(QuotaLedger ledger, Reservation hold, long estimate, long rawEstimate, long rawOutput, Quiet quiet,
               boolean releaseOnError,
               HttpServletRequest request, EndpointRequest endpoint, QuotaResponse response,
               AnswerUsages answers,
               java.util.function.Supplier<String> answerKey, ProviderState providerState, ProviderState.Reading state,
               AtomicLong failures, Weighing weighing, HoldKeeper keeper) {
        this.keeper = keeper;
        this.answerKey = answerKey;
        this.providerState = providerState;
        this.state = state;
        this.weighing = weighing;
        this.failures = failures;
        this.answers = answers;
        this.ledger = ledger;
        this.hold = hold;
        this.estimate = estimate;
        this.rawEstimate = rawEstimate;
        this.rawOutput = rawOutput;
        this.quiet = quiet;
        this.releaseOnError = releaseOnError;
        this.request = new Kept(request);
        this.endpoint = endpoint;
        this.response = response;
    }

    /** The file upload (or step of one) this request may be; {@code null} when it is none. */
    private FileUpload upload;

    /**
     * The request may upload a file to the provider ({@code null}: it does not). Answered with the
     * provider's object for that step alone and without usage, it called no model and is released
     * ({@link FileUpload#answered}).
     */
    void uploads(FileUpload upload) {
        this.upload = upload;
    }

    /** The top-level values of the request's JSON body, read when needed ({@link Json#topLevelValues}). */
    private java.util.function.Supplier<java.util.Set<String>> bodyValues = java.util.Set::of;
    /** The string a top-level field of the request's JSON body holds, or {@code null}. */
    private java.util.function.Function<String, String> bodyField = name -> null;

    void bodyField(java.util.function.Function<String, String> field) {
        this.bodyField = field;
    }

    void bodyValues(java.util.function.Supplier<java.util.Set<String>> values) {
        this.bodyValues = values;
    }

    /** Whether a top-level field of the request's JSON body is {@code true} ({@link Json#topLevelTrue}). */
    private java.util.function.Predicate<String> bodyTrue = name -> false;

    void bodyTrue(java.util.function.Predicate<String> flag) {
        this.bodyTrue = flag;
    }

    /** The request's body as one JSON-RPC 2.0 message ({@link JsonRpc#of}), read when needed; {@code null} when it is none. */
    private java.util.function.Supplier<JsonRpc.Message> rpc = () -> null;

    void rpc(java.util.function.Supplier<JsonRpc.Message> message) {
        this.rpc = message;
    }

    /**
     * The settlement rules, in order; the first that applies decides.
     * <ol>
     *   <li>the handler's own figure ({@link QuotaFilter#ACTUAL_TOKENS_ATTRIBUTE}, the
     *       {@code X-Quota-Actual-Tokens} header, or a trailer field of that name) is charged;</li>
     *   <li>usage the response reports of calls whose same results this subject read before
     *       ({@code chargedBefore}: a batch's output file downloaded again) is released: they were charged
     *       then;</li>
     *   <li>usage the model reported in the response is charged, whatever happened afterwards: an
     *       exception, a 5xx, an async timeout, a client that hung up, a hold that already expired; a
     *       figure past what the ledger takes for one call is charged that maximum. A report known to
     *       be {@code provisional} (Anthropic's {@code message_start}, counted before the answer was
     *       written, without the final {@code message_delta}; a Gemini chunk's prompt-only count without
     *       the last chunk's) is charged at least the estimate; so is one the model's own text may have
     *       made (an answer read in a format its label does not name, an event-stream framing raw text
     *       could have made: {@link UsageSniffer#provisional}), which can raise the charge, never lower it;</li>
     *   <li>a 2xx of a token-counting endpoint whose answer is a count ({@code tokenCount}: Gemini's
     *       {@code :countTokens}, Anthropic's {@code /count_tokens}, OpenAI's
     *       {@code /responses/input_tokens}, answering {@code totalTokens} or {@code input_tokens}):
     *       the provider ran its tokenizer and no model, the hold is released; and so is a {@code quiet}
     *       call's, whatever its status and end: a body-less {@code OPTIONS} or {@code TRACE} (a CORS
     *       preflight, an echo) or an error page asks for no model, and one that called a model reported
     *       its usage (rules 1 and 3);</li>
     *   <li>a 5xx or a 408 (a timeout, also one a relay passes on from its gateway), or a 2xx whose answer
     *       held nothing but a provider's error (a stream's only event one
     *       the server named {@code error}, Anthropic's and OpenAI Responses', or Responses'
     *       {@code response.failed}; not an unnamed event or a JSON body, which the model may have
     *       written): released ({@code releaseOnError}) or charged the estimate; but a 5xx after the
     *       endpoint was {@code answering} (rule 10) is charged the estimate;</li>
     *   <li>a 302, 303 or 307 (post/redirect/get after the call: the filter cannot tell it from a redirect
     *       before the call, such as a login filter's behind this one, which is why authentication goes
     *       before it), a 304 (an ETag filter inside this one
     *       answered a conditional request after the model had answered), or a 406 (the framework
     *       found no format for the client's {@code Accept} only when writing the handler's answer),
     *       or a 412 (the framework evaluates the client's {@code If-Unmodified-Since} or
     *       {@code If-Match} against the validators of the answer the handler returned), or a 416 (the
     *       framework serves byte ranges of the resource the handler returned and found the client's
     *       {@code Range} outside it): the estimate is charged; but a 406 or a 412 is released when
     *       {@code noHandler} (Spring MVC's DispatcherServlet handled the request and matched no
     *       handler: nothing ran; for a 406, its handler mapping refused the {@code Accept}), and so is a
     *       307 when {@code noHandler} (a router's trailing-slash redirect to the request's own path:
     *       {@link #slashRedirect}); a 406 that replaced a refusal the endpoint had set comes here as that
     *       refusal's 4xx;</li>
     *   <li>any other 3xx, or a 4xx, without usage (400, 404, 405, 415, 422, an upstream 429...): the
     *       model was not called, the hold is released, also when the client has gone meanwhile; unless
     *       the endpoint was {@code answering} (rule 10) when the status came, whether it replaced that
     *       content (a reset, {@code resetBuffer} or {@code sendError}, an exception or a timeout) or was
     *       set over it (a JSP's layout, then its "not found"), or the content was a nested include's,
     *       written under its own 2xx: then the estimate is charged. The filter cannot tell a layout from
     *       a model's answer written inline; a page that calls no model reports 0 for itself (rule 1);</li>
     *   <li>a browser's {@code EventSource} reconnecting after its stream ended ({@code reconnect}: a
     *       {@code GET} or {@code HEAD} that accepts {@code text/event-stream} or carries
     *       {@code Last-Event-ID}, to a URL this filter sent the subject an event stream on) answered 204
     *       or 205 without usage: 204 is the HTML standard's way to
     *       stop it, and it carries no answer, so the hold is released; any other 204 (a {@code POST}
     *       run for a side effect, a {@code GET} whose model found an empty result) is charged by the
     *       rules below;</li>
     *   <li>a client that went away before any usage was seen (also as the container reports it to the
     *       async cycle: an HTTP/2 stream the client reset while a worker called the model, round 338:
     *       {@link #errorEnd}) is charged the estimate: the model was
     *       called, and hanging up must not make the call free;</li>
     *   <li>an exception (or an async timeout) before the endpoint was {@code answering}: the hold is
     *       released ({@code releaseOnError}, the default) or charged the estimate. The endpoint was
     *       answering once it wrote content under a 2xx ({@link AnswerStart}), sent or not: the model had
     *       answered, so the estimate is charged, also when a 5xx replaced that answer afterwards (the
     *       container's for an exception or a timeout, an exception handler's after a reset);</li>
     *   <li>a 2xx without usage: the estimate is charged.</li>
     * </ol>
     * These judge the holding call's own answer; what includes nested in it and passes run again reported is
     * added by {@link #withNested}.
     */
    static Decision decide(Long explicit, Long usage, boolean provisional, End end, int status, boolean reconnect,
                           boolean answering, boolean noHandler, boolean tokenCount, boolean quiet, boolean chargedBefore,
                           boolean releaseOnError, long estimate) {
        if (explicit != null) {
            return Decision.charge(explicit, "reported by the handler");
        }
        if (usage != null && chargedBefore) {
            return Decision.release("the calls were charged when their results were first read");
        }
        if (usage != null) {
            if (provisional && usage < estimate) {
                // a count taken before the answer was written (the final one never came): what the
                // client received is not in it, so it must not lower the charge below the hold
                return Decision.charge(Math.min(estimate, Limits.MAX_TOKENS),
                        "provisional usage in the response, at least the estimate");
            }
            // the ledger refuses more than MAX_TOKENS for one call; the model was called, so a
            // larger report is charged the most it can take rather than nothing
            return usage > Limits.MAX_TOKENS ? Decision.charge(Limits.MAX_TOKENS, "usage in the response, capped")
                    : Decision.charge(usage, provisional ? "provisional usage in the response" : "usage in the response");
        }
        if (tokenCount && status >= 200 && status < 300) {
            return Decision.release("a token count: no model was called");
        }
        if (quiet) {
            return Decision.release("a preflight, echo or error page without usage: no model was called");
        }
        if (status >= 500) {
            return failed(answering, releaseOnError, estimate, "server error");
        }
        if (status == 307 && noHandler) {
            // a router's trailing-slash redirect (Starlette's and gin's 307): no handler ran (round 304)
            return Decision.release("redirected to the request's own path with its slash changed: no handler ran");
        }
        if (status == 302 || status == 303 || status == 307) {
            // post/redirect/get (sendRedirect, Spring's redirect:; JAX-RS's temporaryRedirect and a ResponseEntity's
            // 307 to the stored result, round 259): the work was done, the answer lives elsewhere. What the
            // endpoint read says nothing: one that calls the model with its path alone reads nothing
            return Decision.charge(estimate, "redirected to the answer after the call");
        }
        if (status == 304) {
            // an ETag filter computes the answer (the model runs) and only then finds the client has it
            return Decision.charge(estimate, "not modified after the call");
        }
        if (status == 412) {
            if (noHandler) {
                // no handler matched: nothing ran, the model was not called
                return Decision.release("precondition failed before any handler ran");
            }
            // Spring MVC evaluates If-Unmodified-Since / If-Match against the Last-Modified or ETag of
            // the ResponseEntity the handler returned: the model answered before the 412
            return Decision.charge(estimate, "precondition failed after the call");
        }
        if (status == 406) {
            if (noHandler) {
                // Spring's handler mapping found no handler producing what the client accepts
                // (produces = ...): nothing ran, the model was not called
                return Decision.release("not acceptable before any handler ran");
            }
            // Spring MVC runs the handler (the model answers) and only then, writing its return value,
            // finds no converter for the client's Accept header: releasing it would make any call free
            return Decision.charge(estimate, "not acceptable after the call");
        }
        if (status == 416) {
            // Spring MVC serves byte ranges of any Resource a handler returns (text to speech, a
            // rendered file): the model ran before the client's Range header was found unsatisfiable
            return Decision.charge(estimate, "range not satisfiable after the call");
        }
        if (status == 408) {
            // a timeout, whoever reports it: a relay passing on its gateway's (LiteLLM's litellm.Timeout is a
            // 408, round 353) after the provider's call was made is a failure, as its 504 is, not a refusal
            return failed(answering, releaseOnError, estimate, "request timeout");
        }
        if (end == End.TIMED_OUT && status >= 300) {
            // the container's timeout fired while the endpoint was at work: whatever refusal its timeout
            // handler answers (Spring's DeferredResult 408, round 294), the model call it started may run on
            return failed(answering, releaseOnError, estimate, "timed out");
        }
        if (status >= 300 && answering) {
            // the endpoint had answered (content under a 2xx, its own or a nested include's) when this
            // status came, whether it replaced that content (a reset, sendError, an exception handler's
            // refusal) or was set over it (a JSP that writes its layout, then sets 404): the filter cannot
            // tell a page's layout from a model's suggestions written inline, and where unsure it charges.
            // A page that calls no model reports 0 for itself (rule 1)
            return Decision.charge(estimate, "status " + status + " after answering");
        }
        if (status >= 300) {
            // also when the client has gone meanwhile: a refusal relayed to nobody is still a refusal
            return Decision.release("the model was not called (status " + status + ")");
        }
        if (reconnect && (status == 204 || status == 205)) {
            // the end of an event stream, told to a reconnecting EventSource: no model answered it
            return Decision.release("no content for an event stream's reconnect (" + status + ")");
        }
        if (end == End.CLIENT_GONE) {
            return Decision.charge(estimate, "client went away before the usage");
        }
        if (end == End.THREW || end == End.TIMED_OUT) {
            return failed(answering, releaseOnError, estimate, "failed");
        }
        return Decision.charge(estimate, "no usage reported");
    }

    /**
     * Rules 3 and 6 for a call without usage that failed: by a 5xx, an exception or an async timeout.
     * Released ({@code releaseOnError}) or charged the estimate, unless the endpoint was already
     * answering: then the model had answered, and what ended the call afterwards cannot undo that,
     * whether the exception reached the container, an exception handler reset the buffer and answered
     * 500 in its place, or the container answered 500 for a timeout with the answer still in its buffer.
     */
    private static Decision failed(boolean answering, boolean releaseOnError, long estimate, String what) {
        if (answering) {
            return Decision.charge(estimate, what + " after answering");
        }
        return releaseOnError ? Decision.release(what + " before answering") : Decision.charge(estimate, what);
    }


    /**
     * The holding call's own decision with the figures of the includes nested in it added: each is a
     * model call of its own (a page's summary fragment), so it neither stands for the page's own answer
     * (which {@link #decide} judged: its figure, else its usage, else the estimate as for any call) nor
     * is freed by it (a page released for its status still pays for a fragment that reported a call). A
     * page that calls no model itself reports 0 for itself and is charged its fragments alone; one that
     * reports nothing is charged its estimate beside them: where unsure, the filter charges.
     */
    static Decision withNested(Decision own, Long nested) {
        if (nested == null || nested <= 0) {
            // a status fragment's 0 adds nothing
            return own;
        }
        if (own.release()) {
            return Decision.charge(nested, "reported by nested includes (" + own.reason() + ")");
        }
        return Decision.charge(Math.min(Limits.MAX_TOKENS, own.tokens() + nested),
                own.reason() + ", with nested includes' figures");
    }

    /**
     * What the call would be charged if it settled now, as {@link #decide} and
     * {@link #withNested} would charge it for a 2xx: the handler's own figure once it reported one, else
     * the usage read from the answer (weighed, when weighed; at least the estimate while provisional),
     * else the estimate (which passes the hold for a budget above the cap); plus what includes nested in
     * it and passes run again while it runs reported. The answer may be with the client before the call settles (an endpoint that works on
     * after its last event), and the subject's next call must count this too. Read from other threads:
     * quiet about figures it cannot charge, which its settlement logs.
     */
    long chargeSoFar() {
        Long figure = chargeable(reported());
        long own;
        if (figure != null) {
            own = figure;
        } else {
            UsageSniffer sniffer = response.sniffer();
            Long usage = sniffer.usage();
            if (usage == null) {
                own = quietNow(response.answering()) || carriedFigure() != null ? 0 : estimateOf(sniffer);
            } else {
                own = withChunkText(withPlaceholders(weighing == null ? usage
                        : weighing.weigh(usage, sniffer).charge(), sniffer), sniffer);
                if (sniffer.provisional()) {
                    own = Math.max(own, estimateOf(sniffer));
                }
            }
        }
        // a pass run again's trailer supplier is not asked here either (explicitActual): only its settlement asks
        Long nested = nestedActual(Settlement::chargeable, false);
        return Math.min(Limits.MAX_TOKENS, own + (nested == null ? 0 : nested));
    }

    /**
     * The usage read ({@code charge}, weighed when weighed) with the calls the answer reported only as
     * placeholders added, each at the estimate: an AutoGen agent that streams without usage reports
     * {@code models_usage} 0/0 ({@link UsageSniffer#placeholders}, each counted once by its message's id). Alone,
     * such a report is charged at least the estimate (a provisional usage); beside another agent's real counts
     * it would add nothing, and the call that wrote the story would be free (round 309). The estimate is what
     * the filter charges a call it cannot measure, and what this call is charged alone, so a team never makes it
     * cheaper; not its content's text: what it read (the conversation so far) is in no count the answer shows,
     * and nothing answer-wide ({@link #estimateOf}'s streamed text), which would count the other agents' text
     * again. The real counts are never lowered: only added to.
     */
    private long withPlaceholders(long charge, UsageSniffer sniffer) {
        long placeholders = sniffer.placeholders();
        if (placeholders == 0 || estimate <= 0) {
            return charge;
        }
        long each = Math.min(estimate, Limits.MAX_TOKENS);
        return UsageKinds.add(charge, placeholders > Long.MAX_VALUE / each ? Long.MAX_VALUE : placeholders * each);
    }

    /**
     * The usage read ({@code charge}, weighed when weighed), or the text the answer carried (at the output rate when
     * weighed) when that is more and the usage came from an AWS event stream's chunk bytes read as a provider's
     * documents ({@link UsageSniffer#usageInChunkBytes}). Round 474: a Bedrock agent's chunks carry its answer's
     * text, which the client can have its model write as a usage; the decoder reads them as text once anything AWS
     * sets says the stream is an agent's, but before that (a relay that drops InvokeAgent's headers, the trace off,
     * the fake the answer's first chunk written exactly as a model family's event, {@code InvokeModelEvents}) a
     * chunk is read as InvokeModelWithResponseStream's, whose bytes are the provider's event, and a usage of 2
     * charged 5,300 tokens of text 2. A genuine InvokeModel stream relayed with its own header is not floored at all; one relayed
     * without it rarely is: its text is inside those very chunks, and the report counts it as its output beside the
     * input, so the text's estimate passes the report only where the estimator counts it above the provider's
     * whole count, input included (docs/decisions.md, "Bedrock chunks as text").
     */
    private long withChunkText(long charge, UsageSniffer sniffer) {
        if (!sniffer.usageInChunkBytes()) {
            return charge;
        }
        long text = sniffer.writtenTextTokens();
        if (text <= 0) {
            return charge;
        }
        long least = Math.min(Limits.MAX_TOKENS, weighing == null ? text : weighing.withAnswer(sniffer.models()).hold(text, text));
        return Math.max(charge, least);
    }

    /** The statuses of a stored Response or an Assistants run whose model has not finished. */
    private static final java.util.Set<String> PENDING = java.util.Set.of("queued", "in_progress");
    /**
     * A job's states that, without usage, say its model wrote nothing more to charge: a job cancelled (or being
     * cancelled), failed or expired, read or cancelled at an instance that did not see it start (round 283: a
     * background Response cancelled, or polled after it was cancelled or failed, through another instance was
     * charged the fallback again).
     */
    private static final java.util.Set<String> ENDED_UNUSED = java.util.Set.of("cancelled", "cancelling", "failed",
            "expired");

    /** What a provider's object names itself: its {@code object}, or Anthropic's {@code type}. */
    private static String named(JsonDocumentScanner.Document answer) {
        return answer == null ? "body-less answer to a Realtime call's ending"
                : answer.object() != null ? answer.object()
                : answer.type() != null ? answer.type() : "provider's stored resource or server state";
    }

    private static boolean reads(HttpServletRequest request) {
        return "GET".equals(request.getMethod()) || "HEAD".equals(request.getMethod());
    }

    /**
     * A call the provider stores under an id, as an answer shows it: {@code object} its kind
     * ({@code response}, {@code thread.run}, {@code chat.completion}, {@code batch}, {@code eval.run}), {@code status}
     * its status ({@code null} when it has none), {@code foreground} whether the provider ran it within
     * its creating request's answer (a chat completion; a Response that says {@code "background": false}),
     * whose usage that answer carried.
     */
    private record Stored(String id, String object, String status, boolean foreground) {
        static Stored of(JsonDocumentScanner.Document d) {
            return d == null ? null : new Stored(d.id(), d.object(), d.status(),
                    d.foreground() || "chat.completion".equals(d.object()));
        }
    }

    /**
     * Whether the request acts on the stored call it is answered with, naming it: its path ends with the
     * call's id under its collection ({@code /v1/responses/{id}}, {@code /v1/threads/{thread}/runs/{id}},
     * {@code /v1/batches/{id}}, a stored chat completion's {@code /chat/completions/{id}}: a read, or an
     * update of its metadata), or
     * with that and {@code /cancel} or {@code /submit_tool_outputs} (a run that goes on after its client's
     * functions answered is the same job). A request that names no id is a call of its own, whatever
     * id its answer has (a server may give every answer the same one, and a {@code GET} may call a model).
     */
    private static boolean actsOn(HttpServletRequest request, Stored stored) {
        String collection = switch (stored.object()) {
            case "response" -> "/responses/";
            case "thread.run", "eval.run" -> "/runs/";
            case "batch" -> "/batches/";
            case "chat.completion" -> "/chat/completions/";
            // Gemini's Interactions API: a background interaction (Deep Research) polled by its id (round 284)
            case "interaction" -> "/interactions/";
            default -> null;
        };
        if (collection == null) {
            return false;
        }
        // the id under its collection's name: a client that names its call after the route (vLLM takes a
        // request_id for the Response's id) still posts to the collection, not to an object in it
        String named = collection + stored.id();
        // the path as the container routed it (decoded, dot segments resolved), not as the client wrote it
        String uri = QuotaFilter.pathOf(request);
        return uri.endsWith(named) || uri.endsWith(named + "/cancel") || uri.endsWith(named + "/submit_tool_outputs");
    }

    /**
     * An application's own job, as its API answers the request that starts it and the reads of it: one
     * JSON document with an {@code id} (a string, or a number its database gave it) and a {@code status},
     * and no provider's {@code object} ({@link UsageSniffer#appJob}).
     */
    private record AppJob(String id, String status) {
        /** The statuses a job starts in, answered to the request that starts it (any case: a Java enum's). */
        private static final java.util.Set<String> STARTED = java.util.Set.of("queued", "in_progress", "pending",
                "running", "processing", "submitted", "accepted", "starting", "created", "validating");

        static AppJob of(UsageSniffer sniffer) {
            JsonDocumentScanner.Document d = sniffer.appJob();
            return d == null ? null : new AppJob(d.id(), d.status());
        }

        /** What the subject's charge for a job is remembered by: the job ({@link ProviderState#jobsNamed}). */
        static String key(String job) {
            return "job:" + job;
        }

        /** Whether this request may read it back: a {@code GET} or {@code HEAD} at a path ending with its id. */
        boolean readBy(HttpServletRequest request) {
            return reads(request) && QuotaFilter.pathOf(request).endsWith("/" + id);
        }

        /**
         * Which of the jobs answered with this id ({@code known}) this request starts again: the one at its
         * collection ({@code POST /summaries} again), at its own path or under it ({@code POST
         * /summaries/{id}/regenerate}, {@code …/{id}:regenerate}), or under its collection with the id in the
         * body ({@code POST /summaries/regenerate}, {@code {"id": …}}); {@code null} for none (another
         * table's job of the same number, {@code /reports/weekly} beside {@code /reports}).
         */
        String restarted(HttpServletRequest request, java.util.List<String> known, java.util.function.Supplier<java.util.Set<String>> body) {
            String path = QuotaFilter.pathOf(request);
            for (String job : known) {
                String collection = job.substring(0, job.length() - id.length() - 1);
                boolean own = path.startsWith(job) && (path.length() == job.length() || path.charAt(job.length()) == '/'
                        || path.charAt(job.length()) == ':');
                if (path.equals(collection) || own || path.startsWith(collection + "/") && body.get().contains(id)) {
                    return job;
                }
            }
            return null;
        }

        /** Whether this request started it (or started it again): not a read, answered {@code 202} or a starting status. */
        boolean startedBy(HttpServletRequest request, int httpStatus) {
            return !reads(request) && (httpStatus == 202
                    || status != null && STARTED.contains(status.toLowerCase(java.util.Locale.ROOT)));
        }

        /** The path its reads take at the collection this request starts it in ({@code POST /summaries}, read at {@code /summaries/{id}}). */
        String collectionPath(HttpServletRequest request) {
            return QuotaFilter.pathOf(request) + "/" + id;
        }

        /**
         * The path of the {@code Location} a (re)start's answer names for its reads (a status monitor,
         * {@code /operations/{id}}), as this application routes it (without its context path); {@code null}
         * when it names none that ends with the id.
         */
        String locationPath(HttpServletRequest request, String location) {
            if (location == null) {
                return null;
            }
            try {
                String path = java.net.URI.create(location.trim()).getPath();
                String context = request.getContextPath();
                return path == null || !path.startsWith(context + "/") || !path.endsWith("/" + id) ? null
                        : path.substring(context.length());
            } catch (IllegalArgumentException malformed) {
                return null;
            }
        }

        /** Whether the request names the id (a whole path segment, a query value): the client's, then, not the application's. */
        boolean namedBy(HttpServletRequest request) {
            return namedInPath(QuotaFilter.pathOf(request)) || namedInQuery(request.getQueryString());
        }

        private boolean namedInPath(String path) {
            for (String segment : path.split("/")) {
                if (segment.equals(id)) {
                    return true;
                }
            }
            return false;
        }

        /** Whether a query value (decoded) is the id. */
        private boolean namedInQuery(String query) {
            if (query == null) {
                return false;
            }
            for (String pair : query.split("&")) {
                String value = pair.substring(pair.indexOf('=') + 1);
                try {
                    value = java.net.URLDecoder.decode(value, java.nio.charset.StandardCharsets.UTF_8);
                } catch (IllegalArgumentException malformed) {
                    // as sent
                }
                if (id.equals(value)) {
                    return true;
                }
            }
            return false;
        }
    }

    /**
     * An application's job started, or started again, by this request, charged {@code charge} for it. A
     * job of this subject answered with the same id in the same collection before (whatever route runs
     * it again) pays again: the figure its reads are charged beyond is this start's. A new job counts
     * only with an id the application gave (the request names it nowhere: an id the client chose is no
     * job of the application's); it is read at its collection's path, and at the {@code Location} the
     * answer names (a status monitor), which both settle the one figure.
     */
    private void appJobStarted(AppJob started, String location, long charge) {
        String subject = hold.subject();
        String job = started.restarted(request, providerState.jobsNamed(subject, started.id()), bodyValues);
        if (job == null) {
            if (started.namedBy(request)) {
                return;
            }
            job = started.collectionPath(request);
            providerState.jobNamed(subject, started.id(), job);
            providerState.jobReadAt(subject, job, job);
        }
        providerState.jobStarted(subject, AppJob.key(job), charge);
        String monitor = started.locationPath(request, location);
        if (monitor != null) {
            providerState.jobReadAt(subject, monitor, job);
        }
    }

    /**
     * A request that acts on a job the provider runs on its own (a background Response, an Assistants
     * run, a batch: a poll, a cancel, the final read): the request itself called no model, and the
     * job's usage, once an answer reports it, is charged beyond what the calls before already paid for
     * it ({@code charged}; {@code null} when this filter saw none of them, then all of it). A request that
     * makes the job's model run again ({@code runs}: a message to an A2A task awaiting input) is charged at
     * least its estimate when its answer shows nothing beyond that (a task answered while it runs), added to
     * what the job was charged.
     */
    private Decision jobRead(Stored job, Long charged, Long usage, boolean provisional, Long explicit, boolean runs) {
        long before = charged == null ? 0 : charged;
        long beyond = 0;
        String result = usage != null && !provisional ? finishedResult(job) : null;
        String known = result == null || charged == null ? null : providerState.jobResult(hold.subject(), job.id());
        boolean ranAgain = known != null && !known.equals(result);
        if (ranAgain) {
            // another finished result than the one this instance charged the job for: a run it did not see start
            // (regenerated, summarised again, a Response made again under its request_id, through another instance:
            // round 329, charged what its usage passed the old run's, often nothing). It owes its whole usage; the
            // other instance charged its start's estimate, the over-charge the docs accept for jobs across instances
            providerState.jobStarted(hold.subject(), job.id(), 0);
            before = 0;
        }
        if (usage != null && !provisional) {
            beyond = Math.max(0, usage - before);
            // a read that pays nothing for a job this filter holds no figure of (a stored call read back here, charged
            // where it ran) writes none: kept, another subject's free reads would push paid figures out (round 379:
            // eight such reads, and a background Response read back was charged again in full, 10,019 for 8,000)
            if (beyond > 0 || providerState.jobCharged(hold.subject(), job.id()) != null) {
                providerState.jobCharged(hold.subject(), job.id(), usage, true);
                if (result != null) {
                    providerState.jobResult(hold.subject(), job.id(), result);
                }
            }
        } else if (charged == null) {
            providerState.jobCharged(hold.subject(), job.id(), 0);
        }
        long own = explicit == null ? 0 : explicit;
        boolean streamedCut = own + beyond == 0 && explicit == null && (usage == null || provisional)
                && String.valueOf(response.getContentType()).toLowerCase(java.util.Locale.ROOT).startsWith(AnswerUsages.STREAM);
        if (streamedCut && !reads(request)) {
            // a write on the job that streams its run (an Assistants run's submit_tool_outputs with
            // "stream": true): the model answers in this request; cut before the run's usage, it is charged
            // at least its estimate, and a later read of the usage only what passes all charged for the job
            long least = estimateOf(response.sniffer());
            providerState.jobCharged(hold.subject(), job.id(), StreamText.plus(before, least));
            return Decision.charge(least, "a write on " + job.object() + " streamed without the run's usage: the estimate");
        }
        if (runs && own + beyond == 0) {
            // a message to the task (A2A 0.3, 6.4): the agent's model runs for it, and its answer (the task while it
            // runs) shows no usage beyond what was charged for the task; its later read is charged only what passes both
            long least = estimateOf(response.sniffer());
            providerState.jobCharged(hold.subject(), job.id(), StreamText.plus(before, least));
            return Decision.charge(least, "a message to " + job.object() + " " + job.status() + " without new usage: the estimate");
        }
        long carried = streamedCut ? streamedText(response.sniffer()) : 0;
        if (carried > before) {
            // a read that streams the job's text (a background Response read with ?stream=true) cut before the
            // usage event: the model wrote at least what it carried, of which the job has paid what was charged
            // for it before; a later read of the usage, or of the same text again, only what passes that
            providerState.jobCharged(hold.subject(), job.id(), carried, true);
            return Decision.charge(carried - before, "a read of " + job.object() + " streamed without its usage:"
                    + " the text it carried beyond what was charged for it before");
        }
        if (own + beyond == 0) {
            return Decision.release("a read of " + job.object() + " " + job.status() + ": no model was called for it");
        }
        return Decision.charge(Math.min(Limits.MAX_TOKENS, own + beyond), ranAgain
                ? "what " + job.object() + " used in a run this instance did not see start"
                : "what " + job.object() + " used beyond what was charged for it before"
                + (explicit == null ? "" : ", with the handler's figure"));
    }

    /** The statuses of a job whose result is finished (any case): its usage is final, its text written. */
    private static final java.util.Set<String> FINISHED = java.util.Set.of("completed", "complete", "succeeded",
            "success", "done", "finished");

    /**
     * What identifies the finished result a read of {@code job} answers ({@link ProviderState#jobResult}): the
     * model's text (the answer's strings that hold whitespace: {@link JsonDocumentScanner.Document#prose}) and its
     * usage, by kind, as read. Not the whole answer: its other fields (a timestamp of the read, a signed URL) may
     * change between reads of one result, each of which would be charged again. {@code null} when the job's status
     * says no finished result (a running job's usage and text grow between polls of one run).
     */
    private String finishedResult(Stored job) {
        UsageSniffer sniffer = response.sniffer();
        JsonDocumentScanner.Document last = sniffer.lastDocument();
        if (last == null || job.status() == null || !FINISHED.contains(job.status().toLowerCase(java.util.Locale.ROOT))) {
            return null;
        }
        return Long.toHexString(last.prose()) + " " + sniffer.usage() + " " + java.util.Arrays.toString(sniffer.kinds());
    }

    /**
     * A read of a list of eval runs, each with its usage (round 269: a run followed by the list of runs
     * alone was charged its creation's estimate, 1,033 for 16,000): what each run's usage passes what was
     * charged for it before, as a read of the run itself is charged ({@link #jobRead}).
     */
    private Decision listedRuns(java.util.List<JsonDocumentScanner.InlineResult> runs) {
        long beyond = 0;
        for (JsonDocumentScanner.InlineResult run : runs) {
            long used = Math.max(run.usage().getOrDefault("total_tokens", 0L), UsageKinds.total(UsageKinds.openAi(run.usage())));
            Long before = providerState.jobCharged(hold.subject(), run.call());
            long charged = before == null ? 0 : before;
            if (used > charged) {
                beyond = StreamText.plus(beyond, used - charged);
                providerState.jobCharged(hold.subject(), run.call(), used, true);
            }
        }
        return beyond == 0 ? Decision.release("a list of eval runs whose usage was charged before: no model was called")
                : Decision.charge(Math.min(Limits.MAX_TOKENS, beyond), "the eval runs listed: what their usage passes"
                + " what was charged for them before");
    }

    /**
     * The charge of the call that made {@code job} (or a stored call): {@code whole}; when reads of the job
     * settled while this call ran (a client reads a background Response by the id the stream's first event
     * gave, or resumes it after a dropped connection), what the run cost (the more of {@code whole} and what
     * they showed) less what they paid. The job's figure is then what its run cost.
     */
    private Decision madeJob(Decision whole, Stored job) {
        long tokens = whole.release() ? 0 : whole.tokens();
        if (actsOn(request, job)) {
            // a read of a job this instance did not see made (or not yet: the call making it still runs)
            providerState.jobCharged(hold.subject(), job.id(), tokens, true);
            return whole;
        }
        long[] reads = providerState.jobReadsSince(hold.subject(), job.id(), begun);
        // the run costs what this call would be charged, or what its reads showed, when more
        long run = reads == null ? tokens : Math.max(tokens, reads[1]);
        // a new run under an id an earlier one had (vLLM takes the client's request_id) starts its own figure
        providerState.jobStarted(hold.subject(), job.id(), run);
        if (reads == null || run == 0) {
            return whole;
        }
        long rest = Math.max(0, run - reads[0]);
        return rest == 0 ? Decision.release("the job " + job.id() + " was charged " + reads[0] + " by its reads while"
                + " this call ran, what it cost")
                : Decision.charge(rest, "the job " + job.id() + " cost " + run + " (" + whole.reason() + ", or what its"
                + " reads showed), less the " + reads[0] + " its reads paid while this call ran");
    }

    /**
     * What an answer without usage (or with a provisional one) is charged at least: the estimate; for
     * audio the model wrote (a text-to-speech answer) what its length costs at the rate audio is held
     * ({@link AudioDuration#inputTokens}), for a picture it drew its input and the picture's output
     * ({@link ImageOutput#drawn}), when that is more (neither for a {@code GET} or {@code HEAD}); its
     * input and the new text (and speech) its stream carried, or the text it wrote raw
     * ({@link UsageSniffer#textTokens}), when that is more.
     */
    private long estimateOf(UsageSniffer sniffer) {
        // a GET or HEAD reads back stored audio (a recording, a file's content): no model spoke it now; the
        // deltas a model streams to a GET (Spring AI's @GetMapping examples) are the model's like a POST's,
        // while text a GET answers raw may be stored text read back (the filter does not count it there)
        long millis = reads(request) ? -1 : sniffer.audioMillis();
        // audio a model makes may run far longer than its prompt could be read (a track from one line,
        // slowed speech): its length is not bounded by the request; an endpoint under a protected prefix
        // that returns stored audio to a POST reports its figure
        long least = millis < 0 ? estimate : Math.max(estimate, AudioDuration.inputTokens(millis));
        long[] drawn = reads(request) ? null : sniffer.imageSize();
        long[] inJson = reads(request) ? null : sniffer.pictures();
        // the request's quality only where the provider reads it (an image endpoint's path): an application's
        // own endpoint may draw at its own quality whatever the client sends (round 244: "quality": "low",
        // ignored by the endpoint, priced a high-quality picture at 1,014 for 6,248)
        String quality = ImageOutput.drawsAt(QuotaFilter.pathOf(request))
                && (drawn != null || inJson != null && inJson[0] + inJson[1] + inJson[2] > 0) ? bodyField.apply("quality") : null;
        // pictures the model drew, answered as an image (a ResponseEntity<byte[]> of the decoded b64_json:
        // round 240, 1,015 charged for a 6,240-token picture) or as base64 in JSON (round 241), at the output
        // rate when weighed
        long picture = UsageKinds.add(drawn == null ? 0 : ImageOutput.drawn(drawn[0], drawn[1], quality),
                inJson == null ? 0 : ImageOutput.drawn(inJson, quality));
        if (picture > 0) {
            long written = StreamText.plus(inputFloor(sniffer), picture);
            least = Math.max(least, Math.min(Limits.MAX_TOKENS,
                    weighing == null ? written : weighing.withAnswer(sniffer.models()).hold(written, picture)));
        }
        if (weighing != null) {
            // held at the request's models; the answer may name a dearer one that answered (round 233: a
            // client naming gpt-4o-mini to an endpoint that runs gpt-4o hung up before the usage)
            least = Math.max(least, weighing.withAnswer(sniffer.models()).hold(rawEstimate, rawOutput));
        }
        // a stream cut before its usage (the client read it all and hung up) wrote what its deltas carried,
        // whatever budget the request named (a relay may send its own), at the output rate when weighed
        return Math.max(Math.max(least, streamedText(sniffer)), reportedInputAndText(sniffer));
    }

    /**
     * The input an answer that carried the model's text (or its picture) without its final usage is charged at
     * least: the request's, and on a call (not a {@code GET} or {@code HEAD}, which may read stored text back)
     * what the subject's last call to the endpoint read above its own ({@link ProviderState#inputAdded}: the
     * system prompt an application adds, which an OpenAI stream counts only in its last event; round 328).
     */
    private long inputFloor(UsageSniffer sniffer) {
        long input = sniffer.inputEstimate();
        return reads(request) ? input : StreamText.plus(input, providerState.inputAdded(hold.subject(), endpoint(sniffer)));
    }

    /**
     * The endpoint a call's figures by endpoint are kept for ({@link ProviderState#inputAdded}): its route and the
     * model that answered (the first the answer names; else the one the request names) by its canonical name
     * ({@link Weighing#canonical}), so a model the client names and the application ignores, or names in another
     * spelling, keeps no figure apart. The route is Spring MVC's matched pattern when
     * the handler ran there ({@code /conversations/{id}/messages}), else the path with each segment that holds a
     * digit taken for an id: a path per conversation (or per anything) must not start a figure afresh with each
     * new id (round 331: a stopped call in a new conversation paid nothing of the prompt the same handler adds).
     */
    private String endpoint(UsageSniffer sniffer) {
        java.util.List<String> models = sniffer.models();
        String model = !models.isEmpty() ? models.get(0) : state.refs().model();
        Object pattern = request.getAttribute(SPRING_MATCHED_PATTERN);
        String route = pattern instanceof String matched ? matched : idsCollapsed(QuotaFilter.pathOf(request));
        return route + "\u0000" + (model == null ? "" : Weighing.canonical(model));
    }

    /** Spring MVC's {@code HandlerMapping.BEST_MATCHING_PATTERN_ATTRIBUTE}: the route a handler was matched by. */
    private static final String SPRING_MATCHED_PATTERN = "org.springframework.web.servlet.HandlerMapping.bestMatchingPattern";

    /** {@code path} with each segment that holds a digit as {@code {id}}. */
    static String idsCollapsed(String path) {
        StringBuilder route = new StringBuilder(path.length());
        for (String segment : path.split("/", -1)) {
            if (route.length() > 0 || !segment.isEmpty()) {
                route.append('/');
            }
            route.append(segment.chars().anyMatch(Character::isDigit) ? "{id}" : segment);
        }
        return route.toString();
    }

    /**
     * A provisional report's input with the text the answer carried as its output, when that is more than
     * the report's own output: Anthropic's {@code message_start} and Gemini's prompt-only chunk count the
     * input exactly, which may be far more than the request's (retrieved documents, a system prompt or
     * a cached prefix the application adds), and a stream cut before the final count still wrote its text.
     * Weighed as the provisional report is; 0 without a provisional report or text.
     */
    private long reportedInputAndText(UsageSniffer sniffer) {
        long text = sniffer.outputTextTokens();
        long[] kinds = sniffer.provisional() && text > 0 ? sniffer.kinds() : null;
        if (kinds == null || kinds.length != 4) {
            return 0;
        }
        long[] withText = {kinds[0], kinds[1], Math.max(kinds[2], text), kinds[3]};
        long charge = weighing == null
                ? UsageKinds.add(UsageKinds.add(withText[0], withText[1]), UsageKinds.add(withText[2], withText[3]))
                : weighing.provisional(withText, sniffer);
        return Math.min(Limits.MAX_TOKENS, charge);
    }

    /** The request's input and the text its answer carried ({@link UsageSniffer#textTokens}), weighed; 0 without text. */
    private long streamedText(UsageSniffer sniffer) {
        long text = sniffer.textTokens();
        if (text <= 0) {
            return 0;
        }
        long written = StreamText.plus(inputFloor(sniffer), text);
        return Math.min(Limits.MAX_TOKENS, weighing == null ? written : weighing.withAnswer(sniffer.models()).hold(written, text));
    }

    /**
     * Whether the call is settled as asking for no model ({@link #decide}'s {@code quiet}): an error page,
     * or a body-less {@code OPTIONS} or {@code TRACE} that wrote no content under a 2xx but a
     * {@code TRACE}'s echo. One of those that answered with content is charged as a {@code GET} of its
     * path would be: a route that answers {@code OPTIONS} with a model's text.
     */
    private boolean quietNow(boolean answering) {
        return switch (quiet) {
            case NO -> false;
            case ERROR_PAGE -> true;
            case OPTIONS_OR_TRACE -> !answering || String.valueOf(response.getContentType())
                    .regionMatches(true, 0, "message/http", 0, "message/http".length());
        };
    }

    /** Whether the call has settled (or begun to): its hold is charged or released. */
    boolean settled() {
        return done.get();
    }

    /** The request as the call's endpoint got it, for a pass of the request that is part of the call. */
    EndpointRequest endpointRequest() {
        return endpoint;
    }

    /** The answer as the call's endpoint writes it (the wrapper this settlement reads). */
    QuotaResponse answer() {
        return response;
    }

    /** Run as the call ends (its settlement begins); null: nothing. */
    private volatile Runnable ends;

    /**
     * Runs {@code ended} as the call ends, before its charge is tried: the filter's record of the call's
     * {@code Idempotency-Key} is kept for a TTL from then ({@link SeenKeys}). Set before the call enters the chain.
     */
    void whenEnds(Runnable ended) {
        this.ends = ended;
    }

    /** Settles once; later calls (a second async event) do nothing. */
    void settle(End end) {
        settle(end, false);
    }

    /**
     * Settles once; later calls (a second async event) do nothing. {@code answerWaits}: the end of the
     * answer waits for this settlement (a synchronous request, {@link QuotaResponse#finishForClient}),
     * so a commit the store refused at once is tried once more before it goes to the background.
     */
    void settle(End end, boolean answerWaits) {
        if (!done.compareAndSet(false, true)) {
            return;
        }
        Runnable ended = ends;
        if (ended != null) {
            ended.run();
        }
        // an answer whose end waits for this settlement is not with the client, unless it was sent already
        keeper.settlementStarts(hold, !answerWaits || response.isCommitted());
        try {
            response.endSniffing();
            // the reader of the answer the client got: a reset may have started another
            UsageSniffer sniffer = response.sniffer();
            sniffer.finish();
            End effective = response.clientGone() ? End.CLIENT_GONE : end;
            // a 2xx whose only content was a provider's error (a stream's only event named so by the
            // server) is that error; error-shaped data the model could have written is an answer
            boolean errorOnly = response.status() / 100 == 2 && sniffer.errorOnly();
            int status = errorOnly ? 502 : connectStatus(grpcStatus(response.status()));
            // a gRPC answer settled by its status wrote no message: at most gRPC-Web's trailer frame (round 380)
            boolean grpcRefused = !errorOnly && status != response.status();
            // what such a 2xx wrote was the provider's error, not an answer; a 4xx that says the provider blocked
            // output the model was writing is an answer cut by the provider (round 353)
            boolean answering = !errorOnly && !grpcRefused
                    && (response.answering() || status / 100 == 4 && sniffer.outputBlocked());
            String etag = response.getHeader("ETag");
            Long usage = sniffer.usage();
            long covered = response.coveredUsage();
            if (usage != null && covered > 0) {
                // a nested include's reported figure stands for everything it wrote (added by withNested):
                // the usage read from its bytes is that same call; the rest is the page's own. What is left
                // stays a reading of the response (0 when all of it was the include's: a shim whose answer
                // is the included endpoint's), not a response without usage
                usage = Math.max(0, usage - covered);
            }
            Weighing.Weighed weighed = null;
            if (usage != null && weighing != null) {
                // the usage by kind at the answering model's rates: what the rules below charge
                weighed = weighing.weigh(usage, sniffer);
                usage = weighed.charge();
            }
            if (usage != null) {
                usage = withChunkText(withPlaceholders(usage, sniffer), sniffer);
            }
            Long answered = usage;
            if (usage == null && status == 304 && answerKey != null && etag != null) {
                // a 304 carries no body: it names, by its ETag, an answer the client already has; when
                // this filter saw that answer given to this very request of this subject, its usage is
                // what producing it again cost (another request's answer with the same ETag says
                // nothing about this one's input)
                usage = answers.usage(hold.subject(), AnswerUsages.Kind.ANSWER, answerKey.get(), etag);
            }
            // usage remembered for a 304 is a final count; only the sniffer's own can be provisional
            boolean provisional = sniffer.provisional();
            // the finished calls a results file reported: read again, they were charged before
            String calls = status >= 200 && status < 300 ? sniffer.callsFingerprint() : null;
            Long explicit = explicitActual();
            // a browser's EventSource reconnecting to an event stream this subject was sent here; the
            // headers alone are the client's to send on any GET
            boolean reconnect = eventSourceReconnect(request) && answers.usage(hold.subject(), AnswerUsages.Kind.STREAM, AnswerUsages.streamed(hold.subject(),
                    request.getRequestURI(), request.getQueryString()), AnswerUsages.STREAM) != null;
            if (status >= 200 && status < 300 && String.valueOf(response.getContentType()).toLowerCase(java.util.Locale.ROOT)
                    .startsWith(AnswerUsages.STREAM)) {
                answers.remember(hold.subject(), AnswerUsages.Kind.STREAM, AnswerUsages.streamed(hold.subject(), request.getRequestURI(), request.getQueryString()),
                        AnswerUsages.STREAM, 1);
            }
            boolean uploaded = upload != null && explicit == null && usage == null && status >= 200 && status < 300
                    && upload.answered(sniffer.onlyDocument(), response.getHeader(FileUpload.GEMINI_STATUS), providerState);
            JsonRpc.Message asked = rpc.get();
            // a polled job (xAI's deferred, Z.ai's async chat completion; an A2A task) read by the id this subject's
            // creation was answered with: a read of that job when its answer is the job's (at xAI's and Z.ai's read
            // paths whatever it is, a pending poll or the result with its usage; for an A2A task the JSON-RPC
            // response to the request, the task of that id)
            PolledCompletion.Job polled = status < 200 || status >= 300 || uploaded ? null
                    : PolledCompletion.read(request.getMethod(), QuotaFilter.pathOf(request), asked);
            boolean readsPolled = polled != null && providerState.jobCharged(hold.subject(), polled.key()) != null
                    && polled.shownBy(asked, sniffer.lastDocument());
            // the stored call the answer is: one JSON document, or the events of a stored Response (a background
            // stream resumed by a GET) or of an Assistants run (streamed, also after submit_tool_outputs)
            Stored job = status < 200 || status >= 300 || uploaded ? null
                    : readsPolled ? new Stored(polled.key(), polled.label(), polled.state(status, sniffer.lastDocument()), false)
                    : sniffer.job() != null ? Stored.of(sniffer.job())
                    : sniffer.storedResponse() != null ? new Stored(sniffer.storedResponse(), "response", null, false)
                    // a streamed Gemini interaction, stored by default: read back (or a background one's stream
                    // resumed) by its id, it was charged here (round 286)
                    : sniffer.storedInteraction() != null ? new Stored(sniffer.storedInteraction(), "interaction", null, false)
                    : sniffer.storedRun() != null ? new Stored(sniffer.storedRun(), "thread.run", null, false) : null;
            Long jobCharged = job == null ? null : providerState.jobCharged(hold.subject(), job.id());
            // a stored chat completion's metadata updated (POST …/chat/completions/{id}) answers it whole, usage too
            boolean update = job != null && "chat.completion".equals(job.object()) && "POST".equals(request.getMethod())
                    && actsOn(request, job);
            if (jobCharged == null && job != null && job.foreground() && (reads(request) || update)) {
                // read back at an instance that did not serve it (another one behind the load balancer, or
                // this one restarted): the answer that ran it carried this usage and was charged it there
                jobCharged = usage == null || provisional ? 0 : usage;
            }
            boolean readsJob = readsPolled || job != null && actsOn(request, job)
                    && (jobCharged != null || job.status() != null && PENDING.contains(job.status())
                    || usage == null && job.status() != null && ENDED_UNUSED.contains(job.status()));
            // an application's own job, read at the path that started it
            AppJob appJob = job != null || status < 200 || status >= 300 || uploaded ? null : AppJob.of(sniffer);
            String readJob = appJob == null || !appJob.readBy(request) ? null
                    : providerState.jobAt(hold.subject(), QuotaFilter.pathOf(request));
            Long appJobCharged = readJob == null ? null : providerState.jobCharged(hold.subject(), AppJob.key(readJob));
            boolean readsAppJob = appJobCharged != null;
            JsonDocumentScanner.Document only = sniffer.onlyDocument();
            JsonDocumentScanner.Document answer = sniffer.lastDocument();
            boolean noModel = !uploaded && explicit == null && status >= 200 && status < 300
                    && (usage == null && only != null && (ProviderObjects.callNoModel(only, request.getMethod(), QuotaFilter.pathOf(request))
                    || ProviderObjects.catalogue(request.getMethod(), QuotaFilter.pathOf(request), only))
                    || answer != null && ProviderObjects.cacheKept(answer, request.getMethod())
                    || usage == null && ProviderObjects.endsACall(request.getMethod(), QuotaFilter.pathOf(request),
                    response.sniffer().answered())
                    || usage == null && ProviderObjects.serverBusiness(request.getMethod(), QuotaFilter.pathOf(request),
                    sniffer.finalDocument())
                    || reads(request) && answer != null && ProviderObjects.partOfACall(answer.object()));
            // MCP (Streamable HTTP): a request of a method that runs no model answered with its result, proven by the
            // answer (its id, its method's result shape, no usage anywhere: JsonRpc#answeredWithoutModel); or a
            // notification or response acknowledged with 202 and no body at all, as the transport answers them
            boolean protocolOnly = !uploaded && explicit == null && usage == null && status >= 200 && status < 300
                    && (JsonRpc.answeredWithoutModel(asked, sniffer.rpcAnswer())
                    || status == 202 && !response.wroteBody() && JsonRpc.acknowledgedOnly(asked));
            // eval runs read in the list of them: each completed run's usage, once
            boolean listsRuns = !uploaded && explicit == null && usage == null && status >= 200 && status < 300
                    && reads(request) && only != null && !only.listedRuns().isEmpty();
            Decision own = uploaded ? Decision.release("a file upload (" + upload.step() + "): no model was called")
                    : protocolOnly ? Decision.release("a JSON-RPC " + (asked.request() ? asked.method() + " answered with its result"
                            : "notification or response acknowledged with 202") + ": no model was called")
                    : listsRuns ? listedRuns(only.listedRuns())
                    : noModel ? Decision.release("an answer that is a " + named(only != null ? only : answer)
                            + ": no model was called")
                    : readsJob ? jobRead(job, jobCharged, usage, provisional, explicit, readsPolled && polled.runs())
                    : usage == null && explicit == null && carriedFigure() != null
                            ? Decision.release("an answer after a reset without usage: the figure kept across it is the request's")
                    : readsAppJob ? jobRead(new Stored(AppJob.key(readJob), "job", appJob.status(), false),
                            appJobCharged, usage, provisional, explicit, false)
                    : decide(explicit, usage, provisional, effective, settledStatus(status), reconnect,
                    answering,
                    (status == 406 || status == 412) && springMatchedNoHandler(request)
                            || status == 307 && slashRedirect(request, response.getHeader("Location")),
                    sniffer.tokenCount(), quietNow(answering),
                    calls != null && answers.usage(hold.subject(), AnswerUsages.Kind.CALLS, AnswerUsages.chargedCalls(hold.subject()), calls) != null,
                    releaseOnError, estimateOf(sniffer));
            if (noModel && !protocolOnly && !listsRuns && only != null) {
                // a conversation or a thread given items by this request, which ran no model: a later call naming
                // it reads them, so the subject's calls are held what the items were estimated at (round 327)
                String[] filled = ProviderObjects.filled(only, request.getMethod(), QuotaFilter.pathOf(request));
                if (filled != null) {
                    providerState.filled(hold.subject(), filled[0], filled[1], Math.max(0, sniffer.inputEstimate() - state.held()));
                }
            }
            Decision whole = withNested(own, nestedActual());
            Decision d = !readsJob && job != null ? madeJob(whole, job) : whole;
            if (readsPolled && polled.ends(status, sniffer.lastDocument())) {
                providerState.jobOpen(hold.subject(), polled.key(), false);
            }
            // (a read of a known job is no creation of one: a message to an A2A task answers that task)
            PolledCompletion.Job made = status >= 200 && status < 300 && !readsPolled
                    ? PolledCompletion.created(request.getMethod(), QuotaFilter.pathOf(request), bodyTrue, asked,
                    sniffer.lastDocument()) : null;
            // an A2A task's events (a message/stream, a tasks/resubscribe): their charge adds to the task's figure
            PolledCompletion.Job streamed = status >= 200 && status < 300 && !readsPolled && made == null
                    ? PolledCompletion.streamed(request.getMethod(), asked, sniffer.rpcStream()) : null;
            if (streamed != null) {
                Long before = providerState.jobCharged(hold.subject(), streamed.key());
                providerState.jobStarted(hold.subject(), streamed.key(),
                        StreamText.plus(before == null ? 0 : before, d.release() ? 0 : d.tokens()));
                if (before == null) {
                    providerState.jobOpen(hold.subject(), streamed.key(), true);
                }
            }
            if (made != null && !providerState.jobOpen(hold.subject(), made.key())) {
                // its result's usage is charged what passes this; a creation under the id of a job whose result was
                // read starts afresh, one under an open job's id is an ordinary call (the first job's figure kept)
                providerState.jobStarted(hold.subject(), made.key(), d.release() ? 0 : d.tokens());
                providerState.jobOpen(hold.subject(), made.key(), true);
            }
            // (an application's job is no provider's: appJob is null beside a job)
            if (appJob != null && appJob.startedBy(request, status)) {
                appJobStarted(appJob, response.getHeader("Location"), d.release() ? 0 : d.tokens());
            }
            if (usage != null && usage > Limits.MAX_TOKENS) {
                LOG.warn("usage {} in the response for reservation {} of {} is past the ledger's limit; charging {}",
                        usage, hold.id(), hold.subject(), d.tokens());
            }
            // remembered before the commit's round trip: a client that sends its next turn as soon as it
            // has this answer must find what this call stored
            Long read = sniffer.usage();
            if (status >= 200 && status < 300 && read != null && !sniffer.provisional() && !reads(request)) {
                // what a later call naming the state this one named or stored makes the model read, in
                // raw tokens: only a final count says it, and only of a call the request made (a GET
                // reads a stored Response back, whatever its body names)
                providerState.answered(state, sniffer.inputEstimate(), explicit != null,
                        sniffer.storedResponse() != null ? sniffer.storedResponse() : sniffer.storedInteraction(),
                        sniffer.conversation(), sniffer.kinds(), read, hold.subject(), endpoint(sniffer));
            }
            // a context cache this request created, answered with its resource: the usage is the cache's size, what a
            // call naming it reads (round 327; a count of a resource, with no candidate to finish, so never final)
            String cache = status >= 200 && status < 300 && read != null && explicit == null && answer != null
                    ? ProviderObjects.cacheCreated(answer, request.getMethod(), QuotaFilter.pathOf(request)) : null;
            if (cache != null) {
                providerState.cacheCreated(cache, read);
            }
            Weighing.Weighed charged = weighed;
            // until the charge lands, the subject's next reserve on this instance holds what it adds
            keeper.owes(hold, d.release() ? 0 : d.tokens());
            withRetries(answerWaits, () -> {
                if (d.release()) {
                    ledger.release(hold.id());
                } else if (charged != null && charged.usage() != null) {
                    // a hold past its TTL is still charged: the store records it as a late commit;
                    // the event keeps the model and raw counts beside what was charged
                    ledger.commit(hold.id(), d.tokens(), charged.usage());
                } else {
                    ledger.commit(hold.id(), d.tokens());
                }
            });
            if (status >= 200 && status < 300 && answered != null && !sniffer.provisional() && answerKey != null
                    && etag != null) {
                // only a final count is what producing the answer again would cost (weighted, when weighed)
                answers.remember(hold.subject(), AnswerUsages.Kind.ANSWER, answerKey.get(), etag, answered);
            }
            if (calls != null && !d.release() && !provisional) {
                answers.remember(hold.subject(), AnswerUsages.Kind.CALLS, AnswerUsages.chargedCalls(hold.subject()), calls, d.tokens());
            }
            LOG.debug("settled reservation {} of {}: {} ({})", hold.id(), hold.subject(),
                    d.release() ? "released" : d.tokens(), d.reason());
        } catch (QuotaException e) {
            failures.incrementAndGet();
            LOG.warn("could not settle reservation {} of {}: {} {}", hold.id(), hold.subject(),
                    e.code(), e.getMessage());
        } catch (RuntimeException e) {
            failures.incrementAndGet();
            LOG.warn("could not settle reservation {} of {}", hold.id(), hold.subject(), e);
        } finally {
            if (!retrying) {
                keeper.settling(hold);
            }
        }
    }

    /**
     * A settlement the store could not take is being tried again: its hold stays kept alive until it has
     * landed or been given up, so it cannot expire meanwhile and free its tokens for the user's next call.
     */
    private volatile boolean retrying;

    /**
     * Pauses before the further attempts of a settlement the store could not take: a blip is ridden out
     * at once, a failover or a database restart within seconds. The last pause repeats.
     */
    private static final long[] RETRY_PAUSES_MS = {100, 1_000, 2_000, 5_000};

    /**
     * When a settlement the store could not take is tried again: the pauses before the background retries
     * ({@code pausesMs}, the last repeating), and, for a charge the store refuses at once, how long the end of the
     * answer waits ({@code inlineNanos}) and the longest pause between its inline attempts ({@code inlineMaxPauseMs};
     * they start at the first background pause and double). Internal: every filter runs {@link #RETRIES}; the tests
     * give a filter a faster schedule (the package-private {@code QuotaFilter.Builder#settlementRetries}) so that
     * waiting a refused settlement's retries out takes milliseconds rather than the thirteen seconds it takes here.
     */
    record Retries(long[] pausesMs, long inlineMaxPauseMs, long inlineNanos) {
        Retries {
            if (pausesMs.length == 0 || java.util.Arrays.stream(pausesMs).anyMatch(p -> p <= 0) || inlineMaxPauseMs <= 0
                    || inlineNanos < 0) {
                throw new IllegalArgumentException("retry pauses must be positive");
            }
            pausesMs = pausesMs.clone();
        }

        long pause(int retries) {
            return pausesMs[Math.min(retries, pausesMs.length - 1)];
        }
    }
    /**
     * Failed retries after which a settlement still not landed is counted ({@link QuotaFilter#settleFailureCount()})
     * and logged, once, about eight seconds in: an outage that long is worth an alert, a blip is not. The
     * retries go on.
     */
    private static final int RETRIES_BEFORE_COUNTED = 4;

    /**
     * Runs a settlement; when the store was unreachable ({@code STORE_UNAVAILABLE}: a lost connection, a
     * failover), tries it again in the background, after each pause, for as long as the keeper would
     * keep the call's hold ({@link HoldKeeper#MAX_KEPT}): a charge dropped during an outage would make
     * the model call free once the hold expires. The subject's next reserve tries it first as well, so
     * that the next call sees the charge as soon as the store is back. A commit or release repeated
     * after it did land is answered as the replay it is, so trying again is safe; a commit after the
     * hold expired is a late commit. The retries run off the request thread: during an outage a thread
     * held for them would keep the next request of a keep-alive connection (and the container's pool)
     * waiting.
     */
    private void withRetries(boolean answerWaits, Runnable settlement) {
        if (withRetries(keeper, hold, failures, answerWaits, settlement)) {
            retrying = true;
        }
    }

    /**
     * Runs {@code settlement}, a commit or release of {@code hold}, by the rules above: tried again on the request
     * thread while the store refuses it at once and {@code answerWaits}, then in the background and before the
     * subject's next reserve ({@link HoldKeeper#unsettled}) until it lands or is given up, which ends the hold's
     * keeping ({@link HoldKeeper#settling}); {@code failures} counts one that is given up or still failing after
     * {@link #RETRIES_BEFORE_COUNTED} retries. Shared by every way a hold is settled, a call's settlement and
     * the release of a call refused before it ran ({@link HoldKeeper#release}), so that none of them is tried only
     * once. Whether it was handed to the background retries; a failure that does not pass is thrown.
     */
    static boolean withRetries(HoldKeeper keeper, Reservation hold, AtomicLong failures, boolean answerWaits,
                               Runnable settlement) {
        long started = System.nanoTime();
        try {
            settlement.run();
            return false;
        } catch (RuntimeException | Error e) {
            if (!passing(e)) {
                throw e;
            }
            if (answerWaits && System.nanoTime() - started < QUICK_REFUSAL_NANOS && retriedInline(settlement, started, keeper.retries())) {
                return false;
            }
            Retry retry = new Retry(keeper, hold, failures, settlement);
            keeper.unsettled(hold, retry::attempt);
            keeper.later(retry::scheduled, keeper.retries().pause(0));
            return true;
        }
    }

    /**
     * Whether a settlement's failure may pass, so the settlement is tried again: the store unreachable
     * ({@code STORE_UNAVAILABLE}), any other exception than the ledger's own refusals (a ledger wrapped in a
     * circuit breaker that throws its own while open; the reserve takes it for the store unavailable too),
     * an {@code Error} (a heap spike). Round 223: a first commit that met either was dropped, and the call,
     * 9,000 tokens of usage, was free.
     */
    private static boolean passing(Throwable failure) {
        return failure instanceof QuotaException refusal ? refusal.code() == ErrorCode.STORE_UNAVAILABLE
                : failure instanceof RuntimeException || failure instanceof Error;
    }

    /**
     * A refusal this quick is a blip or a failover (connections reset, refused at once), not an outage
     * that waited out the pool's connection timeout: worth trying again before the answer ends.
     */
    private static final long QUICK_REFUSAL_NANOS = TimeUnit.SECONDS.toNanos(1);

    /** How long the end of an answer waits for a charge the store refuses at once: a failover's usual length. */
    private static final long INLINE_RETRIES_NANOS = TimeUnit.SECONDS.toNanos(5);

    /** The schedule of every filter: {@link #RETRY_PAUSES_MS}, and up to {@link #INLINE_RETRIES_NANOS} inline. */
    static final Retries RETRIES = new Retries(RETRY_PAUSES_MS, 1_000, INLINE_RETRIES_NANOS);

    /**
     * Tries again on the request thread, after 0.1, 0.2, 0.4, 0.8 s and then every second (by {@link #RETRIES}),
     * for as long as each refusal comes at once and at most {@link #INLINE_RETRIES_NANOS} since {@code started}: the
     * client gets the end of the answer afterwards, so a blip or a failover does not leave its charge
     * unlanded when the client's next call comes, perhaps through another instance that knows nothing of
     * it. Whether it landed; if not, the background retries take over.
     */
    private static boolean retriedInline(Runnable settlement, long started, Retries schedule) {
        long pause = schedule.pause(0);
        while (System.nanoTime() - started + TimeUnit.MILLISECONDS.toNanos(pause) <= schedule.inlineNanos()) {
            try {
                TimeUnit.MILLISECONDS.sleep(pause);
            } catch (InterruptedException interrupted) {
                Thread.currentThread().interrupt();
                return false;
            }
            long attempt = System.nanoTime();
            try {
                settlement.run();
                return true;
            } catch (RuntimeException | Error e) {
                if (!passing(e)) {
                    throw e;
                }
                if (System.nanoTime() - attempt >= QUICK_REFUSAL_NANOS) {
                    // an outage that waits out the connection timeout: the answer ends, the retries go on
                    return false;
                }
            }
            pause = Math.min(pause * 2, schedule.inlineMaxPauseMs());
        }
        return false;
    }

    /** The further attempts of one settlement: one at a time, by the schedule or before a reserve. */
    private static final class Retry {
        private final HoldKeeper keeper;
        private final Reservation hold;
        private final AtomicLong failures;
        private final Runnable settlement;
        private final AtomicBoolean trying = new AtomicBoolean();
        /** Landed or given up: nothing more to try. */
        private volatile boolean over;
        /** Counted as failed ({@link QuotaFilter#settleFailureCount()}): once per settlement. */
        private final AtomicBoolean counted = new AtomicBoolean();
        /** The scheduled retries so far; only the scheduled ones run this. */
        private int retries;
        /** When the store first could not take the settlement, by the ledger's clock. */
        private final java.time.Instant since;

        Retry(HoldKeeper keeper, Reservation hold, AtomicLong failures, Runnable settlement) {
            this.keeper = keeper;
            this.hold = hold;
            this.failures = failures;
            this.settlement = settlement;
            this.since = keeper.now();
        }

        /** A retry of the schedule: tries, and schedules the next while the store is still away. */
        void scheduled() {
            retries++;
            attempt();
            if (over) {
                return;
            }
            if (keeper.triedTooLong(since)) {
                finish(new QuotaException(ErrorCode.STORE_UNAVAILABLE,
                        "the store could not be reached for as long as a hold is kept"));
                return;
            }
            if (retries == RETRIES_BEFORE_COUNTED && counted.compareAndSet(false, true)) {
                failures.incrementAndGet();
                LOG.warn("could not settle reservation {} of {} in {} retries: the store is unreachable; still"
                        + " trying", hold.id(), hold.subject(), retries);
            }
            keeper.later(this::scheduled, keeper.retries().pause(retries));
        }

        /**
         * Tries once, unless another attempt is under way or it is over. False when the store was still
         * unreachable.
         */
        boolean attempt() {
            if (over || !trying.compareAndSet(false, true)) {
                return true;
            }
            try {
                if (!over) {
                    settlement.run();
                    finish(null);
                }
            } catch (RuntimeException | Error e) {
                if (!passing(e)) {
                    finish(e);
                    return true;
                }
                // still unreachable, or a failure that passes: the schedule goes on
                LOG.debug("could not settle reservation {} of {}; still trying", hold.id(), hold.subject(), e);
                return false;
            } finally {
                trying.set(false);
            }
            return true;
        }

        private void finish(Throwable failure) {
            over = true;
            keeper.settling(hold);
            if (failure == null) {
                if (counted.get()) {
                    LOG.warn("settled reservation {} of {} once the store was back", hold.id(), hold.subject());
                }
                return;
            }
            if (counted.compareAndSet(false, true)) {
                failures.incrementAndGet();
            }
            LOG.warn("could not settle reservation {} of {}; given up: {}", hold.id(), hold.subject(),
                    failure.toString());
        }
    }

    /**
     * The status a gRPC call answered without a message is settled by: grpc-servlet answers every call 200
     * {@code application/grpc}, its own status the {@code grpc-status} field (a header in a Trailers-Only
     * answer, else a trailer field), so a call refused before any model call (a model not served:
     * {@code NOT_FOUND}) was a 2xx without usage, charged its estimate (round 356: 1,000, in either form).
     * When the answer is {@code application/grpc*}, wrote no byte (no message frame) and its status is not
     * {@code OK}, the HTTP status that code maps to (google/rpc/code.proto's "HTTP Mapping") is settled by
     * the rules of {@link #decide}: a refusal released, an {@code UNAVAILABLE}'s 503 by the 5xx rule; else
     * {@code status}.
     */
    private int grpcStatus(int status) {
        String type = String.valueOf(response.getContentType()).toLowerCase(java.util.Locale.ROOT);
        if (status / 100 != 2 || !type.startsWith("application/grpc")) {
            return status;
        }
        String code;
        if (!response.wroteBody()) {
            code = response.getHeader("grpc-status");
            if (code == null) {
                code = response.trailer("grpc-status");
            }
        } else if (type.startsWith("application/grpc-web")) {
            // gRPC-Web puts the trailers in the body, as its last frame (grpc/grpc doc/PROTOCOL-WEB.md; browsers
            // cannot read HTTP trailers): an answer that is that frame alone wrote no message (round 380: a
            // NOT_FOUND refusal before any model call, charged its 1,000 estimate)
            code = grpcWebTrailerStatus(response.sniffer().wholeIfShort(), type.startsWith("application/grpc-web-text"));
        } else {
            return status;
        }
        return code == null || !code.trim().matches("[0-9]{1,9}") ? status
                : grpcHttpStatus(Integer.parseInt(code.trim()), status);
    }

    /**
     * The status a Connect stream's answer is settled by: a stream is answered 200 whatever its outcome, and an
     * answer that is its end-of-stream frame alone (flag {@code 0x02}, connectrpc.com/docs/protocol, "Streaming
     * RPCs") wrote no message; its {@code error.code} is mapped by Connect's "Error Codes" table (round 381: a
     * {@code not_found} refusal before any model call was charged its 1,034 estimate). Else {@code status}.
     */
    private int connectStatus(int status) {
        String type = String.valueOf(response.getContentType()).toLowerCase(java.util.Locale.ROOT);
        if (status / 100 != 2 || !type.startsWith("application/connect+json") || !response.wroteBody()) {
            return status;
        }
        byte[] body = response.sniffer().wholeIfShort();
        if (body == null || body.length < 5 || body[0] != 0x02
                || java.nio.ByteBuffer.wrap(body, 1, 4).getInt() != body.length - 5) {
            return status;
        }
        String code = null;
        try (com.fasterxml.jackson.core.JsonParser p = Json.RESPONSE_SCAN.createParser(body, 5, body.length - 5)) {
            if (p.nextToken() == com.fasterxml.jackson.core.JsonToken.START_OBJECT) {
                while (p.nextToken() == com.fasterxml.jackson.core.JsonToken.FIELD_NAME) {
                    String name = p.currentName();
                    if (p.nextToken() == com.fasterxml.jackson.core.JsonToken.START_OBJECT && "error".equals(name)) {
                        while (p.nextToken() == com.fasterxml.jackson.core.JsonToken.FIELD_NAME) {
                            String field = p.currentName();
                            if (p.nextToken() == com.fasterxml.jackson.core.JsonToken.VALUE_STRING && "code".equals(field)) {
                                code = p.getText();
                            } else {
                                p.skipChildren();
                            }
                        }
                    } else {
                        p.skipChildren();
                    }
                }
            }
        } catch (java.io.IOException notJson) {
            return status;
        }
        return code == null ? status : switch (code) {
            case "canceled" -> status;
            case "invalid_argument", "failed_precondition", "out_of_range" -> 400;
            case "unauthenticated" -> 401;
            case "permission_denied" -> 403;
            case "not_found" -> 404;
            case "already_exists", "aborted" -> 409;
            case "resource_exhausted" -> 429;
            case "unimplemented" -> 501;
            case "unavailable" -> 503;
            case "deadline_exceeded" -> 504;
            default -> 500;
        };
    }

    /**
     * The {@code grpc-status} of a gRPC-Web answer that is one trailer frame and nothing else (a flag byte with its
     * high bit set, a 4-byte length, then {@code name:value} lines; base64 for {@code application/grpc-web-text}),
     * or {@code null}.
     */
    static String grpcWebTrailerStatus(byte[] body, boolean text) {
        if (body != null && text) {
            try {
                body = java.util.Base64.getDecoder().decode(new String(body, java.nio.charset.StandardCharsets.US_ASCII).trim());
            } catch (IllegalArgumentException notBase64) {
                return null;
            }
        }
        if (body == null || body.length < 5 || (body[0] & 0x80) == 0
                || java.nio.ByteBuffer.wrap(body, 1, 4).getInt() != body.length - 5) {
            return null;
        }
        for (String line : new String(body, 5, body.length - 5, java.nio.charset.StandardCharsets.ISO_8859_1).split("\r\n")) {
            int colon = line.indexOf(':');
            if (colon > 0 && "grpc-status".equalsIgnoreCase(line.substring(0, colon).trim())) {
                return line.substring(colon + 1).trim();
            }
        }
        return null;
    }

    /**
     * The HTTP status of gRPC's status {@code code} (google/rpc/code.proto, each code's "HTTP Mapping"), or
     * {@code status} for {@code OK} and for {@code CANCELLED}: its 499 ("Client Closed Request") is the caller's
     * cancellation, not a refusal, and a call the client cancelled is charged as one it hung up on. A code
     * outside the list is {@code UNKNOWN} (500), as gRPC reads it.
     */
    private static int grpcHttpStatus(int code, int status) {
        return switch (code) {
            case 0, 1 -> status;
            case 3, 9, 11 -> 400; // INVALID_ARGUMENT, FAILED_PRECONDITION, OUT_OF_RANGE
            case 16 -> 401; // UNAUTHENTICATED
            case 7 -> 403; // PERMISSION_DENIED
            case 5 -> 404; // NOT_FOUND
            case 6, 10 -> 409; // ALREADY_EXISTS, ABORTED
            case 8 -> 429; // RESOURCE_EXHAUSTED
            case 12 -> 501; // UNIMPLEMENTED
            case 14 -> 503; // UNAVAILABLE
            case 4 -> 504; // DEADLINE_EXCEEDED
            default -> 500; // UNKNOWN, INTERNAL, DATA_LOSS
        };
    }

    /**
     * The status the call is settled by: the one sent, but for a 406 that replaced a refusal the
     * endpoint had set ({@link QuotaResponse#refusalBehindError}), that refusal: the framework found no
     * format for the refusal's body, no model was called for it.
     */
    private int settledStatus(int status) {
        int refusal = status == 406 ? response.refusalBehindError() : 0;
        return refusal != 0 ? refusal : status;
    }

    /**
     * Whether {@code location} is the request's own path with one trailing slash added or removed and
     * the same query: the redirect a router answers before any handler runs (Starlette's
     * {@code redirect_slashes}, gin's {@code RedirectTrailingSlash}, both 307 for a POST, so that the body
     * is sent again), which a relay passes on. A redirect after a call points at its result, elsewhere
     * (round 259), or is a post/redirect/get (302, 303) to its collection, which may be the same path with
     * a slash (round 307); one a Spring MVC handler answered is a call's, wherever it points.
     */
    static boolean slashRedirect(HttpServletRequest request, String location) {
        if (location == null || request.getRequestURI() == null
                || request.getAttribute(SPRING_DISPATCHER_CONTEXT) != null && request.getAttribute(SPRING_BEST_MATCHING_HANDLER) != null) {
            // a Spring MVC handler ran: a post/redirect/get to its collection's URL (POST /notes, then 302 to
            // /notes/) is a call's redirect, whatever its path (round 305)
            return false;
        }
        String path;
        String own;
        String query;
        try {
            java.net.URI target = new java.net.URI(location.strip());
            // compared decoded: a router builds its Location from the decoded path and quotes it its own way
            // (Starlette leaves ':' unescaped, round 305)
            path = target.getPath();
            query = target.getRawQuery();
            own = new java.net.URI(request.getRequestURI()).getPath();
        } catch (java.net.URISyntaxException broken) {
            return false;
        }
        if (path == null || own == null || !java.util.Objects.equals(query, request.getQueryString())) {
            return false;
        }
        return path.equals(own + "/") || own.equals(path + "/");
    }

    /**
     * Whether Spring MVC's DispatcherServlet handled the request (it marks every request it handles
     * with its application context) and none of its handler mappings matched a handler (they mark the
     * handler they match before it runs). Without the DispatcherServlet's mark nothing is known.
     */
    static boolean springMatchedNoHandler(jakarta.servlet.ServletRequest request) {
        return request.getAttribute(SPRING_DISPATCHER_CONTEXT) != null
                && request.getAttribute(SPRING_BEST_MATCHING_HANDLER) == null;
    }

    /**
     * Whether the request is shaped as what a browser's {@code EventSource} sends to reconnect: a
     * {@code GET} or {@code HEAD} accepting {@code text/event-stream} (it always sends that
     * {@code Accept}) or carrying {@code Last-Event-ID}. Any client can send those headers: settlement
     * takes it for a reconnect only to a URL this filter sent the subject an event stream on. Other
     * reads answered 204 may have run a model that found nothing.
     */
    static boolean eventSourceReconnect(HttpServletRequest request) {
        if (!reads(request)) {
            return false;
        }
        if (request.getHeader("Last-Event-ID") != null) {
            return true;
        }
        for (java.util.Enumeration<String> accepts = request.getHeaders("Accept");
             accepts != null && accepts.hasMoreElements(); ) {
            if (accepts.nextElement().toLowerCase(java.util.Locale.ROOT).contains("text/event-stream")) {
                return true;
            }
        }
        return false;
    }

    /**
     * The handler's own figure (rule 1 of {@link #decide}): the last one the endpoint set through the
     * request it was given, also when the attribute was removed since (Spring removes what an include
     * added before the filter settles), else the attribute as the request holds it (set around the
     * endpoint's request), else the {@code X-Quota-Actual-Tokens} header, else the trailer field of that name.
     */
    private Long explicitActual() {
        Object reported = reported();
        if (reported == null) {
            // the header's figure sent as a trailer field, read as the header is (round 356: 9,000 reported, 1,007
            // charged): only now, the endpoint done, not while it writes (chargeSoFar), which would read its
            // supplier before the figure is in it
            reported = response.trailer(QuotaResponse.ACTUAL_TOKENS_HEADER);
        }
        return figure(reported);
    }

    /** The handler's own figure as it reported it, unchecked ({@link #explicitActual}); {@code null}: none. */
    private Object reported() {
        Object attribute = reportedAttribute();
        if (attribute == null && response.actualTokensHeader() != null) {
            attribute = response.actualTokensHeader();
        }
        return attribute;
    }

    /** The figure the handler reported through the request attribute, which the header does not add to; {@code null}: none. */
    private Object reportedAttribute() {
        Object attribute = endpoint == null ? null : endpoint.reportedActual();
        return attribute != null ? attribute : request.getAttribute(QuotaFilter.ACTUAL_TOKENS_ATTRIBUTE);
    }

    /**
     * The header's figure a {@code reset()} kept that the endpoint has not reported over since
     * ({@link QuotaResponse#carriedFigure}), when no attribute reported the request's figure: model calls
     * that ran before the answer that follows; {@code null}: none.
     */
    private Long carriedFigure() {
        return reportedAttribute() != null ? null : response.carriedFigure();
    }

    /**
     * What the includes nested in the held dispatch and the passes run again while it runs reported through
     * {@link QuotaFilter#ACTUAL_TOKENS_ATTRIBUTE} (or a pass's header or trailer field; each its own model call:
     * a page's summary fragments, a pass's own call), added up; {@code null} when none reported a figure the ledger can charge. Added to the holding
     * call's own charge by {@link #withNested}.
     */
    private Long nestedActual() {
        return nestedActual(this::figure, true);
    }

    /**
     * {@link #nestedActual()}, each figure read by {@code read}; with the figure a {@code reset()} kept that
     * the endpoint has not reported over since ({@link QuotaResponse#carriedFigure}): calls that ran before
     * the answer that follows. {@code settling} false: a running figure ({@link #chargeSoFar}), which asks no
     * supplier of the application's ({@link EndpointRequest.NestedFigure#read}).
     */
    private Long nestedActual(java.util.function.Function<Object, Long> read, boolean settling) {
        Long sum = null;
        java.util.List<Object> figures = new java.util.ArrayList<>();
        Long carried = carriedFigure();
        if (carried != null) {
            figures.add(carried);
        }
        if (endpoint != null) {
            figures.addAll(endpoint.nestedActuals(settling));
        }
        for (Object reported : figures) {
            Long one = read.apply(reported);
            if (one != null) {
                sum = sum == null ? one : Math.min(Limits.MAX_TOKENS, sum + one);
            }
        }
        return sum;
    }

    /** A reported figure ({@code Number} or {@code String}) the ledger can charge, else {@code null}. */
    private Long figure(Object reported) {
        Long value = chargeable(reported);
        if (value == null && reported != null) {
            // a figure the ledger cannot charge must not leave the call uncharged: the usage or the
            // estimate decides instead
            LOG.warn("ignoring actual token count {} (not a whole number in 0..{}) for reservation {}", reported,
                    Limits.MAX_TOKENS, hold.id());
        }
        return value;
    }

    /**
     * A reported figure ({@code Number} or {@code String}) that is a whole count the ledger can charge
     * (0 to {@link Limits#MAX_TOKENS}), else {@code null}: only such a figure stands for a call.
     */
    static Long chargeable(Object reported) {
        Long value = null;
        if (reported instanceof Number n) {
            value = wholeCount(n);
        } else if (reported instanceof String s) {
            value = parse(s);
        }
        return value != null && value >= 0 && value <= Limits.MAX_TOKENS ? value : null;
    }

    /** A whole count from any {@link Number}; {@code null} for a fraction, NaN, infinity or more than 64 bits. */
    private static Long wholeCount(Number n) {
        if (n instanceof Long || n instanceof Integer || n instanceof Short || n instanceof Byte) {
            return n.longValue();
        }
        try {
            return new java.math.BigDecimal(n.toString()).longValueExact();
        } catch (NumberFormatException | ArithmeticException notWhole) {
            LOG.warn("ignoring actual token count {} that is not a whole 64-bit number", n);
            return null;
        }
    }

    /**
     * A figure as text: a whole number, or HTTP's list of them ({@code "9000, 6000"}: the header added
     * once per model call, or set to the list), charged their sum; empty elements are skipped, as HTTP
     * lists allow. Anything else in the list, or a sum past 64 bits, makes the whole figure unparsable.
     */
    private static Long parse(String text) {
        Long sum = null;
        try {
            for (String element : text.split(",", -1)) {
                if (!element.isBlank()) {
                    long one = Long.parseLong(element.trim());
                    if (one < 0) {
                        return null;
                    }
                    sum = sum == null ? one : Math.addExact(sum, one);
                }
            }
        } catch (NumberFormatException | ArithmeticException e) {
            LOG.warn("ignoring unparsable actual token count '{}'", text);
            return null;
        }
        return sum;
    }

    /**
     * Settles when the async cycle has completed, not earlier (but for the client gone, {@link #onError}): after a timeout or an error the
     * application's own listener may still dispatch and write the model's answer (Spring's
     * {@code DeferredResult} does), and that answer's usage must be charged. The container calls
     * {@code onComplete} after every timeout and error but one: Jetty's after a client's reset of a committed
     * answer, which {@link #onError} settles itself, as it does every client gone.
     */
    @Override
    public void onComplete(AsyncEvent event) {
        if (writingOn.get()) {
            // the container ended its cycle after the client went, the endpoint still writing its document
            // ({@link #onError}): the endpoint's end settles, with the usage its document ends with
            return;
        }
        End end = asyncEnd;
        settle(end == null ? End.RETURNED : end);
    }

    /**
     * The container refused the endpoint's end of its async cycle, having let go of the request without calling
     * the cycle's listeners (round 418, {@code EndpointRequest.Ending}): settled now, as the completion would
     * have settled it, the client gone (what was read is the answer it got: usage seen is charged, else the
     * estimate).
     */
    void endRefused() {
        End end = asyncEnd;
        settle(end == null ? End.CLIENT_GONE : end);
    }

    /**
     * The request as the settlement reads it, also once the container has let go of it ({@link #endRefused}):
     * Tomcat's recycled facade throws on every call (round 418: the settlement failed, and the hold was left to
     * expire). Then its method, URI, query and paths are the ones it was held with, and it has no attributes or
     * headers left to read (the endpoint's figure is kept by {@link EndpointRequest#reportedActual}).
     */
    private static final class Kept extends jakarta.servlet.http.HttpServletRequestWrapper {
        private final String method;
        private final String uri;
        private final String query;
        private final String contextPath;
        private final String servletPath;
        private final String pathInfo;
        private final jakarta.servlet.DispatcherType type;

        Kept(HttpServletRequest request) {
            super(request);
            method = request.getMethod();
            uri = request.getRequestURI();
            query = request.getQueryString();
            contextPath = request.getContextPath();
            servletPath = request.getServletPath();
            pathInfo = request.getPathInfo();
            type = request.getDispatcherType();
        }

        /** The container's answer, or {@code kept} once it has let go of the request. */
        private static <T> T read(java.util.function.Supplier<T> container, T kept) {
            try {
                return container.get();
            } catch (RuntimeException letGo) {
                return kept;
            }
        }

        @Override
        public String getMethod() {
            return read(super::getMethod, method);
        }

        @Override
        public String getRequestURI() {
            return read(super::getRequestURI, uri);
        }

        @Override
        public String getQueryString() {
            return read(super::getQueryString, query);
        }

        @Override
        public String getContextPath() {
            return read(super::getContextPath, contextPath);
        }

        @Override
        public String getServletPath() {
            return read(super::getServletPath, servletPath);
        }

        @Override
        public String getPathInfo() {
            return read(super::getPathInfo, pathInfo);
        }

        @Override
        public jakarta.servlet.DispatcherType getDispatcherType() {
            return read(super::getDispatcherType, type);
        }

        @Override
        public Object getAttribute(String name) {
            return read(() -> super.getAttribute(name), null);
        }

        @Override
        public String getHeader(String name) {
            return read(() -> super.getHeader(name), null);
        }

        @Override
        public java.util.Enumeration<String> getHeaders(String name) {
            return read(() -> super.getHeaders(name), java.util.Collections.emptyEnumeration());
        }
    }

    @Override
    public void onTimeout(AsyncEvent event) {
        if (asyncEnd == null) {
            asyncEnd = End.TIMED_OUT;
        }
    }

    /**
     * Whether the last dispatch of this request that passed the filter ended by an exception
     * ({@link #dispatchEnded}), until an {@link #onError} has read it: that exception is what the container
     * reports next.
     */
    private final AtomicBoolean dispatchThrew = new AtomicBoolean();

    /**
     * A dispatch of this request through the filter (an async one: Spring's {@code DeferredResult} and emitters
     * dispatch back to write their end) returned, or ({@code threw}) ended by an exception while the request
     * stayed async, which the container reports to the cycle's {@link #onError} once the dispatch has unwound.
     */
    void dispatchEnded(boolean threw) {
        dispatchThrew.set(threw);
    }

    /**
     * How an error the container reports on the async cycle ended the call (round 338): the client gone
     * ({@link End#CLIENT_GONE}: docs/servlet.md rule 5, the estimate) or the endpoint's failure
     * ({@link End#THREW}: rule 6, released before answering).
     *
     * <p>An application's failure reaches {@code onError} one way only: an exception that escaped a dispatch
     * (the request's, or an async one an endpoint made to write its result or its error, as a
     * {@code DeferredResult} given an upstream's exception does), which the container reports after that
     * dispatch unwound through the filter ({@code dispatchThrew}). A worker that fails off the dispatch
     * threads reports nothing to the cycle: it answers, dispatches or completes it, or lets it time out.
     * Any other {@code onError} is the container's own report of the connection: an I/O error while the
     * endpoint was at work off its dispatch (an HTTP/2 stream the client reset with {@code RST_STREAM},
     * Tomcat's "Client reset the stream", Jetty's {@code EofException}; a connection that broke under a
     * write). Told by what ran, not by the exception's class or message: containers name and word these
     * differently and an upstream's failure is an {@code IOException} too. A reported error that is no
     * {@code IOException} (an idle timeout) stays the endpoint's failure, as before. An I/O error after the
     * answer was committed is the client gone whatever raised it: the answer was on its way to it. A dispatch
     * the filter does not meet (it is not mapped for ASYNC, against docs/servlet.md) counts as the container's
     * report; Tomcat has set its 500 for that dispatch's exception before it reports it, which rule 3 (a
     * 5xx) releases all the same.
     */
    static End errorEnd(Throwable failure, boolean committed, boolean dispatchThrew) {
        return failure instanceof IOException && (committed || !dispatchThrew) ? End.CLIENT_GONE : End.THREW;
    }

    /**
     * The end as {@link #errorEnd} tells it. The client gone settles here, not on completion (round 338): what
     * the container does next is its own error handling, answered to nobody (Tomcat sets 500 and completes the
     * cycle, Jetty renders its error page, and after a reset on a committed answer recycles the response and
     * never calls {@code onComplete}, which left such a hold to expire uncharged); the endpoint's answer is
     * what it wrote until the client went. A later {@code onComplete}, or the worker's failing write and
     * {@code complete()}, find the call settled ({@link #settle} runs once). But for one JSON document not read
     * to its end (round 447, {@link QuotaResponse#dropsUnfinished}): the endpoint writes it on to the reader
     * alone and the call is settled when the endpoint ends ({@link #endpointEnds}), or once it went quiet
     * ({@link #writeOnWaits}); further reports of the client gone meanwhile change nothing (round 452). Any
     * other error waits for the completion: the application's own listener may still dispatch and write the
     * model's answer.
     */
    @Override
    public void onError(AsyncEvent event) {
        End end = errorEnd(event.getThrowable(), response.isCommitted(), dispatchThrew.getAndSet(false));
        asyncEnd = end;
        if (end != End.CLIENT_GONE) {
            return;
        }
        if (writingOn.get()) {
            // round 452: the client's going was reported already and the endpoint writes on; a further report of
            // it (the container's, or the endpoint's own writes failing under it) is the same news, and settling
            // on it would cut the document the wait is for
            return;
        }
        if (event.getThrowable() instanceof IOException failure && response.dropsUnfinished(failure)) {
            // round 447: the answer so far is one JSON document not read to its end, written by the endpoint off
            // the container's threads (Spring's StreamingResponseBody on its executor), and the container
            // reported the client gone while that write went on (Tomcat, from the write that failed). Round
            // 336's rule for the failing write holds for the report too: the rest of the document goes to the
            // reader alone, and the call is settled when the endpoint ends, with the usage the document ends
            // with; or once the endpoint went quiet for the cycle's timeout, with what was read by then
            if (writingOn.compareAndSet(false, true)) {
                writeOnQuietMillis = cycleTimeout(event);
                writeOnWaits();
            }
            return;
        }
        settle(end);
    }

    /**
     * How long an endpoint that writes on its one JSON document after the container reported its client gone
     * ({@link #onError}) may go without writing before the call is settled with what was read, where its async
     * cycle's timeout cannot be read ({@link #cycleTimeout}); also how often the wait for it looks whether the
     * hold's lifetime is over ({@link #writeOnWaits}). 30 seconds: Tomcat's and Jetty's default async timeout.
     */
    static final long WRITE_ON_MILLIS = 30_000;

    /**
     * How long the endpoint writing on may go quiet ({@link #writeOnWaits}): its async cycle's timeout when the
     * client's going was reported; none when that is 0 or less.
     */
    private volatile long writeOnQuietMillis;

    /**
     * The timeout of the async cycle the container reported the client gone to: the application's own bound on
     * the endpoint's work (Spring MVC's async request timeout, {@code AsyncSupportConfigurer.setDefaultTimeout},
     * or the container's default, 30 seconds on Tomcat and Jetty when the application sets none), which Tomcat
     * no longer runs once it has completed the cycle for the error; {@link #WRITE_ON_MILLIS} where it cannot be
     * read.
     */
    private static long cycleTimeout(AsyncEvent event) {
        try {
            AsyncContext context = event.getAsyncContext();
            return context == null ? WRITE_ON_MILLIS : context.getTimeout();
        } catch (IllegalStateException e) {
            return WRITE_ON_MILLIS;
        }
    }

    /**
     * The wait for an endpoint writing on after its client went ({@link #onError}), run on the keeper's threads:
     * the call is settled with what was read ({@link #endpointEnds}) once the endpoint has gone quiet for its
     * cycle's timeout ({@link #writeOnQuietMillis}) since the later of the report and its last write (every
     * write it makes, dropped on the way to the reader alone, restarts the wait: a relay copying a provider's
     * answer as it arrives is at work while it writes, round 452, charged 6,425 of 14,200 when the last of the
     * answer came more than 30 s after the report), and at the latest once the keeper stops keeping the call's hold
     * ({@link HoldKeeper#keptTooLong}): the bound every running call has, so an endpoint whose cycle has no
     * timeout, or that never stops writing, still settles. Otherwise it looks again when the endpoint may have
     * been quiet long enough, and at least every {@link #WRITE_ON_MILLIS}.
     */
    private void writeOnWaits() {
        if (!writingOn.get()) {
            return;
        }
        long quiet = writeOnQuietMillis;
        long left = quiet > 0 ? quiet - response.millisSinceDropped() : Long.MAX_VALUE;
        if (left <= 0 || keeper.keptTooLong(hold)) {
            endpointEnds();
            return;
        }
        keeper.later(this::writeOnWaits, Math.min(left, WRITE_ON_MILLIS));
    }

    /**
     * While the endpoint writes on its one JSON document after the container reported its client gone
     * ({@link #onError}), until it ends ({@link #endpointEnds}).
     */
    private final AtomicBoolean writingOn = new AtomicBoolean();

    /** The completions of the endpoint's own listeners held back while it writes on ({@link #endpointListener}). */
    private final java.util.List<Runnable> heldCompletions = new java.util.ArrayList<>();

    /**
     * The endpoint ended its async cycle ({@code complete()} or {@code dispatch()} through the context it was
     * handed), or the wait for it ran out: when it was writing on after its client went ({@link #onError}), the
     * call is settled now, the client gone, and the endpoint's listeners are given the completions held back
     * from them. Whether it was writing on: then the container's cycle is over already, and a refusal of the
     * endpoint's end is expected (Tomcat's, after it completed the cycle for the error).
     */
    boolean endpointEnds() {
        if (!writingOn.compareAndSet(true, false)) {
            return false;
        }
        settle(End.CLIENT_GONE);
        java.util.List<Runnable> held;
        synchronized (heldCompletions) {
            held = new java.util.ArrayList<>(heldCompletions);
            heldCompletions.clear();
        }
        held.forEach(Runnable::run);
        return true;
    }

    /**
     * A listener the endpoint adds to its async cycle, as the container is to call it: while the endpoint writes
     * on its one JSON document after the container reported its client gone ({@link #onError}), that error is
     * not passed on, as the failing write is not (round 336), and a completion the container reports meanwhile
     * is held back until the endpoint ends ({@link #endpointEnds}): Spring MVC's async request refuses every
     * write after either one ({@code AsyncRequestNotUsableException}), which stopped Jackson before the usage
     * (round 447: charged 1,136 for 14,200).
     */
    AsyncListener endpointListener(AsyncListener listener) {
        return new AsyncListener() {
            @Override
            public void onComplete(AsyncEvent event) throws IOException {
                synchronized (heldCompletions) {
                    if (writingOn.get()) {
                        heldCompletions.add(() -> {
                            try {
                                listener.onComplete(event);
                            } catch (IOException | RuntimeException e) {
                                LOG.warn("an endpoint's listener failed its held completion", e);
                            }
                        });
                        return;
                    }
                }
                listener.onComplete(event);
            }

            @Override
            public void onError(AsyncEvent event) throws IOException {
                if (!writingOn.get()) {
                    listener.onError(event);
                }
            }

            @Override
            public void onTimeout(AsyncEvent event) throws IOException {
                listener.onTimeout(event);
            }

            @Override
            public void onStartAsync(AsyncEvent event) throws IOException {
                listener.onStartAsync(event);
            }
        };
    }

    @Override
    public void onStartAsync(AsyncEvent event) {
        // a re-dispatched request that starts async again keeps this listener
        event.getAsyncContext().addListener(this);
    }
}
