package io.tokenquota.servlet.breakit452;

import static org.junit.jupiter.api.Assertions.assertTrue;

import io.tokenquota.servlet.QuotaFilter;
import io.tokenquota.servlet.testing.ChatCompletions;
import io.tokenquota.servlet.testing.Deployment;
import io.tokenquota.servlet.testing.FlushedParts;
import io.tokenquota.servlet.testing.ModelCallRound;
import io.tokenquota.servlet.testing.ModelCalls;
import io.tokenquota.servlet.testing.Prose;
import io.tokenquota.servlet.testing.SpringMvc;
import io.tokenquota.servlet.testing.TestHttp;
import java.nio.charset.StandardCharsets;
import org.junit.jupiter.api.Test;
import org.springframework.http.ResponseEntity;
import org.springframework.web.bind.annotation.PostMapping;
import org.springframework.web.bind.annotation.RequestHeader;
import org.springframework.web.bind.annotation.RestController;
import org.springframework.web.servlet.mvc.method.annotation.StreamingResponseBody;

/**
 * Round 452 of issue 11: round 447's fix (the container's report of the client gone while an endpoint writes one
 * JSON document off its threads: the call settled when the endpoint ends, at the latest {@code WRITE_ON_MILLIS},
 * 30 s, after the report).
 *
 * <p>The endpoint is a relay as Spring MVC's reference writes one ("Asynchronous Requests", {@code
 * ResponseEntity<StreamingResponseBody>}): it copies the provider's non-streamed answer to its client as the bytes
 * come from the provider ({@code InputStream.transferTo}-style, flushed per read), so the document is on its way
 * before its end (the usage) has arrived. Shape: OpenAI API reference, "The chat completion object" ({@code usage}
 * last): {@link ChatCompletions#completion}. 1,200 prompt + 13,000 completion tokens billed = 14,200. The client
 * is a raw HTTP/1.1 connection that resets (an SDK's timeout: OkHttp cancels the call and closes its socket) once
 * the first part of the answer reached it.
 */
abstract class AbstractRound452 extends ModelCallRound {
    static final ModelCalls CALLS = new ModelCalls();
    static final long IN = 1_200;
    static final long OUT = 13_000;
    static final long CALL = IN + OUT;
    static final String DOC = ChatCompletions.completion("chatcmpl-452", "gpt-4o-2024-08-06", Prose.english(60_000), IN, OUT);
    static final byte[] PLAIN = DOC.getBytes(StandardCharsets.UTF_8);
    static final String ASK = "{\"model\":\"gpt-4o\",\"messages\":[{\"role\":\"user\","
            + "\"content\":\"Write me a long story about a lighthouse keeper.\"}]}";

    /** Per subject: the relay's three reads of the provider's answer, and its writes of them. */
    static final FlushedParts PARTS = new FlushedParts(60);

    AbstractRound452() {
        super(CALLS);
    }

    /**
     * The relay's application lets its async requests run two minutes: Spring MVC bounds an async request by its
     * async request timeout ({@code AsyncSupportConfigurer.setDefaultTimeout}, Spring's reference "Asynchronous
     * Requests", "Configuration"), or without one by the container's default (30 seconds on Tomcat and Jetty), at
     * which it ends the request and cancels the relay's worker (on Jetty it stopped the relay with an
     * {@code InterruptedException} before the last part). Set above the test's 40 seconds, so that it is the
     * filter's wait that is tried on both containers, not the application's own timeout.
     */
    static final long ASYNC_TIMEOUT_MILLIS = 120_000;

    @Override
    protected Deployment deploy(QuotaFilter filter) {
        return SpringMvc.behindAiWithAsyncTimeout(filter, ASYNC_TIMEOUT_MILLIS, Relay.class);
    }

    @RestController
    public static class Relay {
        /** The provider's answer copied as it arrives, each read flushed to the client. */
        @PostMapping(path = "/ai/relay")
        public ResponseEntity<StreamingResponseBody> relay(@RequestHeader("x-user-id") String user) {
            CALLS.count(user);
            return PARTS.springRelay(user, PLAIN, "identity");
        }
    }

    static String path() {
        return SpringMvc.MAPPING.replace("/*", "") + "/ai/relay";
    }

    /**
     * The client reads the first part and resets; the relay writes the second part (the write that fails, which
     * the container reports); the third part (with the usage) comes from the provider {@code late}: after the
     * filter's wait for the endpoint ran out (the hold settled), or at once.
     */
    void resetWhileRelayed(String s, boolean late) throws Exception {
        PARTS.expect(s);
        // the client has the first part (headers and a third of the document) and its timeout resets it
        assertTrue(TestHttp.postJsonAndResetOnceWritten(container.port(), path(), s, ASK, PARTS.written(s, 0)),
                "the relay wrote the first part");
        PARTS.send(s, 1);
        assertTrue(PARTS.awaitWritten(s, 1, 10), "the relay wrote the second part");
        if (late) {
            // the provider's last bytes come after the filter stopped waiting (30 s after the report) or after 40 s
            settledWithin(s, 40);
        }
        PARTS.send(s, 2);
        assertTrue(PARTS.awaitWritten(s, 2, 10), "the relay wrote the third part");
    }

    /**
     * Finding (expected on Tomcat): the relay is still copying the document when the filter's 30-second wait runs
     * out; the call is settled with what was read then (no usage), and the usage the relay writes after is lost
     * although it reaches the filter's reader (the relay's writes are still dropped, it never learns its client
     * went, and the provider's call went on to its end).
     */
    @Test
    void aRelayedCompletionWhoseEndArrivesAfterTheWriteOnWaitIsChargedItsUsage() throws Exception {
        String s = subject();
        resetWhileRelayed(s, true);
        assertRelayChargedItsUsage(s, IN, OUT, PARTS.writeEnds,
                "relayed completion, its usage arriving after the filter's 30 s wait");
    }

    /** Control: the same relay whose provider sends the rest at once after the reset. */
    @Test
    void controlARelayedCompletionWhoseEndArrivesAtOnceIsChargedItsUsage() throws Exception {
        String s = subject();
        resetWhileRelayed(s, false);
        assertRelayChargedItsUsage(s, IN, OUT, PARTS.writeEnds,
                "relayed completion, its usage arriving at once");
    }
}
