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
 * xAI's deferred chat completions (round 315) settle as a job only by the {@code request_id} this subject's
 * deferred creation was answered with, read at {@code …/chat/deferred-completion/{request_id}}: an unknown id's
 * empty 202, an empty 202 at another path, and the poll of a creation that did not ask to be deferred are
 * charged as any answer (an application's 202 may be a model call it queued).
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class DeferredCompletionReadsTest extends H2FilterRound {
    private final CannedProvider provider = new CannedProvider(new ModelCalls(), path -> false);

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
        return "dcr-" + UUID.randomUUID().toString().substring(0, 12);
    }

    private static final String ASK = "{\"model\":\"grok-4\",\"messages\":[{\"role\":\"user\",\"content\":\"Review it.\"}],"
            + "\"max_tokens\":1000,\"deferred\":true}";

    private long create(String s, String requestId, String body) {
        provider.answer(s, "POST", "/ai/xai/v1/chat/completions", "{\"request_id\":\"" + requestId + "\"}");
        HttpResponse<String> r = TestHttp.postJson(container.uri("/ai/xai/v1/chat/completions"), s, body);
        assertEquals(200, r.statusCode(), r.body());
        return settled(s).used();
    }

    private long poll(String s, String path) {
        provider.answerRaw(s, "GET", path, 202, null, null);
        HttpResponse<String> r = TestHttp.get(container.uri(path), "x-user-id", s);
        assertEquals(202, r.statusCode(), r.body());
        return settled(s).used();
    }

    @Test
    void theEmptyPollOfTheCreationsIdIsReleased() {
        String s = subject();
        String id = UUID.randomUUID().toString();
        long created = create(s, id, ASK);
        assertEquals(created, poll(s, "/ai/xai/v1/chat/deferred-completion/" + id), ledger(s));
    }

    @Test
    void anUnknownIdsEmptyPollIsCharged() {
        String s = subject();
        long created = create(s, UUID.randomUUID().toString(), ASK);
        long after = poll(s, "/ai/xai/v1/chat/deferred-completion/" + UUID.randomUUID());
        assertTrue(after > created, "another id: " + ledger(s));
    }

    @Test
    void anEmpty202AtAnotherPathIsChargedWhateverIdItNames() {
        String s = subject();
        String id = UUID.randomUUID().toString();
        long created = create(s, id, ASK);
        long after = poll(s, "/ai/jobs/" + id);
        assertTrue(after > created, "an application's 202: " + ledger(s));
    }

    @Test
    void aCreationThatDidNotAskToBeDeferredIsNoJob() {
        String s = subject();
        String id = UUID.randomUUID().toString();
        long created = create(s, id, ASK.replace("\"deferred\":true", "\"deferred\":false"));
        long after = poll(s, "/ai/xai/v1/chat/deferred-completion/" + id);
        assertTrue(after > created, "not deferred: " + ledger(s));
    }

    @Test
    void anotherSubjectsPollOfTheIdIsCharged() {
        String s = subject();
        String other = subject();
        String id = UUID.randomUUID().toString();
        create(s, id, ASK);
        assertTrue(poll(other, "/ai/xai/v1/chat/deferred-completion/" + id) > 0, ledger(other));
    }

    private long result(String s, String id, long usage) {
        String path = "/ai/xai/v1/chat/deferred-completion/" + id;
        provider.answer(s, "GET", path, "{\"id\":\"" + id + "\",\"object\":\"chat.completion\",\"model\":\"grok-4\","
                + "\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\",\"content\":\"Done.\"},\"finish_reason\":\"stop\"}],"
                + "\"usage\":{\"prompt_tokens\":" + (usage - 100) + ",\"completion_tokens\":100,\"total_tokens\":" + usage + "}}");
        HttpResponse<String> r = TestHttp.get(container.uri(path), "x-user-id", s);
        assertEquals(200, r.statusCode(), r.body());
        return settled(s).used();
    }

    /**
     * Round 319: a second creation answered with the id of a job still open is an ordinary call; the first
     * job's figure stands, so its result is charged what passes the first creation's charge.
     */
    @Test
    void aSecondCreationUnderAnOpenJobsIdKeepsTheFirstFigure() {
        String s = subject();
        String id = UUID.randomUUID().toString();
        long first = create(s, id, ASK);
        long second = create(s, id, ASK) - first;
        assertTrue(second > 0, ledger(s));
        assertEquals(second + 6_000, result(s, id, 6_000), ledger(s));
    }

    /** Once its result was read, a job's id may start a job again (xAI's ids are its own): a figure afresh. */
    @Test
    void aCreationUnderTheIdOfAJobWhoseResultWasReadStartsAfresh() {
        String s = subject();
        String id = UUID.randomUUID().toString();
        create(s, id, ASK);
        long firstDone = result(s, id, 6_000);
        assertEquals(6_000, firstDone, ledger(s));
        long again = create(s, id, ASK);
        assertTrue(again > firstDone, ledger(s));
        assertEquals(firstDone + 4_000, result(s, id, 4_000), ledger(s));
    }

    /** A chat completion answered whole, its {@code request_id} echoed (Z.ai's), is no deferred creation. */
    @Test
    void aWholeAnswerNamingARequestIdStartsNoJob() {
        String s = subject();
        String id = UUID.randomUUID().toString();
        provider.answer(s, "POST", "/ai/zai/api/paas/v4/chat/completions", "{\"model\":\"glm-4-plus\",\"choices\":[{\"index\":0,"
                + "\"finish_reason\":\"stop\",\"message\":{\"role\":\"assistant\",\"content\":\"x\"}}],\"request_id\":\"" + id
                + "\",\"id\":\"2024\",\"usage\":{\"prompt_tokens\":2900,\"completion_tokens\":100,\"total_tokens\":3000}}");
        HttpResponse<String> r = TestHttp.postJson(container.uri("/ai/zai/api/paas/v4/chat/completions"), s, ASK);
        assertEquals(200, r.statusCode(), r.body());
        assertEquals(3_000, settled(s).used(), ledger(s));
        assertTrue(poll(s, "/ai/xai/v1/chat/deferred-completion/" + id) > 3_000, "no job under that id: " + ledger(s));
    }
}
