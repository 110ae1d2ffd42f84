package io.tokenquota.servlet.breakit377;

import static org.junit.jupiter.api.Assertions.assertEquals;

import io.tokenquota.servlet.QuotaFilter;
import io.tokenquota.servlet.testing.BackgroundResponses;
import io.tokenquota.servlet.testing.Deployment;
import io.tokenquota.servlet.testing.H2FilterRound;
import io.tokenquota.servlet.testing.OpenAiFiles;
import io.tokenquota.servlet.testing.TestHttp;
import jakarta.servlet.http.HttpServlet;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;
import java.net.http.HttpResponse;
import java.util.UUID;
import org.junit.jupiter.api.Test;

/**
 * Round 377 of issue 11 ("no model call goes unpaid, nothing that never reached a model is charged"):
 * the filter's bounded memories under pressure from another user. A relay passes OpenAI's Responses API
 * (background mode) and its Uploads API on under {@code /small/}, whose filter remembers
 * {@value #SMALL_MEMORY} provider-state figures (the operator's {@code providerStateEntries}; the default
 * 65,536 falls the same way, only to more requests, as round 139 put it for files).
 *
 * <p>Shapes: a background Response created without a stream is answered queued and polled by id until
 * it is completed with its usage (OpenAI API reference, "Background mode"; {@code POST /v1/responses}
 * with {@code "background": true}, {@code GET /v1/responses/{response_id}}; the objects are
 * {@link BackgroundResponses}' and {@code ResponsesApi.o3Pro}'s). An Upload is created with
 * {@code POST /v1/uploads} {@code {"purpose", "filename", "bytes", "mime_type"}} and answered with the
 * Upload object, pending (OpenAI API reference, "Uploads: Create upload"; {@link OpenAiFiles#serve}); it
 * runs no model and the provider bills nothing for it.
 */
abstract class AbstractRound377 extends H2FilterRound {
    /** Figures the filter on /small/ remembers. */
    static final int SMALL_MEMORY = 8;
    /** What the model spends on the background Response: 2,000 in, 6,000 out. */
    static final long RUN_USAGE = 8_000;

    final OpenAiFiles files = new OpenAiFiles();
    final BackgroundResponses relay = new BackgroundResponses(user -> "resp_" + user.replace("-", ""),
            (rid, n) -> BackgroundResponses.completed(rid, BackgroundResponses.usage(RUN_USAGE - 6_000)));

    static String subject() {
        return "u377-" + UUID.randomUUID().toString().substring(0, 12);
    }

    /** The Uploads API of the mock provider, under the relay's prefix. */
    final class Uploads extends HttpServlet {
        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            files.serve(req.getRequestURI().substring("/small".length()), req, resp);
        }
    }

    @Override
    protected Deployment deploy(QuotaFilter filter) {
        QuotaFilter small = filterFor("/small/").providerStateEntries(SMALL_MEMORY).build();
        return Deployment.create()
                .filter("quota", filter, "/*")
                .filter("quota-small", small, "/*")
                .servlet("responses", relay, "/small/v1/responses", "/small/v1/responses/*")
                .servlet("uploads", new Uploads(), "/small/v1/uploads", "/small/v1/uploads/*");
    }

    /** The victim's background Response: created (charged its estimate), then read back completed. */
    long createBackgroundResponse(String victim) {
        HttpResponse<String> created = TestHttp.postJson(container.uri("/small/v1/responses"), victim,
                "{\"model\":\"o3-pro\",\"input\":\"Review clauses 4.2 and 7.1 of the attached lease for notice periods.\","
                        + "\"background\":true,\"max_output_tokens\":2000}");
        assertEquals(200, created.statusCode(), created.body());
        return settled(victim).used();
    }

    long readBack(String victim) {
        HttpResponse<String> read = TestHttp.get(container.uri("/small/v1/responses/resp_" + victim.replace("-", "")), "x-user-id", victim);
        assertEquals(200, read.statusCode(), read.body());
        return settled(victim).used();
    }

    /** Another user's free requests: Upload objects created for batch input files, each released. */
    void hostileUploads(String hostile, int n) {
        for (int i = 0; i < n; i++) {
            HttpResponse<String> up = TestHttp.postJson(container.uri("/small/v1/uploads"), hostile,
                    "{\"purpose\":\"batch\",\"filename\":\"requests-" + i + ".jsonl\",\"bytes\":1024,\"mime_type\":\"text/jsonl\"}");
            assertEquals(200, up.statusCode(), up.body());
        }
        assertEquals(0, settled(hostile).used(), n + " upload creations ran no model " + ledger(hostile));
    }

    /**
     * Control: the victim's background Response is created (charged its estimate E), then read back
     * completed with its usage, 8,000: charged what the usage passes E. In all: max(E, 8,000).
     */
    @Test
    void backgroundResponseReadBackIsChargedItsUsageOnce() {
        String victim = subject();
        long estimate = createBackgroundResponse(victim);
        long used = readBack(victim);
        assertEquals(Math.max(estimate, RUN_USAGE), used, "created (charged " + estimate + "), read back with usage "
                + RUN_USAGE + ": " + ledger(victim));
    }

    /**
     * Attack: between the victim's creation and its read, another user creates {@value #SMALL_MEMORY}
     * Uploads (free: released, no model runs, the provider bills nothing). Each writes an upload figure
     * into the same least-recently-used memory as the victim's job figure and pushes it out; the victim's
     * read then finds no charge on record for its own job and is charged the whole usage again. Expected
     * as in the control: max(E, 8,000) in all, 0 for the other user.
     */
    @Test
    void anotherUsersFreeUploadsDoNotMakeAJobChargedTwice() {
        String victim = subject();
        String hostile = subject();
        long estimate = createBackgroundResponse(victim);
        hostileUploads(hostile, SMALL_MEMORY);
        long used = readBack(victim);
        assertEquals(Math.max(estimate, RUN_USAGE), used, kind() + ": created (charged " + estimate + "), "
                + SMALL_MEMORY + " free uploads by another user, read back with usage " + RUN_USAGE + ": " + ledger(victim));
    }
}
