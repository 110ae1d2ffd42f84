package io.tokenquota.servlet;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;

import java.nio.charset.StandardCharsets;
import org.junit.jupiter.api.Test;

/** The providers' objects an answer is, read from the answer as the filter reads it. */
final class ProviderObjectsTest {
    private static JsonDocumentScanner.Document answer(String json) {
        UsageSniffer sniffer = new UsageSniffer();
        sniffer.begin("application/json", null, null);
        byte[] bytes = json.getBytes(StandardCharsets.UTF_8);
        sniffer.feed(bytes, 0, bytes.length);
        sniffer.finish();
        return sniffer.lastDocument();
    }

    /** Gemini's {@code CachedContent} (ai.google.dev/api/caching), as {@code cachedContents.create} answers it. */
    static String cachedContent(String name) {
        return "{\"name\":\"" + name + "\",\"model\":\"models/gemini-2.5-flash\",\"createTime\":\"2026-03-02T10:00:00Z\","
                + "\"updateTime\":\"2026-03-02T10:00:00Z\",\"expireTime\":\"2026-03-02T10:05:00Z\","
                + "\"usageMetadata\":{\"totalTokenCount\":6000}}";
    }

    @Test
    void aCacheCreatedIsNamedByItsCreationsAnswer() {
        assertEquals("cachedContents/abc", ProviderObjects.cacheCreated(answer(cachedContent("cachedContents/abc")), "POST",
                "/v1beta/cachedContents"));
        String vertex = "projects/p/locations/us-central1/cachedContents/123";
        assertEquals(vertex, ProviderObjects.cacheCreated(answer(cachedContent(vertex)), "POST",
                "/v1/projects/p/locations/us-central1/cachedContents"));
        assertNull(ProviderObjects.cacheCreated(answer(cachedContent("cachedContents/abc")), "PATCH",
                "/v1beta/cachedContents/abc"), "a TTL's extension");
        assertNull(ProviderObjects.cacheCreated(answer(cachedContent("cachedContents/abc")), "POST", "/ask"),
                "an answer so shaped to a request not to the caches' collection");
        assertNull(ProviderObjects.cacheCreated(answer("{\"name\":\"files/abc\",\"createTime\":\"2026-03-02T10:00:00Z\"}"),
                "POST", "/v1beta/cachedContents"), "not a cache");
    }

    @Test
    void aConversationOrAThreadGivenItemsIsNamedByTheAnswerOrThePath() {
        assertArrayEquals(new String[] {ProviderState.CONVERSATION, "conv_1"}, ProviderObjects.filled(answer(
                "{\"id\":\"conv_1\",\"object\":\"conversation\",\"created_at\":1,\"metadata\":{}}"), "POST", "/v1/conversations"));
        assertArrayEquals(new String[] {ProviderState.CONVERSATION, "conv_2"}, ProviderObjects.filled(answer(
                "{\"object\":\"list\",\"data\":[],\"first_id\":\"msg_1\",\"last_id\":\"msg_1\",\"has_more\":false}"), "POST",
                "/v1/conversations/conv_2/items"));
        assertArrayEquals(new String[] {ProviderState.THREAD, "thread_1"}, ProviderObjects.filled(answer(
                "{\"id\":\"thread_1\",\"object\":\"thread\",\"created_at\":1,\"metadata\":{},\"tool_resources\":{}}"), "POST",
                "/v1/threads"));
        assertArrayEquals(new String[] {ProviderState.THREAD, "thread_2"}, ProviderObjects.filled(answer(
                "{\"id\":\"msg_1\",\"object\":\"thread.message\",\"thread_id\":\"thread_2\",\"run_id\":null,\"role\":\"user\"}"),
                "POST", "/v1/threads/thread_2/messages"));
        assertNull(ProviderObjects.filled(answer("{\"id\":\"msg_1\",\"object\":\"thread.message\",\"thread_id\":\"thread_2\","
                + "\"run_id\":\"run_1\",\"role\":\"assistant\"}"), "POST", "/v1/threads/thread_2/messages"), "a run's message");
        assertNull(ProviderObjects.filled(answer("{\"id\":\"conv_1\",\"object\":\"conversation\"}"), "POST",
                "/v1/conversations/conv_1"), "its metadata updated");
        assertNull(ProviderObjects.filled(answer("{\"object\":\"list\",\"data\":[]}"), "GET", "/v1/conversations/conv_2/items"),
                "a read");
    }
}
