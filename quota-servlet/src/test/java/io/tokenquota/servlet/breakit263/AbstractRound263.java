package io.tokenquota.servlet.breakit263;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.tokenquota.servlet.QuotaFilter;
import io.tokenquota.servlet.testing.Deployment;
import io.tokenquota.servlet.testing.H2FilterRound;
import io.tokenquota.servlet.testing.ModelCalls;
import io.tokenquota.servlet.testing.TestHttp;
import jakarta.servlet.http.HttpServlet;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;
import java.io.PrintWriter;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.util.UUID;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * Round 263 of issue 11: Anthropic's Messages API relayed whole by a gateway servlet under the protected
 * prefix ({@code /ai/anthropic/v1/*}, the Anthropic Java SDK's {@code baseUrl} pointed at it), as a
 * Spring relay passes every route of the API on. Besides {@code POST /v1/messages} (a model call), the
 * SDK uses Message Batches and the Files API: polling a batch ({@code batches().retrieve(id)}, which the
 * SDK's users do every few seconds until {@code processing_status} is {@code ended}), listing, cancelling
 * and deleting batches, listing, reading and deleting files. None of these calls a model. OpenAI's same
 * objects ({@code "object": "batch"}, {@code "file"}, {@code "file.deleted"}) are released; Anthropic's
 * name themselves by {@code type}.
 */
abstract class AbstractRound263 extends H2FilterRound {
    final ModelCalls calls = new ModelCalls();

    static String subject() {
        return "u263-" + UUID.randomUUID().toString().substring(0, 12);
    }

    static final String BATCH = "{\"id\":\"msgbatch_013Zva2CMHLNnXjNJJKqJ2EF\",\"type\":\"message_batch\","
            + "\"processing_status\":\"%s\",\"request_counts\":{\"processing\":%d,\"succeeded\":%d,\"errored\":0,"
            + "\"canceled\":0,\"expired\":0},\"ended_at\":null,\"created_at\":\"2025-08-14T12:00:00Z\","
            + "\"expires_at\":\"2025-08-15T12:00:00Z\",\"archived_at\":null,\"cancel_initiated_at\":null,"
            + "\"results_url\":%s}";

    static final String FILE = "{\"type\":\"file\",\"id\":\"file_011CNha8iCJcU1wXNR6q4V8w\",\"filename\":\"contract.pdf\","
            + "\"mime_type\":\"application/pdf\",\"size_bytes\":1048576,\"created_at\":\"2025-08-14T12:00:00Z\","
            + "\"downloadable\":false}";

    static String batch(String status, int processing, int succeeded) {
        return String.format(BATCH, status, processing, succeeded,
                "ended".equals(status) ? "\"https://api.anthropic.com/v1/messages/batches/msgbatch_013Zva2CMHLNnXjNJJKqJ2EF/results\"" : "null");
    }

    @Override
    protected Deployment deploy(QuotaFilter filter) {
        return Deployment.create()
                .filter("quota", filter, "/*")
                .servlet("anthropic", new Gateway(), "/ai/anthropic/*")
                .servlet("app", new Research(), "/ai/research/*")
                .onStartup(filter::registerByServletName);
    }

    /** The gateway: answers as Anthropic's API does (the upstream's bytes relayed as they came). */
    class Gateway extends HttpServlet {
        @Override
        protected void service(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            req.getInputStream().readAllBytes();
            String path = req.getPathInfo();
            String method = req.getMethod();
            resp.setContentType("application/json");
            resp.setHeader("request-id", "req_" + UUID.randomUUID());
            resp.setHeader("anthropic-organization-id", "b1d2c3e4-0000-0000-0000-000000000000");
            PrintWriter w = resp.getWriter();
            if (path.startsWith("/v1/messages/batches")) {
                String rest = path.substring("/v1/messages/batches".length());
                if (rest.isEmpty() && "GET".equals(method)) {
                    w.write("{\"data\":[" + batch("in_progress", 40, 60) + "],\"has_more\":false,"
                            + "\"first_id\":\"msgbatch_013Zva2CMHLNnXjNJJKqJ2EF\",\"last_id\":\"msgbatch_013Zva2CMHLNnXjNJJKqJ2EF\"}");
                } else if (rest.endsWith("/cancel")) {
                    w.write(batch("canceling", 40, 60));
                } else if ("DELETE".equals(method)) {
                    w.write("{\"id\":\"msgbatch_013Zva2CMHLNnXjNJJKqJ2EF\",\"type\":\"message_batch_deleted\"}");
                } else {
                    w.write(batch("in_progress", 40, 60));
                }
                return;
            }
            if (path.startsWith("/v1/files")) {
                String rest = path.substring("/v1/files".length());
                if (rest.isEmpty()) {
                    w.write("{\"data\":[" + FILE + "],\"has_more\":false,\"first_id\":\"file_011CNha8iCJcU1wXNR6q4V8w\","
                            + "\"last_id\":\"file_011CNha8iCJcU1wXNR6q4V8w\"}");
                } else if ("DELETE".equals(method)) {
                    w.write("{\"id\":\"file_011CNha8iCJcU1wXNR6q4V8w\",\"type\":\"file_deleted\"}");
                } else {
                    w.write(FILE);
                }
                return;
            }
            if (path.startsWith("/v1/openai/batches")) {
                // control: OpenAI's batch object
                w.write("{\"id\":\"batch_abc123\",\"object\":\"batch\",\"endpoint\":\"/v1/chat/completions\","
                        + "\"status\":\"in_progress\",\"input_file_id\":\"file-abc123\",\"completion_window\":\"24h\","
                        + "\"request_counts\":{\"total\":100,\"completed\":60,\"failed\":0}}");
                return;
            }
            calls.count(req.getHeader("x-user-id"));
            w.write("{\"id\":\"msg_01\",\"type\":\"message\",\"role\":\"assistant\",\"model\":\"claude-sonnet-4-5\","
                    + "\"content\":[{\"type\":\"text\",\"text\":\"Hello.\"}],\"stop_reason\":\"end_turn\",\"stop_sequence\":null,"
                    + "\"usage\":{\"input_tokens\":20,\"output_tokens\":5}}");
        }
    }

    long used(HttpRequest request, String s) {
        HttpResponse<String> r = TestHttp.send(request);
        assertEquals(200, r.statusCode(), r.body());
        return settled(s).used();
    }

    HttpRequest.Builder as(String path, String s) {
        return TestHttp.requestAs(container.uri("/ai/anthropic" + path), s, "anthropic-version", "2023-06-01");
    }

    /**
     * Calls of the SDK that run no model: a batch's status ({@code batches().retrieve(id)}, polled every few
     * seconds until {@code processing_status} is {@code ended}), the list of batches, a batch cancelled or
     * deleted, the files listed, read or deleted; and OpenAI's batch read and cancelled (controls).
     */
    @ParameterizedTest(name = "{0} {1}")
    @CsvSource({
            "GET, /v1/messages/batches/msgbatch_013Zva2CMHLNnXjNJJKqJ2EF",
            "GET, /v1/messages/batches?limit=20",
            "POST, /v1/messages/batches/msgbatch_013Zva2CMHLNnXjNJJKqJ2EF/cancel",
            "DELETE, /v1/messages/batches/msgbatch_013Zva2CMHLNnXjNJJKqJ2EF",
            "GET, /v1/files",
            "GET, /v1/files/file_011CNha8iCJcU1wXNR6q4V8w",
            "DELETE, /v1/files/file_011CNha8iCJcU1wXNR6q4V8w",
            "GET, /v1/openai/batches/batch_abc123",
            "POST, /v1/openai/batches/batch_abc123/cancel"})
    void aCallThatRunsNoModelCostsNothing(String method, String path) {
        String s = subject();
        long used = used(as(path, s).header("anthropic-beta", "files-api-2025-04-14")
                .method(method, HttpRequest.BodyPublishers.noBody()).build(), s);
        assertEquals(0, calls.of(s));
        assertEquals(0, used, method + " " + path + " ran no model, charged " + used + ": " + ledger(s));
    }

    /**
     * Control: creating a batch answers the same {@code message_batch} object, but carries the requests the
     * model will run: it is charged their estimate (each request's budget at least).
     */
    @Test
    void creatingAMessageBatchIsChargedItsRequests() {
        String s = subject();
        String request = "{\"custom_id\":\"r%d\",\"params\":{\"model\":\"claude-sonnet-4-5\",\"max_tokens\":2000,"
                + "\"messages\":[{\"role\":\"user\",\"content\":\"Summarise the contract.\"}]}}";
        long used = used(as("/v1/messages/batches", s).header("Content-Type", "application/json").POST(HttpRequest.BodyPublishers
                .ofString("{\"requests\":[" + request.formatted(1) + "," + request.formatted(2) + "]}")).build(), s);
        assertTrue(used >= 4_000, "two requests of 2,000 tokens each, charged " + used + ": " + ledger(s));
    }

    /** Control: a message is charged its usage. */
    @Test
    void aMessageIsCharged() {
        String s = subject();
        HttpResponse<String> r = TestHttp.postJson(container.uri("/ai/anthropic/v1/messages"), s,
                "{\"model\":\"claude-sonnet-4-5\",\"max_tokens\":64,\"messages\":[{\"role\":\"user\",\"content\":\"Hi\"}]}");
        assertEquals(200, r.statusCode(), r.body());
        long used = settled(s).used();
        assertTrue(used >= 25, "charged " + used);
    }

    static void event(PrintWriter w, String name, String data) {
        w.write("event: " + name + "\ndata: " + data + "\n\n");
        w.flush();
    }

    static final String START = "{\"type\":\"message_start\",\"message\":{\"id\":\"msg_01R\",\"type\":\"message\",\"role\":\"assistant\","
            + "\"model\":\"claude-sonnet-4-5\",\"content\":[],\"stop_reason\":null,\"stop_sequence\":null,\"usage\":{\"input_tokens\":9000,"
            + "\"cache_creation_input_tokens\":0,\"cache_read_input_tokens\":0,\"output_tokens\":1}}}";

    /**
     * An application's research endpoint: the client posts a question, the application adds its own long
     * system prompt and documents (9,000 input tokens) and streams Anthropic's events on as they come.
     */
    class Research extends HttpServlet {
        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            req.getInputStream().readAllBytes();
            calls.count(req.getHeader("x-user-id"));
            String path = req.getPathInfo();
            resp.setContentType("text/event-stream");
            PrintWriter w = resp.getWriter();
            event(w, "message_start", START);
            event(w, "content_block_start", "{\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}");
            event(w, "ping", "{\"type\":\"ping\"}");
            for (int i = 0; i < 20; i++) {
                event(w, "content_block_delta", "{\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\","
                        + "\"text\":\"The clause allows termination on thirty days notice. \"}}");
            }
            if (path.endsWith("/error")) {
                event(w, "error", "{\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\",\"message\":\"Overloaded\"}}");
                return;
            }
            event(w, "content_block_stop", "{\"type\":\"content_block_stop\",\"index\":0}");
            event(w, "message_delta", "{\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\",\"stop_sequence\":null},"
                    + "\"usage\":{\"input_tokens\":null,\"cache_creation_input_tokens\":null,\"cache_read_input_tokens\":null,"
                    + "\"output_tokens\":900,\"server_tool_use\":null}}");
            event(w, "message_stop", "{\"type\":\"message_stop\"}");
        }
    }

    /** A message_delta whose input counts are null (a Python relay's model_dump_json): the start's 9,000 stand. */
    @Test
    void aDeltaWithNullInputCountsKeepsTheStartsInput() {
        String s = subject();
        HttpResponse<String> r = TestHttp.postJson(container.uri("/ai/research/ask"), s, "{\"q\":\"termination\"}");
        assertEquals(200, r.statusCode(), r.body());
        long used = settled(s).used();
        assertTrue(used >= 9_900, "charged " + used + ": " + ledger(s));
    }

    /** An error event after the model wrote its text: the call ran and read 9,000 tokens. */
    @Test
    void anErrorAfterTheTextIsCharged() {
        String s = subject();
        HttpResponse<String> r = TestHttp.postJson(container.uri("/ai/research/error"), s, "{\"q\":\"termination\"}");
        assertEquals(200, r.statusCode(), r.body());
        long used = settled(s).used();
        assertTrue(used >= 9_000, "charged " + used + ": " + ledger(s));
    }
}
