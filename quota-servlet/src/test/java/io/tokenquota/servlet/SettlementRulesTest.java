package io.tokenquota.servlet;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.tokenquota.servlet.Settlement.Decision;
import io.tokenquota.servlet.Settlement.End;
import org.junit.jupiter.api.Test;

/** The settlement rules, one outcome at a time; the HTTP suites show each of them through a container. */
final class SettlementRulesTest {
    private static final long ESTIMATE = 500;

    private static Decision decide(Long explicit, Long usage, End end, int status, boolean answering) {
        // a final usage report, and no sign of a framework that matched no handler
        return Settlement.decide(explicit, usage, false, end, status, false, answering, false, false, false, false,
                true, ESTIMATE);
    }

    @Test
    void reportedUsageIsChargedWhateverHappenedAfterwards() {
        for (End end : End.values()) {
            for (int status : new int[] {200, 400, 429, 500, 502}) {
                Decision d = decide(null, 42L, end, status, true);
                assertEquals(Decision.charge(42, d.reason()), d, end + " " + status);
            }
        }
        assertEquals(7, decide(7L, 42L, End.THREW, 500, false).tokens(), "the handler's own figure wins");
    }

    @Test
    void usagePastTheLedgersLimitIsChargedTheLimitNeverNothing() {
        long past = io.tokenquota.Limits.MAX_TOKENS * 2;
        for (End end : End.values()) {
            Decision d = decide(null, past, end, 200, true);
            assertEquals(Decision.charge(io.tokenquota.Limits.MAX_TOKENS, d.reason()), d, end.toString());
        }
        assertEquals(io.tokenquota.Limits.MAX_TOKENS, decide(null, io.tokenquota.Limits.MAX_TOKENS, End.RETURNED, 200, true)
                .tokens(), "the limit itself is charged as it is");
    }

    /**
     * A body-less OPTIONS or TRACE, or an error page: charged what it reports, released otherwise,
     * whatever its status and however it ended (a preflight's 200 or 204 is no model's answer).
     */
    @Test
    void aQuietCallIsChargedOnlyWhatItReports() {
        for (End end : End.values()) {
            for (int status : new int[] {200, 204, 302, 404, 500}) {
                for (boolean answering : new boolean[] {false, true}) {
                    String where = end + " " + status + " answering " + answering;
                    assertTrue(quiet(null, null, end, status, answering).release(), where);
                    assertEquals(5_000, quiet(null, 5_000L, end, status, answering).tokens(), where);
                    assertEquals(7, quiet(7L, 5_000L, end, status, answering).tokens(), where);
                }
            }
        }
    }

    private static Decision quiet(Long explicit, Long usage, End end, int status, boolean answering) {
        return Settlement.decide(explicit, usage, false, end, status, false, answering, false, false, true, false,
                false, ESTIMATE);
    }

    @Test
    void withoutUsageAClientThatLeftIsChargedTheEstimate() {
        assertEquals(ESTIMATE, decide(null, null, End.CLIENT_GONE, 200, true).tokens());
        assertEquals(ESTIMATE, decide(null, null, End.CLIENT_GONE, 200, false).tokens());
    }

    @Test
    void refusalsAndServerErrorsWithoutUsageAreReleased() {
        for (int status : new int[] {301, 308, 400, 401, 403, 404, 405, 409, 413, 415, 422, 429}) {
            assertTrue(decide(null, null, End.RETURNED, status, false).release(), "status " + status);
        }
        for (int status : new int[] {500, 502, 503}) {
            for (End end : new End[] {End.RETURNED, End.THREW, End.TIMED_OUT}) {
                assertTrue(decide(null, null, end, status, false).release(), "status " + status + " " + end);
            }
        }
        assertTrue(decide(null, null, End.THREW, 200, false).release(), "an exception before answering");
        assertTrue(decide(null, null, End.TIMED_OUT, 200, false).release(), "a timeout before answering");
    }

    @Test
    void aServerErrorAfterTheEndpointWasAnsweringIsChargedTheEstimate() {
        // an exception handler's 500 after a reset, the container's 500 for a timeout: the model had answered
        for (int status : new int[] {500, 502, 503}) {
            for (End end : new End[] {End.RETURNED, End.THREW, End.TIMED_OUT}) {
                assertEquals(ESTIMATE, decide(null, null, end, status, true).tokens(), "status " + status + " " + end);
            }
        }
        assertEquals(7L, decide(null, 7L, End.RETURNED, 500, true).tokens(), "usage still wins");
    }

    @Test
    void aRefusalAfterTheEndpointWasAnsweringIsChargedTheEstimate() {
        for (int status : new int[] {301, 400, 404, 409, 422, 429}) {
            // whether it replaced the answer (a ResponseStatusException after a reset or sendError) or was
            // set over content still there (a JSP's layout, or a model's suggestions inline, then 404):
            // the filter cannot tell a layout from a model's answer, so the estimate is charged
            assertEquals(ESTIMATE, decide(null, null, End.RETURNED, status, true).tokens(), "status " + status);
            // before answering: refused, the model was not called
            assertTrue(decide(null, null, End.RETURNED, status, false).release(), "status " + status);
            // a page that calls no model reports 0 for itself
            assertEquals(0L, decide(0L, null, End.RETURNED, status, true).tokens(), "status " + status);
        }
        assertEquals(ESTIMATE, decide(null, null, End.RETURNED, 500, true).tokens());
    }

    @Test
    void nestedIncludesFiguresAddUpWithThePagesOwnCharge() {
        Decision estimated = decide(null, null, End.RETURNED, 200, true);
        assertEquals(ESTIMATE + 150, Settlement.withNested(estimated, 150L).tokens(), "the page's estimate beside them");
        assertEquals(150, Settlement.withNested(decide(0L, null, End.RETURNED, 200, true), 150L).tokens(),
                "a page that reports 0 for itself");
        assertEquals(42 + 150, Settlement.withNested(decide(null, 42L, End.RETURNED, 200, true), 150L).tokens());
        assertEquals(150, Settlement.withNested(decide(null, null, End.RETURNED, 404, false), 150L).tokens(),
                "a released page still pays its fragments' calls");
        assertEquals(ESTIMATE, Settlement.withNested(estimated, 0L).tokens(), "a fragment's 0 adds nothing");
        assertEquals(ESTIMATE, Settlement.withNested(estimated, null).tokens());
        assertTrue(Settlement.withNested(decide(null, null, End.RETURNED, 404, false), 0L).release());
    }

    @Test
    void aSuccessWithoutUsageAndAFailureWhileAnsweringAreChargedTheEstimate() {
        assertEquals(ESTIMATE, decide(null, null, End.RETURNED, 200, true).tokens());
        assertEquals(ESTIMATE, decide(null, null, End.RETURNED, 204, false).tokens());
        assertEquals(ESTIMATE, decide(null, null, End.THREW, 200, true).tokens(), "the 200 was already on its way");
        assertEquals(ESTIMATE, decide(null, null, End.TIMED_OUT, 200, true).tokens(), "timed out after answering");
    }

    @Test
    void anEventSourceReconnectAnsweredWithNoContentIsReleasedButOther204sAreCharged() {
        for (int status : new int[] {204, 205}) {
            for (End end : End.values()) {
                assertTrue(Settlement.decide(null, null, false, end, status, true, true, false, false, false, false, true, ESTIMATE)
                        .release(), "an EventSource reconnect answered " + status + " " + end);
            }
            assertEquals(ESTIMATE, Settlement.decide(null, null, false, End.RETURNED, status, false, true, false, false, false, false,
                    true, ESTIMATE).tokens(), "a POST (or another GET) answered " + status + " may have run a model");
            assertEquals(9L, Settlement.decide(null, 9L, false, End.RETURNED, status, true, true, false, false, false, false, true,
                    ESTIMATE).tokens(), "usage still wins");
        }
    }

    @Test
    void redirectsToTheAnswerAndNotModifiedAfterTheCallAreChargedTheEstimate() {
        for (int status : new int[] {302, 303, 304, 307}) {
            assertEquals(ESTIMATE, decide(null, null, End.RETURNED, status, true).tokens(), "status " + status);
        }
    }

    @Test
    void notAcceptableIsChargedTheEstimateBecauseTheHandlerRanFirst() {
        // Spring answers 406 for an Accept header it cannot serve after the handler returned its answer
        assertEquals(ESTIMATE, decide(null, null, End.RETURNED, 406, true).tokens());
        assertEquals(7L, decide(7L, null, End.RETURNED, 406, true).tokens(), "the handler's own figure still wins");
        // Spring answers 416 for a Range outside the Resource the handler returned after the model call
        assertEquals(ESTIMATE, decide(null, null, End.RETURNED, 416, true).tokens());
        assertEquals(7L, decide(null, 7L, End.RETURNED, 416, true).tokens(), "usage in the answer still wins");
    }

    @Test
    void aNotAcceptableBeforeSpringFoundAHandlerIsReleased() {
        Decision before = Settlement.decide(null, null, false, End.RETURNED, 406, false, true, true, false, false, false, true, ESTIMATE);
        assertTrue(before.release(), "Spring's handler mapping refused the Accept header: no handler ran");
        assertEquals(ESTIMATE, Settlement.decide(null, null, false, End.RETURNED, 406, false, true, false, false, false, false, true, ESTIMATE).tokens(),
                "a handler ran (or nothing is known): the estimate");
        assertEquals(7L, Settlement.decide(7L, null, false, End.RETURNED, 406, false, true, true, false, false, false, true, ESTIMATE).tokens());
        assertEquals(9L, Settlement.decide(null, 9L, false, End.RETURNED, 406, false, true, true, false, false, false, true, ESTIMATE).tokens());
    }

    @Test
    void aPreconditionFailedAfterTheHandlerIsChargedUnlessNoHandlerRan() {
        // Spring checks If-Unmodified-Since / If-Match against the ResponseEntity the handler returned
        assertEquals(ESTIMATE, Settlement.decide(null, null, false, End.RETURNED, 412, false, true, false, false, false, false, true, ESTIMATE).tokens());
        assertTrue(Settlement.decide(null, null, false, End.RETURNED, 412, false, true, true, false, false, false, true, ESTIMATE).release(),
                "no handler matched: nothing ran");
        assertEquals(9L, Settlement.decide(null, 9L, false, End.RETURNED, 412, false, true, true, false, false, false, true, ESTIMATE).tokens());
    }

    @Test
    void springMarksARequestItFoundNoHandlerFor() {
        // the names this module compares, against the Spring MVC on the test classpath
        assertEquals(org.springframework.web.servlet.DispatcherServlet.WEB_APPLICATION_CONTEXT_ATTRIBUTE,
                Settlement.SPRING_DISPATCHER_CONTEXT);
        assertEquals(org.springframework.web.servlet.HandlerMapping.BEST_MATCHING_HANDLER_ATTRIBUTE,
                Settlement.SPRING_BEST_MATCHING_HANDLER);
        java.util.Map<String, Object> attributes = new java.util.HashMap<>();
        jakarta.servlet.ServletRequest request = (jakarta.servlet.ServletRequest) java.lang.reflect.Proxy.newProxyInstance(
                getClass().getClassLoader(), new Class<?>[] {jakarta.servlet.ServletRequest.class},
                (proxy, method, args) -> attributes.get((String) args[0]));
        assertTrue(!Settlement.springMatchedNoHandler(request), "not handled by Spring: nothing known");
        attributes.put(Settlement.SPRING_DISPATCHER_CONTEXT, new Object());
        assertTrue(Settlement.springMatchedNoHandler(request));
        attributes.put(Settlement.SPRING_BEST_MATCHING_HANDLER, new Object());
        assertTrue(!Settlement.springMatchedNoHandler(request), "a handler was matched, and so ran");
    }

    @Test
    void aProvisionalUsageIsChargedAtLeastTheEstimate() {
        for (End end : End.values()) {
            for (int status : new int[] {200, 404, 406, 500}) {
                assertEquals(ESTIMATE, Settlement.decide(null, 26L, true, end, status, false, true, false, false, false, false, true, ESTIMATE).tokens(),
                        end + " " + status);
                assertEquals(ESTIMATE + 1, Settlement.decide(null, ESTIMATE + 1, true, end, status, false, true, false, false, false,
                        false, true, ESTIMATE).tokens(), end + " " + status);
                assertEquals(26L, Settlement.decide(null, 26L, false, end, status, false, true, false, false, false, false, true, ESTIMATE).tokens(),
                        "a final report is charged as it is");
            }
        }
        assertEquals(7L, Settlement.decide(7L, 26L, true, End.RETURNED, 200, false, true, false, false, false, false, true, ESTIMATE).tokens());
    }

    @Test
    void aRequestsKeyIsItsSubjectMethodUriQueryAndBody() {
        byte[] body = "{\"q\":\"Say OK\"}".getBytes(java.nio.charset.StandardCharsets.UTF_8);
        String key = AnswerUsages.requestKey("alice", "POST", "/ai/chat", null, body);
        assertEquals(key, AnswerUsages.requestKey("alice", "POST", "/ai/chat", null, body.clone()));
        assertEquals(64, key.length());
        for (String other : new String[] {
                AnswerUsages.requestKey("bob", "POST", "/ai/chat", null, body),
                AnswerUsages.requestKey("alice", "GET", "/ai/chat", null, body),
                AnswerUsages.requestKey("alice", "POST", "/ai/chat", "q=Say+OK", body),
                AnswerUsages.requestKey("alice", "POST", "/ai/chat", null, new byte[0]),
                // the parts are length-prefixed: moving a character between them changes the key
                AnswerUsages.requestKey("alic", "ePOST", "/ai/chat", null, body)}) {
            assertNotEquals(key, other);
        }
    }

    @Test
    void aNotModifiedAnswerIsKnownByItsRequestAndETagWithinABound() {
        AnswerUsages.Kind answer = AnswerUsages.Kind.ANSWER;
        AnswerUsages answers = new AnswerUsages(2);
        answers.remember("alice", answer, "/ai/chat", "\"0abc\"", 8_000);
        assertEquals(8_000L, answers.usage("alice", answer, "/ai/chat", "\"0abc\""));
        assertNull(answers.usage("alice", answer, "/ai/other", "\"0abc\""), "another endpoint's answer");
        assertNull(answers.usage("bob", answer, "/ai/chat", "\"0abc\""), "another subject's answer");
        assertNull(answers.usage("alice", AnswerUsages.Kind.STREAM, "/ai/chat", "\"0abc\""), "another kind");
        assertNull(answers.usage("alice", answer, "/ai/chat", null));
        answers.remember("alice", answer, "/ai/chat", null, 5);
        answers.remember("bob", answer, "/ai/a", "\"1\"", 1);
        answers.remember("carol", answer, "/ai/b", "\"2\"", 2);
        assertNull(answers.usage("alice", answer, "/ai/chat", "\"0abc\""), "the subject least recently seen is forgotten");
        assertEquals(2L, answers.usage("carol", answer, "/ai/b", "\"2\""));
        answers.remember("carol", answer, "/ai/c", "x".repeat(2_000), 3);
        assertNull(answers.usage("carol", answer, "/ai/c", "x".repeat(2_000)), "an oversized ETag is not kept");
    }

    @Test
    void otherSubjectsAnswersDoNotPushOutASubjectsEntries() {
        // as many entries as the filter keeps, and more than 4,096 other answers after alice's
        AnswerUsages answers = new AnswerUsages(8_192);
        answers.remember("alice", AnswerUsages.Kind.CALLS, AnswerUsages.chargedCalls("alice"), "calls-1", 5_000);
        // 100 other subjects stream 60 answers each: 6,000 entries
        for (int subject = 0; subject < 100; subject++) {
            for (int i = 0; i < 60; i++) {
                answers.remember("user-" + subject, AnswerUsages.Kind.STREAM,
                        AnswerUsages.streamed("user-" + subject, "/ai/chat", "n=" + i), AnswerUsages.STREAM, 1);
            }
        }
        // one subject streaming 10,000 answers keeps its 64 most recent: it cannot push out anyone's
        for (int i = 0; i < 10_000; i++) {
            answers.remember("flood", AnswerUsages.Kind.STREAM, AnswerUsages.streamed("flood", "/ai/chat", "n=" + i),
                    AnswerUsages.STREAM, 1);
        }
        // alice's own streams, more than a subject keeps, push out only her oldest streams
        for (int i = 0; i < AnswerUsages.PER_SUBJECT + 10; i++) {
            answers.remember("alice", AnswerUsages.Kind.STREAM, AnswerUsages.streamed("alice", "/ai/chat", "n=" + i),
                    AnswerUsages.STREAM, 1);
        }
        assertEquals(5_000L, answers.usage("alice", AnswerUsages.Kind.CALLS, AnswerUsages.chargedCalls("alice"), "calls-1"));
        assertNull(answers.usage("alice", AnswerUsages.Kind.STREAM, AnswerUsages.streamed("alice", "/ai/chat", "n=0"),
                AnswerUsages.STREAM));
        assertEquals(1L, answers.usage("alice", AnswerUsages.Kind.STREAM,
                AnswerUsages.streamed("alice", "/ai/chat", "n=" + AnswerUsages.PER_SUBJECT), AnswerUsages.STREAM));
    }

    @Test
    void releaseOnErrorOffChargesTheEstimateForFailures() {
        assertEquals(ESTIMATE, Settlement.decide(null, null, false, End.RETURNED, 502, false, true, false, false, false, false, false, ESTIMATE).tokens());
        assertEquals(ESTIMATE, Settlement.decide(null, null, false, End.THREW, 200, false, false, false, false, false, false, false, ESTIMATE).tokens());
        assertTrue(Settlement.decide(null, null, false, End.RETURNED, 404, false, false, false, false, false, false, false, ESTIMATE).release(),
                "a refusal is not a failure: still released");
    }

    @Test
    void aTokenCountIsReleasedButUsageOrTheHandlersFigureStillWins() {
        assertTrue(Settlement.decide(null, null, false, End.RETURNED, 200, false, true, false, true, false, false, true, ESTIMATE).release(),
                "a token-counting endpoint's count: no model was called");
        assertEquals(9L, Settlement.decide(null, 9L, false, End.RETURNED, 200, false, true, false, true, false, false, true, ESTIMATE).tokens());
        assertEquals(7L, Settlement.decide(7L, null, false, End.RETURNED, 200, false, true, false, true, false, false, true, ESTIMATE).tokens());
        assertEquals(ESTIMATE, Settlement.decide(null, null, false, End.RETURNED, 200, false, true, false, false, false, false, true, ESTIMATE)
                .tokens(), "the same answer elsewhere is a 2xx without usage");
    }

    @Test
    void resultsOfCallsChargedBeforeAreReleasedButTheHandlersFigureStillWins() {
        assertTrue(Settlement.decide(null, 900L, false, End.RETURNED, 200, false, true, false, false, false, true, true, ESTIMATE).release(),
                "a batch's results read again: their calls were charged when first read");
        assertEquals(7L, Settlement.decide(7L, 900L, false, End.RETURNED, 200, false, true, false, false, false, true, true, ESTIMATE).tokens());
        assertEquals(900L, Settlement.decide(null, 900L, false, End.RETURNED, 200, false, true, false, false, false, false, true, ESTIMATE)
                .tokens());
    }

    /**
     * Round 338: an error the container reports on the async cycle. An I/O error no dispatch threw is its own
     * report of the connection (an HTTP/2 stream reset while a worker called the model): the client gone, the
     * estimate; the exception a dispatch threw (an upstream's {@code IOException} a {@code DeferredResult}
     * dispatched) is the endpoint's failure, released before answering.
     */
    @Test
    void anAsyncErrorIsTheClientGoneUnlessADispatchThrewIt() {
        java.io.IOException reset = new java.io.IOException("Client reset the stream before the request was fully read");
        assertEquals(End.CLIENT_GONE, Settlement.errorEnd(reset, false, false), "a reset before any answer");
        assertEquals(End.CLIENT_GONE, Settlement.errorEnd(reset, true, false), "a reset mid-answer");
        assertEquals(End.THREW, Settlement.errorEnd(new java.net.ConnectException("Connection refused"), false, true),
                "an upstream's failure a dispatch threw before answering");
        assertEquals(End.CLIENT_GONE, Settlement.errorEnd(reset, true, true), "an I/O error after the answer was committed");
        assertEquals(End.THREW, Settlement.errorEnd(new IllegalStateException("idle timeout"), false, false));
        assertEquals(End.THREW, Settlement.errorEnd(null, false, false));
        assertEquals(ESTIMATE, decide(null, null, End.CLIENT_GONE, 200, false).tokens(), "rule 5: hanging up is no free call");
        assertTrue(decide(null, null, End.THREW, 200, false).release(), "rule 6: a failure before answering");
    }
}
