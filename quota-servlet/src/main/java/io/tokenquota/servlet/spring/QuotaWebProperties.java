package io.tokenquota.servlet.spring;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import org.springframework.boot.context.properties.ConfigurationProperties;

/**
 * The filter's and the HTTP API's {@code quota.filter.*} and {@code quota.api.*} properties for
 * Spring Boot. Mutable (Spring binds it), not thread-safe; read once at startup.
 */
@ConfigurationProperties(prefix = "quota")
public class QuotaWebProperties {
    private final Filter filter = new Filter();
    private final Api api = new Api();
    private final Weights weights = new Weights();

    public Weights getWeights() {
        return weights;
    }

    /**
     * {@code quota.weights.*}: per-model weights of holds and charges, from a file
     * ({@code quota.weights.file}, CSV or JSON) or from rows
     * ({@code quota.weights.models[gpt-4o*]=2.5,1.25,10,10}: input, cached input, output, reasoning;
     * {@code quota.weights.default=...} for unknown models), not both. Neither: plain token counts.
     */
    public static class Weights {
        private java.nio.file.Path file;
        private java.util.Map<String, String> models = new java.util.LinkedHashMap<>();
        private String defaultRates;

        public java.nio.file.Path getFile() {
            return file;
        }

        public void setFile(java.nio.file.Path file) {
            this.file = file;
        }

        public java.util.Map<String, String> getModels() {
            return models;
        }

        public void setModels(java.util.Map<String, String> models) {
            this.models = models;
        }

        /** {@code quota.weights.default}. */
        public String getDefault() {
            return defaultRates;
        }

        public void setDefault(String defaultRates) {
            this.defaultRates = defaultRates;
        }

        /**
         * The table these properties configure, or {@code null} for none.
         *
         * @throws IllegalStateException when both a file and rows are set
         * @throws IllegalArgumentException for a bad table, naming the entry
         */
        public io.tokenquota.ModelWeights toModelWeights() {
            boolean rows = !models.isEmpty() || defaultRates != null;
            if (file != null && rows) {
                throw new IllegalStateException("set quota.weights.file or quota.weights.models/default, not both");
            }
            if (file != null) {
                return io.tokenquota.servlet.ModelWeightsFiles.load(file);
            }
            if (!rows) {
                return null;
            }
            java.util.Map<String, String> all = new java.util.LinkedHashMap<>(models);
            if (defaultRates != null) {
                if (all.containsKey("*") || all.keySet().stream().anyMatch("default"::equalsIgnoreCase)) {
                    throw new IllegalArgumentException("quota.weights: the default is given twice");
                }
                all.put("*", defaultRates);
            }
            return io.tokenquota.ModelWeights.fromMap(all, "quota.weights.models");
        }
    }

    public Filter getFilter() {
        return filter;
    }

    public Api getApi() {
        return api;
    }

    /** Where the subject of a request comes from. */
    public enum Identity {
        /** {@code request.getUserPrincipal()}: the container's login or Spring Security's {@code Authentication}. */
        PRINCIPAL,
        /** A header, believed only from the trusted proxies. */
        HEADER,
        /** A request attribute the host's own authentication filter sets. */
        ATTRIBUTE
    }

    /** The quota filter in front of AI endpoints. */
    public static class Filter {
        /** Path prefixes the filter protects (e.g. /api/v1/ai/), plain prefixes matched on segment boundaries and ignoring case, no patterns (/ai/** fails at startup); without any, no filter is registered. */
        private List<String> prefixes = new ArrayList<>();
        /** Filter order; the default 0 runs after Spring Security's filter chain (-100), so its Authentication names the subject. */
        private int order = 0;
        /** Let requests through uncharged (logged, counted) when the ledger is unreachable, instead of 503. */
        private boolean failOpen = false;
        /**
         * Release the hold of a call that failed before answering without usage (a 5xx, an exception, an async
         * timeout); false charges it the estimate, for workers that may still call the model after the failure.
         */
        private boolean releaseOnError = true;
        /** Hold TTL of filtered requests; the policy's (quota.hold-ttl) when not set. */
        private Duration holdTtl;
        /** Largest request body read for the estimate; larger bodies get 413. */
        private long maxBodyBytes = 1 << 20;
        /**
         * When set, a JSON request whose output budget does not fit the balance is forwarded with its budget
         * lowered to what fits, at least this many tokens per completion (X-Quota-Output-Capped); unset: 429.
         */
        private Long fitOutputMinimum;
        /** Where the subject comes from. */
        private Identity identity = Identity.PRINCIPAL;
        /** The header holding the subject, for identity=header. */
        private String identityHeader = "x-user-id";
        /** IP literals or CIDR blocks of the proxies whose identity header is believed, for identity=header. */
        private List<String> trustedProxies = new ArrayList<>();
        /** The request attribute holding the subject, for identity=attribute. */
        private String identityAttribute = "userId";

        public List<String> getPrefixes() {
            return prefixes;
        }

        public void setPrefixes(List<String> prefixes) {
            this.prefixes = prefixes;
        }

        public int getOrder() {
            return order;
        }

        public void setOrder(int order) {
            this.order = order;
        }

        public boolean isFailOpen() {
            return failOpen;
        }

        public void setFailOpen(boolean failOpen) {
            this.failOpen = failOpen;
        }

        public boolean isReleaseOnError() {
            return releaseOnError;
        }

        public void setReleaseOnError(boolean releaseOnError) {
            this.releaseOnError = releaseOnError;
        }

        public Duration getHoldTtl() {
            return holdTtl;
        }

        public void setHoldTtl(Duration holdTtl) {
            this.holdTtl = holdTtl;
        }

        public long getMaxBodyBytes() {
            return maxBodyBytes;
        }

        public void setMaxBodyBytes(long maxBodyBytes) {
            this.maxBodyBytes = maxBodyBytes;
        }

        public Long getFitOutputMinimum() {
            return fitOutputMinimum;
        }

        public void setFitOutputMinimum(Long fitOutputMinimum) {
            this.fitOutputMinimum = fitOutputMinimum;
        }

        public Identity getIdentity() {
            return identity;
        }

        public void setIdentity(Identity identity) {
            this.identity = identity;
        }

        public String getIdentityHeader() {
            return identityHeader;
        }

        public void setIdentityHeader(String identityHeader) {
            this.identityHeader = identityHeader;
        }

        public List<String> getTrustedProxies() {
            return trustedProxies;
        }

        public void setTrustedProxies(List<String> trustedProxies) {
            this.trustedProxies = trustedProxies;
        }

        public String getIdentityAttribute() {
            return identityAttribute;
        }

        public void setIdentityAttribute(String identityAttribute) {
            this.identityAttribute = identityAttribute;
        }
    }

    /** The quota HTTP API (quota, history, top-ups, payment callbacks, plan sync). */
    public static class Api {
        /** Whether the API servlet is registered. */
        private boolean enabled = true;
        /** Where the API is mounted. */
        private String prefix = "/api/v1/user-quota";
        /** Bearer token of the admin endpoints (add-tokens, plan sync); without one they answer 403. */
        private String adminToken;
        /** Shared HMAC secret of payment callbacks (at least 16 bytes); without one /payment-callback answers 404. */
        private String paymentSecret;

        public boolean isEnabled() {
            return enabled;
        }

        public void setEnabled(boolean enabled) {
            this.enabled = enabled;
        }

        public String getPrefix() {
            return prefix;
        }

        public void setPrefix(String prefix) {
            this.prefix = prefix;
        }

        public String getAdminToken() {
            return adminToken;
        }

        public void setAdminToken(String adminToken) {
            this.adminToken = adminToken;
        }

        public String getPaymentSecret() {
            return paymentSecret;
        }

        public void setPaymentSecret(String paymentSecret) {
            this.paymentSecret = paymentSecret;
        }
    }
}
