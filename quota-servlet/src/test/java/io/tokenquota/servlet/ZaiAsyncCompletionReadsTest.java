package io.tokenquota.servlet;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.tokenquota.servlet.testing.CannedProvider;
import io.tokenquota.servlet.testing.ContainerKind;
import io.tokenquota.servlet.testing.Deployment;
import io.tokenquota.servlet.testing.H2FilterRound;
import io.tokenquota.servlet.testing.ModelCalls;
import io.tokenquota.servlet.testing.TestHttp;
import java.net.http.HttpResponse;
import java.util.UUID;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;

/**
 * Z.ai's asynchronous chat completions (round 319) settle as a job only by the task id this subject's
 * {@code POST …/async/chat/completions} was answered with, read at {@code …/async-result/{id}}: a
 * {@code PROCESSING} or failed read of it released, its {@code SUCCESS} charged what passes the creation's
 * charge; an unknown id, another subject's read and another path are charged as any answer.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class ZaiAsyncCompletionReadsTest extends H2FilterRound {
    private final CannedProvider provider = new CannedProvider(new ModelCalls(), path -> false);
    private static final String BASE = "/ai/zai/api/paas/v4";

    @Override
    protected ContainerKind kind() {
        return ContainerKind.JETTY;
    }

    @Override
    protected Deployment deploy(QuotaFilter filter) {
        return Deployment.create().filter("quota", filter, "/*").servlet("provider", provider, "/ai/*")
                .onStartup(filter::registerByServletName);
    }

    private static String subject() {
        return "zar-" + UUID.randomUUID().toString().substring(0, 12);
    }

    private static final String ASK = "{\"model\":\"glm-4-plus\",\"messages\":[{\"role\":\"user\",\"content\":\"Review it.\"}],"
            + "\"max_tokens\":1000}";

    private static String task(String id, String status) {
        return "{\"id\":\"" + id + "\",\"request_id\":\"r-" + id + "\",\"model\":\"glm-4-plus\",\"task_status\":\"" + status + "\"}";
    }

    private static String success(String id, long usage) {
        return "{\"id\":\"" + id + "\",\"request_id\":\"r-" + id + "\",\"model\":\"glm-4-plus\",\"task_status\":\"SUCCESS\","
                + "\"choices\":[{\"index\":0,\"finish_reason\":\"stop\",\"message\":{\"role\":\"assistant\",\"content\":\"Done.\"}}],"
                + "\"usage\":{\"prompt_tokens\":" + (usage - 100) + ",\"completion_tokens\":100,\"total_tokens\":" + usage + "}}";
    }

    private long create(String s, String id) {
        provider.answer(s, "POST", BASE + "/async/chat/completions", task(id, "PROCESSING"));
        HttpResponse<String> r = TestHttp.postJson(container.uri(BASE + "/async/chat/completions"), s, ASK);
        assertEquals(200, r.statusCode(), r.body());
        return settled(s).used();
    }

    private long read(String s, String path, String answer) {
        provider.answer(s, "GET", path, answer);
        HttpResponse<String> r = TestHttp.get(container.uri(path), "x-user-id", s);
        assertEquals(200, r.statusCode(), r.body());
        return settled(s).used();
    }

    private static String id() {
        return "1016-" + Math.abs(UUID.randomUUID().getMostSignificantBits());
    }

    @Test
    void aFailedTaskWithoutUsageIsReleased() {
        String s = subject();
        String id = id();
        long created = create(s, id);
        assertEquals(created, read(s, BASE + "/async-result/" + id, task(id, "PROCESSING")), ledger(s));
        assertEquals(created, read(s, BASE + "/async-result/" + id, task(id, "FAIL")), ledger(s));
    }

    @Test
    void theResultReadAgainIsReleased() {
        String s = subject();
        String id = id();
        create(s, id);
        assertEquals(9_700, read(s, BASE + "/async-result/" + id, success(id, 9_700)), ledger(s));
        assertEquals(9_700, read(s, BASE + "/async-result/" + id, success(id, 9_700)), ledger(s));
    }

    @Test
    void anUnknownIdsProcessingReadIsCharged() {
        String s = subject();
        long created = create(s, id());
        String other = id();
        assertTrue(read(s, BASE + "/async-result/" + other, task(other, "PROCESSING")) > created, ledger(s));
    }

    @Test
    void anotherPathNamingTheIdIsCharged() {
        String s = subject();
        String id = id();
        long created = create(s, id);
        assertTrue(read(s, BASE + "/tasks/" + id, task(id, "PROCESSING")) > created, ledger(s));
    }

    @Test
    void anotherSubjectsReadOfTheIdIsCharged() {
        String s = subject();
        String other = subject();
        String id = id();
        create(s, id);
        assertTrue(read(other, BASE + "/async-result/" + id, task(id, "PROCESSING")) > 0, ledger(other));
    }

    /** The xAI deferred kind and this one are keyed apart: an xAI read of a Z.ai task id is no read of it. */
    @Test
    void aDeferredCompletionReadOfTheTaskIdIsCharged() {
        String s = subject();
        String id = id();
        long created = create(s, id);
        String path = "/ai/xai/v1/chat/deferred-completion/" + id;
        provider.answerRaw(s, "GET", path, 202, null, null);
        HttpResponse<String> r = TestHttp.get(container.uri(path), "x-user-id", s);
        assertEquals(202, r.statusCode(), r.body());
        assertTrue(settled(s).used() > created, ledger(s));
    }
}
