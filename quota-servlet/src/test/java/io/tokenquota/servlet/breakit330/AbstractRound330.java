package io.tokenquota.servlet.breakit330;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.tokenquota.servlet.QuotaFilter;
import io.tokenquota.servlet.testing.Deployment;
import io.tokenquota.servlet.testing.JsonTree;
import io.tokenquota.servlet.testing.ModelCallRound;
import io.tokenquota.servlet.testing.Prose;
import io.tokenquota.servlet.testing.TestHttp;
import jakarta.servlet.http.HttpServlet;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;
import java.io.PrintWriter;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * Round 330 of issue 11 ("no model call goes unpaid"), item 5 attacked again on the A2A reading round 300 added:
 * <b>an ADK agent served over A2A in streaming mode</b>.
 *
 * <p>The filter reads the usage Google ADK copies into its A2A events ({@code adk_usage_metadata} in a
 * {@code TaskArtifactUpdateEvent}'s {@code artifact.metadata}) and counts each call once by its task and artifact id
 * ({@code JsonDocumentScanner.a2aCalls}), every such report taken as the call's final counts
 * ({@code UsageSniffer.inlineResult}: {@code AnswerCalls.report(..., ended = true, ...)}, "a finished call's first
 * final report counts; later reports of it are ignored").
 *
 * <p>That holds for ADK's default ({@code StreamingMode.NONE}: one event per model response, a new artifact id each).
 * It does not for the streaming mode ADK's A2A executor offers ({@code google.adk.a2a.converters.request_converter
 * .create_request_converter(streaming_mode=StreamingMode.SSE)}, the executor's {@code request_converter}):
 * <ul>
 * <li>ADK's {@code StreamingResponseAggregator.process_response} ({@code google/adk/utils/streaming_utils.py}) yields
 *     one partial {@code LlmResponse} per Gemini chunk, {@code LlmResponse.create(response)}: the chunk's own
 *     {@code usage_metadata}, and at the end ({@code close}) the aggregated response with the last chunk's usage.
 *     Gemini's {@code streamGenerateContent} chunks before the last count the prompt alone
 *     ({@code promptTokenCount}, {@code totalTokenCount}, no {@code candidatesTokenCount}: ai.google.dev/api/generate-content,
 *     "UsageMetadata"; docs/servlet.md rule 2 names the same "stream's early chunks count the prompt alone").</li>
 * <li>ADK's current converter ({@code google/adk/a2a/converters/from_adk_event.py}, {@code convert_event_to_a2a_events})
 *     gives every partial event of one agent the <i>same</i> artifact id ({@code agents_artifacts[agent_name]}),
 *     {@code append = partial}, {@code last_chunk = not partial}, and the final, non-partial event that id again
 *     ({@code append} false, {@code last_chunk} true); {@code _add_event_metadata} writes each event's
 *     {@code usage_metadata} under {@code adk_usage_metadata}.</li>
 * </ul>
 * So one model call's stream is several {@code artifact-update}s under one artifact id: the first with the prompt
 * alone, the last with the call's final counts. The filter takes the first as final and ignores the rest: the output
 * is free.
 *
 * <p>The agent's one model call reads 6,650 tokens (its instruction, the session's history) and writes 2,100. The
 * store is H2 with a 20,000-token allowance behind the filter on {@code /*}.
 */
abstract class AbstractRound330 extends ModelCallRound {
    static final long PROMPT = 6_650;
    static final long OUTPUT = 2_100;
    static final String TASK = "4b7e2d19-8c3a-4f56-9d10-6e2a7c5b3f81";
    static final String CONTEXT = "ADK$fx_agent$A2A_USER_c1$0a6f3e21-9b4c-4d7e-8f12-5c3b2a1d0e9f";
    static final String ARTIFACT = "c1f2e3d4-5b6a-4978-8e1f-2a3b4c5d6e7f";
    static final String EVENT = "Wm5pR7ce";
    static final String ASK = "How much is 100 USD in EUR today, and what moved the rate this week?";
    static final String[] CHUNKS = {Prose.english(300), Prose.english(300), Prose.english(300)};

    @Override
    protected Deployment deploy(QuotaFilter filter) {
        return filteredByServletName(filter).servlet("a2a", new AdkA2aAgent(), "/ai/a2a/*");
    }

    static String q(String s) {
        return "\"" + s.replace("\\", "\\\\").replace("\"", "\\\"").replace("\n", "\\n") + "\"";
    }

    /** Gemini's usageMetadata of a chunk before the last: the prompt alone. */
    static String promptOnly() {
        return "{\"promptTokenCount\":" + PROMPT + ",\"promptTokensDetails\":[{\"modality\":\"TEXT\",\"tokenCount\":" + PROMPT
                + "}],\"totalTokenCount\":" + PROMPT + "}";
    }

    /** Gemini's usageMetadata of the last chunk (and of ADK's aggregated response): the call's final counts. */
    static String finalUsage() {
        return "{\"candidatesTokenCount\":" + OUTPUT + ",\"promptTokenCount\":" + PROMPT
                + ",\"promptTokensDetails\":[{\"modality\":\"TEXT\",\"tokenCount\":" + PROMPT + "}],\"totalTokenCount\":"
                + (PROMPT + OUTPUT) + "}";
    }

    /** Artifact metadata as the current {@code _add_event_metadata} writes it (adk_ prefix, by_alias camelCase usage). */
    static String metadata(String usage) {
        return "{\"adk_invocation_id\":\"e-9c1d7a3f-2e4b-4f60-8b15-3d7e0a9c2f48\",\"adk_author\":\"fx_agent\","
                + "\"adk_event_id\":\"" + EVENT + "\",\"adk_usage_metadata\":" + usage + "}";
    }

    /** One {@code TaskArtifactUpdateEvent} as {@code convert_event_to_a2a_events} builds it (the a2a-sdk's camelCase JSON). */
    static String artifactUpdate(boolean append, boolean lastChunk, String text, String usage) {
        return "{\"append\":" + append + ",\"artifact\":{\"artifactId\":\"" + ARTIFACT + "\",\"metadata\":" + metadata(usage)
                + ",\"parts\":[{\"kind\":\"text\",\"text\":" + q(text) + "}]},\"contextId\":\"" + CONTEXT
                + "\",\"kind\":\"artifact-update\",\"lastChunk\":" + lastChunk + ",\"taskId\":\"" + TASK + "\"}";
    }

    static String status(String state, boolean fin) {
        return "{\"contextId\":\"" + CONTEXT + "\",\"final\":" + fin + ",\"kind\":\"status-update\",\"status\":{\"state\":\"" + state
                + "\",\"timestamp\":\"2025-09-12T09:41:07.512309+00:00\"},\"taskId\":\"" + TASK + "\"}";
    }

    /** ADK 1.x: a {@code TaskStatusUpdateEvent} for one ADK event, a new message id, its usage in the event's metadata. */
    static String statusWithMessage(String text, String usage) {
        return "{\"contextId\":\"" + CONTEXT + "\",\"final\":false,\"kind\":\"status-update\",\"metadata\":{\"adk_app_name\":"
                + "\"fx_agent\",\"adk_user_id\":\"A2A_USER_c1\",\"adk_session_id\":\"0a6f3e21-9b4c-4d7e-8f12-5c3b2a1d0e9f\","
                + "\"adk_invocation_id\":\"e-9c1d7a3f-2e4b-4f60-8b15-3d7e0a9c2f48\",\"adk_author\":\"fx_agent\",\"adk_event_id\":\""
                + EVENT + "\",\"adk_usage_metadata\":" + usage + "},\"status\":{\"message\":{\"kind\":\"message\",\"messageId\":\""
                + java.util.UUID.randomUUID() + "\",\"parts\":[{\"kind\":\"text\",\"text\":" + q(text) + "}],\"role\":\"agent\"},"
                + "\"state\":\"working\",\"timestamp\":\"2025-09-12T09:41:05.104417+00:00\"},\"taskId\":\"" + TASK + "\"}";
    }

    static String rpc(String id, String result) {
        return "{\"id\":" + id + ",\"jsonrpc\":\"2.0\",\"result\":" + result + "}";
    }

    /** sse-starlette's framing, as the a2a-sdk's {@code EventSourceResponse} sends it. */
    static void event(PrintWriter w, String data) {
        w.write("data: " + data + "\r\n\r\n");
        w.flush();
    }

    /**
     * An ADK agent behind the a2a-sdk's JSON-RPC handler ({@code to_a2a(root_agent)}): {@code message/stream} runs its one
     * model call. At {@code /ai/a2a/fx-sse} the executor streams ({@code StreamingMode.SSE}): two partial chunks then the
     * aggregated response, all under one artifact id; at {@code /ai/a2a/fx} it does not ({@code StreamingMode.NONE},
     * ADK's default): the one response, its final usage.
     */
    class AdkA2aAgent extends HttpServlet {
        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            String body = new String(req.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
            Map<String, Object> message = JsonTree.object(body);
            Object rawId = message.get("id");
            String id = rawId instanceof String t ? q(t) : String.valueOf(rawId);
            boolean sse = req.getPathInfo().contains("-sse");
            boolean old = req.getPathInfo().endsWith("-1x");
            calls.count(req.getHeader("x-user-id"));
            resp.setContentType("text/event-stream; charset=utf-8");
            resp.setHeader("Cache-Control", "no-store");
            PrintWriter w = resp.getWriter();
            event(w, rpc(id, "{\"contextId\":\"" + CONTEXT + "\",\"history\":[],\"id\":\"" + TASK
                    + "\",\"kind\":\"task\",\"status\":{\"state\":\"submitted\"}}"));
            event(w, rpc(id, status("working", false)));
            String whole = CHUNKS[0] + CHUNKS[1] + CHUNKS[2];
            if (old) {
                // ADK 1.x (event_converter.py): one status-update per ADK event, each message a new uuid, the
                // event's usage in the update's metadata (_get_context_metadata)
                if (sse) {
                    for (String chunk : CHUNKS) {
                        event(w, rpc(id, statusWithMessage(chunk, promptOnly())));
                    }
                }
                event(w, rpc(id, statusWithMessage(whole, finalUsage())));
            } else if (sse) {
                // partial events: the first opens the artifact (append false), the next append to it
                event(w, rpc(id, artifactUpdate(false, false, CHUNKS[0], promptOnly())));
                event(w, rpc(id, artifactUpdate(true, false, CHUNKS[1], promptOnly())));
                event(w, rpc(id, artifactUpdate(true, false, CHUNKS[2], promptOnly())));
                // the aggregated, non-partial response: the same artifact id, append false, last chunk, final usage
                event(w, rpc(id, artifactUpdate(false, true, whole, finalUsage())));
            } else {
                event(w, rpc(id, artifactUpdate(false, true, whole, finalUsage())));
            }
            event(w, rpc(id, status("completed", true)));
        }
    }

    static String streamMessage() {
        return "{\"id\":\"7c2e51a4-0f6b-4d38-9e17-3a5c8b2d6f90\",\"jsonrpc\":\"2.0\",\"method\":\"message/stream\",\"params\":{"
                + "\"message\":{\"kind\":\"message\",\"messageId\":\"9d8c7b6a-5f4e-4d3c-8b2a-1f0e9d8c7b6a\",\"parts\":[{\"kind\":"
                + "\"text\",\"text\":" + q(ASK) + "}],\"role\":\"user\"}}}";
    }

    void assertChargedTheCall(String path, String what) {
        String s = subject();
        HttpResponse<String> r = TestHttp.postJson(container.uri(path), s, streamMessage(), "Accept", "text/event-stream");
        assertEquals(200, r.statusCode(), r.body());
        assertTrue(r.body().contains("adk_usage_metadata"), r.body());
        assertEquals(1, calls.of(s));
        long used = settled(s).used();
        assertEquals(PROMPT + OUTPUT, used, kind() + ": " + what + ": one model call of " + PROMPT + " + " + OUTPUT
                + " tokens (its final counts in the last artifact-update) charged " + used + ": " + ledger(s));
    }

    /**
     * The finding: the agent's executor streams (StreamingMode.SSE). The call's final counts (6,650 + 2,100) come in the
     * last artifact-update of its artifact, after three partial ones that count the prompt alone: it must be charged
     * 8,750.
     */
    @Test
    void anAdkAgentStreamingOverA2aIsChargedItsCallsFinalCounts() {
        assertChargedTheCall("/ai/a2a/fx-sse", "ADK streaming mode, partial artifact-updates before the final one");
    }

    /** Control: the same call without ADK's streaming mode (one artifact-update, its final counts): 8,750. */
    @Test
    void controlTheSameCallWithoutStreamingModeIsChargedItsCounts() {
        assertChargedTheCall("/ai/a2a/fx", "ADK default mode, one artifact-update");
    }

    /**
     * The same streaming agent on ADK 1.x's converter ({@code event_converter.py}, {@code convert_event_to_a2a_events}:
     * a {@code TaskStatusUpdateEvent} per ADK event, {@code message_id=platform_uuid.new_uuid()}, the event's
     * {@code usage_metadata} in the update's {@code metadata}): every partial event is a message of its own, so each
     * prompt-only report counts as a call of its own beside the final one. One call of 8,750 must cost 8,750.
     */
    @Test
    void anAdk1xAgentStreamingOverA2aIsChargedItsOneCallOnce() {
        assertChargedTheCall("/ai/a2a/fx-sse-1x", "ADK 1.x streaming mode, a status-update per partial event");
    }

    /** Control: ADK 1.x without streaming mode (one status-update with the final counts): 8,750. */
    @Test
    void controlTheSameCallOnAdk1xWithoutStreamingModeIsChargedItsCounts() {
        assertChargedTheCall("/ai/a2a/fx-1x", "ADK 1.x default mode, one status-update");
    }
}
