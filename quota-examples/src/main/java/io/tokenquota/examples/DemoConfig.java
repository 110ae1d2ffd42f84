package io.tokenquota.examples;

import io.tokenquota.servlet.QuotaFilter;

import java.security.SecureRandom;
import java.time.Clock;
import java.time.Duration;
import java.time.format.DateTimeParseException;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import javax.sql.DataSource;

/**
 * How the demo service is wired: port, storage, secrets, policy and the protected paths. Immutable
 * and thread-safe; build one with {@link #builder()} or read it from the environment with
 * {@link #fromEnv(Map)}.
 *
 * <p>Tests and the benchmark/fault harnesses use the builder with {@code port(0)} (an ephemeral
 * port), an in-memory H2 URL or their own {@link DataSource}, and a settable {@link Clock}.
 */
public final class DemoConfig {
    /**
     * The AI path prefixes of the original Python/FastAPI service, the demo's default for
     * {@link QuotaFilter.Builder#protect(String...)}: every request under one of
     * them is checked and charged. The mock model answers under {@code /api/v1/ai/}; the others answer
     * 404 and are charged nothing.
     */
    public static final List<String> ORIGINAL_SERVICE_PREFIXES = List.of("/api/v1/agents/", "/api/v1/board-ai/",
            "/api/v1/collect/v1/clipper/", "/api/v1/embedding/", "/api/v1/ai/", "/audio/", "/api/v1/clipper/",
            "/api/v1/content/");
    /** Shortest admin token and payment secret: what the library's bearer-token and HMAC checks accept. */
    public static final int MIN_SECRET_LENGTH = 16;
    /** Where the quota HTTP API is mounted (the original Python/FastAPI service's prefix). */
    public static final String QUOTA_API_PREFIX = "/api/v1/user-quota";
    /**
     * Default storage: an H2 file database under {@code ./data}, kept across restarts. {@code WRITE_DELAY=0}
     * writes each commit to the file at once (H2's default 500 ms delay loses the last charges when the
     * process is killed); {@code DB_CLOSE_ON_EXIT=FALSE} leaves closing to the demo's shutdown hook.
     */
    public static final String DEFAULT_JDBC_URL = "jdbc:h2:file:./data/token-quota;WRITE_DELAY=0;DB_CLOSE_ON_EXIT=FALSE";
    /**
     * Only requests from these addresses may name their user in the {@code x-user-id} header: the
     * demo plays the part of a service behind a trusted reverse proxy on the same machine.
     */
    public static final Set<String> LOOPBACK = Set.of("127.0.0.1", "::1", "0:0:0:0:0:0:0:1");
    /** Least output budget a fitted request is sent with unless {@code QUOTA_FIT_MIN_OUTPUT} says otherwise. */
    public static final long DEFAULT_FIT_MIN_OUTPUT = 16;
    /** The filter's default output budget cap: a larger minimum could never be fitted. */
    static final long MAX_FIT_MIN_OUTPUT = 16_384;

    private final int port;
    private final String host;
    private final String jdbcUrl;
    private final String jdbcUser;
    private final String jdbcPassword;
    private final DataSource dataSource;
    private final String adminToken;
    private final boolean adminTokenGenerated;
    private final String paymentSecret;
    private final boolean paymentSecretGenerated;
    private final Duration holdTtl;
    private final long defaultAllocation;
    private final Clock clock;
    private final List<String> protectedPrefixes;
    private final Set<String> trustedProxies;
    private final Duration sweepInterval;
    private final boolean fitOutput;
    private final long fitMinOutput;
    private final io.tokenquota.ModelWeights modelWeights;

    private DemoConfig(Builder b) {
        this.port = b.port;
        this.host = b.host;
        this.jdbcUrl = b.jdbcUrl;
        this.jdbcUser = b.jdbcUser;
        this.jdbcPassword = b.jdbcPassword;
        this.dataSource = b.dataSource;
        this.adminTokenGenerated = b.adminToken == null;
        this.adminToken = adminTokenGenerated ? randomSecret() : b.adminToken;
        this.paymentSecretGenerated = b.paymentSecret == null;
        this.paymentSecret = paymentSecretGenerated ? randomSecret() : b.paymentSecret;
        this.holdTtl = b.holdTtl;
        this.defaultAllocation = b.defaultAllocation;
        this.clock = b.clock;
        this.protectedPrefixes = List.copyOf(b.protectedPrefixes);
        this.trustedProxies = Set.copyOf(b.trustedProxies);
        this.sweepInterval = b.sweepInterval;
        this.fitOutput = b.fitOutput;
        this.fitMinOutput = b.fitMinOutput;
        this.modelWeights = b.modelWeights != null ? b.modelWeights : exampleWeights();
    }

    /** The demo's example table (relative weights of popular models, not prices): {@code model-weights.csv}. */
    public static io.tokenquota.ModelWeights exampleWeights() {
        try (java.io.InputStream in = DemoConfig.class.getResourceAsStream("model-weights.csv")) {
            if (in == null) {
                throw new IllegalStateException("missing resource model-weights.csv");
            }
            return io.tokenquota.ModelWeights.fromCsv(new java.io.InputStreamReader(in,
                    java.nio.charset.StandardCharsets.UTF_8), "model-weights.csv");
        } catch (java.io.IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
    }

    public static Builder builder() {
        return new Builder();
    }

    /**
     * Reads {@code PORT}, {@code QUOTA_JDBC_URL}, {@code QUOTA_JDBC_USER}, {@code QUOTA_JDBC_PASSWORD},
     * {@code QUOTA_ADMIN_TOKEN}, {@code QUOTA_PAYMENT_SECRET}, {@code QUOTA_HOLD_TTL},
     * {@code QUOTA_SWEEP_INTERVAL}, {@code QUOTA_DEFAULT_ALLOCATION}, {@code QUOTA_FIT_OUTPUT},
     * {@code QUOTA_FIT_MIN_OUTPUT} and {@code QUOTA_MODEL_WEIGHTS} (a CSV or JSON weights file; without it
     * the example table applies); unset or blank means the default.
     *
     * @throws IllegalArgumentException naming the variable whose value cannot be used
     */
    public static DemoConfig fromEnv(Map<String, String> env) {
        Builder b = builder();
        set(env, "PORT", v -> b.port(Integer.parseInt(v)));
        set(env, "QUOTA_JDBC_URL", url -> b.jdbc(url, get(env, "QUOTA_JDBC_USER"), get(env, "QUOTA_JDBC_PASSWORD")));
        set(env, "QUOTA_ADMIN_TOKEN", b::adminToken);
        set(env, "QUOTA_PAYMENT_SECRET", b::paymentSecret);
        set(env, "QUOTA_HOLD_TTL", v -> b.holdTtl(Duration.parse(v)));
        set(env, "QUOTA_SWEEP_INTERVAL", v -> b.sweepInterval(Duration.parse(v)));
        set(env, "QUOTA_DEFAULT_ALLOCATION", v -> b.defaultAllocation(Long.parseLong(v)));
        set(env, "QUOTA_FIT_OUTPUT", v -> b.fitOutput(strictBoolean(v)));
        set(env, "QUOTA_FIT_MIN_OUTPUT", v -> b.fitMinOutput(Long.parseLong(v)));
        set(env, "QUOTA_MODEL_WEIGHTS", v -> {
            try {
                b.modelWeights(io.tokenquota.servlet.ModelWeightsFiles.load(java.nio.file.Path.of(v)));
            } catch (java.io.UncheckedIOException e) {
                throw new IllegalArgumentException("cannot read " + v + ": " + e.getCause().getMessage(), e);
            }
        });
        return b.build();
    }

    private static String get(Map<String, String> env, String name) {
        String v = env.get(name);
        return v == null || v.isBlank() ? null : v.trim();
    }

    /** Applies a set variable; any unusable value fails naming the variable, so the user knows what to fix. */
    private static void set(Map<String, String> env, String name, java.util.function.Consumer<String> setter) {
        String value = get(env, name);
        if (value == null) {
            return;
        }
        try {
            setter.accept(value);
        } catch (IllegalArgumentException | DateTimeParseException e) {
            String shown = name.contains("TOKEN") || name.contains("SECRET") ? "(hidden)"
                    : name.equals("QUOTA_JDBC_URL") ? withoutParameters(value) : value;
            throw new IllegalArgumentException(name + " has an unusable value " + shown + ": " + e.getMessage(), e);
        }
    }

    /** A JDBC URL up to its parameters, which may carry credentials: what may be printed of it. */
    static String withoutParameters(String url) {
        int cut = url.length();
        for (char sep : new char[] {'?', ';'}) {
            int i = url.indexOf(sep);
            if (i >= 0) {
                cut = Math.min(cut, i);
            }
        }
        return url.substring(0, cut);
    }

    /** {@code true} or {@code false} (any case); anything else is a mistake, not a silent {@code false}. */
    private static boolean strictBoolean(String value) {
        if (value.equalsIgnoreCase("true")) {
            return true;
        }
        if (value.equalsIgnoreCase("false")) {
            return false;
        }
        throw new IllegalArgumentException("expected true or false");
    }

    private static String randomSecret() {
        byte[] bytes = new byte[24];
        new SecureRandom().nextBytes(bytes);
        return HexFormat.of().formatHex(bytes);
    }

    /** The port to listen on; 0 picks a free one (see {@link DemoApp#port()}). */
    public int port() {
        return port;
    }

    /** The address to bind, or {@code null} for all interfaces. */
    public String host() {
        return host;
    }

    public String jdbcUrl() {
        return jdbcUrl;
    }

    public String jdbcUser() {
        return jdbcUser;
    }

    public String jdbcPassword() {
        return jdbcPassword;
    }

    /** A caller-owned data source that replaces the JDBC URL, or {@code null}. */
    public DataSource dataSource() {
        return dataSource;
    }

    /** Bearer token for admin calls (top-ups, plans, the dashboard's statistics). */
    public String adminToken() {
        return adminToken;
    }

    /** Whether {@link #adminToken()} was generated because none was configured (so it must be printed). */
    public boolean adminTokenGenerated() {
        return adminTokenGenerated;
    }

    /** Shared secret of the payment callback's HMAC-SHA256 signature. */
    public String paymentSecret() {
        return paymentSecret;
    }

    public boolean paymentSecretGenerated() {
        return paymentSecretGenerated;
    }

    public Duration holdTtl() {
        return holdTtl;
    }

    public long defaultAllocation() {
        return defaultAllocation;
    }

    public Clock clock() {
        return clock;
    }

    public List<String> protectedPrefixes() {
        return protectedPrefixes;
    }

    public Set<String> trustedProxies() {
        return trustedProxies;
    }

    /** How often the background sweep returns expired holds. */
    public Duration sweepInterval() {
        return sweepInterval;
    }

    /** Whether the filter fits a request's output budget to the balance instead of refusing it. */
    public boolean fitOutput() {
        return fitOutput;
    }

    /** Least output budget (per completion) a fitted request is sent with. */
    public long fitMinOutput() {
        return fitMinOutput;
    }

    /** The filter's per-model weights: the {@code QUOTA_MODEL_WEIGHTS} file's, else {@link #exampleWeights()}. */
    public io.tokenquota.ModelWeights modelWeights() {
        return modelWeights;
    }

    @Override
    public String toString() {
        // never the secrets
        return "DemoConfig{port=" + port + ", jdbcUrl=" + (dataSource != null ? "<DataSource>" : jdbcUrl)
                + ", holdTtl=" + holdTtl + ", defaultAllocation=" + defaultAllocation
                + ", protectedPrefixes=" + protectedPrefixes + ", trustedProxies=" + trustedProxies
                + ", sweepInterval=" + sweepInterval + ", fitOutput=" + fitOutput + ", fitMinOutput=" + fitMinOutput + '}';
    }

    /** Mutable builder; not thread-safe. */
    public static final class Builder {
        private int port = 8080;
        private String host;
        private String jdbcUrl = DEFAULT_JDBC_URL;
        private String jdbcUser = "sa";
        private String jdbcPassword = "";
        private DataSource dataSource;
        private String adminToken;
        private String paymentSecret;
        private Duration holdTtl = Duration.ofMinutes(5);
        private long defaultAllocation = 10_000;
        private Clock clock = Clock.systemUTC();
        private List<String> protectedPrefixes = ORIGINAL_SERVICE_PREFIXES;
        private Set<String> trustedProxies = LOOPBACK;
        private Duration sweepInterval = Duration.ofSeconds(30);
        private boolean fitOutput;
        private long fitMinOutput = DEFAULT_FIT_MIN_OUTPUT;
        private io.tokenquota.ModelWeights modelWeights;

        private Builder() {
        }

        /** The filter's per-model weights; {@code null}: the example table. */
        public Builder modelWeights(io.tokenquota.ModelWeights weights) {
            this.modelWeights = weights;
            return this;
        }

        public Builder port(int port) {
            if (port < 0 || port > 65_535) {
                throw new IllegalArgumentException("port must be between 0 and 65535: " + port);
            }
            this.port = port;
            return this;
        }

        public Builder host(String host) {
            this.host = host;
            return this;
        }

        /** A JDBC URL (H2 or PostgreSQL) and its credentials; {@code null} credentials mean none. */
        public Builder jdbc(String url, String user, String password) {
            if (!Objects.requireNonNull(url, "url").regionMatches(true, 0, "jdbc:", 0, 5)) {
                throw new IllegalArgumentException("not a JDBC URL (jdbc:h2:... or jdbc:postgresql://...)");
            }
            // refused here, not by the pool at start: its error names no variable and prints the whole URL,
            // credentials in its parameters included (round 324: JDBC:H2:...;PASSWORD=... echoed)
            try {
                java.sql.DriverManager.getDriver(url);
            } catch (java.sql.SQLException e) {
                throw new IllegalArgumentException("no JDBC driver of the demo takes it (jdbc:h2:... or"
                        + " jdbc:postgresql://..., in lower case)");
            }
            this.jdbcUrl = url;
            this.jdbcUser = user;
            this.jdbcPassword = password;
            this.dataSource = null;
            return this;
        }

        /** Use the caller's data source (the caller closes it). */
        public Builder dataSource(DataSource dataSource) {
            this.dataSource = Objects.requireNonNull(dataSource, "dataSource");
            return this;
        }

        /** {@code null} generates a random one; the library's bearer-token check wants at least 16 characters. */
        public Builder adminToken(String token) {
            if (token != null) {
                try {
                    // the library's own rule (whitespace around it is not counted), checked where it is set
                    io.tokenquota.servlet.AdminAuthorizer.bearerToken(token);
                } catch (IllegalArgumentException e) {
                    throw new IllegalArgumentException("the admin token (QUOTA_ADMIN_TOKEN) is refused: " + e.getMessage(), e);
                }
            }
            this.adminToken = token;
            return this;
        }

        /** {@code null} generates a random one; HMAC keys shorter than 16 bytes are refused by the library. */
        public Builder paymentSecret(String secret) {
            if (secret != null && secret.getBytes(java.nio.charset.StandardCharsets.UTF_8).length < MIN_SECRET_LENGTH) {
                throw new IllegalArgumentException("the payment secret must have at least " + MIN_SECRET_LENGTH + " bytes");
            }
            this.paymentSecret = secret;
            return this;
        }

        /** Checked by the library's own rule where it is set (a hold lives at least a second, at most a month). */
        public Builder holdTtl(Duration ttl) {
            io.tokenquota.QuotaPolicy.builder().holdTtl(ttl).build();
            this.holdTtl = ttl;
            return this;
        }

        /** Checked by the library's own rule where it is set (within the policy's largest quota). */
        public Builder defaultAllocation(long tokens) {
            io.tokenquota.QuotaPolicy.builder().defaultAllocation(tokens).build();
            this.defaultAllocation = tokens;
            return this;
        }

        public Builder clock(Clock clock) {
            this.clock = Objects.requireNonNull(clock, "clock");
            return this;
        }

        public Builder protectedPrefixes(List<String> prefixes) {
            this.protectedPrefixes = List.copyOf(prefixes);
            return this;
        }

        public Builder trustedProxies(Set<String> addresses) {
            this.trustedProxies = Set.copyOf(addresses);
            return this;
        }

        public Builder sweepInterval(Duration interval) {
            // the sweeper is scheduled in whole milliseconds
            long millis;
            try {
                millis = interval.toMillis();
            } catch (ArithmeticException e) {
                throw new IllegalArgumentException("the sweep interval is too long to schedule: " + interval, e);
            }
            if (millis < 1) {
                throw new IllegalArgumentException("the sweep interval must be at least a millisecond: " + interval);
            }
            this.sweepInterval = interval;
            return this;
        }

        /** Fit a request's output budget to the balance instead of answering 429 (default off). */
        public Builder fitOutput(boolean fit) {
            this.fitOutput = fit;
            return this;
        }

        /** Least output budget per completion a fitted request is sent with, 1..16,384 (default 16). */
        public Builder fitMinOutput(long tokens) {
            if (tokens < 1 || tokens > MAX_FIT_MIN_OUTPUT) {
                throw new IllegalArgumentException("the minimum output must be between 1 and " + MAX_FIT_MIN_OUTPUT
                        + ": " + tokens);
            }
            this.fitMinOutput = tokens;
            return this;
        }

        /** Seals the configuration; each setter has already refused values it cannot use ({@link IllegalArgumentException}). */
        public DemoConfig build() {
            return new DemoConfig(this);
        }
    }
}
