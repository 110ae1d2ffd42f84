package io.tokenquota.servlet;

import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonToken;
import io.tokenquota.ErrorCode;
import io.tokenquota.Limits;
import io.tokenquota.ModelWeights;
import io.tokenquota.QuotaException;
import io.tokenquota.TokenUsage;
import java.io.IOException;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * One request's weighing by the filter's {@link ModelWeights}: the model the request names, the
 * weighted hold of its estimate, and the weighted charge of the usage its answer reports.
 *
 * <p>Which model is charged: the model the answer names ({@link UsageSniffer#model()}: the provider's
 * own envelope, never content a model wrote) when there is one, else the one the request names. The
 * request cannot choose its price: an endpoint that runs another model than the client named is charged
 * for the model that answered. An answer whose usage is only {@linkplain UsageSniffer#provisional()
 * provisional} (mislabelled, cut framing: a model's text may have been written to look like an
 * envelope) is charged the larger of the two models' weighings, so a forged {@code model} cannot lower
 * the charge. The hold uses the request's model (the only one known before the call). Immutable.
 */
final class Weighing {
    /** Gemini and Vertex name the model in the path: {@code .../models/gemini-2.5-pro:generateContent}. */
    private static final Pattern PATH_MODEL = Pattern.compile("/models/([^/:]+):[A-Za-z]+$");

    private final ModelWeights weights;
    private final String requestModel;

    Weighing(ModelWeights weights, String requestModel) {
        this.weights = weights;
        this.requestModel = requestModel;
    }

    String requestModel() {
        return requestModel;
    }

    /**
     * The hold of an estimate of which {@code output} tokens are the requested output budget and the
     * rest input ({@link ModelWeights#hold}); at least 1, at most {@link Limits#MAX_TOKENS} (as the
     * plain estimate is clamped: such a hold is refused for lack of tokens, not as an error).
     */
    long hold(long estimate, long output) {
        long out = Math.max(0, Math.min(estimate, output));
        try {
            return Math.max(1, weights.hold(requestModel, estimate - out, out));
        } catch (QuotaException e) {
            if (e.code() == ErrorCode.WEIGHTED_AMOUNT_OVERFLOW) {
                return Limits.MAX_TOKENS;
            }
            throw e;
        }
    }

    /** A weighed answer: the charge (above {@link Limits#MAX_TOKENS} when it overflowed) and what it was weighed from. */
    record Weighed(long charge, TokenUsage usage) {
    }

    /**
     * The weighted charge of {@code kinds} ({@link UsageSniffer#kinds()}); {@code null} kinds count the
     * whole {@code total} as output.
     */
    Weighed weigh(long total, long[] kinds, String answerModel, boolean provisional) {
        long[] k = kinds != null ? kinds : new long[] {0, 0, total, 0};
        String responseModel = clean(answerModel);
        String model = responseModel != null ? responseModel : requestModel;
        Weighed weighed = weigh(model, k);
        if (provisional && responseModel != null && requestModel != null && !responseModel.equals(requestModel)) {
            Weighed asRequested = weigh(requestModel, k);
            if (asRequested.charge > weighed.charge) {
                weighed = asRequested;
            }
        }
        return weighed;
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
            return new Weighed(weights.charge(usage), usage);
        } catch (QuotaException e) {
            if (e.code() == ErrorCode.WEIGHTED_AMOUNT_OVERFLOW) {
                return new Weighed(Long.MAX_VALUE, usage);
            }
            throw e;
        }
    }

    /**
     * The model a request names: Gemini's path segment, else the JSON body's top-level {@code model}
     * (read with a streaming parser that stops at it), else {@code null}.
     */
    static String requestModel(String path, byte[] json) {
        if (path != null) {
            Matcher m = PATH_MODEL.matcher(path);
            if (m.find()) {
                return clean(m.group(1));
            }
        }
        if (json == null || json.length == 0) {
            return null;
        }
        String model = null;
        try (JsonParser p = Json.REQUEST_SCAN.createParser(json)) {
            if (p.nextToken() != JsonToken.START_OBJECT) {
                return null;
            }
            while (p.nextToken() == JsonToken.FIELD_NAME) {
                String name = p.currentName();
                JsonToken value = p.nextToken();
                if ("model".equals(name) && value == JsonToken.VALUE_STRING) {
                    // the last one, as jackson and most JSON parsers an endpoint uses read a repeated field
                    model = p.getText();
                }
                p.skipChildren();
            }
        } catch (IOException | RuntimeException notJson) {
            // what was read before the break still names the model the endpoint most likely reads
        }
        return clean(model);
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
