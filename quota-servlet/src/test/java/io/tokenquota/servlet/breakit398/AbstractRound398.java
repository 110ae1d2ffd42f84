package io.tokenquota.servlet.breakit398;

import static org.junit.jupiter.api.Assertions.assertAll;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;

import io.tokenquota.QuotaAccount;
import io.tokenquota.QuotaStore;
import io.tokenquota.servlet.QuotaFilter;
import io.tokenquota.servlet.SubjectResolver;
import io.tokenquota.servlet.spring.QuotaWebAutoConfiguration;
import io.tokenquota.servlet.testing.ContextApp;
import io.tokenquota.servlet.testing.Deployment;
import io.tokenquota.servlet.testing.H2FilterRound;
import io.tokenquota.servlet.testing.ModelCalls;
import io.tokenquota.servlet.testing.TestHttp;
import java.net.http.HttpResponse;
import java.util.UUID;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.Test;
import org.springframework.boot.autoconfigure.AutoConfigurations;
import org.springframework.boot.test.context.runner.WebApplicationContextRunner;

/**
 * Round 398 of issue 11: the filter as a Spring Boot application wires it ({@link QuotaWebAutoConfiguration},
 * {@code quota.filter.*} properties), beside a second quota filter of the host's own.
 *
 * <p>docs/decisions.md, "Several quota filters on one request": a request under both filters' prefixes
 * ({@code /ai/} and {@code /ai/agents/} nested, round 363) "is the same model call: the second filter passes it
 * through, and the call is charged once"; "'One store' is the store object the filters were built with ... so
 * build both filters with the same object". A Spring Boot host does exactly that: its own agents filter (a
 * {@code FilterRegistrationBean} of its own, for {@code releaseOnError(false)} on agent routes, round 325's reason)
 * is built on the {@link QuotaStore} bean, the very object the auto-configuration is given. But with Micrometer on
 * the classpath (Actuator brings it; the README's {@code management.endpoints.web.exposure.include: health,metrics})
 * the auto-configured filter is built on {@code QuotaMetrics.timed(store)}, a wrapper the host never sees, so the
 * two filters count as two ledgers and one model call is charged twice to the same user.
 *
 * <p>Here the auto-configured filter is the real one: {@link QuotaWebAutoConfiguration} run by Spring Boot's
 * {@link WebApplicationContextRunner} (as QuotaWebAutoConfigurationTest and round 347 run it) with
 * {@code quota.filter.prefixes[0]=/spring/}, the round's H2 store as the {@code QuotaStore} bean and the round's
 * trusted-header resolver as the host's own {@code SubjectResolver} bean. It is mapped first on every path (the
 * auto-configuration's registration: order 0, {@code /*}), the host's filter after it (a registration's default
 * order is the lowest). The control pair is the same layout with the outer filter built by hand on the store.
 *
 * <p>Shapes: the request is an OpenAI Chat Completions request ({@code model}, {@code messages}:
 * platform.openai.com/docs/api-reference/chat/create); the answer a {@code chat.completion} object with its
 * {@code usage} (1,200 prompt + 300 completion tokens: platform.openai.com/docs/api-reference/chat/object),
 * written by the fixtures' {@link ContextApp.Model}.
 */
abstract class AbstractRound398 extends H2FilterRound {
    static final long PROMPT = 1_200;
    static final long COMPLETION = 300;
    static final String ASK = "{\"model\":\"gpt-4o\",\"messages\":[{\"role\":\"user\",\"content\":\"Plan a weekend in Lisbon\"}]}";

    final ModelCalls calls = new ModelCalls();

    /** The quota filter the Spring Boot auto-configuration builds for {@code quota.filter.prefixes[0]=/spring/}. */
    QuotaFilter autoConfigured() {
        SubjectResolver own = SubjectResolver.trustedHeader("x-user-id", "127.0.0.1", "::1");
        AtomicReference<QuotaFilter> built = new AtomicReference<>();
        new WebApplicationContextRunner()
                .withConfiguration(AutoConfigurations.of(QuotaWebAutoConfiguration.class))
                // the application's store bean; its close is left to the round (destroyMethod "")
                .withBean("quotaStore", QuotaStore.class, () -> store, bd -> bd.setDestroyMethodName(""))
                .withBean(SubjectResolver.class, () -> own)
                .withPropertyValues("quota.filter.prefixes[0]=/spring/")
                .run(context -> {
                    assertNull(context.getStartupFailure(), () -> "startup failed: " + context.getStartupFailure());
                    built.set(context.getBean(QuotaFilter.class));
                });
        return built.get();
    }

    @Override
    protected Deployment deploy(QuotaFilter unused) {
        QuotaFilter spring = autoConfigured();
        // the host's own filter for its agent routes, on the QuotaStore bean (the object it is given)
        QuotaFilter springAgents = filterFor(store, "/spring/agents/").releaseOnError(false).build();
        // control: the outer filter built by hand on the same store
        QuotaFilter plain = filterFor(store, "/plain/").build();
        QuotaFilter plainAgents = filterFor(store, "/plain/agents/").releaseOnError(false).build();
        return Deployment.create()
                .filter("quotaFilter", spring, "/*")
                .filter("agentsQuota", springAgents, "/*")
                .filter("plainQuota", plain, "/*")
                .filter("plainAgentsQuota", plainAgents, "/*")
                .servlet("chat", new ContextApp.Model(calls, "chatcmpl-398", PROMPT, COMPLETION),
                        "/spring/chat/completions", "/spring/agents/run", "/plain/chat/completions", "/plain/agents/run");
    }

    static String subject() {
        return "u398-" + UUID.randomUUID().toString().substring(0, 12);
    }

    /** One call: 200, one model call, charged its usage once (1,500). */
    void assertOneCallChargedOnce(String path, String story) {
        String s = subject();
        HttpResponse<String> r = TestHttp.postJson(container.uri(path), s, ASK);
        QuotaAccount a = settled(s);
        assertAll(() -> assertEquals(200, r.statusCode(), kind() + ": " + story + ": " + r.body()),
                () -> assertEquals(1, calls.of(s), kind() + ": " + story + ": model calls"),
                () -> assertEquals(PROMPT + COMPLETION, a.used(), kind() + ": " + story + ": used; " + ledger(s)));
    }

    /** Control: a call under the auto-configured filter's prefix only: charged once. */
    @Test
    void controlAutoConfiguredFilterAloneChargesOnce() {
        assertOneCallChargedOnce("/spring/chat/completions", "auto-configured filter alone");
    }

    /** Control: nested prefixes, both filters built on the store object (round 363's rule): charged once. */
    @Test
    void controlNestedPrefixesOnTheStoreObjectChargeOnce() {
        assertOneCallChargedOnce("/plain/agents/run", "nested prefixes, both filters on the store");
    }

    /**
     * Finding: nested prefixes, the outer filter the auto-configured one (its ledger Micrometer's timed wrapper),
     * the inner the host's own on the {@code QuotaStore} bean: one model call is charged twice (3,000 for 1,500).
     */
    @Test
    void autoConfiguredFilterAndHostFilterOnTheStoreBeanChargeOneCallOnce() {
        assertOneCallChargedOnce("/spring/agents/run", "nested prefixes, auto-configured filter + host filter on the store bean");
    }
}
