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
}
