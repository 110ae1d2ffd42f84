package io.tokenquota.servlet;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.tokenquota.Limits;
import io.tokenquota.QuotaPolicy;
import io.tokenquota.memory.InMemoryQuotaStore;
import java.time.Duration;
import org.junit.jupiter.api.Test;

/**
 * Builders are configuration: a bad setting is an IllegalArgumentException (a bad value) or an
 * IllegalStateException (a missing one), never a QuotaException that the HTTP layer would map to a status.
 */
class BuilderConfigurationErrorsTest {
    private final InMemoryQuotaStore store = new InMemoryQuotaStore(QuotaPolicy.defaults());

    private QuotaFilter.Builder filter() {
        return QuotaFilter.builder(store).protect("/ai/").subjectResolver(r -> "u");
    }

    private static void assertNamed(String setting, Exception e) {
        assertTrue(e.getMessage().contains(setting), e.getMessage());
    }

    @Test
    void aFilterHoldTtlOutsideTheLimitsIsAnIllegalArgument() {
        assertNamed("holdTtl", assertThrows(IllegalArgumentException.class, () -> filter().holdTtl(Duration.ZERO)));
        assertNamed("holdTtl", assertThrows(IllegalArgumentException.class,
                () -> filter().holdTtl(Limits.MAX_TTL.plusSeconds(1))));
        filter().holdTtl(Limits.MIN_TTL).holdTtl(Limits.MAX_TTL).holdTtl(null).build();
    }

    @Test
    void filterAmountsOutsideTheLimitsAreIllegalArguments() {
        assertNamed("maxBodyBytes", assertThrows(IllegalArgumentException.class, () -> filter().maxBodyBytes(0)));
        assertNamed("fallbackEstimate", assertThrows(IllegalArgumentException.class,
                () -> filter().fallbackEstimate(Limits.MAX_TOKENS + 1)));
        assertNamed("outputBudgetCap", assertThrows(IllegalArgumentException.class, () -> filter().outputBudgetCap(-1)));
        assertThrows(IllegalArgumentException.class, () -> filter().protect("ai/"));
    }

    @Test
    void aPrefixNoRequestPathCanLieUnderIsAnIllegalArgument() {
        for (String prefix : new String[] {"/api//ai/", "/api/./ai/", "/api/v0/../ai/", "/api/ai/ ", " /api/ai/",
                "/api/a%69/", "/api/ai;v=1/", "/api\\ai/", "/api/ai#x", "/api/\tai/"}) {
            assertNamed(prefix.strip(), assertThrows(IllegalArgumentException.class, () -> filter().protect(prefix), prefix));
            assertThrows(IllegalArgumentException.class, () -> filter().maxBodyBytes(prefix, 1_000), prefix);
        }
        // what a decoded path holds stays a prefix: a trailing slash or several, the root, any other character
        filter().protect("/api/ai//", "/", "/api/v1.2/ai-admin/", "/api/ünïcode/", "/api/a+b/").build();
    }

    @Test
    void aFilterWithoutResolverOrPrefixIsAnIllegalState() {
        assertEquals("a subject resolver is required",
                assertThrows(IllegalStateException.class, () -> QuotaFilter.builder(store).protect("/ai/").build()).getMessage());
        assertThrows(IllegalStateException.class, () -> QuotaFilter.builder(store).subjectResolver(r -> "u").build());
    }

    @Test
    void anApiServletWithAShortSecretOrNoResolverIsRefused() {
        assertThrows(IllegalArgumentException.class, () -> QuotaApiServlet.builder(store).paymentSecret(new byte[15]));
        assertThrows(IllegalStateException.class, () -> QuotaApiServlet.builder(store).build());
    }
}
