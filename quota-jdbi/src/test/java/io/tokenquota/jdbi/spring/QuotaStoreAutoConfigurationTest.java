package io.tokenquota.jdbi.spring;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.zaxxer.hikari.HikariConfig;
import com.zaxxer.hikari.HikariDataSource;
import io.tokenquota.OverrunPolicy;
import io.tokenquota.QuotaPolicy;
import io.tokenquota.QuotaStore;
import io.tokenquota.Reservation;
import io.tokenquota.jdbi.JdbiQuotaStore;
import io.tokenquota.memory.InMemoryQuotaStore;
import java.time.Duration;
import java.time.ZoneId;
import java.util.UUID;
import javax.sql.DataSource;
import org.junit.jupiter.api.Test;
import org.springframework.boot.autoconfigure.AutoConfigurations;
import org.springframework.boot.health.contributor.Status;
import org.springframework.boot.test.context.runner.ApplicationContextRunner;
import org.springframework.context.annotation.Bean;
import org.springframework.context.annotation.Configuration;

class QuotaStoreAutoConfigurationTest {
    private final ApplicationContextRunner runner = new ApplicationContextRunner()
            .withConfiguration(AutoConfigurations.of(QuotaStoreAutoConfiguration.class));

    @Configuration(proxyBeanMethods = false)
    static class H2Pool {
        @Bean(destroyMethod = "close")
        HikariDataSource dataSource() {
            HikariConfig config = new HikariConfig();
            config.setJdbcUrl("jdbc:h2:mem:spring-" + UUID.randomUUID() + ";DB_CLOSE_DELAY=-1");
            config.setMaximumPoolSize(2);
            return new HikariDataSource(config);
        }
    }

    @Test
    void aDataSourceGetsAJdbiStoreWithTheBoundPolicyAndItsTablesInstalled() {
        runner.withUserConfiguration(H2Pool.class)
                .withPropertyValues("quota.default-allocation=5000", "quota.max-quota=50000",
                        "quota.warning-threshold=0.9", "quota.hold-ttl=2m", "quota.zone=Asia/Seoul",
                        "quota.overrun-policy=CAP_AT_HOLD")
                .run(context -> {
                    QuotaStore store = context.getBean(QuotaStore.class);
                    assertInstanceOf(JdbiQuotaStore.class, store);
                    QuotaPolicy policy = store.policy();
                    assertEquals(5_000, policy.defaultAllocation());
                    assertEquals(50_000, policy.maxQuota());
                    assertEquals(0.9, policy.warningThreshold());
                    assertEquals(Duration.ofMinutes(2), policy.holdTtl());
                    assertEquals(ZoneId.of("Asia/Seoul"), policy.zone());
                    assertEquals(OverrunPolicy.CAP_AT_HOLD, policy.overrunPolicy());

                    Reservation hold = store.reserve("spring-user", 1_000, "k1");
                    store.commit(hold, 700);
                    assertEquals(700, store.account("spring-user").used());
                    assertEquals(4_300, store.account("spring-user").available());
                    assertTrue(context.getBean(StaleHoldSweeper.class).isRunning());
                });
    }

    /** Properties are configuration: a bad one stops the context with an IllegalArgumentException. */
    @Test
    void badPolicyPropertiesFailStartupWithAnIllegalArgument() {
        runner.withUserConfiguration(H2Pool.class)
                .withPropertyValues("quota.warning-threshold=1.5")
                .run(context -> {
                    Throwable root = context.getStartupFailure();
                    while (root != null && root.getCause() != null && !(root instanceof IllegalArgumentException)) {
                        root = root.getCause();
                    }
                    Throwable failure = context.getStartupFailure();
                    assertTrue(root instanceof IllegalArgumentException, () -> "startup failure: " + failure);
                    assertTrue(root.getMessage().contains("warningThreshold"), root.getMessage());
                });
    }

    @Test
    void theHostsOwnStoreAndPolicyWin() {
        InMemoryQuotaStore own = new InMemoryQuotaStore();
        runner.withUserConfiguration(H2Pool.class)
                .withBean(QuotaStore.class, () -> own)
                .run(context -> {
                    assertSame(own, context.getBean(QuotaStore.class));
                    assertEquals(1, context.getBeansOfType(QuotaStore.class).size());
                });
    }

    @Test
    void withoutADataSourceNothingIsConfigured() {
        runner.run(context -> assertFalse(context.containsBean("quotaStore")));
    }

    @Test
    void theSweepCanBeTurnedOff() {
        runner.withUserConfiguration(H2Pool.class)
                .withPropertyValues("quota.expire-stale.enabled=false")
                .run(context -> assertTrue(context.getBeansOfType(StaleHoldSweeper.class).isEmpty()));
    }

    @Test
    void healthIsUpWhileTheDatabaseAnswersAndDownWhenItIsGone() {
        runner.withUserConfiguration(H2Pool.class).run(context -> {
            QuotaStoreHealthIndicator health = context.getBean(QuotaStoreHealthIndicator.class);
            assertEquals(Status.UP, health.health().getStatus());
            var connection = context.getBean(DataSource.class).getConnection();
            connection.createStatement().execute("SHUTDOWN");
            try {
                connection.close();
            } catch (java.sql.SQLException alreadyClosed) {
                // SHUTDOWN closed it; the pool drops it
            }
            // the pool's next connection opens a new, empty in-memory database: no quota tables
            assertEquals(Status.DOWN, health.health().getStatus());
        });
    }

    @Test
    void anInvalidPolicyFailsTheStartupWithTheReason() {
        runner.withUserConfiguration(H2Pool.class)
                .withPropertyValues("quota.warning-threshold=1.5")
                .run(context -> {
                    assertTrue(context.getStartupFailure() != null, "startup must fail");
                    assertTrue(String.valueOf(rootCause(context.getStartupFailure()).getMessage())
                            .contains("warningThreshold"));
                });
    }

    private static Throwable rootCause(Throwable t) {
        while (t.getCause() != null && t.getCause() != t) {
            t = t.getCause();
        }
        return t;
    }
}
