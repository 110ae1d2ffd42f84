package io.tokenquota.servlet.spring;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import io.tokenquota.QuotaStore;
import io.tokenquota.memory.InMemoryQuotaStore;
import io.tokenquota.servlet.QuotaApiServlet;
import io.tokenquota.servlet.QuotaFilter;
import io.tokenquota.servlet.SubjectResolver;
import io.tokenquota.servlet.metrics.QuotaMetrics;
import io.micrometer.core.instrument.binder.MeterBinder;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.springframework.boot.autoconfigure.AutoConfigurations;
import org.springframework.boot.test.context.runner.WebApplicationContextRunner;
import org.springframework.boot.web.servlet.FilterRegistrationBean;
import org.springframework.boot.web.servlet.ServletRegistrationBean;

class QuotaWebAutoConfigurationTest {
    private final InMemoryQuotaStore store = new InMemoryQuotaStore();
    private final WebApplicationContextRunner runner = new WebApplicationContextRunner()
            .withConfiguration(AutoConfigurations.of(QuotaWebAutoConfiguration.class))
            .withBean(QuotaStore.class, () -> store);

    @Test
    void prefixesGiveAFilterAfterSpringSecurityAndTheApiUnderItsPrefix() {
        runner.withPropertyValues("quota.filter.prefixes[0]=/api/v1/ai/", "quota.filter.prefixes[1]=/audio/",
                        "quota.api.prefix=/quota-api")
                .run(context -> {
                    FilterRegistrationBean<?> filter = context.getBean("quotaFilterRegistration", FilterRegistrationBean.class);
                    assertTrue(filter.getFilter() instanceof QuotaFilter);
                    assertEquals(0, filter.getOrder(), "after Spring Security's filter chain (-100)");
                    ServletRegistrationBean<?> api = context.getBean("quotaApiServletRegistration",
                            ServletRegistrationBean.class);
                    assertTrue(api.getServlet() instanceof QuotaApiServlet);
                    assertEquals(List.of("/quota-api/*"), List.copyOf(api.getUrlMappings()));
                });
    }

    /**
     * {@code quota.filter.release-on-error=false}: a call that fails before answering (a 500 here, an async
     * timeout alike) is charged its estimate, for hosts whose workers may still call the model after the failure;
     * by default it is released.
     */
    @Test
    void releaseOnErrorFalseChargesACallThatFailedBeforeAnswering() {
        for (boolean release : new boolean[] {true, false}) {
            runner.withPropertyValues("quota.filter.prefixes[0]=/ai/", "quota.filter.identity=header",
                            "quota.filter.trusted-proxies[0]=127.0.0.1", "quota.filter.release-on-error=" + release)
                    .run(context -> {
                        jakarta.servlet.http.HttpServlet failing = new jakarta.servlet.http.HttpServlet() {
                            @Override
                            protected void service(jakarta.servlet.http.HttpServletRequest req,
                                                   jakarta.servlet.http.HttpServletResponse resp) {
                                resp.setStatus(502);
                            }
                        };
                        String subject = "u-release-" + release;
                        try (io.tokenquota.servlet.testing.EmbeddedContainer c = io.tokenquota.servlet.testing.ContainerKind.JETTY
                                .start(io.tokenquota.servlet.testing.Deployment.create()
                                        .filter("quota", context.getBean(QuotaFilter.class), "/ai/*")
                                        .servlet("failing", failing, "/ai/*"))) {
                            var r = io.tokenquota.servlet.testing.TestHttp.postJson(c.uri("/ai/chat"), subject,
                                    "{\"model\":\"gpt-4o\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"max_tokens\":500}");
                            assertEquals(502, r.statusCode());
                        }
                        long used = io.tokenquota.servlet.testing.Ledgers.settled(store, subject).used();
                        assertEquals(release, used == 0, "release-on-error=" + release + ": charged " + used);
                    });
        }
    }

    /** Properties are configuration: a bad one stops the context with an IllegalArgumentException naming it. */
    @Test
    void badPropertiesFailStartupWithAnIllegalArgument() {
        runner.withPropertyValues("quota.filter.prefixes[0]=/ai/", "quota.filter.hold-ttl=0s")
                .run(context -> assertIllegalArgument(context.getStartupFailure(), "holdTtl"));
        runner.withPropertyValues("quota.api.prefix=quota-api")
                .run(context -> assertIllegalArgument(context.getStartupFailure(), "quota.api.prefix"));
        runner.withPropertyValues("quota.filter.prefixes[0]=/ai/", "quota.filter.fit-output-minimum=0")
                .run(context -> assertIllegalArgument(context.getStartupFailure(), "fitOutputBudget"));
    }

    private static void assertIllegalArgument(Throwable failure, String named) {
        Throwable root = failure;
        while (root != null && root.getCause() != null && !(root instanceof IllegalArgumentException)) {
            root = root.getCause();
        }
        assertTrue(root instanceof IllegalArgumentException, () -> "startup failure: " + failure);
        assertTrue(root.getMessage().contains(named), root.getMessage());
    }

    @Test
    void withoutPrefixesThereIsNoFilterButStillTheApi() {
        runner.run(context -> {
            assertTrue(context.getBeansOfType(QuotaFilter.class).isEmpty());
            assertEquals(1, context.getBeansOfType(QuotaApiServlet.class).size());
        });
    }

    @Test
    void theHostsOwnResolverIsUsed() {
        SubjectResolver own = request -> "fixed";
        runner.withPropertyValues("quota.filter.prefixes[0]=/ai/")
                .withBean(SubjectResolver.class, () -> own)
                .run(context -> assertSame(own, context.getBean(SubjectResolver.class)));
    }

    @Test
    void metricsCountTheStoresEventsWithoutASubjectTag() {
        runner.withPropertyValues("quota.filter.prefixes[0]=/ai/")
                .withBean(MeterRegistry.class, SimpleMeterRegistry::new)
                .run(context -> {
                    MeterRegistry registry = context.getBean(MeterRegistry.class);
                    context.getBean(QuotaMetrics.class).bindTo(registry);
                    context.getBeansOfType(MeterBinder.class).values().forEach(b -> b.bindTo(registry));
                    store.commit(store.reserve("metrics-user", 100, null), 80);
                    store.consume("metrics-user", 20, null);
                    assertEquals(1.0, registry.get("tokenquota.holds").counter().count());
                    assertEquals(2.0, registry.get("tokenquota.charges").tag("late", "false").counter().count());
                    assertEquals(100.0, registry.get("tokenquota.tokens.charged").counter().count());
                    assertEquals(0.0, registry.get("tokenquota.holds.open").gauge().value());
                    assertEquals(0.0, registry.get("tokenquota.filter.fail.open").functionCounter().count());
                    assertEquals(0.0, registry.get("tokenquota.filter.settle.failures").functionCounter().count());
                    registry.getMeters().forEach(m -> assertTrue(m.getId().getTag("subject") == null));
                });
    }
}
