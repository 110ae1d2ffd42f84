package io.tokenquota.servlet.breakit379;

import static org.junit.jupiter.api.Assertions.assertEquals;

import io.tokenquota.servlet.QuotaFilter;
import io.tokenquota.servlet.testing.BackgroundResponses;
import io.tokenquota.servlet.testing.ChatCompletions;
import io.tokenquota.servlet.testing.Deployment;
import io.tokenquota.servlet.testing.H2FilterRound;
import io.tokenquota.servlet.testing.TestHttp;
import jakarta.servlet.http.HttpServlet;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.UUID;
import java.util.concurrent.ConcurrentHashMap;
import org.junit.jupiter.api.Test;

/**
 * Round 379 of issue 11 ("no model call goes unpaid, nothing that never reached a model is charged"): the
 * reads of background work by a user who never created it. A relay passes OpenAI's Responses API (background
 * mode) on under {@code /small/}, whose filter remembers {@value #SMALL_MEMORY} provider-state figures (the
 * operator's {@code providerStateEntries}; the default 65,536 falls the same way, only to more requests).
 *
 * <p>Shapes: a background Response created without a stream is answered {@code "status": "queued"} and
 * polled by id with {@code GET /v1/responses/{response_id}} until it is {@code completed} with its usage
 * (OpenAI API reference, "Background mode" guide and "Responses: Retrieve a model response"; the objects are
 * {@link BackgroundResponses#queued} and {@link BackgroundResponses#completed}, i.e. {@code ResponsesApi.o3Pro}).
 * A Response id belongs to the application's provider project, not to one end user: any caller of the relay
 * that knows it reads it (docs/decisions.md: "an id is no secret worth guarding here").
 */
abstract class AbstractRound379 extends H2FilterRound {
    /** Figures the filter on /small/ remembers. */
    static final int SMALL_MEMORY = 8;
    /** What the model spends on a background Response: 2,000 in, 6,000 out. */
    static final long RUN_USAGE = 8_000;

    /** The provider's background Responses: queued until the test finishes them, then completed with usage. */
    final Relay relay = new Relay();

    static String subject() {
        return "u379-" + UUID.randomUUID().toString().substring(0, 12);
    }

    static String rid(String user) {
        return "resp_" + user.replace("-", "");
    }

    /** A relay of the Responses API in background mode (no stream): creation answered queued, reads by id. */
    static final class Relay extends HttpServlet {
        final Set<String> created = ConcurrentHashMap.newKeySet();
        final Set<String> finished = ConcurrentHashMap.newKeySet();
        final Map<String, Integer> modelRuns = new ConcurrentHashMap<>();

        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            req.getInputStream().readAllBytes();
            String user = req.getHeader("x-user-id");
            String rid = rid(user);
            // the provider's call: the model runs in the background at the provider from here on
            modelRuns.merge(user, 1, Integer::sum);
            created.add(rid);
            write(resp, BackgroundResponses.queued(rid));
        }

        @Override
        protected void doGet(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            String rid = req.getPathInfo().substring(1);
            if (!created.contains(rid)) {
                resp.sendError(404);
                return;
            }
            write(resp, finished.contains(rid)
                    ? BackgroundResponses.completed(rid, BackgroundResponses.usage(RUN_USAGE - 6_000))
                    : BackgroundResponses.queued(rid));
        }

        private static void write(HttpServletResponse resp, String json) throws IOException {
            byte[] bytes = json.getBytes(StandardCharsets.UTF_8);
            resp.setContentType("application/json");
            resp.setContentLength(bytes.length);
            resp.getOutputStream().write(bytes);
        }
    }

    /**
     * Stored chat completions of the provider project, read back by id: {@code GET /v1/chat/completions/{completion_id}}
     * (OpenAI API reference, "Chat Completions: Get chat completion": "Only Chat Completions that have been created
     * with the store parameter set to true will be returned"), answered with the ChatCompletion object, its usage
     * included ({@link ChatCompletions#completion}). These are other users' calls, made and paid before.
     */
    static final class StoredCompletions extends HttpServlet {
        @Override
        protected void doGet(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            String id = req.getPathInfo().substring(1);
            if (!id.startsWith("chatcmpl-stored")) {
                resp.sendError(404);
                return;
            }
            Relay.write(resp, ChatCompletions.completion(id, "gpt-4o-2024-08-06",
                    "The notice period under clause 4.2 is thirty days.", 1_200, 300));
        }
    }

    @Override
    protected Deployment deploy(QuotaFilter filter) {
        QuotaFilter small = filterFor("/small/").providerStateEntries(SMALL_MEMORY).build();
        return Deployment.create()
                .filter("quota", filter, "/*")
                .filter("quota-small", small, "/*")
                .servlet("responses", relay, "/small/v1/responses", "/small/v1/responses/*")
                .servlet("completions", new StoredCompletions(), "/small/v1/chat/completions/*");
    }

    /** A user's background Response: created (charged its estimate), answered queued. */
    long create(String user) {
        HttpResponse<String> created = TestHttp.postJson(container.uri("/small/v1/responses"), user,
                "{\"model\":\"o3-pro\",\"input\":\"Review clauses 4.2 and 7.1 of the attached lease for notice periods.\","
                        + "\"background\":true,\"max_output_tokens\":2000}");
        assertEquals(200, created.statusCode(), created.body());
        return settled(user).used();
    }

    HttpResponse<String> poll(String user, String rid) {
        HttpResponse<String> read = TestHttp.get(container.uri("/small/v1/responses/" + rid), "x-user-id", user);
        assertEquals(200, read.statusCode(), read.body());
        return read;
    }

    /** The victim's job finished at the provider and read back completed. */
    long readBack(String victim) {
        relay.finished.add(rid(victim));
        HttpResponse<String> read = poll(victim, rid(victim));
        assertEquals(true, read.body().contains("\"completed\""), read.body());
        return settled(victim).used();
    }

    /**
     * Other users' background Responses, still queued at the provider: {@value #SMALL_MEMORY} of them, made
     * before the victim's (each by its own user, each charged its estimate).
     */
    List<String> othersQueuedJobs() {
        List<String> ids = new ArrayList<>();
        for (int i = 0; i < SMALL_MEMORY; i++) {
            String other = subject();
            create(other);
            ids.add(rid(other));
        }
        return ids;
    }

    /** The hostile user polls each of these queued jobs once: free (released), no model runs for a read. */
    void hostilePolls(String hostile, List<String> ids) {
        for (String id : ids) {
            HttpResponse<String> read = poll(hostile, id);
            assertEquals(true, read.body().contains("\"queued\""), read.body());
        }
        assertEquals(0, settled(hostile).used(), ids.size() + " polls of queued jobs ran no model " + ledger(hostile));
    }

    /**
     * Control: other users' queued jobs exist; the victim's background Response is created (charged its
     * estimate E), then read back completed with its usage, 8,000: charged what the usage passes E. In all:
     * max(E, 8,000).
     */
    @Test
    void backgroundResponseReadBackIsChargedItsUsageOnce() {
        othersQueuedJobs();
        String victim = subject();
        long estimate = create(victim);
        long used = readBack(victim);
        assertEquals(1, relay.modelRuns.get(victim));
        assertEquals(Math.max(estimate, RUN_USAGE), used, "created (charged " + estimate + "), read back with usage "
                + RUN_USAGE + ": " + ledger(victim));
    }

    /**
     * Control: the hostile user's polls of queued jobs it never created are free (no model runs for a read)
     * and leave a victim whose job is not among them as in the first control, when the victim's job was
     * made after the polls.
     */
    @Test
    void pollsBeforeTheVictimsJobLeaveItChargedOnce() {
        String hostile = subject();
        hostilePolls(hostile, othersQueuedJobs());
        String victim = subject();
        long estimate = create(victim);
        long used = readBack(victim);
        assertEquals(Math.max(estimate, RUN_USAGE), used, "created (charged " + estimate + "), read back with usage "
                + RUN_USAGE + ": " + ledger(victim));
    }

    /**
     * Attack: between the victim's creation and its read, another user polls {@value #SMALL_MEMORY} queued
     * background Responses it never created (other users' jobs; ids are no secret, decisions.md). Each poll
     * is released (no model ran), yet its settlement writes a figure for the poller's (subject, job) into the
     * same least-recently-used memory as the victim's job charge ({@code Settlement.jobRead}: "charged == null"
     * → {@code ProviderState.jobCharged(subject, id, 0)}) and pushes it out; the victim's read of its own
     * completed job then finds no charge on record and is charged the whole usage again. Expected as in the
     * control: max(E, 8,000) for the victim, 0 for the poller.
     */
    @Test
    void anotherUsersFreePollsOfQueuedJobsDoNotMakeAJobChargedTwice() {
        List<String> queued = othersQueuedJobs();
        String victim = subject();
        String hostile = subject();
        long estimate = create(victim);
        hostilePolls(hostile, queued);
        long used = readBack(victim);
        assertEquals(1, relay.modelRuns.get(victim));
        assertEquals(Math.max(estimate, RUN_USAGE), used, kind() + ": created (charged " + estimate + "), "
                + SMALL_MEMORY + " free polls of queued jobs by another user, read back with usage " + RUN_USAGE
                + " (one model run): " + ledger(victim));
    }

    /**
     * Attack, the same through another route: between the victim's creation and its read, another user reads
     * back {@value #SMALL_MEMORY} stored chat completions it did not make ({@code GET /v1/chat/completions/{id}},
     * completed, with usage). Each is released (the call that ran it was charged where it ran), yet each writes
     * the poller's figure for it ({@code Settlement.jobRead} → {@code ProviderState.jobCharged(subject, id,
     * usage, true)}) into the memory that holds the victim's job charge, and pushes it out. Expected:
     * max(E, 8,000) for the victim, 0 for the reader.
     */
    @Test
    void anotherUsersFreeReadsOfStoredCompletionsDoNotMakeAJobChargedTwice() {
        String victim = subject();
        String hostile = subject();
        long estimate = create(victim);
        for (int i = 0; i < SMALL_MEMORY; i++) {
            HttpResponse<String> read = TestHttp.get(container.uri("/small/v1/chat/completions/chatcmpl-stored" + i),
                    "x-user-id", hostile);
            assertEquals(200, read.statusCode(), read.body());
        }
        assertEquals(0, settled(hostile).used(), SMALL_MEMORY + " reads of stored completions ran no model " + ledger(hostile));
        long used = readBack(victim);
        assertEquals(Math.max(estimate, RUN_USAGE), used, kind() + ": created (charged " + estimate + "), "
                + SMALL_MEMORY + " free reads of stored chat completions by another user, read back with usage "
                + RUN_USAGE + " (one model run): " + ledger(victim));
    }
}
