package io.tokenquota.servlet.breakit268;

import static io.tokenquota.servlet.testing.EvalRuns.*;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.tokenquota.servlet.QuotaFilter;
import io.tokenquota.servlet.testing.CannedProvider;
import io.tokenquota.servlet.testing.Deployment;
import io.tokenquota.servlet.testing.H2FilterRound;
import io.tokenquota.servlet.testing.ModelCalls;
import io.tokenquota.servlet.testing.TestHttp;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.util.UUID;
import org.junit.jupiter.api.Test;

/**
 * Round 268 of issue 11: OpenAI's (and Azure OpenAI's) API passed whole under the protected prefix by a
 * relay, called as the official SDKs call it. The model calls are charged; the calls around them (polling a
 * Sora video or an eval run, pausing or cancelling a fine-tuning job, cancelling an upload, copying a file
 * into a container, hanging up a Realtime SIP call, updating a stored chat completion's metadata) run no
 * model and must cost nothing, and an eval run, which runs a model over every item of its data source at
 * the provider, must be charged the usage it reports ({@code per_model_usage}) when it is read.
 */
abstract class AbstractRound268 extends H2FilterRound {
    /** The provider behind the relay: the answers each test sets. */
    final CannedProvider provider = new CannedProvider(new ModelCalls(), path -> false);

    static String subject() {
        return "u268-" + UUID.randomUUID().toString().substring(0, 12);
    }

    @Override
    protected Deployment deploy(QuotaFilter filter) {
        return Deployment.create()
                .filter("quota", filter, "/*")
                .servlet("provider", provider, "/ai/*")
                .onStartup(filter::registerByServletName);
    }

    void answer(String subject, String method, String path, String... jsons) {
        provider.answer(subject, method, path, jsons);
    }

    void answerRaw(String subject, String method, String path, int status, String type, String body) {
        provider.answerRaw(subject, method, path, status, type, body);
    }

    long cost(String subject, String method, String path, String body) {
        long before = settled(subject).used();
        HttpRequest.BodyPublisher p = body == null ? HttpRequest.BodyPublishers.noBody() : HttpRequest.BodyPublishers.ofString(body);
        HttpRequest.Builder b = body == null ? TestHttp.requestAs(container.uri(path), subject)
                : TestHttp.requestAs(container.uri(path), subject, "Content-Type", "application/json");
        HttpResponse<String> r = TestHttp.send(b.method(method, p).build());
        assertTrue(r.statusCode() < 300, method + " " + path + ": " + r.statusCode() + " " + r.body());
        return settled(subject).used() - before;
    }


    static String video(String id, String status, int progress) {
        return "{\"id\":\"" + id + "\",\"object\":\"video\",\"created_at\":1758941485,\"status\":\"" + status + "\","
                + "\"model\":\"sora-2\",\"progress\":" + progress + ",\"seconds\":\"8\",\"size\":\"1280x720\",\"quality\":\"standard\","
                + "\"remixed_from_video_id\":null,\"expires_at\":" + ("completed".equals(status) ? "1759027885" : "null")
                + ",\"completed_at\":" + ("completed".equals(status) ? "1758941600" : "null") + ",\"error\":null}";
    }

    static final String VIDEO = "video_68d7512d07848190b3e45da0ecbebcde004da08e1e0678d5";

    /**
     * The attack (an honest one): a video made with Sora as the OpenAI SDKs' {@code videos.createAndPoll}
     * makes it: {@code POST /v1/videos}, then {@code GET /v1/videos/{id}} until {@code completed} (here
     * three polls: 33 %, 66 %, completed), then the video deleted. The creation runs the model and is
     * charged; the polls and the deletion read or drop a stored object and must cost 0.
     */
    @Test
    void pollingASoraVideoCostsNothing() {
        String s = subject();
        answer(s, "POST", "/ai/v1/videos", video(VIDEO, "queued", 0));
        answer(s, "GET", "/ai/v1/videos/" + VIDEO, video(VIDEO, "in_progress", 33), video(VIDEO, "in_progress", 66),
                video(VIDEO, "completed", 100));
        answer(s, "DELETE", "/ai/v1/videos/" + VIDEO, "{\"id\":\"" + VIDEO + "\",\"object\":\"video.deleted\",\"deleted\":true}");
        long created = cost(s, "POST", "/ai/v1/videos",
                "{\"model\":\"sora-2\",\"prompt\":\"A calico cat playing a piano on stage\",\"seconds\":\"8\",\"size\":\"1280x720\"}");
        assertTrue(created > 0, "the generation is charged: " + ledger(s));
        long polls = 0;
        for (int i = 0; i < 3; i++) {
            polls += cost(s, "GET", "/ai/v1/videos/" + VIDEO, null);
        }
        long deleted = cost(s, "DELETE", "/ai/v1/videos/" + VIDEO, null);
        assertEquals(0, polls + deleted, "the generation cost " + created + "; three polls of the video (no model ran) cost "
                + polls + ", its deletion " + deleted + ": " + ledger(s));
    }

    /**
     * The same on Azure OpenAI's Sora ({@code POST /openai/v1/video/generations/jobs?api-version=preview},
     * polled with {@code GET …/jobs/{id}} until {@code succeeded}): each poll reads the job, no model runs.
     */
    @Test
    void pollingAnAzureSoraJobCostsNothing() {
        String s = subject();
        String jobs = "/ai/openai/v1/video/generations/jobs";
        String id = "task_01jwcet0eje35tc5jy54yjax5q";
        java.util.function.Function<String, String> job = status -> "{\"object\":\"video.generation.job\",\"id\":\"" + id + "\","
                + "\"status\":\"" + status + "\",\"created_at\":1748469875,\"finished_at\":null,\"expires_at\":null,"
                + "\"generations\":[],\"prompt\":\"A cat playing piano in a jazz bar.\",\"model\":\"sora\",\"n_variants\":1,"
                + "\"n_seconds\":5,\"height\":1080,\"width\":1080,\"failure_reason\":null}";
        answer(s, "POST", jobs, job.apply("queued"));
        answer(s, "GET", jobs + "/" + id, job.apply("preprocessing"), job.apply("running"), job.apply("processing"));
        long created = cost(s, "POST", jobs + "?api-version=preview",
                "{\"prompt\":\"A cat playing piano in a jazz bar.\",\"width\":1080,\"height\":1080,\"n_seconds\":5,\"model\":\"sora\"}");
        assertTrue(created > 0, "the generation is charged: " + ledger(s));
        long polls = 0;
        for (int i = 0; i < 3; i++) {
            polls += cost(s, "GET", jobs + "/" + id + "?api-version=preview", null);
        }
        assertEquals(0, polls, "three polls of the job (no model ran) cost " + polls + ": " + ledger(s));
    }

    static String ftJob(String status) {
        return "{\"object\":\"fine_tuning.job\",\"id\":\"ftjob-abc123\",\"model\":\"gpt-4o-mini-2024-07-18\",\"created_at\":1721764800,"
                + "\"fine_tuned_model\":null,\"organization_id\":\"org-123\",\"result_files\":[],\"status\":\"" + status + "\","
                + "\"validation_file\":null,\"training_file\":\"file-abc123\",\"hyperparameters\":{\"n_epochs\":3},"
                + "\"trained_tokens\":null,\"error\":null,\"seed\":42}";
    }

    /**
     * The attack (an honest one): a fine-tuning job paused, resumed and cancelled
     * ({@code client.fineTuning().jobs().pause/resume/cancel}), each answered with the job. Polling the job
     * ({@code GET}) is released, and so is a batch's cancelling; these change a job's state and run no model.
     */
    @Test
    void pausingResumingAndCancellingAFineTuningJobCostsNothing() {
        String s = subject();
        String job = "/ai/v1/fine_tuning/jobs/ftjob-abc123";
        answer(s, "POST", job + "/pause", ftJob("paused"));
        answer(s, "POST", job + "/resume", ftJob("running"));
        answer(s, "POST", job + "/cancel", ftJob("cancelled"));
        answer(s, "GET", job, ftJob("running"));
        long read = cost(s, "GET", job, null);
        long paused = cost(s, "POST", job + "/pause", null);
        long resumed = cost(s, "POST", job + "/resume", null);
        long cancelled = cost(s, "POST", job + "/cancel", null);
        assertEquals(0, read, "control: a poll is released: " + ledger(s));
        assertEquals(0, paused + resumed + cancelled, "pause cost " + paused + ", resume " + resumed + ", cancel " + cancelled
                + " (no model ran): " + ledger(s));
    }


    static final String EVAL_OBJECT = "{\"object\":\"eval\",\"id\":\"" + EVAL + "\",\"data_source_config\":{\"type\":\"custom\","
            + "\"schema\":{\"type\":\"object\",\"properties\":{\"item\":{\"type\":\"object\"}}}},\"testing_criteria\":[{\"name\":"
            + "\"Match output to human label\",\"id\":\"Match output to human label-c4fdf789-2fa5-407f-8a41-a6f4f9afd482\","
            + "\"type\":\"string_check\",\"input\":\"{{ sample.output_text }}\",\"reference\":\"{{ item.ground_truth }}\","
            + "\"operation\":\"eq\"}],\"name\":\"Ticket triage\",\"created_at\":1740110490,\"metadata\":{}}";



    /**
     * The attack (an honest one): an eval defined ({@code POST /v1/evals}, answered with the {@code eval}
     * object) and read back ({@code GET /v1/evals/{id}}). The definition only stores the data-source schema
     * and the graders; no model runs. Both must cost 0, as creating an assistant or a vector store does.
     */
    @Test
    void definingAndReadingAnEvalCostsNothing() {
        String s = subject();
        answer(s, "POST", "/ai/v1/evals", EVAL_OBJECT);
        answer(s, "GET", "/ai/v1/evals/" + EVAL, EVAL_OBJECT);
        long created = cost(s, "POST", "/ai/v1/evals", "{\"name\":\"Ticket triage\",\"data_source_config\":{\"type\":\"custom\","
                + "\"item_schema\":{\"type\":\"object\",\"properties\":{\"input\":{\"type\":\"string\"},\"ground_truth\":"
                + "{\"type\":\"string\"}},\"required\":[\"input\",\"ground_truth\"]},\"include_sample_schema\":true},"
                + "\"testing_criteria\":[{\"type\":\"string_check\",\"name\":\"Match output to human label\",\"input\":"
                + "\"{{ sample.output_text }}\",\"operation\":\"eq\",\"reference\":\"{{ item.ground_truth }}\"}]}");
        long read = cost(s, "GET", "/ai/v1/evals/" + EVAL, null);
        assertEquals(0, created + read, "defining the eval cost " + created + ", reading it " + read + " (no model ran): " + ledger(s));
    }

    /**
     * The attack (an honest one): an eval run started ({@code POST /v1/evals/{id}/runs}, answered
     * {@code "status": "queued"}) and polled ({@code GET …/runs/{run_id}}) while it is {@code in_progress}.
     * The run is charged at its start; the polls read its state and must cost 0.
     */
    @Test
    void pollingAnEvalRunInProgressCostsNothing() {
        String s = subject();
        answer(s, "POST", RUNS, evalRun("queued", "null", 0));
        answer(s, "GET", RUNS + "/" + RUN, evalRun("in_progress", "null", 0));
        long started = cost(s, "POST", RUNS, RUN_REQUEST);
        assertTrue(started > 0, "the run is charged at its start: " + ledger(s));
        long polls = 0;
        for (int i = 0; i < 3; i++) {
            polls += cost(s, "GET", RUNS + "/" + RUN, null);
        }
        assertEquals(0, polls, "the run's start cost " + started + "; three polls of it in progress (no model ran) cost " + polls
                + ": " + ledger(s));
    }

    /**
     * The attack (an honest one): an eval run over 40 tickets, started and polled until {@code completed}.
     * The provider ran gpt-4o-mini 40 times and reports it in {@code per_model_usage} (16,000 tokens), as
     * a batch reports its usage when read; the run must be charged at least that, once.
     */
    @Test
    void aCompletedEvalRunIsChargedItsUsage() {
        String s = subject();
        answer(s, "POST", RUNS, evalRun("queued", "null", 0));
        answer(s, "GET", RUNS + "/" + RUN, evalRun("in_progress", "null", 0), evalRun("completed", USED, 40));
        long total = cost(s, "POST", RUNS, RUN_REQUEST);
        total += cost(s, "GET", RUNS + "/" + RUN, null);
        total += cost(s, "GET", RUNS + "/" + RUN, null);
        assertTrue(total >= 16_000, "an eval run whose per_model_usage counts 16,000 tokens was charged " + total + ": " + ledger(s));
    }

    /**
     * Control: an application's route that takes any path ({@code /ask/*}) calls the model whatever the
     * client names: a path the client ends as a job's cancelling or a Realtime call's hanging up, answered
     * with the model's answer (no usage: the application strips it), is charged its estimate.
     */
    @Test
    void aModelsAnswerOnAPathTheClientNamedAsACancellingIsCharged() {
        String s = subject();
        String completion = "{\"id\":\"chatcmpl-1\",\"object\":\"chat.completion\",\"model\":\"gpt-4o\",\"choices\":"
                + "[{\"index\":0,\"message\":{\"role\":\"assistant\",\"content\":\"The answer.\"},\"finish_reason\":\"stop\"}]}";
        answer(s, "POST", "/ai/ask/anything/cancel", completion);
        answerRaw(s, "POST", "/ai/ask/realtime/calls/c1/hangup", 200, "text/plain", "The answer is forty-two.");
        String body = "{\"model\":\"gpt-4o\",\"messages\":[{\"role\":\"user\",\"content\":\"What is the answer?\"}]}";
        assertTrue(cost(s, "POST", "/ai/ask/anything/cancel", body) > 0, ledger(s));
        assertTrue(cost(s, "POST", "/ai/ask/realtime/calls/c1/hangup", body) > 0, ledger(s));
    }

    /**
     * Two models' counts are added up, and the completed run read again (the SDK's last poll, then the
     * application's read of its results) is charged nothing more: the run costs its usage, once.
     */
    @Test
    void aCompletedEvalRunOfTwoModelsReadTwiceIsChargedItsUsageOnce() {
        String s = subject();
        String used = "[{\"model_name\":\"gpt-4o-mini\",\"invocation_count\":40,\"prompt_tokens\":6000,"
                + "\"completion_tokens\":4000,\"total_tokens\":10000,\"cached_tokens\":0},{\"model_name\":\"o4-mini\","
                + "\"invocation_count\":40,\"prompt_tokens\":5000,\"completion_tokens\":1000,\"total_tokens\":6000,"
                + "\"cached_tokens\":0}]";
        answer(s, "POST", RUNS, evalRun("queued", "null", 0));
        answer(s, "GET", RUNS + "/" + RUN, evalRun("completed", used, 40));
        long created = cost(s, "POST", RUNS, RUN_REQUEST);
        long read = cost(s, "GET", RUNS + "/" + RUN, null);
        long again = cost(s, "GET", RUNS + "/" + RUN, null);
        assertTrue(created > 0, "the run's creation is charged its estimate: " + ledger(s));
        assertEquals(16_000, created + read, "the run's usage: " + ledger(s));
        assertEquals(0, again, "read again: " + ledger(s));
    }

    /**
     * The attack (an honest one): an eval run cancelled ({@code POST /v1/evals/{id}/runs/{run_id}}, the SDKs'
     * {@code evals.runs.cancel}), answered with the run {@code "status": "canceled"}: no model runs for it.
     */
    @Test
    void cancellingAnEvalRunCostsNothing() {
        String s = subject();
        answer(s, "POST", RUNS + "/" + RUN, evalRun("canceled", "null", 0));
        long cancelled = cost(s, "POST", RUNS + "/" + RUN, null);
        assertEquals(0, cancelled, "cancelling the eval run cost " + cancelled + ": " + ledger(s));
    }

    /** Sends one call that runs no model and answers what it cost. */
    long housekeeping(String method, String path, String body, String answer) {
        String s = subject();
        String route = path.contains("?") ? path.substring(0, path.indexOf('?')) : path;
        if (answer == null) {
            answerRaw(s, method, route, 200, null, null);
        } else {
            answer(s, method, route, answer);
        }
        return cost(s, method, path, body);
    }

    /** An upload abandoned ({@code POST /v1/uploads/{id}/cancel}), answered with the upload {@code cancelled}. */
    @Test
    void cancellingAnUploadCostsNothing() {
        long c = housekeeping("POST", "/ai/v1/uploads/upload_abc123/cancel", null, "{\"id\":\"upload_abc123\",\"object\":\"upload\","
                + "\"bytes\":2147483648,\"created_at\":1719184911,\"filename\":\"training_examples.jsonl\",\"purpose\":\"fine-tune\","
                + "\"status\":\"cancelled\",\"expires_at\":1719127296}");
        assertEquals(0, c, "cancelling an upload cost " + c);
    }

    /**
     * A file copied into a code-interpreter container by id ({@code POST /v1/containers/{id}/files} with
     * {@code {"file_id": …}}, JSON, not multipart), answered with the {@code container.file}.
     */
    @Test
    void copyingAFileIntoAContainerCostsNothing() {
        long c = housekeeping("POST", "/ai/v1/containers/cntr_682e0e7318108198aa783fd921ff305e08e78805b9fdbb04/files",
                "{\"file_id\":\"file-abc123\"}", "{\"id\":\"cfile_682e0e8a43c88191a7978f477a09bdf5\",\"object\":\"container.file\","
                + "\"created_at\":1747848842,\"bytes\":880,\"container_id\":\"cntr_682e0e7318108198aa783fd921ff305e08e78805b9fdbb04\","
                + "\"path\":\"/mnt/data/88e12fa445d32636f190a0b33daed6cb-tsconfig.json\",\"source\":\"user\"}");
        assertEquals(0, c, "copying a file into a container cost " + c);
    }

    /** A fine-tuned checkpoint shared with a project ({@code POST /v1/fine_tuning/checkpoints/{id}/permissions}). */
    @Test
    void sharingACheckpointCostsNothing() {
        long c = housekeeping("POST", "/ai/v1/fine_tuning/checkpoints/ft:gpt-4o-mini-2024-07-18:org:weather:B7R9VjQd/permissions",
                "{\"project_ids\":[\"proj_abGMw1llN8IrBb6SvvY5A1iH\"]}", "{\"object\":\"list\",\"data\":[{\"object\":"
                + "\"checkpoint.permission\",\"id\":\"cp_zc4Q7MP6XxulcVzj4MZdwsAB\",\"created_at\":1721764867,\"project_id\":"
                + "\"proj_abGMw1llN8IrBb6SvvY5A1iH\"}],\"first_id\":\"cp_zc4Q7MP6XxulcVzj4MZdwsAB\",\"last_id\":"
                + "\"cp_zc4Q7MP6XxulcVzj4MZdwsAB\",\"has_more\":false}");
        assertEquals(0, c, "sharing a checkpoint cost " + c);
    }

    /**
     * A Realtime SIP call ended or refused by the server that controls it ({@code POST
     * /v1/realtime/calls/{id}/hangup}, {@code …/reject}), answered {@code 200} with no body: no model runs.
     */
    @Test
    void hangingUpOrRejectingARealtimeCallCostsNothing() {
        long hangup = housekeeping("POST", "/ai/v1/realtime/calls/rtc_u1_9c6574da8b8a41a18da9308f4ad974ce/hangup", null, null);
        long reject = housekeeping("POST", "/ai/v1/realtime/calls/rtc_u1_9c6574da8b8a41a18da9308f4ad974ce/reject",
                "{\"status_code\":486}", null);
        assertEquals(0, hangup + reject, "hanging up cost " + hangup + ", rejecting " + reject);
    }

    /** A ChatKit session cancelled ({@code POST /v1/chatkit/sessions/{id}/cancel}), answered with the session. */
    @Test
    void cancellingAChatKitSessionCostsNothing() {
        long c = housekeeping("POST", "/ai/v1/chatkit/sessions/cksess_123/cancel", null, "{\"id\":\"cksess_123\",\"object\":"
                + "\"chatkit.session\",\"workflow\":{\"id\":\"workflow_alpha\",\"version\":\"1\"},\"scope\":{\"customer_id\":"
                + "\"cust_456\"},\"max_requests_per_1_minute\":30,\"ttl_seconds\":900,\"status\":\"cancelled\","
                + "\"cancelled_at\":1712345678}");
        assertEquals(0, c, "cancelling a ChatKit session cost " + c);
    }

    /**
     * A stored chat completion tagged after the user's feedback ({@code client.chat().completions().update(id,
     * metadata)}: {@code POST /v1/chat/completions/{id}} with {@code metadata}), at an instance that did not
     * serve the completion (another one behind the load balancer, or this one restarted). OpenAI answers
     * the stored completion, with the usage it was charged when it ran. The update runs no model; a read of
     * it there ({@code GET}) is released, and so must the update be (sent
     * first: the application tags without reading the completion back).
     */
    @Test
    void taggingAStoredChatCompletionElsewhereCostsNothing() {
        String s = subject();
        String id = "chatcmpl-AyPNinnUqUDYo9SAdA52NobMflmj2";
        String stored = "{\"id\":\"" + id + "\",\"object\":\"chat.completion\",\"created\":1738960610,\"model\":\"gpt-4o-2024-08-06\","
                + "\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\",\"content\":\"Clause 14.2 allows termination.\","
                + "\"refusal\":null},\"finish_reason\":\"stop\",\"logprobs\":null}],\"usage\":{\"prompt_tokens\":4000,"
                + "\"completion_tokens\":1000,\"total_tokens\":5000},\"metadata\":{\"feedback\":\"thumbs_up\"},"
                + "\"service_tier\":\"default\",\"system_fingerprint\":\"fp_50cad350e4\"}";
        answer(s, "GET", "/ai/v1/chat/completions/" + id, stored);
        answer(s, "POST", "/ai/v1/chat/completions/" + id, stored);
        long tagged = cost(s, "POST", "/ai/v1/chat/completions/" + id, "{\"metadata\":{\"feedback\":\"thumbs_up\"}}");
        String other = subject();
        answer(other, "GET", "/ai/v1/chat/completions/" + id, stored);
        long read = cost(other, "GET", "/ai/v1/chat/completions/" + id, null);
        assertEquals(0, read, "control: the read is released: " + ledger(other));
        assertEquals(0, tagged, "updating the stored completion's metadata (no model ran) cost " + tagged + ": " + ledger(s));
    }
}
