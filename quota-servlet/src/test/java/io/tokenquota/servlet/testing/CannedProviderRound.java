package io.tokenquota.servlet.testing;

import static org.junit.jupiter.api.Assertions.assertEquals;

import io.tokenquota.servlet.QuotaFilter;
import java.net.http.HttpResponse;
import java.util.function.Predicate;

/**
 * A {@link ModelCallRound} whose relay is a gateway of providers: the {@link CannedProvider} under {@code /ai/*}
 * (each provider's bytes passed on as they came), the filter on every path and registered by servlet name; the
 * requests whose path {@code runsAModel} accepts counted in {@link #calls}.
 */
public abstract class CannedProviderRound extends ModelCallRound {
    /** The providers behind the relay: the answers each test sets. */
    protected final CannedProvider provider;

    protected CannedProviderRound(Predicate<String> runsAModel) {
        this.provider = new CannedProvider(calls, runsAModel);
    }

    @Override
    protected Deployment deploy(QuotaFilter filter) {
        return filteredByServletName(filter).servlet("provider", provider, "/ai/*");
    }

    /** POSTs {@code body} to {@code path} as {@code subject}, answered 200; the subject's use once settled. */
    protected long post(String subject, String path, String body) {
        HttpResponse<String> r = TestHttp.postJson(container.uri(path), subject, body);
        assertEquals(200, r.statusCode(), r.body());
        return settled(subject).used();
    }

    /** GETs {@code path} as {@code subject}, answered {@code status}; the subject's use once settled. */
    protected long get(String subject, String path, int status) {
        HttpResponse<String> r = TestHttp.get(container.uri(path), "x-user-id", subject);
        assertEquals(status, r.statusCode(), r.body());
        return settled(subject).used();
    }
}
