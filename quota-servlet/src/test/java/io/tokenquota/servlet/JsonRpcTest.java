package io.tokenquota.servlet;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import org.junit.jupiter.api.Test;

/**
 * Round 300: what {@link JsonRpc} takes for an MCP or A2A message and what proves one ran no model, what the
 * scanner reads of a JSON-RPC answer (its id, its result's shape, ADK's usage in A2A's metadata), and which
 * requests {@link PolledCompletion#A2A_TASK} takes for a task's creation and reads.
 */
final class JsonRpcTest {
    private static JsonRpc.Message message(String json) {
        return JsonRpc.of(json.getBytes(StandardCharsets.UTF_8));
    }

    private static JsonDocumentScanner.Document doc(String json) {
        List<JsonDocumentScanner.Document> documents = new ArrayList<>();
        JsonDocumentScanner scanner = new JsonDocumentScanner(documents::add);
        byte[] bytes = json.getBytes(StandardCharsets.UTF_8);
        scanner.feed(bytes, 0, bytes.length);
        scanner.end();
        assertEquals(1, documents.size(), json);
        return documents.get(0);
    }

    @Test
    void aBodyIsOneJsonRpcMessageOnlyWithTheProtocolsMembers() {
        JsonRpc.Message request = message("{\"method\":\"tools/list\",\"params\":{\"cursor\":\"c\"},\"jsonrpc\":\"2.0\",\"id\":1}");
        assertTrue(request.request());
        assertEquals("n:1", request.id());
        assertEquals(Set.of("cursor"), request.params());
        assertTrue(message("{\"jsonrpc\":\"2.0\",\"method\":\"notifications/initialized\"}").notification());
        assertTrue(message("{\"jsonrpc\":\"2.0\",\"id\":\"s-0\",\"result\":{\"role\":\"assistant\"}}").response());
        assertEquals("s:s-0", message("{\"jsonrpc\":\"2.0\",\"id\":\"s-0\",\"result\":{}}").id());
        for (String none : List.of("[{\"jsonrpc\":\"2.0\",\"method\":\"ping\",\"id\":1}]",
                "{\"jsonrpc\":\"2.0\",\"method\":\"ping\",\"id\":1,\"messages\":[]}",
                "{\"jsonrpc\":\"1.0\",\"method\":\"ping\",\"id\":1}", "{\"method\":\"ping\",\"id\":1}",
                "{\"jsonrpc\":\"2.0\",\"method\":\"ping\",\"id\":1,\"params\":[1]}",
                "{\"jsonrpc\":\"2.0\",\"method\":\"ping\",\"id\":1} {}", "{\"jsonrpc\":\"2.0\",\"method\":\"ping\",\"id\":1",
                "\"ping\"", "")) {
            assertNull(message(none), none);
        }
        // an id of null names no request to answer
        assertFalse(message("{\"jsonrpc\":\"2.0\",\"method\":\"ping\",\"id\":null}").request());
        assertFalse(message("{\"jsonrpc\":\"2.0\",\"method\":\"ping\",\"id\":null}").notification());
    }

    @Test
    void anA2aRequestNamesItsTask() {
        JsonRpc.Message get = message("{\"id\":\"r\",\"jsonrpc\":\"2.0\",\"method\":\"tasks/get\",\"params\":{\"id\":\"t-1\",\"historyLength\":0}}");
        assertEquals("t-1", get.paramsId());
        JsonRpc.Message send = message("{\"id\":\"r\",\"jsonrpc\":\"2.0\",\"method\":\"message/send\",\"params\":{\"message\":{"
                + "\"kind\":\"message\",\"parts\":[{\"kind\":\"text\",\"text\":\"more\"}],\"role\":\"user\",\"taskId\":\"t-1\"}}}");
        assertEquals("t-1", send.taskId());
        assertNull(send.paramsId());
    }

    private static final JsonRpc.Message TOOLS_LIST = message("{\"jsonrpc\":\"2.0\",\"id\":7,\"method\":\"tools/list\"}");

    @Test
    void anMcpResultProvesNoModelRanOnlyWithItsIdAndItsMethodsShape() {
        assertTrue(JsonRpc.answeredWithoutModel(TOOLS_LIST, doc("{\"jsonrpc\":\"2.0\",\"id\":7,\"result\":{\"tools\":[],\"nextCursor\":\"n\"}}")));
        assertFalse(JsonRpc.answeredWithoutModel(TOOLS_LIST, doc("{\"jsonrpc\":\"2.0\",\"id\":\"7\",\"result\":{\"tools\":[]}}")));
        assertFalse(JsonRpc.answeredWithoutModel(TOOLS_LIST, doc("{\"jsonrpc\":\"2.0\",\"id\":7,\"result\":{\"tools\":[],\"text\":\"x\"}}")));
        assertFalse(JsonRpc.answeredWithoutModel(TOOLS_LIST, doc("{\"jsonrpc\":\"2.0\",\"id\":7,\"result\":{\"tools\":[{"
                + "\"name\":\"x\",\"_meta\":{\"usage\":{\"total_tokens\":9}}}]}}")));
        assertFalse(JsonRpc.answeredWithoutModel(TOOLS_LIST, doc("{\"id\":7,\"result\":{\"tools\":[]}}")));
        JsonRpc.Message ping = message("{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"ping\"}");
        assertTrue(JsonRpc.answeredWithoutModel(ping, doc("{\"jsonrpc\":\"2.0\",\"id\":2,\"result\":{}}")));
        assertFalse(JsonRpc.answeredWithoutModel(ping, doc("{\"jsonrpc\":\"2.0\",\"id\":2,\"result\":{\"content\":\"pong\"}}")));
        JsonRpc.Message initialize = message("{\"jsonrpc\":\"2.0\",\"id\":0,\"method\":\"initialize\",\"params\":{"
                + "\"protocolVersion\":\"2025-06-18\",\"capabilities\":{},\"clientInfo\":{\"name\":\"c\",\"version\":\"1\"}}}");
        String initialized = "{\"jsonrpc\":\"2.0\",\"id\":0,\"result\":{\"protocolVersion\":\"2025-06-18\",\"capabilities\":{},"
                + "\"serverInfo\":{\"name\":\"s\",\"version\":\"1\"}}}";
        assertTrue(JsonRpc.answeredWithoutModel(initialize, doc(initialized)));
        assertFalse(JsonRpc.answeredWithoutModel(initialize, doc(initialized.replace(",\"serverInfo\":{\"name\":\"s\",\"version\":\"1\"}", ""))));
        // a tools/call runs the server's code: no result of it proves anything
        JsonRpc.Message call = message("{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"tools/call\",\"params\":{\"name\":\"x\"}}");
        assertFalse(JsonRpc.answeredWithoutModel(call, doc("{\"jsonrpc\":\"2.0\",\"id\":3,\"result\":{\"tools\":[]}}")));
    }

    @Test
    void onlyMcpsNotificationsAndResponsesAreAcknowledgedOnly() {
        assertTrue(JsonRpc.acknowledgedOnly(message("{\"jsonrpc\":\"2.0\",\"method\":\"notifications/cancelled\",\"params\":{\"requestId\":3}}")));
        assertTrue(JsonRpc.acknowledgedOnly(message("{\"jsonrpc\":\"2.0\",\"id\":0,\"result\":{\"role\":\"assistant\"}}")));
        assertFalse(JsonRpc.acknowledgedOnly(message("{\"jsonrpc\":\"2.0\",\"method\":\"summarize\",\"params\":{\"text\":\"t\"}}")));
        assertFalse(JsonRpc.acknowledgedOnly(message("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"notifications/initialized\"}")));
        assertFalse(JsonRpc.acknowledgedOnly(null));
    }

    private static String usage(long prompt, long candidates) {
        return "{\"candidatesTokenCount\":" + candidates + ",\"promptTokenCount\":" + prompt + ",\"totalTokenCount\":"
                + (prompt + candidates) + "}";
    }

    @Test
    void adksUsageIsReadWhereEachKindOfA2aResultCarriesIt() {
        JsonDocumentScanner.Document task = doc("{\"id\":\"r\",\"jsonrpc\":\"2.0\",\"result\":{\"artifacts\":[{\"artifactId\":\"a1\","
                + "\"metadata\":{\"adk_usage_metadata\":" + usage(100, 10) + "},\"parts\":[]},{\"artifactId\":\"a2\",\"parts\":[{"
                + "\"kind\":\"data\",\"data\":{\"metadata\":{\"adk_usage_metadata\":" + usage(9, 9) + "}}}]},{\"artifactId\":\"a3\","
                + "\"metadata\":{\"adk_usage_metadata\":" + usage(200, 20) + "}}],\"id\":\"t-1\",\"kind\":\"task\",\"status\":{\"state\":\"completed\"}}}");
        assertEquals(List.of("a2a:t-1/artifact:a1", "a2a:t-1/artifact:a3"),
                task.inlined().stream().map(JsonDocumentScanner.InlineResult::call).toList());
        assertEquals("completed", task.rpc().state());
        assertEquals("t-1", task.rpc().taskId());
        JsonDocumentScanner.Document update = doc("{\"id\":\"r\",\"jsonrpc\":\"2.0\",\"result\":{\"artifact\":{\"artifactId\":\"a1\","
                + "\"metadata\":{\"adk_usage_metadata\":" + usage(100, 10) + "}},\"kind\":\"artifact-update\",\"taskId\":\"t-1\"}}");
        assertEquals(List.of("a2a:t-1/artifact:a1"), update.inlined().stream().map(JsonDocumentScanner.InlineResult::call).toList());
        JsonDocumentScanner.Document status = doc("{\"id\":\"r\",\"jsonrpc\":\"2.0\",\"result\":{\"kind\":\"status-update\","
                + "\"metadata\":{\"adk_usage_metadata\":" + usage(100, 10) + "},\"status\":{\"message\":{\"messageId\":\"m-1\"},"
                + "\"state\":\"working\"},\"taskId\":\"t-1\"}}");
        assertEquals(List.of("a2a:t-1/message:m-1"), status.inlined().stream().map(JsonDocumentScanner.InlineResult::call).toList());
        // the same place in a result of another kind, or in no JSON-RPC answer, carries no ADK call
        assertTrue(doc("{\"id\":\"r\",\"jsonrpc\":\"2.0\",\"result\":{\"kind\":\"task\",\"metadata\":{\"adk_usage_metadata\":"
                + usage(100, 10) + "}}}").inlined().isEmpty());
        assertTrue(doc("{\"result\":{\"artifact\":{\"metadata\":{\"adk_usage_metadata\":" + usage(100, 10) + "}},"
                + "\"kind\":\"artifact-update\"}}").inlined().isEmpty());
    }

    @Test
    void anA2aTaskIsMadeByAMessageAndReadByTheRequestsNamingIt() {
        JsonRpc.Message send = message("{\"id\":\"r-1\",\"jsonrpc\":\"2.0\",\"method\":\"message/send\",\"params\":{\"message\":{\"role\":\"user\"}}}");
        JsonDocumentScanner.Document submitted = doc("{\"id\":\"r-1\",\"jsonrpc\":\"2.0\",\"result\":{\"id\":\"t-1\",\"kind\":\"task\","
                + "\"status\":{\"state\":\"submitted\"}}}");
        PolledCompletion.Job made = PolledCompletion.created("POST", "/a2a", name -> false, send, submitted);
        assertEquals(PolledCompletion.A2A_TASK, made.kind());
        assertEquals("t-1", made.id());
        // under another request's id, or as a message, it is no task this request made
        assertNull(PolledCompletion.created("POST", "/a2a", name -> false, send, doc(
                "{\"id\":\"r-2\",\"jsonrpc\":\"2.0\",\"result\":{\"id\":\"t-1\",\"kind\":\"task\"}}")));
        assertNull(PolledCompletion.created("POST", "/a2a", name -> false, send, doc(
                "{\"id\":\"r-1\",\"jsonrpc\":\"2.0\",\"result\":{\"messageId\":\"m\",\"kind\":\"message\"}}")));

        JsonRpc.Message get = message("{\"id\":\"r-3\",\"jsonrpc\":\"2.0\",\"method\":\"tasks/get\",\"params\":{\"id\":\"t-1\"}}");
        PolledCompletion.Job read = PolledCompletion.read("POST", "/a2a", get);
        assertEquals(made.key(), read.key());
        assertFalse(read.runs());
        assertTrue(read.shownBy(get, doc("{\"id\":\"r-3\",\"jsonrpc\":\"2.0\",\"result\":{\"id\":\"t-1\",\"kind\":\"task\","
                + "\"status\":{\"state\":\"working\"}}}")));
        assertFalse(read.shownBy(get, doc("{\"id\":\"r-3\",\"jsonrpc\":\"2.0\",\"result\":{\"id\":\"t-2\",\"kind\":\"task\"}}")));
        assertFalse(read.shownBy(get, doc("{\"id\":\"r-4\",\"jsonrpc\":\"2.0\",\"result\":{\"id\":\"t-1\",\"kind\":\"task\"}}")));
        assertFalse(read.shownBy(get, null));
        assertTrue(read.ends(200, doc("{\"id\":\"r-3\",\"jsonrpc\":\"2.0\",\"result\":{\"id\":\"t-1\",\"kind\":\"task\","
                + "\"status\":{\"state\":\"completed\"}}}")));
        assertFalse(read.ends(200, doc("{\"id\":\"r-3\",\"jsonrpc\":\"2.0\",\"result\":{\"id\":\"t-1\",\"kind\":\"task\","
                + "\"status\":{\"state\":\"input-required\"}}}")));
        assertNull(PolledCompletion.read("GET", "/a2a", get));

        JsonRpc.Message more = message("{\"id\":\"r-5\",\"jsonrpc\":\"2.0\",\"method\":\"message/send\",\"params\":{\"message\":{"
                + "\"role\":\"user\",\"taskId\":\"t-1\"}}}");
        assertTrue(PolledCompletion.read("POST", "/a2a", more).runs());
        // a new task's message names none: no read
        assertNull(PolledCompletion.read("POST", "/a2a", send));
    }

    @Test
    void aStreamAddsToTheTaskItsEventsAreAbout() {
        JsonRpc.Message stream = message("{\"id\":\"r-1\",\"jsonrpc\":\"2.0\",\"method\":\"message/stream\",\"params\":{"
                + "\"message\":{\"role\":\"user\"}}}");
        assertEquals("a2a-task:t-1", PolledCompletion.streamed("POST", stream, new JsonRpc.Stream("s:r-1", "t-1")).key());
        assertNull(PolledCompletion.streamed("POST", stream, new JsonRpc.Stream("s:r-2", "t-1")));
        assertNull(PolledCompletion.streamed("POST", stream, null));
        JsonRpc.Message more = message("{\"id\":\"r-1\",\"jsonrpc\":\"2.0\",\"method\":\"message/stream\",\"params\":{"
                + "\"message\":{\"role\":\"user\",\"taskId\":\"t-1\"}}}");
        assertEquals("a2a-task:t-1", PolledCompletion.streamed("POST", more, new JsonRpc.Stream("s:r-1", "t-1")).key());
        // events about another task than the message names, or a stream of another method, add to none
        assertNull(PolledCompletion.streamed("POST", more, new JsonRpc.Stream("s:r-1", "t-2")));
        JsonRpc.Message send = message("{\"id\":\"r-1\",\"jsonrpc\":\"2.0\",\"method\":\"message/send\",\"params\":{}}");
        assertNull(PolledCompletion.streamed("POST", send, new JsonRpc.Stream("s:r-1", "t-1")));
        JsonRpc.Message resubscribe = message("{\"id\":\"r-1\",\"jsonrpc\":\"2.0\",\"method\":\"tasks/resubscribe\","
                + "\"params\":{\"id\":\"t-1\"}}");
        assertEquals("a2a-task:t-1", PolledCompletion.streamed("POST", resubscribe, new JsonRpc.Stream("s:r-1", "t-1")).key());
    }
}
