package io.tokenquota.servlet.breakit347;

import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.tokenquota.QuotaStore;
import io.tokenquota.memory.InMemoryQuotaStore;
import io.tokenquota.servlet.spring.QuotaWebAutoConfiguration;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.springframework.boot.autoconfigure.AutoConfigurations;
import org.springframework.boot.test.context.runner.WebApplicationContextRunner;

/**
 * Round 347 of issue 11, items 7 and 12 as a new user meets them: a Spring Boot application configured
 * from {@code application.yml} as the README's "Spring Boot" section shows ({@code quota.api.admin-token:
 * ${QUOTA_ADMIN_TOKEN:}}, {@code quota.filter.identity=header} with {@code quota.filter.trusted-proxies}).
 * Item 12: "the demo accepts 8-character secrets that the library then refuses with an error that does not
 * name the variable". The library's own rule (QuotaWebAutoConfigurationTest#badPropertiesFailStartupWithAnIllegalArgument):
 * "a bad one stops the context with an IllegalArgumentException naming it" ({@code quota.api.prefix} is named).
 * A new user who sets an 8-character admin token, forgets the trusted proxies of {@code identity=header}, or
 * writes a proxy's host name there, gets a startup failure that names neither property; the property's
 * name is what they must find in their configuration. The properties are the library's own
 * ({@link io.tokenquota.servlet.spring.QuotaWebProperties}); the runner is Spring Boot's
 * {@code WebApplicationContextRunner}, as the library's own test uses it; no container is involved. Fixed:
 * each such refusal now names its property ({@code QuotaWebAutoConfiguration.named}).
 */
class Round347BreakItTest {

    private final WebApplicationContextRunner runner = new WebApplicationContextRunner()
            .withConfiguration(AutoConfigurations.of(QuotaWebAutoConfiguration.class))
            .withBean(QuotaStore.class, InMemoryQuotaStore::new);

    /** Every message of the startup failure's chain. */
    private static List<String> messages(Throwable failure) {
        List<String> out = new ArrayList<>();
        for (Throwable t = failure; t != null; t = t.getCause()) {
            out.add(t.getClass().getSimpleName() + ": " + t.getMessage());
        }
        return out;
    }

    private void assertStartupFailureNames(String property, String... properties) {
        runner.withPropertyValues(properties).run(context -> {
            Throwable failure = context.getStartupFailure();
            assertNotNull(failure, List.of(properties) + " must stop the context");
            List<String> chain = messages(failure);
            assertTrue(chain.stream().anyMatch(m -> m.contains(property)), "the startup failure for "
                    + List.of(properties) + " must name " + property + "; it says " + chain.get(chain.size() - 1));
        });
    }

    /** Control: a bad {@code quota.api.prefix} is named in the failure (passes today). */
    @Test
    void controlBadApiPrefixIsNamed() {
        assertStartupFailureNames("quota.api.prefix", "quota.api.prefix=quota-api");
    }

    /** Control: a 16-character admin token and a trusted proxy literal start the context (passes today). */
    @Test
    void controlGoodAdminTokenAndProxiesStart() {
        runner.withPropertyValues("quota.filter.prefixes[0]=/api/v1/ai/", "quota.filter.identity=header",
                        "quota.filter.trusted-proxies[0]=10.0.0.7", "quota.api.admin-token=0123456789abcdef")
                .run(context -> assertTrue(context.getStartupFailure() == null,
                        () -> messages(context.getStartupFailure()).toString()));
    }

    /** Item 12: an 8-character {@code QUOTA_ADMIN_TOKEN} stops startup without naming {@code quota.api.admin-token}. */
    @Test
    void shortAdminTokenFailureNamesTheProperty() {
        assertStartupFailureNames("quota.api.admin-token", "quota.api.admin-token=s3cr3t!!");
    }

    /** Item 12's sibling: a short payment secret stops startup without naming {@code quota.api.payment-secret}. */
    @Test
    void shortPaymentSecretFailureNamesTheProperty() {
        assertStartupFailureNames("quota.api.payment-secret", "quota.api.payment-secret=s3cr3t!!");
    }

    /** Item 7 as configured: {@code identity=header} without trusted proxies fails without naming the property. */
    @Test
    void headerIdentityWithoutTrustedProxiesNamesTheProperty() {
        assertStartupFailureNames("quota.filter.trusted-proxies", "quota.filter.prefixes[0]=/api/v1/ai/",
                "quota.filter.identity=header");
    }

    /** Item 7 as configured: a proxy's host name among the trusted proxies fails without naming the property. */
    @Test
    void trustedProxyHostNameNamesTheProperty() {
        assertStartupFailureNames("quota.filter.trusted-proxies", "quota.filter.prefixes[0]=/api/v1/ai/",
                "quota.filter.identity=header", "quota.filter.trusted-proxies[0]=ingress.internal");
    }
}
