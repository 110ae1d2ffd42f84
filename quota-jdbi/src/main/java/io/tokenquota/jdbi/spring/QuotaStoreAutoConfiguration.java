package io.tokenquota.jdbi.spring;

import io.tokenquota.QuotaPolicy;
import io.tokenquota.QuotaStore;
import io.tokenquota.jdbi.JdbiQuotaStore;
import javax.sql.DataSource;
import org.springframework.boot.autoconfigure.AutoConfiguration;
import org.springframework.boot.autoconfigure.condition.ConditionalOnBooleanProperty;
import org.springframework.boot.autoconfigure.condition.ConditionalOnClass;
import org.springframework.boot.autoconfigure.condition.ConditionalOnMissingBean;
import org.springframework.boot.autoconfigure.condition.ConditionalOnSingleCandidate;
import org.springframework.boot.context.properties.EnableConfigurationProperties;
import org.springframework.context.annotation.Bean;
import org.springframework.context.annotation.Configuration;

/**
 * Spring Boot auto-configuration of the ledger on the application's {@code DataSource}: a
 * {@link QuotaPolicy} and a {@link JdbiQuotaStore} from the {@code quota.*} properties
 * ({@link QuotaProperties}), the scheduled stale-hold sweep, and an Actuator health indicator when
 * Actuator is present. Every bean backs off when the application defines its own of that type.
 * Inert without Spring Boot on the classpath (all Spring dependencies of this module are optional).
 */
@AutoConfiguration(afterName = {
    // Spring Boot 4 and Spring Boot 3 names of the DataSource auto-configuration
    "org.springframework.boot.jdbc.autoconfigure.DataSourceAutoConfiguration",
    "org.springframework.boot.autoconfigure.jdbc.DataSourceAutoConfiguration"})
@ConditionalOnClass(DataSource.class)
@ConditionalOnSingleCandidate(DataSource.class)
@EnableConfigurationProperties(QuotaProperties.class)
public class QuotaStoreAutoConfiguration {

    @Bean
    @ConditionalOnMissingBean
    public QuotaPolicy quotaPolicy(QuotaProperties properties) {
        return properties.toPolicy();
    }

    /** The host's pool is used as it is; the store never closes it. */
    @Bean
    @ConditionalOnMissingBean(QuotaStore.class)
    public JdbiQuotaStore quotaStore(DataSource dataSource, QuotaPolicy policy, QuotaProperties properties) {
        return JdbiQuotaStore.builder()
                .dataSource(dataSource)
                .policy(policy)
                .installSchema(properties.isInstallSchema())
                .build();
    }

    @Bean
    @ConditionalOnMissingBean
    @ConditionalOnBooleanProperty(name = "quota.expire-stale.enabled", matchIfMissing = true)
    public StaleHoldSweeper quotaStaleHoldSweeper(QuotaStore store, QuotaProperties properties) {
        return new StaleHoldSweeper(store, properties.getExpireStale().getInterval());
    }

    /** Spring Boot 4's health API; on Spring Boot 3 the store works without the health indicator. */
    @Configuration(proxyBeanMethods = false)
    @ConditionalOnClass(name = "org.springframework.boot.health.contributor.HealthIndicator")
    static class Health {
        @Bean
        @ConditionalOnMissingBean(name = "quotaStoreHealthIndicator")
        QuotaStoreHealthIndicator quotaStoreHealthIndicator(QuotaStore store) {
            return new QuotaStoreHealthIndicator(store);
        }
    }
}
