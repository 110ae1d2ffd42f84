package io.tokenquota.servlet;

import io.tokenquota.ErrorCode;
import io.tokenquota.Limits;
import io.tokenquota.ModelWeights;
import io.tokenquota.QuotaException;
import io.tokenquota.TokenUsage;
import java.util.Collection;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * One request's weighing by the filter's {@link ModelWeights}: the models the request names, the
 * weighted hold of its estimate, and the weighted charge of the usage its answer reports.
 *
 * <p>A request can name its model in several places, and an endpoint reads one of them by its own
 * rule (the first or the last of a repeated field, a key in any case for a Go relay, the query string
 * or the form, a path segment): the filter cannot know which, so every model the request names is a
 * candidate ({@link Candidates}), and the hold is the dearest candidate's. The charge is at the rates of
 * the model the answer names ({@link UsageSniffer#models()}: the provider's own envelope, never content a
 * model wrote): the request cannot choose its price, and an endpoint that runs another model than the
 * client named is charged for the model that answered. An answer that names no model is charged at
 * the dearest request candidate's rates. An answer whose usage is only
 * {@linkplain UsageSniffer#provisional() provisional} (mislabelled, cut or odd framing: a model's text
 * may have been written to look like an envelope) is charged the dearest of every model named on
 * either side, so a forged {@code model} cannot lower the charge. Immutable.
 */
final class Weighing {
    /**
     * Candidates kept at most: a request naming more distinct models than this is weighed by the
     * dearest of them ({@link Candidates#add}), whatever order it names them in.
     */
    static final int MAX_CANDIDATES = 16;

    private final ModelWeights weights;
    private final List<String> requestModels;

    Weighing(ModelWeights weights, Collection<String> requestModels) {
        this.weights = weights;
        this.requestModels = List.copyOf(requestModels);
    }

    /**
     * The hold of an estimate of which {@code output} tokens are the requested output budget and the
     * rest input ({@link ModelWeights#hold}) at the dearest candidate's rates; at least 1, at most
     * {@link Limits#MAX_TOKENS} (as the plain estimate is clamped: such a hold is refused for lack of
     * tokens, not as an error).
     */
    long hold(long estimate, long output) {
        long out = Math.max(0, Math.min(estimate, output));
        long hold = 1;
        for (String model : orDefault(requestModels)) {
            try {
                for (String spelling : spellings(model)) {
                    hold = Math.max(hold, weights.hold(spelling, estimate - out, out));
                }
            } catch (QuotaException e) {
                if (e.code() == ErrorCode.WEIGHTED_AMOUNT_OVERFLOW) {
                    return Limits.MAX_TOKENS;
                }
                throw e;
            }
        }
        return hold;
    }

    /**
     * This request's weighing with the models an answer named ({@link UsageSniffer#models()}) as candidates
     * too: what an answer without a final usage is charged (its hold, the text its stream carried) at the
     * dearest model named on either side, as a provisional report is weighed, so that a client cannot
     * price a dear model's answer by hanging up before its usage.
     */
    Weighing withAnswer(Collection<String> answerModels) {
        Set<String> models = new LinkedHashSet<>(requestModels);
        for (String named : answerModels) {
            String m = clean(named);
            if (m != null) {
                models.add(m);
            }
        }
        return models.size() == requestModels.size() ? this : new Weighing(weights, models);
    }

    /** A weighed answer: the charge (above {@link Limits#MAX_TOKENS} when it overflowed) and what it was weighed from. */
    record Weighed(long charge, TokenUsage usage) {
    }

    /**
     * The weighted charge of {@code total}, the usage {@code sniffer} read (less what a nested include
     * reported for itself): each relayed call at its own model's rates when the answer is model calls
     * relayed one after another ({@link UsageSniffer#perCall}) and nothing was taken off, else the whole
     * usage by kind ({@code null} kinds count the whole {@code total} as output) at the dearest model.
     */
    Weighed weigh(long total, UsageSniffer sniffer) {
        long[] kinds = sniffer.kinds();
        boolean provisional = sniffer.provisional();
        List<UsageSniffer.CallUsage> calls = provisional ? null : sniffer.perCall();
        if (calls != null && addsUp(calls, total, kinds)) {
            return weighCalls(calls, sniffer.models());
        }
        return weigh(kinds != null ? kinds : new long[] {0, 0, total, 0}, sniffer.models(), provisional);
    }

    /** The weighted charge of usage by kind, weighed as a provisional answer's: at the dearest model named on either side. */
    long provisional(long[] kinds, UsageSniffer sniffer) {
        return weigh(kinds, sniffer.models(), true).charge;
    }

    private static boolean addsUp(List<UsageSniffer.CallUsage> calls, long total, long[] kinds) {
        if (kinds == null || kinds.length != 4) {
            return false;
        }
        long[] sum = new long[5];
        for (UsageSniffer.CallUsage call : calls) {
            for (int i = 0; i < sum.length; i++) {
                sum[i] += call.usage()[i];
            }
        }
        return sum[0] == total && sum[1] == kinds[0] && sum[2] == kinds[1] && sum[3] == kinds[2] && sum[4] == kinds[3];
    }

    /**
     * Each call weighed at the model it named (the dearest, when it named several; a call that named none
     * at the dearest model the answer or the request names), and the charges added up.
     * The event records the counts summed by kind under the model of the call that cost most: one event
     * per request, the charge the calls' own.
     */
    private Weighed weighCalls(List<UsageSniffer.CallUsage> calls, Collection<String> answerModels) {
        long charge = 0;
        long[] sum = new long[4];
        Weighed dearest = null;
        for (UsageSniffer.CallUsage call : calls) {
            long[] k = java.util.Arrays.copyOfRange(call.usage(), 1, 5);
            // a call naming no model: the dearest model named on either side, as a provisional answer is
            // weighed (another call's cheap name must not price it)
            Weighed weighed = call.models().isEmpty() ? weigh(k, answerModels, true) : weigh(k, call.models(), false);
            // each charge and the sum so far at most MAX_TOKENS (else overflowed): the sum fits a long
            charge = weighed.charge > Limits.MAX_TOKENS ? Long.MAX_VALUE : charge + weighed.charge;
            if (charge > Limits.MAX_TOKENS) {
                return new Weighed(Long.MAX_VALUE, null);
            }
            for (int i = 0; i < sum.length; i++) {
                sum[i] += k[i];
            }
            if (dearest == null || weighed.charge > dearest.charge) {
                dearest = weighed;
            }
        }
        for (long count : sum) {
            if (count > Limits.MAX_TOKENS) {
                return new Weighed(Long.MAX_VALUE, null);
            }
        }
        String model = dearest == null || dearest.usage == null ? null : dearest.usage.model();
        return new Weighed(charge, new TokenUsage(model, sum[0], sum[1], sum[2], sum[3]));
    }

    /** The weighted charge of usage by kind, at the dearest of the answer's models (the request's, by the rule above). */
    private Weighed weigh(long[] k, Collection<String> answerModels, boolean provisional) {
        Set<String> models = new LinkedHashSet<>();
        for (String named : answerModels) {
            String m = clean(named);
            if (m != null) {
                models.add(m);
            }
        }
        if (models.isEmpty() || provisional) {
            models.addAll(requestModels);
        }
        Weighed dearest = null;
        for (String model : orDefault(models)) {
            Weighed weighed = weigh(model, k);
            if (dearest == null || weighed.charge > dearest.charge) {
                dearest = weighed;
            }
        }
        return dearest;
    }

    /** The models, or the one {@code null} model (the table's default) when there are none. */
    private static Collection<String> orDefault(Collection<String> models) {
        return models.isEmpty() ? java.util.Collections.singletonList(null) : models;
    }

    private Weighed weigh(String model, long[] k) {
        for (long count : k) {
            if (count > Limits.MAX_TOKENS) {
                // past what the ledger takes in one call: charged its maximum, as an unweighted report would be
                return new Weighed(Long.MAX_VALUE, null);
            }
        }
        TokenUsage usage = new TokenUsage(model, k[0], k[1], k[2], k[3]);
        try {
            long charge = 0;
            for (String spelling : names(model)) {
                charge = Math.max(charge, weights.charge(new TokenUsage(spelling, k[0], k[1], k[2], k[3])));
            }
            // the event keeps the name as the answer wrote it
            return new Weighed(charge, usage);
        } catch (QuotaException e) {
            if (e.code() == ErrorCode.WEIGHTED_AMOUNT_OVERFLOW) {
                return new Weighed(Long.MAX_VALUE, usage);
            }
            throw e;
        }
    }

    /**
     * The names a model is charged by: its {@link #spellings}, and those of each request candidate that names the
     * same model in another spelling (the same {@link #canonical} name), the dearest applying. Round 411: Bedrock's
     * InvokeModel answers Claude in Anthropic's id, {@code claude-3-opus-20240229}, for the path's
     * {@code anthropic.claude-3-opus-20240229-v1:0}: under a table in Bedrock's ids (Opus 2 per input token, 4 per
     * output) the answer's name matched no row and a call of 1,200 in and 3,000 out was charged the default, 4,200
     * for 14,400. An answer naming a snapshot of a model ({@code o3-2025-04-16}) is weighed at that model's exact
     * row by the table itself ({@link ModelWeights}: rounds 435, 437 and 439). An answer naming another model than
     * every candidate is still charged at that model's rows alone.
     */
    private Set<String> names(String answer) {
        Set<String> names = new LinkedHashSet<>(spellings(answer));
        String name = canonical(answer);
        for (String candidate : requestModels) {
            if (name != null && name.equals(canonical(candidate))) {
                names.addAll(spellings(candidate));
            }
        }
        return names;
    }

    /**
     * The models a request names, gathered from wherever it names them, distinct, at most
     * {@link #MAX_CANDIDATES}: its path and parameters here; a JSON body's (and a JSON part's or
     * parameter's) from the estimator's readings of it ({@link RequestEstimator.Estimate#allModels}),
     * which decode it as the estimate does (its label's charset, a malformed byte as U+FFFD) and walk
     * its batch shapes (a JSON array of requests, a {@code requests} list, batch lines, JSON lines), so
     * the hold is weighed for the models of the very text and requests it counts.
     */
    static final class Candidates {
        private final ModelWeights weights;
        private final Set<String> models = new LinkedHashSet<>();

        Candidates(ModelWeights weights) {
            this.weights = weights;
        }

        Collection<String> models() {
            return models;
        }

        /**
         * Adds a model; once {@link #MAX_CANDIDATES} are kept, a new one replaces the cheapest kept one
         * when its highest rate is higher, so padding a request with cheap names cannot push the model
         * the endpoint runs out of the weighing.
         */
        void add(String model) {
            String m = clean(model);
            if (m == null || models.contains(m)) {
                return;
            }
            if (models.size() < MAX_CANDIDATES) {
                models.add(m);
                return;
            }
            String cheapest = null;
            for (String kept : models) {
                if (cheapest == null || dearness(kept).compareTo(dearness(cheapest)) < 0) {
                    cheapest = kept;
                }
            }
            if (dearness(m).compareTo(dearness(cheapest)) > 0) {
                models.remove(cheapest);
                models.add(m);
            }
        }

        /** A model's highest rate of any kind of token, at any of its {@link #spellings}. */
        private java.math.BigDecimal dearness(String model) {
            java.math.BigDecimal dearest = java.math.BigDecimal.ZERO;
            for (String spelling : spellings(model)) {
                ModelWeights.Rates r = weights.rates(spelling);
                dearest = dearest.max(r.input()).max(r.cachedInput()).max(r.output()).max(r.reasoning());
            }
            return dearest;
        }

        /** The model a path names ({@link RequestEstimator#pathModels}), if any. */
        void fromPath(String path) {
            RequestEstimator.pathModels(path).forEach(this::add);
        }

        /** Every value of a parameter named as a request names its model ({@link RequestEstimator#MODEL_FIELDS}), in any case. */
        void fromParameters(Map<String, List<String>> parameters) {
            parameters.forEach((name, values) -> {
                if (RequestEstimator.MODEL_FIELDS.contains(RequestEstimator.fold(name))) {
                    values.forEach(this::add);
                }
            });
        }
    }

    /** A Bedrock cross-region inference profile's geography before a provider's model id: {@code us.anthropic.claude-…}. */
    private static final java.util.regex.Pattern PROFILE_GEOGRAPHY = java.util.regex.Pattern.compile("^[a-z]{2,6}(-[a-z]{2,4})?\\.(?=[a-z0-9-]+\\.)");

    /**
     * A Bedrock model id: one of Bedrock's model providers, the provider's own name of the model, and Bedrock's
     * version of it ({@code anthropic.claude-3-opus-20240229-v1:0}, {@code amazon.titan-text-express-v1},
     * {@code openai.gpt-oss-120b-1:0}, a provisioned context {@code …-v1:0:200k}).
     */
    private static final java.util.regex.Pattern BEDROCK_ID = java.util.regex.Pattern.compile(
            "(?:ai21|amazon|anthropic|cohere|deepseek|google|luma|meta|minimax|mistral|moonshot|nvidia|openai|qwen"
                    + "|stability|twelvelabs|writer)\\.(.+?)(?:-v?\\d+(?::[0-9a-z]+)+|-v\\d+)?",
            java.util.regex.Pattern.CASE_INSENSITIVE);

    /**
     * The names {@code model} is weighed by, the dearest rates applying: the name as written, and the names a
     * server that resolves it runs it as: the part after its last {@code /} (Ollama reads
     * {@code library/llama3.3:70b}, or with its registry host, as {@code llama3.3:70b} and echoes the name as
     * written; OpenRouter's {@code vendor/model}), without a Bedrock cross-region profile's geography
     * ({@code us.anthropic.claude-…} for a row {@code anthropic.claude-…*}), and a Bedrock model id as its
     * provider's name ({@code anthropic.claude-3-opus-20240229-v1:0} for a row {@code claude-3-opus*}; round 411:
     * the answer names it so, {@link #names}). Round 341: the namespaced name
     * missed its row and a 70B model's call was charged the table's default, 9,000 for 18,000. The dearest,
     * so that no spelling lowers a charge ({@code evil/llama3.2:3b} is another model than {@code llama3.2:3b},
     * whatever it costs). A tag an alias resolves ({@code llama3.3} for {@code llama3.3:latest}, the 70B) needs
     * a row of its own: the filter cannot know what a tag resolves to.
     */
    static List<String> spellings(String model) {
        if (model == null) {
            return java.util.Collections.singletonList(null);
        }
        Set<String> names = new LinkedHashSet<>();
        names.add(model);
        String bare = model.substring(model.lastIndexOf('/') + 1);
        if (!bare.isEmpty()) {
            names.add(bare);
            java.util.regex.Matcher geography = PROFILE_GEOGRAPHY.matcher(bare.toLowerCase(java.util.Locale.ROOT));
            String id = geography.find() ? bare.substring(geography.end()) : bare;
            names.add(id);
            java.util.regex.Matcher bedrock = BEDROCK_ID.matcher(id);
            if (bedrock.matches()) {
                names.add(bedrock.group(1));
            }
        }
        return List.copyOf(names);
    }

    /**
     * The one name a model's spellings ({@link #spellings}) share, lower-cased: what figures learnt per model are
     * kept under, so that a client naming the model another way (Ollama runs {@code library/llama3.3:70b} and
     * {@code LLAMA3.3:70B} as {@code llama3.3:70b} and echoes the name as written; a Bedrock id is its provider's
     * name) finds the figures its other spellings taught. Round 350: a stopped stream naming the model anew skipped the application's 4,000-token
     * prompt its complete calls had shown.
     */
    static String canonical(String model) {
        List<String> names = spellings(model);
        String last = names.get(names.size() - 1);
        return last == null ? null : last.toLowerCase(java.util.Locale.ROOT);
    }

    /**
     * A model name as an event keeps it: stripped, at most {@link Limits#MAX_MODEL_LENGTH} characters;
     * {@code null} for a blank one or one with control characters (then the other model, or the
     * table's default, applies).
     */
    static String clean(String model) {
        if (model == null) {
            return null;
        }
        String m = model.strip();
        if (m.isEmpty()) {
            return null;
        }
        for (int i = 0; i < m.length(); i++) {
            char c = m.charAt(i);
            if (Character.isISOControl(c) || Character.isSurrogate(c)) {
                return null;
            }
        }
        return m.length() > Limits.MAX_MODEL_LENGTH ? m.substring(0, Limits.MAX_MODEL_LENGTH) : m;
    }
}
