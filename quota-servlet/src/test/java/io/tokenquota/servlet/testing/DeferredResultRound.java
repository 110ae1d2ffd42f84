package io.tokenquota.servlet.testing;

import static org.junit.jupiter.api.Assertions.assertAll;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.tokenquota.QuotaAccount;
import io.tokenquota.servlet.QuotaFilter;
import io.tokenquota.servlet.SubjectResolver;
import jakarta.servlet.AsyncContext;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Assumptions;

/**
 * A round on {@code DeferredResult}-style endpoints the container may run again while their call is under way
 * (Spring MVC reference, "Asynchronous Requests", "DeferredResult": the request thread starts the async cycle,
 * another thread sets the result, and the request is dispatched back to write it; servlet API 6.0,
 * {@code AsyncContext.dispatch}), and what such a call is charged. The container's run again is {@link RunsAgain} on
 * {@code /ai/again/*} (Jetty only: Tomcat's filter chain runs each filter once per chain). Rounds 426, 428, 429 and
 * 436 each wrote this rig and its check again; one copy keeps their endpoints and figures the same. Rounds 429 and 436
 * also share round 338's {@code CalledTwice} pass ({@link #callModelAgain}) and the ASYNC dispatch that writes the
 * worker's result ({@link #writeResult}); rounds 436 and 441 the team's filter beside the user's ({@link #teamFilter})
 * and its check ({@link #assertUserAndTeamCharged}).
 */
public abstract class DeferredResultRound extends ModelCallRound {
    /** An OpenAI chat body: 1,000-token budget, held at 1,015 (round 338's figure). */
    protected static final String CHAT = "{\"model\":\"gpt-4o\",\"messages\":[{\"role\":\"user\",\"content\":"
            + "\"Summarise the attached quarterly report in five bullet points.\"}],\"max_tokens\":1000}";
    /** The model's answer with its usage: 4,000 in, 1,000 out. */
    protected static final String COMPLETION = ChatCompletions.completion("c-deferred", "gpt-4o",
            "Here is the summary.", 4000, 1000);
    protected static final long USAGE = 5_000;
    /** The model's text as a {@code DeferredResult<String>} writes it (text/plain, Spring's StringHttpMessageConverter). */
    protected static final String TEXT =
            "Here is the summary: revenue grew, costs fell, margins widened, cash rose, outlook holds.";
    /** The attribute the worker leaves the model's result in for the pass that writes it. */
    protected static final String RESULT = "deferredResult.result";
    /** The model call a pass run again makes itself (round 338's {@code CalledTwice}), by its own figure. */
    protected static final long AGAIN = 3_000;
    /** The text of the pass run again's own model call. */
    protected static final String TEXT_AGAIN =
            "Summary: revenue up, costs down, margins wider, cash higher, outlook steady.";
    /** The team a call is charged to under {@link #teamFilter} (round 33's and 325's trusted header). */
    protected static final String TEAM_HEADER = "x-team-id";

    /** The attribute a handler's first pass leaves on the request (as Spring's {@code WebAsyncManager} its state). */
    private static final String FIRST_PASS = "deferredResult.firstPass";

    protected final ExecutorService workers = Daemons.pool(getClass().getSimpleName() + "-model");
    private final Map<String, CountDownLatch> done = new ConcurrentHashMap<>();
    private final Map<String, CountDownLatch> ready = new ConcurrentHashMap<>();
    private final Map<String, List<String>> seen = new ConcurrentHashMap<>();

    /** Counted down by the endpoint when the call of {@code s} is over (its ASYNC dispatch wrote, its worker ended). */
    protected CountDownLatch done(String s) {
        return done.computeIfAbsent(s, k -> new CountDownLatch(1));
    }

    /** What the endpoint saw of the call of {@code s}, for failure messages. */
    protected List<String> noted(String s) {
        return seen.computeIfAbsent(s, k -> new CopyOnWriteArrayList<>());
    }

    /** The deployment the round adds its endpoints to: {@link RunsAgain} on {@code /ai/again/*}, the filter on {@code /ai/*}. */
    protected static Deployment withRunsAgain(QuotaFilter filter) {
        return Deployment.create().filter("again", new RunsAgain(), "/ai/again/*").filter("quota", filter, "/ai/*");
    }

    /**
     * A second quota filter on this round's store, the team's beside the user's (rounds 33, 325, 436, 441): it
     * protects {@code prefix} and {@code more}, its subject the trusted {@link #TEAM_HEADER} from loopback.
     */
    protected QuotaFilter teamFilter(String prefix, String... more) {
        return filterFor(prefix).protect(more)
                .subjectResolver(SubjectResolver.trustedHeader(TEAM_HEADER, "127.0.0.1", "::1")).build();
    }

    /** Whether this is the handler's first pass on {@code req}; marks the request so the passes after it know. */
    protected static boolean firstPass(HttpServletRequest req) {
        if (req.getAttribute(FIRST_PASS) != null) {
            return false;
        }
        req.setAttribute(FIRST_PASS, Boolean.TRUE);
        return true;
    }

    /**
     * The first pass of the handler: starts the cycle; a worker calls the model once and keeps its result for the
     * request ({@code figure}: {@link #TEXT}, its 5,000 tokens reported through
     * {@link QuotaFilter#ACTUAL_TOKENS_ATTRIBUTE} on the request the handler was given; else {@link #COMPLETION}
     * with its usage), says it has it ({@link #awaitWorkerAnswered}) and dispatches.
     */
    protected void startCall(HttpServletRequest req, HttpServletResponse resp, String s, boolean figure)
            throws IOException {
        AsyncContext ac = startCycle(req, resp, s);
        workers.submit(() -> {
            answer(req, s, figure, ", dispatching");
            ac.dispatch();
        });
    }

    /**
     * As {@link #startCall} with a figure, but the worker dispatches only once {@code passOver} is counted down
     * (10 s): round 436's pass run again ends the cycle itself with {@code complete()}, so the worker's dispatch is
     * then refused, as round 338's endpoint's own end was. The call is {@link #done} when the worker has tried.
     */
    protected void startCallDispatchingAfter(HttpServletRequest req, HttpServletResponse resp, String s,
                                             CountDownLatch passOver) throws IOException {
        AsyncContext ac = startCycle(req, resp, s);
        workers.submit(() -> {
            answer(req, s, true, "");
            try {
                if (passOver.await(10, TimeUnit.SECONDS)) {
                    ac.dispatch();
                    noted(s).add("worker: dispatched");
                }
            } catch (IllegalStateException | InterruptedException refused) {
                noted(s).add("worker: dispatch refused: " + refused);
            } finally {
                done(s).countDown();
            }
        });
    }

    /** The first pass's start of the cycle (its body read, a 30 s timeout), for the worker to end. */
    private AsyncContext startCycle(HttpServletRequest req, HttpServletResponse resp, String s) throws IOException {
        req.getInputStream().readAllBytes();
        AsyncContext ac = req.startAsync(req, resp);
        ac.setTimeout(30_000);
        noted(s).add("first pass: async started");
        return ac;
    }

    /** The worker's model call: counted, its result (and with {@code figure} its figure) left on the request. */
    private void answer(HttpServletRequest req, String s, boolean figure, String then) {
        calls.count(s);
        if (figure) {
            req.setAttribute(QuotaFilter.ACTUAL_TOKENS_ATTRIBUTE, USAGE);
            req.setAttribute(RESULT, TEXT);
        } else {
            req.setAttribute(RESULT, COMPLETION);
        }
        noted(s).add("worker: model answered " + USAGE + ", result set" + then);
        readyLatch(s).countDown();
    }

    /**
     * The call's ASYNC dispatch: writes the worker's result ({@code completion}: the provider's chat.completion with
     * its length; else the text as text/plain) and the call is {@link #done}. Rounds 429 and 436.
     */
    protected void writeResult(HttpServletRequest req, HttpServletResponse resp, String s, boolean completion)
            throws IOException {
        String result = (String) req.getAttribute(RESULT);
        noted(s).add("ASYNC dispatch writes the result");
        if (completion) {
            ChatCompletions.writeWithLength(resp, result.getBytes(StandardCharsets.UTF_8));
        } else {
            resp.setContentType("text/plain;charset=UTF-8");
            resp.getOutputStream().write(result.getBytes(StandardCharsets.UTF_8));
        }
        done(s).countDown();
    }

    /**
     * Round 338's {@code CalledTwice} as the container's pass run again: calls the model again at once, reports its
     * own {@link #AGAIN} ({@code byHeader}: through {@link QuotaFilter#ACTUAL_TOKENS_HEADER} on the response, round
     * 436; else through {@link QuotaFilter#ACTUAL_TOKENS_ATTRIBUTE}, rounds 429 and 436) and writes
     * {@link #TEXT_AGAIN}.
     */
    protected void callModelAgain(HttpServletRequest req, HttpServletResponse resp, String s, boolean byHeader)
            throws IOException {
        calls.count(s);
        if (byHeader) {
            resp.setHeader(QuotaFilter.ACTUAL_TOKENS_HEADER, Long.toString(AGAIN));
        } else {
            req.setAttribute(QuotaFilter.ACTUAL_TOKENS_ATTRIBUTE, AGAIN);
        }
        resp.setContentType("text/plain;charset=UTF-8");
        resp.getOutputStream().write(TEXT_AGAIN.getBytes(StandardCharsets.UTF_8));
        noted(s).add("REQUEST pass run again: model called again, " + AGAIN + " reported by the "
                + (byHeader ? "header" : "attribute") + ", its text written");
    }

    /**
     * For the container's pass run again: waits (10 s) until the worker has the model's result, as it may have it by
     * then (a fast model, a cached answer); the handshake only makes that order certain. False if interrupted.
     */
    protected boolean awaitWorkerAnswered(String s) {
        try {
            assertTrue(readyLatch(s).await(10, TimeUnit.SECONDS), "the worker never answered");
            return true;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return false;
        }
    }

    private CountDownLatch readyLatch(String s) {
        return ready.computeIfAbsent(s, k -> new CountDownLatch(1));
    }

    /** A test of the pass run again runs on Jetty only ({@link RunsAgain}). */
    protected void assumeRunsAgain() {
        Assumptions.assumeTrue(kind() == ContainerKind.JETTY, "Tomcat's filter chain runs each filter once per chain");
    }

    /**
     * {@link #CHAT} posted to {@code path} by a new subject: once its call is {@link #done} and settled, it was
     * answered 200 after {@code modelCalls} model calls and charged {@code used}, nothing left held. A failure
     * names {@code what}, the answer, the calls, the ledger and what the endpoint saw.
     */
    protected void assertChatCharged(String path, int modelCalls, long used, String what) throws InterruptedException {
        String s = subject();
        HttpResponse<String> r = TestHttp.postJson(container.uri(path), s, CHAT);
        assertTrue(done(s).await(10, TimeUnit.SECONDS), "the async dispatch never ran: " + noted(s));
        QuotaAccount a = settled(s);
        String figures = kind() + ": " + what + ": answer " + r.statusCode() + " " + r.body() + "; model calls "
                + calls.of(s) + ", used " + a.used() + ", reserved " + a.reserved() + "; ledger " + ledger(s)
                + "; endpoint " + noted(s);
        assertAll(() -> assertEquals(200, r.statusCode(), figures),
                () -> assertEquals(modelCalls, calls.of(s), figures),
                () -> assertEquals(used, a.used(), figures),
                () -> assertEquals(0, a.reserved(), figures));
    }

    /**
     * {@link #CHAT} posted to {@code path} by a new user of a new team ({@link #TEAM_HEADER}): once its call is
     * {@link #done} and settled, answered 200 after {@code modelCalls} model calls, the user and the team each charged
     * {@code used}, nothing left held. Rounds 436 and 441, under {@link #teamFilter}.
     */
    protected void assertUserAndTeamCharged(String path, int modelCalls, long used, String what)
            throws InterruptedException {
        String s = subject();
        String team = "team-" + s;
        HttpResponse<String> r = TestHttp.postJson(container.uri(path), s, CHAT, TEAM_HEADER, team);
        assertTrue(done(s).await(10, TimeUnit.SECONDS), "the async dispatch never ran: " + noted(s));
        QuotaAccount a = settled(s);
        QuotaAccount t = settled(team);
        String figures = kind() + ": " + what + ": answer " + r.statusCode() + " " + r.body() + "; model calls "
                + calls.of(s) + ", user used " + a.used() + " reserved " + a.reserved() + ", team used " + t.used()
                + " reserved " + t.reserved() + "; user " + ledger(s) + "; team " + ledger(team) + "; endpoint " + noted(s);
        assertAll(() -> assertEquals(200, r.statusCode(), figures),
                () -> assertEquals(modelCalls, calls.of(s), figures),
                () -> assertEquals(used, a.used(), "user: " + figures),
                () -> assertEquals(used, t.used(), "team: " + figures),
                () -> assertEquals(0, a.reserved(), figures),
                () -> assertEquals(0, t.reserved(), figures));
    }
}
