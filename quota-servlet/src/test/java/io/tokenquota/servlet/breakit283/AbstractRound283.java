package io.tokenquota.servlet.breakit283;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.openai.client.OpenAIClient;
import com.openai.client.okhttp.OpenAIOkHttpClient;
import com.openai.models.beta.threads.runs.Run;
import com.openai.models.beta.threads.runs.RunCancelParams;
import com.openai.models.beta.threads.runs.RunCreateParams;
import com.openai.models.responses.Response;
import com.openai.models.responses.ResponseCreateParams;
import com.openai.models.responses.ResponseStatus;
import io.tokenquota.servlet.QuotaFilter;
import io.tokenquota.servlet.testing.Deployment;
import io.tokenquota.servlet.testing.H2FilterRound;
import io.tokenquota.servlet.testing.ModelCalls;
import io.tokenquota.servlet.testing.ResponsesApi;
import jakarta.servlet.http.HttpServlet;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Function;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Round 283 of issue 11 ("no model call goes unpaid, nothing that never reached a model is charged"):
 * the official OpenAI Java SDK ({@code com.openai:openai-java} 4.8.0) driving OpenAI's jobs as an
 * application does: a Response in background mode ({@code ResponseCreateParams.background(true)}, as
 * OpenAI's background-mode guide recommends for o3-pro), polled with {@code responses().retrieve(id)}
 * and stopped with {@code responses().cancel(id)} ({@code POST /v1/responses/{id}/cancel}, "Only
 * responses created with the background parameter set to true can be cancelled"), and an Assistants
 * run stopped with {@code beta().threads().runs().cancel(…)} ({@code POST
 * /v1/threads/{thread_id}/runs/{run_id}/cancel}, answered with the run {@code "status": "cancelling"}).
 *
 * <p>The service runs as two instances on one database behind a load balancer (docs/SCALING.md: the
 * design point), {@code /ai/} and {@code /ai2/} here, each with its own filter as another JVM has (round
 * 130's set-up). The SDK's poll or its cancel reaches whichever instance the balancer picks; neither
 * runs a model.
 */
abstract class AbstractRound283 extends H2FilterRound {
    /** The o3-pro run's usage, once it finishes: 1,400 in, 6,000 out. */
    static final long RUN_INPUT = 1_400;
    static final long RUN_TOTAL = RUN_INPUT + 6_000;

    static String subject() {
        return "u283-" + UUID.randomUUID().toString().substring(0, 12);
    }

    /** The provider behind both instances' relays: one store of jobs. */
    final Provider provider = new Provider();

    @Override
    protected Deployment deploy(QuotaFilter filter) {
        QuotaFilter other = filterFor("/ai2/").build();
        return Deployment.create()
                .filter("quota", filter, "/*")
                .filter("quota-other-instance", other, "/*")
                .servlet("openai", provider, "/ai/v1/*")
                .servlet("openai-other-instance", provider, "/ai2/v1/*")
                .onStartup(filter::registerByServletName)
                .onStartup(other::registerByServletName);
    }

    /**
     * OpenAI's API as a relay passes it on, the provider's objects as its API reference gives them.
     * {@code POST /responses}: a Response (o3-pro), in background mode answered {@code "queued"} at once
     * (usage {@code null}), else answered whole with its usage. {@code GET /responses/{id}}: the job as it
     * stands ({@code completed} with its usage after {@link #finish}). {@code POST /responses/{id}/cancel}:
     * the job {@code "cancelled"}, usage {@code null} (it never left the queue). {@code POST
     * /threads/{t}/runs}: an Assistants run, {@code "queued"}; {@code POST /threads/{t}/runs/{r}/cancel}: the
     * run {@code "cancelling"}. Model runs are counted per subject; every request is logged with its SDK
     * attempt ({@code X-Stainless-Retry-Count}).
     */
    static final class Provider extends HttpServlet {
        private static final long serialVersionUID = 1L;
        final ModelCalls calls = new ModelCalls();
        final Map<String, String> jobs = new ConcurrentHashMap<>();
        final List<String> log = new CopyOnWriteArrayList<>();
        private final AtomicLong ids = new AtomicLong();

        @Override
        protected void doGet(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            note(req, "");
            String path = req.getPathInfo() == null ? "" : req.getPathInfo();
            String job = jobs.get(path.substring(path.lastIndexOf('/') + 1));
            if (job == null) {
                resp.sendError(404);
                return;
            }
            write(resp, job);
        }

        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            String body = new String(req.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
            note(req, body);
            String path = req.getPathInfo() == null ? "" : req.getPathInfo();
            String user = req.getHeader("x-user-id");
            if (path.equals("/responses")) {
                calls.count(user);
                String rid = "resp_" + ids.incrementAndGet() + "r283";
                boolean background = body.replace(" ", "").contains("\"background\":true");
                String answer = background ? ResponsesApi.o3Pro(rid, "queued", true, 2_000, "null", null)
                        : completed(rid, false);
                jobs.put(rid, answer);
                write(resp, answer);
            } else if (path.startsWith("/responses/") && path.endsWith("/cancel")) {
                String rid = path.substring("/responses/".length(), path.length() - "/cancel".length());
                if (!jobs.containsKey(rid)) {
                    resp.sendError(404);
                    return;
                }
                String cancelled = ResponsesApi.o3Pro(rid, "cancelled", true, 2_000, "null", null);
                jobs.put(rid, cancelled);
                write(resp, cancelled);
            } else if (path.matches("/threads/[^/]+/runs")) {
                calls.count(user);
                String thread = path.split("/")[2];
                String run = "run_" + ids.incrementAndGet() + "r283";
                String answer = run(run, thread, "queued");
                jobs.put(run, answer);
                write(resp, answer);
            } else if (path.matches("/threads/[^/]+/runs/[^/]+/cancel")) {
                String[] parts = path.split("/");
                String answer = run(parts[4], parts[2], "cancelling");
                jobs.put(parts[4], answer);
                write(resp, answer);
            } else {
                resp.sendError(404);
            }
        }

        /** The model finished the background Response {@code rid}: stored {@code completed} with its usage. */
        void finish(String rid) {
            jobs.put(rid, completed(rid, true));
        }

        /** The background Response {@code rid} failed at the provider (a server error): no output, no usage. */
        void fail(String rid) {
            jobs.put(rid, "{\"id\":\"" + rid + "\",\"object\":\"response\",\"created_at\":1750000000,\"status\":\"failed\","
                    + "\"background\":true,\"error\":{\"code\":\"server_error\",\"message\":\"The server had an error"
                    + " while processing your request.\"},\"incomplete_details\":null,\"instructions\":null,"
                    + "\"max_output_tokens\":2000,\"model\":\"o3-pro-2025-06-10\",\"output\":[],\"parallel_tool_calls\":true,"
                    + "\"reasoning\":{\"effort\":\"high\",\"summary\":null},\"store\":true,\"tool_choice\":\"auto\","
                    + "\"tools\":[],\"usage\":null}");
        }

        /** The background Response {@code rid} was cancelled (stored {@code cancelled}, no usage). */
        void cancel(String rid) {
            jobs.put(rid, ResponsesApi.o3Pro(rid, "cancelled", true, 2_000, "null", null));
        }

        static String completed(String rid, boolean background) {
            return ResponsesApi.o3Pro(rid, "completed", background, 2_000, "{\"input_tokens\":" + RUN_INPUT
                    + ",\"input_tokens_details\":{\"cached_tokens\":0},\"output_tokens\":6000,\"output_tokens_details\":"
                    + "{\"reasoning_tokens\":5200},\"total_tokens\":" + RUN_TOTAL + "}",
                    ResponsesApi.message("msg_" + rid, "Clause 4.2: thirty days."));
        }

        /**
         * An Assistants run object as OpenAI's API reference gives it ("The run object"; "Cancel a run"
         * answers the run {@code "status": "cancelling"}), usage {@code null} until the run is terminal.
         */
        static String run(String id, String thread, String status) {
            return "{\"id\":\"" + id + "\",\"object\":\"thread.run\",\"created_at\":1750000000,\"assistant_id\":\"asst_r283\","
                    + "\"thread_id\":\"" + thread + "\",\"status\":\"" + status + "\",\"started_at\":null,"
                    + "\"expires_at\":1750000600,\"cancelled_at\":null,\"failed_at\":null,\"completed_at\":null,"
                    + "\"last_error\":null,\"model\":\"gpt-4o\",\"instructions\":\"You review contracts.\",\"tools\":[],"
                    + "\"tool_resources\":{},\"metadata\":{},\"temperature\":1.0,\"top_p\":1.0,\"max_completion_tokens\":2000,"
                    + "\"max_prompt_tokens\":null,\"truncation_strategy\":{\"type\":\"auto\",\"last_messages\":null},"
                    + "\"incomplete_details\":null,\"usage\":null,\"response_format\":\"auto\",\"tool_choice\":\"auto\","
                    + "\"parallel_tool_calls\":true,\"required_action\":null}";
        }

        private void note(HttpServletRequest req, String body) {
            log.add(req.getHeader("x-user-id") + " " + req.getMethod() + " " + req.getRequestURI() + " retry="
                    + req.getHeader("X-Stainless-Retry-Count") + " body=" + (body.length() > 80 ? body.substring(0, 80) : body));
        }

        private static void write(HttpServletResponse resp, String json) throws IOException {
            resp.setContentType("application/json");
            resp.getOutputStream().write(json.getBytes(StandardCharsets.UTF_8));
        }
    }

    /** What {@code call} makes of the SDK, as an application builds it, at instance {@code prefix} ({@code /ai} or {@code /ai2}). */
    <T> T openAi(String prefix, String subject, Function<OpenAIClient, T> call) {
        OpenAIClient client = OpenAIOkHttpClient.builder().apiKey("sk-test")
                .baseUrl(container.uri(prefix + "/v1").toString()).putHeader("x-user-id", subject)
                .timeout(Duration.ofSeconds(10)).build();
        try {
            return call.apply(client);
        } finally {
            client.close();
        }
    }

    /** The background Response the SDK creates at {@code prefix}: o3-pro, at most 2,000 output tokens. */
    Response createInBackground(String prefix, String subject) {
        return openAi(prefix, subject, client -> client.responses().create(ResponseCreateParams.builder()
                .model("o3-pro").input("Which clauses of the attached lease set notice periods?")
                .maxOutputTokens(2_000L).background(true).build()));
    }

    String failure(String s, String what) {
        return what + "; ledger " + ledger(s) + "; provider saw " + provider.log.stream().filter(l -> l.startsWith(s)).toList();
    }

    // ------------------------------------------------------------------ findings

    /**
     * The SDK creates a background Response at instance 1 (queued: charged its estimate, {@code held}), then
     * the user presses Stop and the application calls {@code client.responses().cancel(id)}; the load
     * balancer sends that {@code POST /v1/responses/{id}/cancel} to instance 2, which did not see the job.
     * The answer is the Response {@code "status": "cancelled"}, {@code "usage": null}: a cancel runs no
     * model. Expected: the charge stays what instance 1 charged for the job. (A {@code GET} of the job
     * queued there is released, docs/decisions.md "Jobs the provider runs on its own"; the cancel is not.)
     */
    @Test
    void aBackgroundResponseCancelledAtTheOtherInstanceCostsNothingMore() {
        String s = subject();
        Response created = createInBackground("/ai", s);
        assertEquals(ResponseStatus.QUEUED, created.status().orElseThrow());
        long held = settled(s).used();
        assertTrue(held > 0, failure(s, "the creation charged"));
        Response cancelled = openAi("/ai2", s, client -> client.responses().cancel(created.id()));
        assertEquals(ResponseStatus.CANCELLED, cancelled.status().orElseThrow());
        assertEquals(1, provider.calls.of(s));
        assertEquals(held, settled(s).used(), failure(s, "one background Response (charged " + held
                + " at its instance) cancelled at the other instance"));
    }

    /**
     * The same with the Assistants API: the SDK starts a run at instance 1 ({@code runs().create}, queued:
     * charged its estimate), then cancels it ({@code runs().cancel}) at instance 2, answered with the run
     * {@code "status": "cancelling"}, {@code "usage": null}. Expected: nothing more for the cancel.
     */
    @Test
    void anAssistantsRunCancelledAtTheOtherInstanceCostsNothingMore() {
        String s = subject();
        Run run = openAi("/ai", s, client -> client.beta().threads().runs().create("thread_r283",
                RunCreateParams.builder().assistantId("asst_r283").build()));
        long held = settled(s).used();
        assertTrue(held > 0, failure(s, "the run's start charged"));
        Run cancelling = openAi("/ai2", s, client -> client.beta().threads().runs().cancel(run.id(),
                RunCancelParams.builder().threadId("thread_r283").build()));
        assertEquals("cancelling", cancelling.status().asString());
        assertEquals(1, provider.calls.of(s));
        assertEquals(held, settled(s).used(), failure(s, "one run (charged " + held
                + " at its instance) cancelled at the other instance"));
    }

    /**
     * The SDK's poll ({@code client.responses().retrieve(id)}) of a background Response that ended without
     * running to its end, reaching instance 2: cancelled (the user stopped it at instance 1, where the cancel
     * was released), or failed at the provider ({@code "status": "failed"}, {@code error.code
     * "server_error"}). Either answer is a job's state with {@code "usage": null}; a {@code GET} runs no
     * model. Expected: the charge stays what instance 1 charged.
     */
    @ParameterizedTest
    @ValueSource(strings = {"cancelled", "failed"})
    void anUnfinishedBackgroundResponsePolledAtTheOtherInstanceCostsNothingMore(String end) {
        String s = subject();
        Response created = createInBackground("/ai", s);
        if (end.equals("cancelled")) {
            openAi("/ai", s, client -> client.responses().cancel(created.id()));
        } else {
            provider.fail(created.id());
        }
        long before = settled(s).used();
        Response polled = openAi("/ai2", s, client -> client.responses().retrieve(created.id()));
        assertEquals(end, polled.status().orElseThrow().asString());
        assertEquals(1, provider.calls.of(s));
        assertEquals(before, settled(s).used(), failure(s, "a background Response " + end + " (charged " + before
                + ") polled at the other instance"));
    }

    // ------------------------------------------------------------------ controls

    /** Control: the cancel at the instance that created the job is released (nothing more charged). */
    @Test
    void aBackgroundResponseCancelledAtItsOwnInstanceCostsNothingMore() {
        String s = subject();
        Response created = createInBackground("/ai", s);
        long held = settled(s).used();
        Response cancelled = openAi("/ai", s, client -> client.responses().cancel(created.id()));
        assertEquals(ResponseStatus.CANCELLED, cancelled.status().orElseThrow());
        assertEquals(held, settled(s).used(), failure(s, "a background Response cancelled at its instance"));
    }

    /**
     * Control: the SDK polls a background Response to its end at the instance that created it; the final
     * read carries the run's usage (7,400), which passes the creation's estimate: 7,400 in all, however
     * often it is read.
     */
    @Test
    void aBackgroundResponsePolledToItsEndIsChargedItsUsageOnce() {
        String s = subject();
        Response created = createInBackground("/ai", s);
        assertEquals(ResponseStatus.QUEUED, openAi("/ai", s, c -> c.responses().retrieve(created.id())).status().orElseThrow());
        provider.finish(created.id());
        for (int i = 0; i < 2; i++) {
            Response done = openAi("/ai", s, c -> c.responses().retrieve(created.id()));
            assertEquals(RUN_TOTAL, done.usage().orElseThrow().totalTokens());
        }
        assertEquals(RUN_TOTAL, settled(s).used(), failure(s, "a background run of " + RUN_TOTAL + " polled to its end"));
    }
}
