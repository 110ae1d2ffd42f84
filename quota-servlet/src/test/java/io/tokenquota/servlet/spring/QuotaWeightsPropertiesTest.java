package io.tokenquota.servlet.spring;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.tokenquota.ModelWeights;
import io.tokenquota.ModelWeights.Rates;
import io.tokenquota.QuotaStore;
import io.tokenquota.memory.InMemoryQuotaStore;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.springframework.boot.autoconfigure.AutoConfigurations;
import org.springframework.boot.test.context.runner.WebApplicationContextRunner;

/** {@code quota.weights.*}: rows or a file become the filter's table; a bad table stops startup naming the entry. */
class QuotaWeightsPropertiesTest {
    private final WebApplicationContextRunner runner = new WebApplicationContextRunner()
            .withConfiguration(AutoConfigurations.of(QuotaWebAutoConfiguration.class))
            .withBean(QuotaStore.class, InMemoryQuotaStore::new);

    @Test
    void rowsBindWithBracketedPatterns() {
        runner.withPropertyValues("quota.filter.prefixes[0]=/ai/", "quota.weights.models[gpt-4o*]=2.5,1.25,10,10",
                        "quota.weights.models[o3]=2, 0.5, 8, 8", "quota.weights.default=3,3,15,15")
                .run(context -> {
                    assertNull(context.getStartupFailure());
                    ModelWeights w = context.getBean(QuotaWebProperties.class).getWeights().toModelWeights();
                    assertEquals(Rates.of("2.5", "1.25", "10", "10"), w.rates("gpt-4o-mini"));
                    assertEquals(Rates.of("2", "0.5", "8", "8"), w.rates("o3"));
                    assertEquals(Rates.of("3", "3", "15", "15"), w.rates("other"));
                });
    }

    @Test
    void aFileIsLoadedByItsExtension(@TempDir Path dir) throws Exception {
        Path json = dir.resolve("weights.json");
        Files.writeString(json, "{\"models\":{\"o3\":{\"input\":2,\"cached_input\":\"0.5\",\"output\":8,"
                + "\"reasoning\":8}},\"default\":{\"input\":1,\"cached_input\":1,\"output\":1,\"reasoning\":1}}");
        runner.withPropertyValues("quota.filter.prefixes[0]=/ai/", "quota.weights.file=" + json)
                .run(context -> {
                    assertNull(context.getStartupFailure());
                    assertEquals(Rates.of("2", "0.5", "8", "8"),
                            context.getBean(QuotaWebProperties.class).getWeights().toModelWeights().rates("O3"));
                });
    }

    @Test
    void aBadTableStopsStartupNamingTheEntry() {
        runner.withPropertyValues("quota.filter.prefixes[0]=/ai/", "quota.weights.models[o3]=2,-0.5,8,8")
                .run(context -> assertFailure(context.getStartupFailure(), "entry 'o3'"));
        runner.withPropertyValues("quota.filter.prefixes[0]=/ai/", "quota.weights.models[o3]=2,0.5,8,8",
                        "quota.weights.file=/nonexistent.csv")
                .run(context -> assertFailure(context.getStartupFailure(), "not both"));
    }

    private static void assertFailure(Throwable failure, String says) {
        assertTrue(failure != null, "startup should fail");
        Throwable t = failure;
        while (t != null && (t.getMessage() == null || !t.getMessage().contains(says))) {
            t = t.getCause();
        }
        assertTrue(t != null, () -> "no cause says '" + says + "': " + failure);
    }
}
