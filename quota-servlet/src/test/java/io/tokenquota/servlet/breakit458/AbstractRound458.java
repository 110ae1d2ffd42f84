package io.tokenquota.servlet.breakit458;

import static org.junit.jupiter.api.Assertions.assertTrue;

import io.tokenquota.servlet.QuotaFilter;
import io.tokenquota.servlet.testing.ChatCompletions;
import io.tokenquota.servlet.testing.Compression;
import io.tokenquota.servlet.testing.Deployment;
import io.tokenquota.servlet.testing.FlushedParts;
import io.tokenquota.servlet.testing.ModelCallRound;
import io.tokenquota.servlet.testing.ModelCalls;
import io.tokenquota.servlet.testing.SpringMvc;
import io.tokenquota.servlet.testing.TestHttp;
import java.nio.charset.StandardCharsets;
import org.junit.jupiter.api.Test;
import org.springframework.http.ResponseEntity;
import org.springframework.web.bind.annotation.PostMapping;
import org.springframework.web.bind.annotation.RequestHeader;
import org.springframework.web.bind.annotation.RequestParam;
import org.springframework.web.bind.annotation.RestController;
import org.springframework.web.servlet.mvc.method.annotation.StreamingResponseBody;

/**
 * Round 458 of issue 11: the "writing on" rule (the client gone while an endpoint writes one JSON document off the
 * request thread: the rest of the document goes to the filter's reader alone and the call settles when the
 * endpoint ends) tried with a gzip-encoded answer.
 *
 * <p>The endpoint is a pass-through relay as Spring MVC's reference writes one ("Asynchronous Requests",
 * {@code ResponseEntity<StreamingResponseBody>}) that asked its provider with {@code Accept-Encoding: gzip} and
 * copies the provider's compressed bytes as they arrive, with the provider's {@code Content-Encoding: gzip}
 * (what a byte-copying proxy does, sparing itself the inflate and re-deflate). The provider's answer is a chat
 * completion (OpenAI API reference, "The chat completion object": {@code usage} last, {@link ChatCompletions}),
 * 1,200 prompt + 13,000 completion tokens billed = 14,200. The client is a raw HTTP/1.1 connection that resets once
 * the first third of the answer reached it (an SDK's timeout). Control: the same relay copying the identity-encoded
 * answer, which the filter reads on to its usage.
 */
abstract class AbstractRound458 extends ModelCallRound {
    static final ModelCalls CALLS = new ModelCalls();
    static final long IN = 1_200;
    static final long OUT = 13_000;
    static final String DOC = ChatCompletions.completion("chatcmpl-458", "gpt-4o-2024-08-06", lettersText(120_000), IN, OUT);
    static final byte[] PLAIN = DOC.getBytes(StandardCharsets.UTF_8);
    static final byte[] GZIPPED = Compression.gzip(PLAIN);
    static final String ASK = "{\"model\":\"gpt-4o\",\"messages\":[{\"role\":\"user\","
            + "\"content\":\"Write me a long story about a lighthouse keeper.\"}]}";

    static final FlushedParts PARTS = new FlushedParts(60);

    /** Spring MVC's async request timeout: two minutes, above anything the test waits, so that it decides nothing. */
    static final long ASYNC_TIMEOUT_MILLIS = 120_000;

    AbstractRound458() {
        super(CALLS);
    }

    @Override
    protected Deployment deploy(QuotaFilter filter) {
        return SpringMvc.behindAiWithAsyncTimeout(filter, ASYNC_TIMEOUT_MILLIS, Relay.class);
    }

    /**
     * Text that compresses about as a model's long answer in tokens of many words does (seeded, so the same every
     * run): each third of its gzip form is tens of kilobytes, past a container's output buffer, so the write after
     * the reset fails as an uncompressed one does.
     */
    static String lettersText(int chars) {
        java.util.Random random = new java.util.Random(458);
        StringBuilder b = new StringBuilder(chars);
        while (b.length() < chars) {
            int word = 2 + random.nextInt(9);
            for (int i = 0; i < word; i++) {
                b.append((char) ('a' + random.nextInt(26)));
            }
            b.append(random.nextInt(12) == 0 ? ". " : " ");
        }
        return b.toString();
    }

    @RestController
    public static class Relay {
        /** The provider's answer copied as it arrives (each read flushed), encoded as the provider sent it. */
        @PostMapping(path = "/ai/relay")
        public ResponseEntity<StreamingResponseBody> relay(@RequestHeader("x-user-id") String user,
                                                           @RequestParam("enc") String enc) {
            CALLS.count(user);
            // the rounds ask for "gzip" or "identity" only
            return PARTS.springRelay(user, "gzip".equals(enc) ? GZIPPED : PLAIN, enc);
        }
    }

    static String path(String enc) {
        return SpringMvc.MAPPING.replace("/*", "") + "/ai/relay?enc=" + enc;
    }

    /** The client reads the first part and resets; the relay then copies the second and third parts at once. */
    void resetWhileRelayed(String s, String enc) throws Exception {
        PARTS.expect(s);
        assertTrue(TestHttp.postJsonAndResetOnceWritten(container.port(), path(enc), s, ASK, PARTS.written(s, 0)),
                "the relay wrote the first part");
        PARTS.send(s, 1);
        assertTrue(PARTS.awaitWritten(s, 1, 10), "the relay wrote the second part");
        PARTS.send(s, 2);
        assertTrue(PARTS.awaitWritten(s, 2, 10), "the relay wrote the third part");
    }

    /** The gzip-encoded completion, its client reset after the first third: charged its usage, 14,200. */
    @Test
    void aGzipRelayedCompletionWhoseClientResetIsChargedItsUsage() throws Exception {
        String s = subject();
        resetWhileRelayed(s, "gzip");
        assertRelayChargedItsUsage(s, IN, OUT, PARTS.writeEnds, "gzip-encoded relayed completion ("
                + GZIPPED.length + " bytes for " + PLAIN.length + "), client reset after the first third");
    }

    /** Control: the same completion identity-encoded. */
    @Test
    void controlAnIdentityRelayedCompletionWhoseClientResetIsChargedItsUsage() throws Exception {
        String s = subject();
        resetWhileRelayed(s, "identity");
        assertRelayChargedItsUsage(s, IN, OUT, PARTS.writeEnds,
                "identity relayed completion, client reset after the first third");
    }
}
