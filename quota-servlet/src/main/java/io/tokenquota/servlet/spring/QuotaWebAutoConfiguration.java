package io.tokenquota.servlet.spring;

import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.binder.MeterBinder;
import io.tokenquota.QuotaLedger;
import io.tokenquota.QuotaStore;
import io.tokenquota.TokenEstimator;
import io.tokenquota.servlet.AdminAuthorizer;
import io.tokenquota.servlet.QuotaApiServlet;
import io.tokenquota.servlet.QuotaFilter;
import io.tokenquota.servlet.SubjectResolver;
import io.tokenquota.servlet.metrics.QuotaMetrics;
import java.util.List;
import org.springframework.beans.factory.ObjectProvider;
import org.springframework.boot.autoconfigure.AutoConfiguration;
import org.springframework.boot.autoconfigure.condition.ConditionOutcome;
import org.springframework.boot.autoconfigure.condition.ConditionalOnBean;
import org.springframework.boot.autoconfigure.condition.ConditionalOnBooleanProperty;
import org.springframework.boot.autoconfigure.condition.ConditionalOnClass;
import org.springframework.boot.autoconfigure.condition.ConditionalOnMissingBean;
import org.springframework.boot.autoconfigure.condition.ConditionalOnWebApplication;
import org.springframework.boot.autoconfigure.condition.SpringBootCondition;
import org.springframework.boot.context.properties.EnableConfigurationProperties;
import org.springframework.boot.context.properties.bind.Bindable;
import org.springframework.boot.context.properties.bind.Binder;
import org.springframework.boot.web.servlet.FilterRegistrationBean;
import org.springframework.boot.web.servlet.ServletRegistrationBean;
import org.springframework.context.annotation.Bean;
import org.springframework.context.annotation.ConditionContext;
import org.springframework.context.annotation.Conditional;
import org.springframework.context.annotation.Configuration;
import org.springframework.core.type.AnnotatedTypeMetadata;

/**
 * Spring Boot auto-configuration of the servlet side, for a servlet web application with a
 * {@link QuotaStore} bean (the JDBI store's auto-configuration provides one): the {@link QuotaFilter}
 * on the {@code quota.filter.prefixes} at order {@code quota.filter.order} (default 0, after Spring
 * Security), the {@link QuotaApiServlet} under {@code quota.api.prefix}, and Micrometer meters when
 * Micrometer is present. Every bean backs off when the application defines its own: a
 * {@link SubjectResolver}, an {@link AdminAuthorizer}, a {@link TokenEstimator}, a
 * {@link io.tokenquota.ModelWeights} (else {@code quota.weights.*} builds one), the filter, the
 * servlet or their registrations. Inert without Spring Boot on the classpath.
 */
@AutoConfiguration(afterName = "io.tokenquota.jdbi.spring.QuotaStoreAutoConfiguration")
@ConditionalOnWebApplication(type = ConditionalOnWebApplication.Type.SERVLET)
@ConditionalOnClass(FilterRegistrationBean.class)
@ConditionalOnBean(QuotaStore.class)
@EnableConfigurationProperties(QuotaWebProperties.class)
public class QuotaWebAutoConfiguration {

    /** From {@code quota.filter.identity}; a host's own resolver bean replaces it. */
    @Bean
    @ConditionalOnMissingBean
    public SubjectResolver quotaSubjectResolver(QuotaWebProperties properties) {
        QuotaWebProperties.Filter filter = properties.getFilter();
        switch (filter.getIdentity()) {
            case HEADER:
                return named("quota.filter.trusted-proxies (with quota.filter.identity=header; behind proxies that"
                        + " forward, quota.filter.identity=principal is the recommended resolver)",
                        () -> SubjectResolver.trustedHeader(filter.getIdentityHeader(),
                                filter.getTrustedProxies().toArray(String[]::new)));
            case ATTRIBUTE:
                return SubjectResolver.requestAttribute(filter.getIdentityAttribute());
            default:
                // under Spring Security the request's principal is its Authentication
                return SubjectResolver.principal();
        }
    }

    /** A bearer token from {@code quota.api.admin-token}, else nobody. */
    @Bean
    @ConditionalOnMissingBean
    public AdminAuthorizer quotaAdminAuthorizer(QuotaWebProperties properties) {
        String token = properties.getApi().getAdminToken();
        return token == null || token.isEmpty() ? AdminAuthorizer.denyAll()
                : named("quota.api.admin-token", () -> AdminAuthorizer.bearerToken(token));
    }

    /**
     * What {@code build} builds, a refusal of a property's value named by that property (round 347: a short
     * admin token or payment secret, or a host name among the trusted proxies, stopped startup with a message
     * that named no property), as the other properties' checks name theirs.
     */
    private static <T> T named(String property, java.util.function.Supplier<T> build) {
        try {
            return build.get();
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException(property + ": " + e.getMessage(), e);
        }
    }

    @Bean
    @ConditionalOnMissingBean
    @Conditional(PrefixesConfigured.class)
    public QuotaFilter quotaFilter(QuotaStore store, SubjectResolver subjects, QuotaWebProperties properties,
                                   ObjectProvider<TokenEstimator> estimator, ObjectProvider<QuotaMetrics> metrics,
                                   ObjectProvider<io.tokenquota.ModelWeights> weights) {
        QuotaWebProperties.Filter settings = properties.getFilter();
        QuotaMetrics meters = metrics.getIfAvailable();
        QuotaLedger ledger = meters == null ? store : meters.timed(store);
        QuotaFilter.Builder builder = QuotaFilter.builder(ledger)
                .protect(settings.getPrefixes().toArray(String[]::new))
                .subjectResolver(subjects)
                .failOpen(settings.isFailOpen())
                .releaseOnError(settings.isReleaseOnError())
                .maxBodyBytes(settings.getMaxBodyBytes())
                .holdTtl(settings.getHoldTtl())
                .modelWeights(weights.getIfAvailable(() -> properties.getWeights().toModelWeights()));
        if (settings.getFitOutputMinimum() != null) {
            builder.fitOutputBudget(settings.getFitOutputMinimum());
        }
        estimator.ifAvailable(builder::estimator);
        return builder.build();
    }

    /** On every path: the filter itself decides which requests its prefixes protect. */
    @Bean
    @ConditionalOnMissingBean(name = "quotaFilterRegistration")
    @ConditionalOnBean(QuotaFilter.class)
    public FilterRegistrationBean<QuotaFilter> quotaFilterRegistration(QuotaFilter filter, QuotaWebProperties properties) {
        FilterRegistrationBean<QuotaFilter> registration = new FilterRegistrationBean<>(filter);
        registration.setName("quotaFilter");
        registration.setUrlPatterns(List.of("/*"));
        registration.setOrder(properties.getFilter().getOrder());
        registration.setAsyncSupported(true);
        // every dispatch: an error page under a protected prefix is a call of its own
        registration.setDispatcherTypes(java.util.EnumSet.allOf(jakarta.servlet.DispatcherType.class));
        return registration;
    }

    @Bean
    @ConditionalOnMissingBean
    @ConditionalOnBooleanProperty(name = "quota.api.enabled", matchIfMissing = true)
    public QuotaApiServlet quotaApiServlet(QuotaStore store, SubjectResolver subjects, AdminAuthorizer admins,
                                           QuotaWebProperties properties) {
        QuotaApiServlet.Builder builder = QuotaApiServlet.builder(store).subjectResolver(subjects).adminAuthorizer(admins);
        String secret = properties.getApi().getPaymentSecret();
        if (secret != null && !secret.isEmpty()) {
            named("quota.api.payment-secret", () -> builder.paymentSecret(secret));
        }
        return builder.build();
    }

    @Bean
    @ConditionalOnMissingBean(name = "quotaApiServletRegistration")
    @ConditionalOnBean(QuotaApiServlet.class)
    public ServletRegistrationBean<QuotaApiServlet> quotaApiServletRegistration(QuotaApiServlet servlet,
                                                                                QuotaWebProperties properties) {
        String prefix = properties.getApi().getPrefix();
        if (prefix == null || !prefix.startsWith("/")) {
            throw new IllegalArgumentException("quota.api.prefix must start with '/', was " + prefix);
        }
        String mapping = (prefix.endsWith("/") ? prefix.substring(0, prefix.length() - 1) : prefix) + "/*";
        ServletRegistrationBean<QuotaApiServlet> registration = new ServletRegistrationBean<>(servlet, mapping);
        registration.setName("quotaApiServlet");
        return registration;
    }

    /** Micrometer meters, when Micrometer is on the classpath (Actuator brings it). */
    @Configuration(proxyBeanMethods = false)
    @ConditionalOnClass(MeterRegistry.class)
    static class Metrics {
        @Bean
        @ConditionalOnMissingBean
        QuotaMetrics quotaMetrics(QuotaStore store) {
            QuotaMetrics metrics = new QuotaMetrics(store);
            store.addListener(metrics);
            return metrics;
        }

        /** Through a provider: this nested class is read before the filter bean is defined. */
        @Bean
        MeterBinder quotaFilterMeters(ObjectProvider<QuotaFilter> filter) {
            return registry -> filter.ifAvailable(f -> QuotaMetrics.filterMeters(f).bindTo(registry));
        }
    }

    /** Whether {@code quota.filter.prefixes} names at least one prefix (a list binds by index, not by name). */
    static final class PrefixesConfigured extends SpringBootCondition {
        @Override
        public ConditionOutcome getMatchOutcome(ConditionContext context, AnnotatedTypeMetadata metadata) {
            List<String> prefixes = Binder.get(context.getEnvironment())
                    .bind("quota.filter.prefixes", Bindable.listOf(String.class)).orElse(List.of());
            return prefixes.isEmpty()
                    ? ConditionOutcome.noMatch("quota.filter.prefixes is empty: no filter")
                    : ConditionOutcome.match("quota.filter.prefixes " + prefixes);
        }
    }
}
