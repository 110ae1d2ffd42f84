package io.tokenquota.examples;

import io.tokenquota.QuotaStore;
import io.tokenquota.TokenEstimator;
import io.tokenquota.servlet.AdminAuthorizer;
import io.tokenquota.servlet.QuotaApiServlet;
import io.tokenquota.servlet.QuotaFilter;
import io.tokenquota.servlet.SubjectResolver;
import jakarta.servlet.DispatcherType;
import org.eclipse.jetty.ee10.servlet.FilterHolder;
import org.eclipse.jetty.ee10.servlet.ServletContextHandler;
import org.eclipse.jetty.ee10.servlet.ServletHolder;

import java.util.EnumSet;

/** The library's part of the demo: the quota filter and the quota HTTP API, as a host service would mount them. */
final class QuotaWiring {
    /** problem+json {@code type} URIs share this base with the library's own problems. */
    static final String PROBLEM_BASE = "https://tokenquota.io/problems/";
    /** The header that names the user in the demo. */
    static final String USER_HEADER = "x-user-id";

    private QuotaWiring() {
    }

    /** One admin check for the quota API and the dashboard data. */
    static AdminAuthorizer admins(DemoConfig config) {
        return AdminAuthorizer.bearerToken(config.adminToken());
    }

    static void install(ServletContextHandler context, QuotaStore store, DemoConfig config, TokenEstimator estimator) {
        // Trusted-proxy identity: the demo believes x-user-id only from the listed addresses (loopback
        // by default), as a service behind its own authenticating reverse proxy would. A request from
        // anywhere else without another identity is answered 401. In a real service use
        // SubjectResolver.principal() or requestAttribute(...) fed by your own authentication.
        SubjectResolver users = SubjectResolver.trustedHeader(USER_HEADER,
                config.trustedProxies().toArray(String[]::new));

        QuotaFilter.Builder filterBuilder = QuotaFilter.builder(store)
                .protect(config.protectedPrefixes().toArray(String[]::new))
                .subjectResolver(users)
                .estimator(estimator)
                .holdTtl(config.holdTtl())
                .modelWeights(config.modelWeights());
        if (config.fitOutput()) {
            filterBuilder.fitOutputBudget(config.fitMinOutput());
        }
        QuotaFilter filter = filterBuilder.build();
        FilterHolder filterHolder = new FilterHolder(filter);
        // the filter settles async (streaming) requests when their async cycle completes
        filterHolder.setAsyncSupported(true);
        // every dispatch, as the README says: forwards, includes and error pages into a protected path are calls
        context.addFilter(filterHolder, "/*", EnumSet.allOf(DispatcherType.class));

        QuotaApiServlet api = QuotaApiServlet.builder(store)
                .subjectResolver(users)
                .adminAuthorizer(admins(config))
                .paymentSecret(config.paymentSecret())
                .build();
        context.addServlet(new ServletHolder("quota-api", api), DemoConfig.QUOTA_API_PREFIX + "/*");
    }
}
