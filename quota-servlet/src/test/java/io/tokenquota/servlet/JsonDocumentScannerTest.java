package io.tokenquota.servlet;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/** What {@link JsonDocumentScanner} hands over of a document, fed in pieces. */
final class JsonDocumentScannerTest {

    private static List<JsonDocumentScanner.Document> scan(String json, int pieceSize) {
        List<JsonDocumentScanner.Document> documents = new ArrayList<>();
        JsonDocumentScanner scanner = new JsonDocumentScanner(documents::add);
        byte[] bytes = json.getBytes(StandardCharsets.UTF_8);
        for (int i = 0; i < bytes.length; i += pieceSize) {
            scanner.feed(bytes, i, Math.min(pieceSize, bytes.length - i));
        }
        scanner.end();
        return documents;
    }

    private static JsonDocumentScanner.Document only(String json) {
        List<JsonDocumentScanner.Document> documents = scan(json, 5);
        assertEquals(1, documents.size(), json);
        return documents.get(0);
    }

    /**
     * LM Studio's {@code stats} (round 315) is collected only as LM Studio writes it, so an application's own
     * {@code stats} leaves a document without usage, as if it had none.
     */
    @Test
    void lmStudioStatsAreKeptOnlyWithBothCountersAndResultStatsOnlyInChatEnd() {
        String stats = "{\"input_tokens\":9000,\"total_output_tokens\":700,\"tokens_per_second\":41.0}";
        assertEquals(9_000L, only("{\"output\":[],\"stats\":" + stats + "}").usage(JsonDocumentScanner.LMSTUDIO_STATS)
                .get(JsonDocumentScanner.LMSTUDIO_INPUT));
        assertEquals(700L, only("{\"result\":{\"stats\":" + stats + "},\"type\":\"chat.end\"}")
                .usage(JsonDocumentScanner.LMSTUDIO_END_STATS).get(JsonDocumentScanner.LMSTUDIO_OUTPUT));
        assertTrue(only("{\"answer\":\"x\",\"stats\":{\"input_tokens\":3,\"latency_ms\":12}}").usages().isEmpty());
        assertTrue(only("{\"type\":\"message.delta\",\"result\":{\"stats\":" + stats + "}}").usages().isEmpty());
        assertTrue(only("{\"result\":{\"stats\":" + stats + "}}").usages().isEmpty());
    }

    /** xAI's deferred creation answers its {@code request_id} at the top level; nowhere else counts. */
    @Test
    void aTopLevelRequestIdIsHandedOver() {
        assertEquals("6c8f3d2a-1b2c-4d5e-8f90-a1b2c3d4e5f6",
                only("{\"request_id\":\"6c8f3d2a-1b2c-4d5e-8f90-a1b2c3d4e5f6\"}").requestId());
        assertNull(only("{\"id\":\"x\",\"meta\":{\"request_id\":\"r\"},\"usage\":{\"total_tokens\":1}}").requestId());
    }

    /** Z.ai's asynchronous chat completion names its task's state in a top-level {@code task_status} (round 319). */
    @Test
    void aTopLevelTaskStatusIsHandedOver() {
        assertEquals("PROCESSING", only("{\"id\":\"1016-1\",\"request_id\":\"r\",\"model\":\"glm-4-plus\","
                + "\"task_status\":\"PROCESSING\"}").taskStatus());
        assertNull(only("{\"id\":\"x\",\"data\":{\"task_status\":\"SUCCESS\"}}").taskStatus());
    }
}
