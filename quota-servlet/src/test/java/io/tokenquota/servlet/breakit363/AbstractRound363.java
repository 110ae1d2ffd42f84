package io.tokenquota.servlet.breakit363;

import static org.junit.jupiter.api.Assertions.assertAll;
import static org.junit.jupiter.api.Assertions.assertEquals;

import io.tokenquota.QuotaAccount;
import io.tokenquota.servlet.QuotaFilter;
import io.tokenquota.servlet.testing.ContextApp;
import io.tokenquota.servlet.testing.Deployment;
import io.tokenquota.servlet.testing.H2FilterRound;
import io.tokenquota.servlet.testing.ModelCalls;
import io.tokenquota.servlet.testing.TestHttp;
import java.net.http.HttpResponse;
import java.util.UUID;
import org.junit.jupiter.api.Test;

/**
 * Round 363 of issue 11, item 4 ({@code Idempotency-Key}) and keyed calls through two filters over one store.
 *
 * <p>docs/servlet.md ("The next call sees the previous call's charge") presents "a service with two filters (two
 * prefixes, two wrappers of one store)" as a valid set-up, and docs/decisions.md ("Several quota filters on one
 * request") says a call that reaches another filter's protected path for the same subject "is the same model call:
 * the second filter passes it through, and the call is charged once" (round 325, for a forward or an include).
 * Here the two prefixes nest, as a host gets when it gives its agent routes their own filter for the per-filter
 * settings ({@code releaseOnError(false)}: agent workers run on after a 5xx, round 325's reason): the round's own
 * filter protects {@code /ai/}, filter {@code quota-agents} protects {@code /ai/agents/}, both on the one store, both
 * with the same subject resolver, both mapped on every path as the README maps the filter. A request to
 * {@code /ai/agents/run} is one REQUEST dispatch through both.
 *
 * <p>Shapes: the request is an OpenAI Chat Completions request ({@code model}, {@code messages}:
 * platform.openai.com/docs/api-reference/chat/create); the answer a {@code chat.completion} object with its
 * {@code usage} (1,200 prompt + 300 completion tokens: platform.openai.com/docs/api-reference/chat/object), written
 * by the fixtures' {@link ContextApp.Model}. {@code Idempotency-Key} is the header the filter reads (README,
 * docs/servlet.md step 4; IETF draft-ietf-httpapi-idempotency-key-header).
 */
abstract class AbstractRound363 extends H2FilterRound {
    static final long PROMPT = 1_200;
    static final long COMPLETION = 300;
    static final String ASK = "{\"model\":\"gpt-4o\",\"messages\":[{\"role\":\"user\",\"content\":\"Plan a weekend in Lisbon\"}]}";

    final ModelCalls calls = new ModelCalls();

    @Override
    protected Deployment deploy(QuotaFilter ai) {
        QuotaFilter agents = filterFor("/ai/agents/").releaseOnError(false).build();
        return Deployment.create()
                .filter("quota-ai", ai, "/*")
                .filter("quota-agents", agents, "/*")
                .servlet("chat", new ContextApp.Model(calls, "chatcmpl-363", PROMPT, COMPLETION),
                        "/ai/chat/completions", "/ai/agents/run");
    }

    static String subject() {
        return "u363-" + UUID.randomUUID().toString().substring(0, 12);
    }

    static String key() {
        return "idem-" + UUID.randomUUID();
    }

    /** One call (keyed when {@code key} is not null): 200, one model call, charged its usage once. */
    void assertOneCallChargedOnce(String path, String key, String story) {
        String s = subject();
        HttpResponse<String> r = key == null ? TestHttp.postJson(container.uri(path), s, ASK)
                : TestHttp.postJson(container.uri(path), s, ASK, "Idempotency-Key", key);
        QuotaAccount a = settled(s);
        assertAll(() -> assertEquals(200, r.statusCode(), kind() + ": " + story + ": " + r.body()),
                () -> assertEquals(1, calls.of(s), kind() + ": " + story + ": model calls"),
                () -> assertEquals(PROMPT + COMPLETION, a.used(), kind() + ": " + story + ": used; " + ledger(s)));
    }

    // ------------------------------------------------------------------ controls: one filter's prefix

    /** Control: the model under {@code /ai/} only (one filter): 200, one call, 1,500. */
    @Test
    void controlACallUnderOneFilterIsChargedOnce() {
        assertOneCallChargedOnce("/ai/chat/completions", null, "a call under /ai/ alone");
    }

    /** Control: the same with an {@code Idempotency-Key}: 200, one call, 1,500. */
    @Test
    void controlAKeyedCallUnderOneFilterBuysItsOneCall() {
        assertOneCallChargedOnce("/ai/chat/completions", key(), "a keyed call under /ai/ alone");
    }

    // ------------------------------------------------------------------ one request through both filters

    /**
     * The agent route under both prefixes, no key. Rule: one model call is charged once (issue 11; docs/decisions.md
     * "Several quota filters on one request": the same model call reaching another filter's protected path for the
     * same subject is passed through by the second filter). Expected 1,500.
     */
    @Test
    void aCallUnderNestedPrefixesOfTwoFiltersIsChargedOnce() {
        assertOneCallChargedOnce("/ai/agents/run", null, "a call under /ai/ and /ai/agents/ (two filters)");
    }

    /**
     * The same call with a fresh {@code Idempotency-Key}. Rule: "A key buys at most one model call" and the first
     * request with a key owns it (docs/servlet.md step 4): the first request is served. Expected 200, one call, 1,500.
     */
    @Test
    void aKeyedCallUnderNestedPrefixesOfTwoFiltersBuysItsOneCall() {
        assertOneCallChargedOnce("/ai/agents/run", key(), "a keyed call under /ai/ and /ai/agents/ (two filters)");
    }
}
