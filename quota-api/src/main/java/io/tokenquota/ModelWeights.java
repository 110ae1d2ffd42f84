package io.tokenquota;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.Reader;
import java.math.BigDecimal;
import java.math.RoundingMode;
import java.util.ArrayList;
import java.util.Collections;
import java.util.Comparator;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;

/**
 * How many quota units a model's tokens cost: for each model name or name pattern, a multiplier for
 * each kind of token ({@link TokenUsage}), and a default for models the table does not name. A
 * charge is the exact decimal sum of count times multiplier over the four kinds, rounded once,
 * upward, to a whole unit ({@link #charge}); a hold weighs an estimate's input and output parts the
 * same way ({@link #hold}). Immutable and thread-safe.
 *
 * <p>Patterns: an exact name ({@code gpt-4o-mini}) or a prefix ending in one {@code *}
 * ({@code gpt-4o*}); {@code *} alone is the default. Names are compared case-insensitively (a client
 * writing {@code GPT-4O} gets the rates of {@code gpt-4o}). The most specific pattern wins: an exact
 * name, else the longest matching prefix, else the default (all multipliers 1 unless set). An exact
 * name also covers its model's snapshots, the name then {@code -} and a date or a 3-4 digit number, or
 * {@code @} and a version as Vertex AI names them ({@code o3} covers {@code o3-2025-04-16}, {@code gemini-1.5-pro}
 * covers {@code gemini-1.5-pro-002}, {@code claude-sonnet-4} covers {@code claude-sonnet-4@20250514}), as a
 * prefix of its length would: OpenAI and Gemini answer an alias with the snapshot that ran, and a client may
 * name the snapshot (round 435: under a row {@code o3} the snapshot was charged the default, 2,000 for 10,000;
 * round 439: under the rows {@code o3*} and {@code o3-pro}, {@code o3-pro-2025-06-10} was charged at
 * {@code o3*}, 1,000 for 10,000). A snapshot's own row, or a longer prefix, is more specific still
 * ({@code gpt-4o-2024-08-06} at its own row, not {@code gpt-4o}'s; round 437), and a name that is another
 * model is no snapshot ({@code o3-mini-2025-01-31} is not {@code o3}'s).
 *
 * <p>Multipliers are decimals from 0 to {@link #MAX_MULTIPLIER} with at most
 * {@link #MAX_DECIMALS} decimal places. A table that breaks a rule (a negative, non-numeric or too
 * precise multiplier, a pattern given twice, a {@code *} anywhere but at the end) is refused when it
 * is built or loaded, with an {@link IllegalArgumentException} naming the entry (and, for a file,
 * the line), never at the first request.
 * <pre>{@code
 * ModelWeights weights = ModelWeights.builder()
 *         .model("gpt-4o*", ModelWeights.Rates.of("2.5", "1.25", "10", "10"))
 *         .model("gpt-4o-mini*", ModelWeights.Rates.of("0.15", "0.075", "0.6", "0.6"))
 *         .build();
 * long charge = weights.charge(new TokenUsage("gpt-4o-2024-08-06", 1_000, 200, 300, 0)); // 4,750
 * }</pre>
 */
public final class ModelWeights {
    /** Largest multiplier a table may hold: bounds the charge arithmetic and catches typos (1e9). */
    public static final BigDecimal MAX_MULTIPLIER = BigDecimal.valueOf(1_000_000);
    /** Most decimal places of a multiplier. */
    public static final int MAX_DECIMALS = 9;
    private static final long SCALE = 1_000_000_000L;
    private static final BigDecimal MAX_TOKENS = BigDecimal.valueOf(Limits.MAX_TOKENS);

    /** The multipliers of one model, one per kind of token. Immutable. */
    public record Rates(BigDecimal input, BigDecimal cachedInput, BigDecimal output, BigDecimal reasoning) {
        /** Every kind at 1: the unweighted charge. */
        public static final Rates ONE = new Rates(BigDecimal.ONE, BigDecimal.ONE, BigDecimal.ONE, BigDecimal.ONE);

        /** @throws IllegalArgumentException for a {@code null}, negative, too large or too precise multiplier */
        public Rates {
            check(input, "input");
            check(cachedInput, "cached input");
            check(output, "output");
            check(reasoning, "reasoning");
        }

        /** From decimal strings ({@code "2.5"}); a non-numeric one is an {@link IllegalArgumentException}. */
        public static Rates of(String input, String cachedInput, String output, String reasoning) {
            return new Rates(number(input, "input"), number(cachedInput, "cached input"), number(output, "output"),
                    number(reasoning, "reasoning"));
        }

        /** From four comma-separated decimals, in the order input, cached input, output, reasoning. */
        public static Rates parse(String fourDecimals) {
            Objects.requireNonNull(fourDecimals, "rates");
            String[] parts = fourDecimals.split(",", -1);
            if (parts.length != 4) {
                throw new IllegalArgumentException("expected 4 comma-separated multipliers (input, cached input,"
                        + " output, reasoning), got '" + fourDecimals + "'");
            }
            return of(parts[0].strip(), parts[1].strip(), parts[2].strip(), parts[3].strip());
        }

        private static BigDecimal number(String text, String kind) {
            if (text == null || text.isBlank()) {
                throw new IllegalArgumentException(kind + " multiplier is missing");
            }
            try {
                return new BigDecimal(text.strip());
            } catch (NumberFormatException e) {
                throw new IllegalArgumentException(kind + " multiplier '" + text + "' is not a decimal number");
            }
        }

        private static void check(BigDecimal m, String kind) {
            if (m == null) {
                throw new IllegalArgumentException(kind + " multiplier is missing");
            }
            if (m.signum() < 0) {
                throw new IllegalArgumentException(kind + " multiplier " + m.toPlainString() + " is negative");
            }
            if (m.compareTo(MAX_MULTIPLIER) > 0) {
                throw new IllegalArgumentException(kind + " multiplier " + m.toPlainString() + " is above "
                        + MAX_MULTIPLIER.toPlainString());
            }
            if (m.stripTrailingZeros().scale() > MAX_DECIMALS) {
                throw new IllegalArgumentException(kind + " multiplier " + m.toPlainString() + " has more than "
                        + MAX_DECIMALS + " decimal places");
            }
        }

        @Override
        public String toString() {
            return input.toPlainString() + "," + cachedInput.toPlainString() + "," + output.toPlainString() + ","
                    + reasoning.toPlainString();
        }
    }

    /** Rates in units of 10^-9, for the fast integer path; exact by {@link Rates}' limits. */
    private record Scaled(Rates rates, long input, long cachedInput, long output, long reasoning, long holdInput,
                          long holdOutput) {
        static Scaled of(Rates r) {
            long in = scaled(r.input());
            long cached = scaled(r.cachedInput());
            long out = scaled(r.output());
            long reasoning = scaled(r.reasoning());
            return new Scaled(r, in, cached, out, reasoning, Math.max(in, cached), Math.max(out, reasoning));
        }

        private static long scaled(BigDecimal m) {
            return m.movePointRight(MAX_DECIMALS).longValueExact();
        }
    }

    private final Map<String, Scaled> exact;
    /** Prefix patterns without their {@code *}, longest first. */
    private final String[] prefixes;
    private final Scaled[] prefixRates;
    private final Scaled defaults;
    /**
     * Names as clients sent them, already resolved: most calls name one of a few models, and resolving a
     * name that is not an exact row (a fold, a regular expression, the prefixes in turn) is most of what
     * weighing a call costs. A cache of answers that never change, so the table stays immutable.
     */
    private final java.util.concurrent.ConcurrentHashMap<String, Scaled> resolved =
            new java.util.concurrent.ConcurrentHashMap<>();
    private static final int RESOLVED_NAMES = 1_024;
    private final Map<String, Rates> table;

    private ModelWeights(Builder b) {
        Map<String, Scaled> exactRates = new HashMap<>();
        List<Map.Entry<String, Rates>> globs = new ArrayList<>();
        Rates fallback = Rates.ONE;
        for (Map.Entry<String, Rates> e : b.rows.entrySet()) {
            String pattern = e.getKey();
            if (pattern.equals("*")) {
                fallback = e.getValue();
            } else if (pattern.endsWith("*")) {
                globs.add(Map.entry(pattern.substring(0, pattern.length() - 1), e.getValue()));
            } else {
                exactRates.put(pattern, Scaled.of(e.getValue()));
            }
        }
        globs.sort(Comparator.comparingInt((Map.Entry<String, Rates> e) -> e.getKey().length()).reversed());
        this.exact = Map.copyOf(exactRates);
        this.prefixes = globs.stream().map(Map.Entry::getKey).toArray(String[]::new);
        this.prefixRates = globs.stream().map(e -> Scaled.of(e.getValue())).toArray(Scaled[]::new);
        this.defaults = Scaled.of(fallback);
        Map<String, Rates> all = new LinkedHashMap<>(b.rows);
        all.putIfAbsent("*", fallback);
        this.table = Collections.unmodifiableMap(all);
    }

    public static Builder builder() {
        return new Builder();
    }

    /** The rates that apply to {@code model} ({@code null}: the default's). */
    public Rates rates(String model) {
        return lookup(model).rates();
    }

    /**
     * The table as given, by pattern (lower-cased, in the order added), with the default under
     * {@code *}: for display and audits.
     */
    public Map<String, Rates> table() {
        return table;
    }

    /**
     * The charge of {@code usage}: the exact sum over the four kinds of count times the model's
     * multiplier, rounded up to a whole unit (never under-charged by rounding).
     *
     * @throws QuotaException {@link ErrorCode#WEIGHTED_AMOUNT_OVERFLOW} when it comes to more than
     *                        {@link Limits#MAX_TOKENS}
     */
    public long charge(TokenUsage usage) {
        Objects.requireNonNull(usage, "usage");
        Scaled s = lookup(usage.model());
        return weigh(usage.model(), usage.input(), s.input, usage.cachedInput(), s.cachedInput, usage.output(),
                s.output, usage.reasoning(), s.reasoning);
    }

    /**
     * The hold for an estimate of {@code input} and {@code output} tokens of {@code model}: the input at
     * the larger of the input and cached-input multipliers, the output at the larger of the output and
     * reasoning ones (an output budget may be spent on reasoning), so that a call using no more than its
     * estimate is charged no more than its hold. Rounded up like {@link #charge}.
     *
     * @throws QuotaException {@link ErrorCode#INVALID_AMOUNT} for a count below 0 or above
     *                        {@link Limits#MAX_TOKENS}; {@link ErrorCode#WEIGHTED_AMOUNT_OVERFLOW} when the
     *                        hold comes to more than {@link Limits#MAX_TOKENS}
     */
    public long hold(String model, long input, long output) {
        io.tokenquota.internal.Validation.nonNegativeTokens(input, "input");
        io.tokenquota.internal.Validation.nonNegativeTokens(output, "output");
        Scaled s = lookup(model);
        return weigh(model, input, s.holdInput, output, s.holdOutput, 0, 0, 0, 0);
    }

    /**
     * A name as model names are compared: each character upper-cased, then lower-cased, as Java's
     * {@code equalsIgnoreCase} and Go's {@code EqualFold} match them ({@code GEMİNİ} with a dotted
     * capital I is {@code gemini}; lower-casing the whole string would make it {@code gemi̇ni̇} and miss
     * its pattern).
     */
    static String fold(String name) {
        StringBuilder folded = null;
        for (int i = 0; i < name.length(); i++) {
            char c = name.charAt(i);
            char f = Character.toLowerCase(Character.toUpperCase(c));
            if (f != c && folded == null) {
                folded = new StringBuilder(name.length()).append(name, 0, i);
            }
            if (folded != null) {
                folded.append(f);
            }
        }
        // no allocation for a name that is already folded (the usual one)
        return folded == null ? name : folded.toString();
    }

    private Scaled lookup(String model) {
        if (model == null) {
            return defaults;
        }
        Scaled known = resolved.get(model);
        if (known != null) {
            return known;
        }
        Scaled s = resolve(model);
        // bounded: a client may send any name, and a name past the bound is only resolved each time
        if (resolved.size() < RESOLVED_NAMES) {
            resolved.putIfAbsent(model, s);
        }
        return s;
    }

    private Scaled resolve(String model) {
        String name = fold(model);
        Scaled s = exact.get(name);
        if (s != null) {
            return s;
        }
        // the exact row of the model whose snapshot this is, as a prefix of that row's length
        java.util.regex.Matcher snapshot = SNAPSHOT.matcher(name);
        String of = !snapshot.matches() ? null : snapshot.group(1) != null ? snapshot.group(1) : snapshot.group(2);
        Scaled ofModel = of == null ? null : exact.get(of);
        int modelLength = ofModel == null ? -1 : of.length();
        for (int i = 0; i < prefixes.length; i++) {
            if (name.startsWith(prefixes[i])) {
                return prefixes[i].length() > modelLength ? prefixRates[i] : ofModel;
            }
        }
        return ofModel != null ? ofModel : defaults;
    }

    /**
     * A snapshot's name: its model's, then {@code -} and a date ({@code 2025-04-16}, {@code 20250514}) or a 3-4 digit
     * number; or Vertex AI's spelling, the model's name, {@code @} and its version ({@code claude-sonnet-4@20250514};
     * round 557: held at the default by that name and charged at the row by the answer's {@code claude-sonnet-4-20250514},
     * 15,030 served on a 5,000 balance). Matched on the folded name.
     */
    private static final java.util.regex.Pattern SNAPSHOT = java.util.regex.Pattern.compile(
            "(.+)-(?:\\d{4}-\\d{2}-\\d{2}|\\d{8}|\\d{3,4})|([^@]+)@[0-9a-z._-]+");

    /**
     * Sum of count x scaled rate / 10^9, rounded up: in 64-bit integers while the scaled sum fits (every
     * count and rate of a real call), else in BigDecimal; both are exact, so they agree.
     */
    private static long weigh(String model, long c1, long r1, long c2, long r2, long c3, long r3, long c4, long r4) {
        long sum;
        try {
            sum = Math.addExact(Math.addExact(Math.multiplyExact(c1, r1), Math.multiplyExact(c2, r2)),
                    Math.addExact(Math.multiplyExact(c3, r3), Math.multiplyExact(c4, r4)));
        } catch (ArithmeticException tooLargeForLong) {
            BigDecimal exactSum = BigDecimal.valueOf(c1).multiply(BigDecimal.valueOf(r1))
                    .add(BigDecimal.valueOf(c2).multiply(BigDecimal.valueOf(r2)))
                    .add(BigDecimal.valueOf(c3).multiply(BigDecimal.valueOf(r3)))
                    .add(BigDecimal.valueOf(c4).multiply(BigDecimal.valueOf(r4)))
                    .divide(BigDecimal.valueOf(SCALE)).setScale(0, RoundingMode.CEILING);
            if (exactSum.compareTo(MAX_TOKENS) > 0) {
                throw overflow(model, exactSum);
            }
            return exactSum.longValueExact();
        }
        long units = sum / SCALE + (sum % SCALE == 0 ? 0 : 1);
        if (units > Limits.MAX_TOKENS) {
            throw overflow(model, BigDecimal.valueOf(units));
        }
        return units;
    }

    private static QuotaException overflow(String model, BigDecimal amount) {
        return new QuotaException(ErrorCode.WEIGHTED_AMOUNT_OVERFLOW, "the weighted amount " + amount.toPlainString()
                + " of model " + (model == null ? "(none)" : "'" + model + "'") + " is more than "
                + MAX_TOKENS.toPlainString() + " units");
    }

    /**
     * A table from rows of "pattern → four comma-separated multipliers" (input, cached input, output,
     * reasoning), as properties carry it ({@code quota.weights.models[gpt-4o*]=2.5,1.25,10,10});
     * {@code *} or {@code default} names the default.
     *
     * @param source named in error messages (a file name, a property prefix)
     * @throws IllegalArgumentException naming the bad entry
     */
    public static ModelWeights fromMap(Map<String, String> rows, String source) {
        Builder b = builder();
        for (Map.Entry<String, String> e : rows.entrySet()) {
            String pattern = e.getKey() == null ? "" : e.getKey().strip();
            try {
                b.model("default".equalsIgnoreCase(pattern) ? "*" : pattern, Rates.parse(e.getValue() == null ? ""
                        : e.getValue()));
            } catch (IllegalArgumentException bad) {
                throw new IllegalArgumentException(source + ", entry '" + e.getKey() + "': " + bad.getMessage(), bad);
            }
        }
        return b.build();
    }

    /**
     * A table from CSV: one row per pattern, {@code pattern,input,cached_input,output,reasoning};
     * {@code *} or {@code default} names the default. Blank lines and lines starting with {@code #} are
     * skipped, and so is a first row that starts with {@code model} (a header). No quoting: a pattern
     * never holds a comma.
     *
     * @param source named in error messages (a file name)
     * @throws IllegalArgumentException naming the line and the entry
     */
    public static ModelWeights fromCsv(Reader csv, String source) throws IOException {
        Builder b = builder();
        BufferedReader in = new BufferedReader(csv);
        String line;
        int number = 0;
        boolean first = true;
        while ((line = in.readLine()) != null) {
            number++;
            if (number == 1 && line.startsWith("\uFEFF")) {
                line = line.substring(1);
            }
            String row = line.strip();
            if (row.isEmpty() || row.startsWith("#")) {
                continue;
            }
            String[] cells = row.split(",", -1);
            if (first && cells[0].strip().equalsIgnoreCase("model")) {
                first = false;
                continue;
            }
            first = false;
            String where = source + " line " + number;
            if (cells.length != 5) {
                throw new IllegalArgumentException(where + ": expected 5 columns (model, input, cached_input, output,"
                        + " reasoning), got " + cells.length);
            }
            String pattern = cells[0].strip();
            try {
                b.model("default".equalsIgnoreCase(pattern) ? "*" : pattern,
                        Rates.of(cells[1], cells[2], cells[3], cells[4]));
            } catch (IllegalArgumentException bad) {
                throw new IllegalArgumentException(where + " ('" + pattern + "'): " + bad.getMessage(), bad);
            }
        }
        return b.build();
    }

    @Override
    public String toString() {
        return "ModelWeights" + table;
    }

    /** Mutable builder of one table; not thread-safe. */
    public static final class Builder {
        private final Map<String, Rates> rows = new LinkedHashMap<>();

        private Builder() {
        }

        /**
         * Adds a row: an exact model name, a prefix ending in {@code *}, or {@code *} for the default.
         *
         * @throws IllegalArgumentException for an empty pattern, one with whitespace, control characters or
         *                                  a {@code *} before its end, or one already added (ignoring case)
         */
        public Builder model(String pattern, Rates rates) {
            Objects.requireNonNull(rates, "rates");
            if (pattern == null || pattern.isEmpty()) {
                throw new IllegalArgumentException("model pattern is empty");
            }
            if (pattern.codePointCount(0, pattern.length()) > Limits.MAX_MODEL_LENGTH) {
                throw new IllegalArgumentException("model pattern '" + pattern + "' is longer than "
                        + Limits.MAX_MODEL_LENGTH + " characters");
            }
            int star = pattern.indexOf('*');
            if (star >= 0 && star != pattern.length() - 1) {
                throw new IllegalArgumentException("model pattern '" + pattern + "' has a * before its end"
                        + " (only a trailing * is supported)");
            }
            for (int i = 0; i < pattern.length(); i++) {
                char c = pattern.charAt(i);
                if (Character.isWhitespace(c) || Character.isISOControl(c)) {
                    throw new IllegalArgumentException("model pattern '" + pattern + "' contains whitespace");
                }
            }
            String key = fold(pattern);
            if (rows.containsKey(key)) {
                throw new IllegalArgumentException("model pattern '" + pattern + "' is given twice");
            }
            rows.put(key, rates);
            return this;
        }

        /** Sets the rates of models no row names (all 1 unless set); the same as {@code model("*", rates)}. */
        public Builder defaults(Rates rates) {
            return model("*", rates);
        }

        public ModelWeights build() {
            return new ModelWeights(this);
        }
    }
}
