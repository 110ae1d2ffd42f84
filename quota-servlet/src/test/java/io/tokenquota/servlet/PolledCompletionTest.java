package io.tokenquota.servlet;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.function.Predicate;
import org.junit.jupiter.api.Test;

/**
 * Which creations and reads {@link PolledCompletion} takes for a polled job's (round 319): xAI's deferred
 * creation only as its bare acknowledgement at {@code …/chat/completions}, Z.ai's async creation only as its
 * {@code PROCESSING} task at {@code …/async/chat/completions}, each kind read at its own path and keyed apart.
 */
final class PolledCompletionTest {
    private static final Predicate<String> DEFERRED = "deferred"::equals;
    private static final Predicate<String> NOT_DEFERRED = name -> false;

    private static JsonDocumentScanner.Document doc(String json) {
        List<JsonDocumentScanner.Document> documents = new ArrayList<>();
        JsonDocumentScanner scanner = new JsonDocumentScanner(documents::add);
        byte[] bytes = json.getBytes(StandardCharsets.UTF_8);
        scanner.feed(bytes, 0, bytes.length);
        scanner.end();
        assertEquals(1, documents.size(), json);
        return documents.get(0);
    }

    private static final String ACK = "{\"request_id\":\"r-1\"}";
    private static final String TASK = "{\"id\":\"1016-7\",\"request_id\":\"r-1\",\"model\":\"glm-4-plus\",\"task_status\":\"PROCESSING\"}";

    @Test
    void xaisBareAcknowledgementAtChatCompletionsIsADeferredCreation() {
        PolledCompletion.Job job = PolledCompletion.created("POST", "/xai/v1/chat/completions", DEFERRED, doc(ACK));
        assertEquals(PolledCompletion.XAI_DEFERRED, job.kind());
        assertEquals("r-1", job.id());
    }

    @Test
    void aWholeCompletionEchoingTheRequestIdIsNoCreation() {
        // Z.ai's Completion answers the client's request_id beside its choices and usage: the model ran in it
        String whole = "{\"model\":\"glm-4-plus\",\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\",\"content\":\"x\"}}],"
                + "\"request_id\":\"r-1\",\"id\":\"2024\",\"usage\":{\"prompt_tokens\":5,\"completion_tokens\":1,\"total_tokens\":6}}";
        assertNull(PolledCompletion.created("POST", "/zai/api/paas/v4/chat/completions", DEFERRED, doc(whole)));
        assertNull(PolledCompletion.created("POST", "/v1/chat/completions", DEFERRED,
                doc("{\"request_id\":\"r-1\",\"usage\":{\"total_tokens\":6}}")));
        assertNull(PolledCompletion.created("POST", "/v1/chat/completions", DEFERRED,
                doc("{\"request_id\":\"r-1\",\"object\":\"chat.completion\"}")));
    }

    @Test
    void anAcknowledgementElsewhereOrNotAskedDeferredIsNoCreation() {
        assertNull(PolledCompletion.created("POST", "/v1/jobs", DEFERRED, doc(ACK)));
        assertNull(PolledCompletion.created("POST", "/v1/chat/completions", NOT_DEFERRED, doc(ACK)));
        assertNull(PolledCompletion.created("GET", "/v1/chat/completions", DEFERRED, doc(ACK)));
        assertNull(PolledCompletion.created("POST", "/v1/chat/completions", DEFERRED, null));
    }

    @Test
    void zaisProcessingTaskAtAsyncChatCompletionsIsAnAsyncCreation() {
        PolledCompletion.Job job = PolledCompletion.created("POST", "/api/paas/v4/async/chat/completions", NOT_DEFERRED, doc(TASK));
        assertEquals(PolledCompletion.ZAI_ASYNC, job.kind());
        assertEquals("1016-7", job.id());
        // a deferred flag beside it does not make it xAI's
        assertEquals(PolledCompletion.ZAI_ASYNC,
                PolledCompletion.created("POST", "/api/paas/v4/async/chat/completions", DEFERRED, doc(TASK)).kind());
        assertNull(PolledCompletion.created("POST", "/api/paas/v4/chat/completions", NOT_DEFERRED, doc(TASK)));
        assertNull(PolledCompletion.created("POST", "/api/paas/v4/async/chat/completions", NOT_DEFERRED,
                doc(TASK.replace("PROCESSING", "SUCCESS"))));
    }

    @Test
    void eachKindIsReadAtItsOwnPathAndKeyedApart() {
        PolledCompletion.Job xai = PolledCompletion.read("GET", "/xai/v1/chat/deferred-completion/r-1");
        PolledCompletion.Job zai = PolledCompletion.read("HEAD", "/api/paas/v4/async-result/r-1");
        assertEquals(PolledCompletion.XAI_DEFERRED, xai.kind());
        assertEquals(PolledCompletion.ZAI_ASYNC, zai.kind());
        assertEquals("r-1", zai.id());
        assertNotEquals(xai.key(), zai.key());
        assertNotEquals("r-1", zai.key());
        assertNull(PolledCompletion.read("POST", "/api/paas/v4/async-result/r-1"));
        assertNull(PolledCompletion.read("GET", "/api/paas/v4/async-result/"));
        assertNull(PolledCompletion.read("GET", "/api/paas/v4/async-result/r-1/cancel"));
        assertNull(PolledCompletion.read("GET", "/v1/jobs/r-1"));
    }

    @Test
    void aReadEndsTheJobOnlyWithItsResultOrItsFailure() {
        PolledCompletion.Job xai = PolledCompletion.read("GET", "/v1/chat/deferred-completion/r-1");
        assertFalse(xai.ends(202, null));
        assertTrue(xai.ends(200, doc("{\"id\":\"r-1\",\"object\":\"chat.completion\",\"usage\":{\"total_tokens\":6}}")));
        PolledCompletion.Job zai = PolledCompletion.read("GET", "/v4/async-result/1016-7");
        assertFalse(zai.ends(200, doc(TASK)));
        assertEquals("processing", zai.state(200, doc(TASK)));
        assertTrue(zai.ends(200, doc(TASK.replace("PROCESSING", "FAIL"))));
        assertTrue(zai.ends(200, doc(TASK.replace("PROCESSING", "SUCCESS"))));
    }
}
