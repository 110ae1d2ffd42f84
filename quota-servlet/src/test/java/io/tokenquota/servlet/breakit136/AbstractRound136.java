package io.tokenquota.servlet.breakit136;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.tokenquota.servlet.QuotaFilter;
import io.tokenquota.servlet.testing.Deployment;
import io.tokenquota.servlet.testing.H2FilterRound;
import io.tokenquota.servlet.testing.ModelCalls;
import io.tokenquota.servlet.testing.ResponsesApi;
import io.tokenquota.servlet.testing.TestHttp;
import jakarta.servlet.http.HttpServlet;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;
import java.io.OutputStream;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.UUID;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;

/**
 * Round 136 of issue 11 ("no model call goes unpaid, nothing that never reached a model is charged"):
 * a relay passing vLLM's OpenAI-compatible server on under the protected prefix, path and body as the
 * client sent them. vLLM's Responses API takes an extra request field, {@code request_id}, and answers
 * with it as the Response's {@code id} ("This id is used through out the inference process and return
 * in response"). The client therefore names the id of every call it makes, and may name it after the
 * last segment of the route it calls: {@code "request_id": "responses"} on {@code POST /v1/responses}.
 */
abstract class AbstractRound136 extends H2FilterRound {
    final ModelCalls calls = new ModelCalls();

    static String subject() {
        return "u136-" + UUID.randomUUID().toString().substring(0, 12);
    }

    static final String MODEL = "Qwen/Qwen3-8B";
    static final long IN = 40;
    static final long OUT = 2_900;
    static final long TOTAL = IN + OUT;
    static final String USAGE = "{\"input_tokens\":" + IN + ",\"input_tokens_details\":{\"cached_tokens\":0},"
            + "\"output_tokens\":" + OUT + ",\"output_tokens_details\":{\"reasoning_tokens\":0},\"total_tokens\":" + TOTAL + "}";
    private static final Pattern REQUEST_ID = Pattern.compile("\"request_id\"\\s*:\\s*\"([^\"]+)\"");

    /** A Responses request, with {@code request_id} when not null, streamed or in background as asked. */
    static String ask(String requestId, boolean stream, boolean background) {
        return "{\"model\":\"" + MODEL + "\",\"input\":\"Write the release notes for version 2.4\","
                + "\"max_output_tokens\":3000" + (stream ? ",\"stream\":true" : "")
                + (background ? ",\"background\":true,\"store\":true" : "")
                + (requestId == null ? "" : ",\"request_id\":\"" + requestId + "\"") + "}";
    }

    @Override
    protected Deployment deploy(QuotaFilter filter) {
        return Deployment.create()
                .filter("quota", filter, "/*")
                .servlet("relay", new Relay(), "/ai/*");
    }

    /**
     * vLLM's {@code POST /v1/responses} behind the relay: a model call each time, answered under the id
     * the request's {@code request_id} names ({@code resp_<uuid>} when it names none); in the foreground
     * with its usage (40 in, 2,900 out), streamed or whole; in background queued, without usage.
     */
    class Relay extends HttpServlet {
        @Override
        protected void service(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            String body = new String(req.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
            if (!"/v1/responses".equals(req.getPathInfo()) || !"POST".equals(req.getMethod())) {
                resp.sendError(404);
                return;
            }
            calls.count(req.getHeader("x-user-id"));
            Matcher m = REQUEST_ID.matcher(body);
            String id = m.find() ? m.group(1) : "resp_" + UUID.randomUUID().toString().replace("-", "");
            String text = "Version 2.4 brings faster startup.";
            if (body.contains("\"background\":true")) {
                resp.setContentType("application/json");
                resp.getOutputStream().write(ResponsesApi.response(id, "queued", "\"background\":true,", MODEL, "null", null)
                        .getBytes(StandardCharsets.UTF_8));
                return;
            }
            if (body.contains("\"stream\":true")) {
                resp.setContentType("text/event-stream");
                OutputStream out = resp.getOutputStream();
                ResponsesApi.event(out, "response.created", "{\"type\":\"response.created\",\"sequence_number\":0,"
                        + "\"response\":" + ResponsesApi.response(id, "in_progress", "", MODEL, "null", null) + "}");
                ResponsesApi.event(out, "response.output_text.delta", "{\"type\":\"response.output_text.delta\","
                        + "\"sequence_number\":1,\"item_id\":\"msg_" + id + "\",\"output_index\":0,\"content_index\":0,"
                        + "\"delta\":\"" + text + "\",\"logprobs\":[]}");
                ResponsesApi.event(out, "response.completed", "{\"type\":\"response.completed\",\"sequence_number\":2,"
                        + "\"response\":" + ResponsesApi.response(id, "completed", "", MODEL, USAGE, text) + "}");
                return;
            }
            resp.setContentType("application/json");
            resp.getOutputStream().write(ResponsesApi.response(id, "completed", "", MODEL, USAGE, text)
                    .getBytes(StandardCharsets.UTF_8));
        }
    }

    /** Sends {@code body} to {@code POST /ai/v1/responses} as {@code s}; the step's charge is added to {@code steps}. */
    long call(String s, String body, List<String> steps) {
        long before = settled(s).used();
        HttpResponse<String> r = TestHttp.postJson(container.uri("/ai/v1/responses"), s, body);
        assertEquals(200, r.statusCode(), r.body());
        long used = settled(s).used();
        steps.add("+" + (used - before));
        return used - before;
    }

    /**
     * The attack: six foreground calls to {@code POST /v1/responses}, each run by the model (40 tokens
     * in, 2,900 out, usage in the answer), all with {@code "request_id": "responses"}, so that every
     * answer's {@code id} is {@code "responses"} and the request path {@code /ai/v1/responses} "ends with
     * the call's id". The first is charged its 2,940 (0 when any subject's call of that id was charged
     * before on this instance); from then on the filter takes each further call for a read of that stored
     * Response and charges only what its usage passes the 2,940 already charged: nothing. Six model
     * calls, 17,640 tokens used; the subject should be charged 17,640 and is charged at most 2,940.
     */
    @Test
    void responsesNamedAfterTheRouteArePaidOnce() {
        String s = subject();
        List<String> steps = new ArrayList<>();
        for (int i = 0; i < 6; i++) {
            call(s, ask("responses", false, false), steps);
        }
        assertEquals(6, calls.of(s), "model calls");
        assertEquals(6 * TOTAL, settled(s).used(), "charged per call: " + steps + "; ledger " + ledger(s));
    }

    /**
     * The memory of what a stored call was charged is keyed by the call's id alone, not by who made it:
     * once one subject paid for one call named {@code "responses"} (2,940), another subject's five calls
     * with the same {@code request_id} (each a model call of 2,940) are all taken for reads of the first
     * subject's Response and released. The second subject should be charged 14,700 and pays nothing;
     * the filter should never settle one subject's call by what another subject paid.
     */
    @Test
    void anotherSubjectsPaidResponseMakesMyCallsFree() {
        String payer = subject();
        String rider = subject();
        List<String> steps = new ArrayList<>();
        call(payer, ask("responses", false, false), steps);
        for (int i = 0; i < 5; i++) {
            call(rider, ask("responses", false, false), steps);
        }
        assertEquals(5, calls.of(rider), "model calls");
        assertEquals(5 * TOTAL, settled(rider).used(), "charged per call (payer, then rider): " + steps + "; ledger "
                + ledger(rider));
    }

    /**
     * Control: streamed calls with {@code "request_id": "responses"} (their events' {@code response.id}
     * is {@code "responses"}, {@code response.completed} reports 2,940), after a whole call of that id
     * was charged, are each charged their usage: five streams, 14,700.
     */
    @Test
    void streamedResponsesNamedAfterTheRouteAreChargedEach() {
        String s = subject();
        List<String> steps = new ArrayList<>();
        call(s, ask("responses", false, false), steps);
        long streams = 0;
        for (int i = 0; i < 5; i++) {
            streams += call(s, ask("responses", true, false), steps);
        }
        assertEquals(6, calls.of(s), "model calls");
        assertEquals(5 * TOTAL, streams, "charged per call: " + steps + "; ledger " + ledger(s));
    }

    /**
     * A background Response ({@code "background": true}: answered {@code queued} without usage, the model
     * runs afterwards) is charged its estimate at its creation, as the rules say. Created with
     * {@code "request_id": "responses"}, its queued answer's id makes the creation "a poll of a job still
     * queued" and it is released: the model runs for nothing unless the client comes back to read it
     * through the filter, which it need not (it may read it directly later, or never). Control first:
     * the same creation without {@code request_id} is charged C &gt; 0; the attack should be charged C too.
     */
    @Test
    void aBackgroundResponseNamedAfterTheRouteIsCreatedFree() {
        String honest = subject();
        String attacker = subject();
        List<String> steps = new ArrayList<>();
        long control = call(honest, ask(null, false, true), steps);
        assertTrue(control > 0, "the creation of a background Response is charged its estimate: " + ledger(honest));
        long attack = call(attacker, ask("responses", false, true), steps);
        assertEquals(1, calls.of(attacker), "model calls");
        assertEquals(control, attack, "charged per creation (control, attack): " + steps + "; ledger " + ledger(attacker));
    }

    /**
     * Control: six honest calls (vLLM's own {@code resp_<uuid>} ids) are charged their usage, 17,640.
     */
    @Test
    void honestResponsesAreChargedEach() {
        String s = subject();
        List<String> steps = new ArrayList<>();
        for (int i = 0; i < 3; i++) {
            call(s, ask(null, false, false), steps);
            call(s, ask(null, true, false), steps);
        }
        assertEquals(6, calls.of(s), "model calls");
        assertEquals(6 * TOTAL, settled(s).used(), "charged per call: " + steps + "; ledger " + ledger(s));
    }
}
