package io.tokenquota.servlet.breakit294;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.tokenquota.QuotaAccount;
import io.tokenquota.servlet.QuotaFilter;
import io.tokenquota.servlet.testing.ChatCompletions;
import io.tokenquota.servlet.testing.Daemons;
import io.tokenquota.servlet.testing.Deployment;
import io.tokenquota.servlet.testing.H2FilterRound;
import io.tokenquota.servlet.testing.ModelCalls;
import io.tokenquota.servlet.testing.SpringMvc;
import io.tokenquota.servlet.testing.TestHttp;
import jakarta.servlet.http.HttpServletRequest;
import java.net.http.HttpResponse;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.springframework.http.HttpStatus;
import org.springframework.http.MediaType;
import org.springframework.http.ResponseEntity;
import org.springframework.web.bind.annotation.PostMapping;
import org.springframework.web.bind.annotation.RequestBody;
import org.springframework.web.bind.annotation.RestController;
import org.springframework.web.context.request.async.DeferredResult;

/**
 * Round 294 of issue 11: a Spring MVC {@code DeferredResult} whose model call outlives the async
 * timeout, behind a filter built with {@code releaseOnError(false)}, which is what the README
 * ("an endpoint whose model call goes on after a 5xx (a {@code DeferredResult} or async timeout while a
 * worker still calls the model ...) ... or the filter is built with {@code releaseOnError(false)}") and
 * docs/decisions.md ("A 5xx without usage is released": "hosts whose workers outlive the timeout set
 * {@code releaseOnError(false)} to charge the estimate") give as the remedy.
 *
 * <p>The remedy holds when the timeout is answered by Spring's default (503, from
 * {@code TimeoutDeferredResultProcessingInterceptor} through {@code AsyncRequestTimeoutException}) or by
 * a 504. It does not when the application answers the timeout with {@code 408 Request Timeout}, the way
 * Baeldung's "Guide to DeferredResult in Spring" writes it (eugenp/tutorials,
 * {@code com.baeldung.servlets.DeferredResultController#handleReqWithTimeouts}:
 * {@code deferredResult.onTimeout(() -> deferredResult.setErrorResult(ResponseEntity.status(HttpStatus.REQUEST_TIMEOUT).body("Request timeout occurred.")))},
 * copied widely in public Spring code) or through Spring's own timeout-result constructor
 * {@code new DeferredResult<>(timeout, timeoutResult)} (SPR-8617, DeferredResult javadoc). The filter saw
 * the async cycle time out while the endpoint was still working (the worker had sent the request to the
 * provider and goes on waiting for its answer, which the provider bills), yet settlement rule 4 ("a 4xx
 * without usage: the model was not called") runs before the timeout rule, so the call is released
 * whatever {@code releaseOnError} says: no configuration makes such a call paid.
 */
abstract class AbstractRound294 extends H2FilterRound {
    static final ModelCalls CALLS = new ModelCalls();
    static final ExecutorService WORKERS = Daemons.pool("round294-model");
    /** Per subject: the client has its answer; the provider's late reply may now arrive. */
    static final Map<String, CountDownLatch> ANSWERED = new ConcurrentHashMap<>();
    /** Per subject: the worker saw the provider's late reply (and found the DeferredResult already set). */
    static final Map<String, CountDownLatch> LATE = new ConcurrentHashMap<>();

    static final long PROMPT = 6_000;
    static final long COMPLETION = 3_000;

    static final String REQUEST = "{\"model\":\"o3\",\"max_tokens\":2000,"
            + "\"messages\":[{\"role\":\"user\",\"content\":\"Summarise the attached supply contract clause by clause.\"}]}";

    static final String ANSWER = ChatCompletions.completion("chatcmpl-294", "o3",
            "Clause 1 sets the term; clause 14 lets either party terminate with thirty days notice.", PROMPT, COMPLETION);

    static String subject() {
        return "u294-" + UUID.randomUUID().toString().substring(0, 12);
    }

    static CountDownLatch latch(Map<String, CountDownLatch> of, String s) {
        return of.computeIfAbsent(s, k -> new CountDownLatch(1));
    }

    /**
     * The worker's model call: the request goes to the provider at once (counted), and its reply comes
     * after the client was answered, as a reasoning model's reply outlives a one-second timeout. The
     * reply finds the DeferredResult set by the timeout ({@code setResult} returns false).
     */
    static void callModel(String s, DeferredResult<ResponseEntity<?>> result) {
        CALLS.count(s);
        WORKERS.submit(() -> {
            try {
                // bounded: the test answers every subject's latch once its client has the answer
                if (!latch(ANSWERED, s).await(20, TimeUnit.SECONDS)) {
                    return;
                }
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                return;
            }
            result.setResult(ResponseEntity.ok().contentType(MediaType.APPLICATION_JSON).body(ANSWER));
            latch(LATE, s).countDown();
        });
    }

    @RestController
    public static class Assistant {
        /** Baeldung's timeout handling: 408 "Request timeout occurred." */
        @PostMapping("/summary-408")
        public DeferredResult<ResponseEntity<?>> summary408(@RequestBody String body, HttpServletRequest req) {
            DeferredResult<ResponseEntity<?>> result = new DeferredResult<>(1_000L);
            result.onTimeout(() -> result.setErrorResult(
                    ResponseEntity.status(HttpStatus.REQUEST_TIMEOUT).body("Request timeout occurred.")));
            callModel(req.getHeader("x-user-id"), result);
            return result;
        }

        /** Spring's own timeout result (the two-argument constructor): a 408 problem. */
        @PostMapping("/summary-timeout-result")
        public DeferredResult<ResponseEntity<?>> summaryTimeoutResult(@RequestBody String body, HttpServletRequest req) {
            DeferredResult<ResponseEntity<?>> result = new DeferredResult<>(1_000L,
                    ResponseEntity.status(HttpStatus.REQUEST_TIMEOUT).contentType(MediaType.APPLICATION_JSON)
                            .body("{\"error\":\"the assistant took too long, try again\"}"));
            callModel(req.getHeader("x-user-id"), result);
            return result;
        }

        /** The same with a 504 Gateway Timeout. */
        @PostMapping("/summary-504")
        public DeferredResult<ResponseEntity<?>> summary504(@RequestBody String body, HttpServletRequest req) {
            DeferredResult<ResponseEntity<?>> result = new DeferredResult<>(1_000L);
            result.onTimeout(() -> result.setErrorResult(
                    ResponseEntity.status(HttpStatus.GATEWAY_TIMEOUT).body("Request timeout occurred.")));
            callModel(req.getHeader("x-user-id"), result);
            return result;
        }

        /** No timeout handling: Spring's AsyncRequestTimeoutException, 503. */
        @PostMapping("/summary-default")
        public DeferredResult<ResponseEntity<?>> summaryDefault(@RequestBody String body, HttpServletRequest req) {
            DeferredResult<ResponseEntity<?>> result = new DeferredResult<>(1_000L);
            callModel(req.getHeader("x-user-id"), result);
            return result;
        }
    }

    /** The round's filter: as the others, but charging the estimate for a failure (the documented remedy). */
    @Override
    protected Deployment deploy(QuotaFilter unused) {
        QuotaFilter charging = filterFor("/ai/").releaseOnError(false).build();
        return SpringMvc.behind(charging, Assistant.class);
    }

    /**
     * One call to {@code path}: the client's status is {@code status}, the provider got the request
     * (and replied later), and with {@code releaseOnError(false)} the subject is charged what was held
     * for it (the estimate), since the filter cannot read the usage of a reply the client never got.
     */
    void assertChargedTheHold(String path, int status) throws InterruptedException {
        String s = subject();
        HttpResponse<String> r = TestHttp.postJson(container.uri("/ai/spring" + path), s, REQUEST);
        latch(ANSWERED, s).countDown();
        assertTrue(latch(LATE, s).await(10, TimeUnit.SECONDS), "the provider's late reply reached the worker");
        QuotaAccount a = settled(s);
        long held = ALLOWANCE - Long.parseLong(r.headers().firstValue("X-Quota-Remaining").orElse(String.valueOf(ALLOWANCE)));
        String what = kind() + " " + path + ": status " + r.statusCode() + ", model calls " + CALLS.of(s) + ", held "
                + held + ", used " + a.used() + ", events " + ledger(s) + ", body " + r.body();
        assertEquals(status, r.statusCode(), what);
        assertEquals(1, CALLS.of(s), what);
        assertTrue(held > 2_000, "the request's budget was held: " + what);
        assertEquals(held, a.used(), "the provider ran the call (" + (PROMPT + COMPLETION)
                + " tokens billed); releaseOnError(false) charges such a call its estimate: " + what);
    }

    /**
     * Finding: Baeldung's {@code onTimeout} 408 (eugenp/tutorials
     * {@code com.baeldung.servlets.DeferredResultController#handleReqWithTimeouts}) answers the client while
     * the worker's model call goes on; the filter saw the async timeout, but releases the hold as a 4xx
     * refusal, {@code releaseOnError(false)} notwithstanding.
     */
    @Test
    void aDeferredResultTimingOutWithBaeldungs408IsChargedLikeAnyTimeout() throws InterruptedException {
        assertChargedTheHold("/summary-408", 408);
    }

    /**
     * Finding: the same through Spring's {@code DeferredResult(Long timeoutValue, Object timeoutResult)}
     * (SPR-8617; DeferredResult javadoc: "the result to use on timeout"), a 408 problem.
     */
    @Test
    void aDeferredResultWithSpringsTimeoutResult408IsChargedLikeAnyTimeout() throws InterruptedException {
        assertChargedTheHold("/summary-timeout-result", 408);
    }

    /** Control: the same call answered 504 on timeout is charged the estimate under releaseOnError(false). */
    @Test
    void controlADeferredResultTimingOutWith504IsChargedTheEstimate() throws InterruptedException {
        assertChargedTheHold("/summary-504", 504);
    }

    /** Control: Spring's default timeout answer (503) is charged the estimate under releaseOnError(false). */
    @Test
    void controlADeferredResultTimingOutWithSpringsDefault503IsChargedTheEstimate() throws InterruptedException {
        assertChargedTheHold("/summary-default", 503);
    }
}
