package io.tokenquota.servlet.breakit436;

import static org.junit.jupiter.api.Assertions.assertAll;
import static org.junit.jupiter.api.Assertions.assertEquals;

import io.tokenquota.QuotaAccount;
import io.tokenquota.servlet.QuotaFilter;
import io.tokenquota.servlet.testing.ChatCompletions;
import io.tokenquota.servlet.testing.DeferredResultRound;
import io.tokenquota.servlet.testing.Deployment;
import io.tokenquota.servlet.testing.RunsAgain;
import io.tokenquota.servlet.testing.TestHttp;
import jakarta.servlet.DispatcherType;
import jakarta.servlet.ServletException;
import jakarta.servlet.http.HttpServlet;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;
import java.net.http.HttpResponse;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/**
 * Round 436 of issue 11: a pass the container runs again while the call that held the request is under way
 * ({@code QuotaFilter.dispatch}, {@code QuotaFilter.PassAgain}), in the shapes rounds 426, 428 and 429 left untested:
 * a pass that reports through the {@code X-Quota-Actual-Tokens} response header ({@link QuotaFilter#ACTUAL_TOKENS_HEADER},
 * which README / docs/servlet.md settlement rule 1 names as an equivalent way to report the handler's figure), two
 * quota filters on one request (a user's and a team's, each its own subject: docs/decisions.md "Several quota filters
 * on one request"; round 33's and round 325's team filter, subject from the trusted {@code x-team-id} header), a pass
 * that reports a figure and then throws, and a pass that ends the earlier cycle with {@code AsyncContext.complete()}.
 *
 * <p>Shapes: OpenAI Chat Completions (platform.openai.com/docs/api-reference/chat/create, "The chat completion
 * object" with its {@code usage}), written by {@link ChatCompletions}. The endpoints are {@code DeferredResult}
 * style, as rounds 426, 428 and 429's (Spring MVC reference, "Asynchronous Requests", "DeferredResult": the request
 * thread starts the async cycle, another thread sets the result, the request is dispatched back to write it; servlet
 * API 6.0 {@code AsyncContext.dispatch}, {@code AsyncContext.complete}). The pass the container runs again is round
 * 426's (finds the request processing, calls no model, reports 0 for itself: docs/decisions.md) or round 338's
 * {@code CalledTwice} (calls the model again at once, writes its text, reports its figure). The container's run again
 * is {@link RunsAgain} (Jetty only: Tomcat's filter chain runs each filter once per chain).
 */
abstract class AbstractRound436 extends DeferredResultRound {
    /** How the pass run again reports, and what it does. */
    enum Again {
        /** Round 426's pass, reporting 0 for itself through the response header: no model call. */
        HEADER_ZERO,
        /** Round 338's pass, reporting its own 3,000 through the response header. */
        HEADER_CALLS,
        /** Round 338's pass, reporting its own 3,000 through the request attribute (round 429's fixed shape). */
        ATTRIBUTE_CALLS,
        /** Round 338's pass reporting 3,000 through the attribute, then failing (its second startAsync refused). */
        ATTRIBUTE_CALLS_THEN_THROWS,
        /** Round 338's pass reporting 3,000 through the attribute, then ending the earlier cycle with complete(). */
        ATTRIBUTE_CALLS_THEN_COMPLETES
    }

    /** Counted down once the pass run again is over, for a worker that dispatches only after it (COMPLETES). */
    private final Map<String, CountDownLatch> passOver = new ConcurrentHashMap<>();

    private CountDownLatch passOver(String s) {
        return passOver.computeIfAbsent(s, k -> new CountDownLatch(1));
    }

    @Override
    protected Deployment deploy(QuotaFilter filter) {
        // the team's budget beside the user's: a second quota filter on the team paths, its subject the trusted
        // x-team-id header (round 33, round 325)
        QuotaFilter team = teamFilter("/ai/again/team/", "/ai/once/team/");
        Deployment d = withRunsAgain(filter).filter("quota-team", team, "/ai/again/team/*", "/ai/once/team/*");
        for (Again a : Again.values()) {
            String name = a.name().toLowerCase(java.util.Locale.ROOT).replace('_', '-');
            d.servlet("again-" + name, new Deferred(a), "/ai/again/" + name + "/*", "/ai/again/team/" + name + "/*");
            d.servlet("once-" + name, new Deferred(a), "/ai/once/" + name + "/*", "/ai/once/team/" + name + "/*");
        }
        return d;
    }

    /**
     * A {@code DeferredResult} handler. First pass: starts the cycle; a worker calls the model once and keeps its
     * result: for {@code HEADER_ZERO} the provider's chat.completion with its usage (5,000), which the ASYNC dispatch
     * writes; otherwise the text, its 5,000 tokens reported through {@link QuotaFilter#ACTUAL_TOKENS_ATTRIBUTE} on
     * the request the handler was given. The pass the container runs again comes once the worker has its result.
     */
    class Deferred extends HttpServlet {
        private final Again again;

        Deferred(Again again) {
            this.again = again;
        }

        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException, ServletException {
            String s = req.getHeader("x-user-id");
            if (req.getDispatcherType() == DispatcherType.ASYNC) {
                writeResult(req, resp, s, again == Again.HEADER_ZERO);
                return;
            }
            if (firstPass(req)) {
                if (again == Again.ATTRIBUTE_CALLS_THEN_COMPLETES) {
                    startCallDispatchingAfter(req, resp, s, passOver(s));
                } else {
                    startCall(req, resp, s, again != Again.HEADER_ZERO);
                }
                return;
            }
            // the container's pass run again
            if (!awaitWorkerAnswered(s)) {
                return;
            }
            if (again == Again.HEADER_ZERO) {
                // already processing: no model call; 0 for itself, by the header (rule 1's other form)
                resp.setHeader(QuotaFilter.ACTUAL_TOKENS_HEADER, "0");
                noted(s).add("REQUEST pass run again: already processing, no model call, header 0 for itself");
                return;
            }
            // round 338's CalledTwice: the pass run again calls the model at once and answers
            callModelAgain(req, resp, s, again == Again.HEADER_CALLS);
            if (again == Again.ATTRIBUTE_CALLS_THEN_THROWS) {
                // as CalledTwice's own startAsync finds the cycle of the first pass started: refused by the
                // container (servlet API 6.0 ServletRequest.startAsync: IllegalStateException when "called again
                // without any asynchronous dispatch"), or thrown here when a container lets it through
                try {
                    req.startAsync(req, resp);
                    noted(s).add("second startAsync allowed by the container; throwing as it would");
                } catch (IllegalStateException refused) {
                    noted(s).add("second startAsync refused: " + refused);
                    throw new ServletException("the pass run again could not start its cycle", refused);
                }
                throw new ServletException("the pass run again could not start its cycle");
            }
            if (again == Again.ATTRIBUTE_CALLS_THEN_COMPLETES) {
                // the pass ends the earlier cycle itself (its text is the answer): AsyncContext.complete()
                req.getAsyncContext().complete();
                noted(s).add("REQUEST pass run again completed the earlier cycle");
                passOver(s).countDown();
            }
        }
    }

    // ------------------------------------------------------------------ A. the pass reports through the header

    /**
     * The earlier call's worker calls the model once; its ASYNC dispatch writes the chat.completion with its usage,
     * 5,000. The pass the container ran meanwhile found the request processing, called no model and reported 0 for
     * itself through {@code X-Quota-Actual-Tokens} (rule 1's header form). Round 429 fixed this for the attribute
     * (PassAgain keeps it apart); found and fixed: the header went straight onto the call's own response wrapper
     * and became the call's figure, the one model call free (now the pass's answer keeps it: PassAgain.Answer).
     * Expected 5,000.
     */
    @Test
    void aPassRunAgainReportingZeroByTheHeaderDoesNotMakeTheCallFree() throws Exception {
        assumeRunsAgain();
        assertChatCharged("/ai/again/header-zero/chat", 1, USAGE,
                "the earlier call's completion (5,000), a pass run again reporting 0 for itself by the header");
    }

    /** Control: the same handler run once, its ASYNC dispatch writing the completion: 5,000. */
    @Test
    void controlTheCompletionRunOnceIsCharged() throws Exception {
        assertChatCharged("/ai/once/header-zero/chat", 1, USAGE, "the header-zero handler run once");
    }

    /**
     * The worker reports its 5,000 through the attribute; the pass run again calls the model again and reports its
     * own 3,000 through the header. Two model calls, both answers written: 8,000. The attribute outranks the header
     * as the call's one figure, so the pass's model call is dropped.
     */
    @Test
    void aPassRunAgainReportingItsCallByTheHeaderIsChargedBesideTheEarlierCall() throws Exception {
        assumeRunsAgain();
        assertChatCharged("/ai/again/header-calls/chat", 2, USAGE + AGAIN,
                "the worker's 5,000 (attribute) and the pass run again's own call, 3,000 (header)");
    }

    /** Control: the same handler run once: the worker's 5,000. */
    @Test
    void controlTheHeaderCallsHandlerRunOnceIsCharged() throws Exception {
        assertChatCharged("/ai/once/header-calls/chat", 1, USAGE, "the header-calls handler run once");
    }

    // ------------------------------------------------------------------ B. two quota filters: a user's and a team's

    /** Two filters, the pass reporting its 3,000 through the attribute: user and team each charged 8,000. */
    @Test
    void underTwoFiltersAPassRunAgainsFigureIsChargedToUserAndTeam() throws Exception {
        assumeRunsAgain();
        assertUserAndTeamCharged("/ai/again/team/attribute-calls/chat", 2, USAGE + AGAIN,
                "two filters, the worker's 5,000 and the pass run again's 3,000 (attribute)");
    }

    /** Two filters, the pass reporting 0 for itself by the header: user and team each charged the completion's 5,000. */
    @Test
    void underTwoFiltersAPassRunAgainsHeaderZeroFreesNeitherUserNorTeam() throws Exception {
        assumeRunsAgain();
        assertUserAndTeamCharged("/ai/again/team/header-zero/chat", 1, USAGE,
                "two filters, the completion's 5,000, a pass run again reporting 0 by the header");
    }

    /** Control: two filters, the handler run once: user and team each charged 5,000. */
    @Test
    void controlUnderTwoFiltersTheCallRunOnceIsChargedToUserAndTeam() throws Exception {
        assertUserAndTeamCharged("/ai/once/team/attribute-calls/chat", 1, USAGE, "two filters, run once");
    }

    /** Control: two filters, the completion run once: user and team each charged 5,000. */
    @Test
    void controlUnderTwoFiltersTheCompletionRunOnceIsChargedToUserAndTeam() throws Exception {
        assertUserAndTeamCharged("/ai/once/team/header-zero/chat", 1, USAGE, "two filters, completion run once");
    }

    // ------------------------------------------------------------------ C. a pass that reports, then throws / completes

    /**
     * The pass run again calls the model (3,000, attribute), writes its text, then fails (its own startAsync
     * refused); the worker's 5,000 was reported too. Two model calls: 8,000. Checked on the ledger only (the
     * answer's status is the container's error handling).
     */
    @Test
    void aPassRunAgainThatReportsThenThrowsIsCharged() throws Exception {
        assumeRunsAgain();
        String s = subject();
        HttpResponse<String> r = TestHttp.postJson(container.uri("/ai/again/attribute-calls-then-throws/chat"), s, CHAT);
        done(s).await(10, TimeUnit.SECONDS);
        QuotaAccount a = chargedAtLeast(s, 0);
        String figures = kind() + ": a pass run again reporting 3,000 then throwing, the worker's 5,000: answer "
                + r.statusCode() + " " + r.body() + "; model calls " + calls.of(s) + ", used " + a.used()
                + ", reserved " + a.reserved() + "; ledger " + ledger(s) + "; endpoint " + noted(s);
        assertAll(() -> assertEquals(2, calls.of(s), figures),
                () -> assertEquals(USAGE + AGAIN, a.used(), figures),
                () -> assertEquals(0, a.reserved(), figures));
    }

    /** The same under two filters: user and team each charged 8,000. */
    @Test
    void underTwoFiltersAPassRunAgainThatReportsThenThrowsIsChargedToUserAndTeam() throws Exception {
        assumeRunsAgain();
        String s = subject();
        String team = "team-" + s;
        HttpResponse<String> r = TestHttp.postJson(container.uri("/ai/again/team/attribute-calls-then-throws/chat"), s,
                CHAT, TEAM_HEADER, team);
        done(s).await(10, TimeUnit.SECONDS);
        QuotaAccount a = settled(s);
        QuotaAccount t = settled(team);
        String figures = kind() + ": two filters, a pass run again reporting 3,000 then throwing: answer "
                + r.statusCode() + "; model calls " + calls.of(s) + ", user used " + a.used() + ", team used "
                + t.used() + "; user " + ledger(s) + "; team " + ledger(team) + "; endpoint " + noted(s);
        assertAll(() -> assertEquals(2, calls.of(s), figures),
                () -> assertEquals(USAGE + AGAIN, a.used(), "user: " + figures),
                () -> assertEquals(USAGE + AGAIN, t.used(), "team: " + figures));
    }

    /**
     * The pass run again calls the model (3,000, attribute), writes its text and ends the earlier cycle with
     * {@code complete()}; the worker had reported its 5,000 and its own dispatch afterwards is refused. 8,000.
     */
    @Test
    void aPassRunAgainThatCompletesTheEarlierCycleIsChargedBesideIt() throws Exception {
        assumeRunsAgain();
        assertChatCharged("/ai/again/attribute-calls-then-completes/chat", 2, USAGE + AGAIN,
                "the worker's 5,000 and the pass run again's 3,000, the pass completing the cycle");
    }

    /** The same under two filters: user and team each charged 8,000. */
    @Test
    void underTwoFiltersAPassRunAgainThatCompletesTheEarlierCycleIsChargedToUserAndTeam() throws Exception {
        assumeRunsAgain();
        assertUserAndTeamCharged("/ai/again/team/attribute-calls-then-completes/chat", 2, USAGE + AGAIN,
                "two filters, the pass completing the cycle");
    }
}
