package io.tokenquota.servlet;

import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonToken;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.math.BigDecimal;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;

/**
 * Finds the output budget fields of a JSON request body and rewrites their values, every other byte
 * left as it came: what {@link QuotaFilter.Builder#fitOutputBudget(long)} forwards when the budget the
 * client asked for does not fit the subject's balance. The fields are the ones {@link RequestEstimator}
 * reads a budget from, where it reads them (every {@link RequestEstimator#OUTPUT_FIELDS} name at the
 * top level and in the {@link RequestEstimator#CONFIG_OBJECTS}, also those of a top-level
 * {@link RequestEstimator#REQUEST_INPUT} object, matched as a Go relay matches keys, every occurrence
 * of a repeated name),
 * so the estimate of the rewritten body is the estimate of what the endpoint will be asked to write.
 * Stateless.
 */
final class OutputBudgetFit {
    /** A budget or count written as a number longer than this is read from its digits (as the estimator does). */
    private static final int LONG_NUMBER = 1_000;

    private OutputBudgetFit() {
    }

    /**
     * One budget value in the body: its bytes {@code [start, end)} (a string's quotes included), how
     * the estimator reads it ({@code -1}: not a budget it reads, e.g. {@code NaN} or {@code "abc"}),
     * and whether its field asks for a least output ({@code min_tokens}) rather than a most.
     */
    record Span(int start, int end, boolean string, long value, boolean minimum, boolean thinking) {
        Span(int start, int end, boolean string, long value, boolean minimum) {
            this(start, end, string, value, minimum, false);
        }
    }

    /**
     * Anthropic's extended thinking ({@code "thinking": {"type": "enabled", "budget_tokens": n}}): its
     * budget must stay below {@code max_tokens}, so a lowered {@code max_tokens} lowers it too (to one
     * below), else the endpoint refuses the request.
     */
    private static final String THINKING = "thinking";
    private static final String THINKING_BUDGET = "budget_tokens";

    /**
     * The budget values of a body that is one JSON object, read from its bytes, or {@code null} when
     * the splice could not be trusted to touch only those bytes: not an object, broken before the
     * object ends, nested past the parser's limit, malformed UTF-8 (the estimator reads such a body
     * re-encoded, at other offsets), a body the parser read as UTF-16 or UTF-32 (no byte offsets), or
     * a budget field whose value the estimator cannot read ({@code NaN}, {@code "abc"}, {@code null}),
     * or a config object named twice or {@code null}: an endpoint may read it its own way, above any
     * budget written beside it.
     * What follows the object is not read: the estimator takes the budget from the first object.
     */
    static List<Span> locate(byte[] body) {
        List<Span> strict = locate(body, Json.REQUEST_SCAN);
        // a body only a lenient endpoint reads (comments, single quotes: Gson, JSON5 relays) is estimated
        // with its budget read that way, so it is spliced that way too. What only Gson's reader takes
        // (Json.gsonStrict) is estimated from the strict JSON written of it, whose offsets are not the
        // body's: not spliced (above the cap, refused)
        return strict != null ? strict : locate(body, Json.LENIENT_REQUEST_SCAN);
    }

    private static List<Span> locate(byte[] body, com.fasterxml.jackson.core.JsonFactory json) {
        if (body == null || body.length == 0) {
            return null;
        }
        List<Span> spans = new ArrayList<>();
        try (JsonParser p = json.createParser(body)) {
            if (p.nextToken() != JsonToken.START_OBJECT) {
                return null;
            }
            int depth = 1;
            // the field whose object is open is a generation config: its budgets count too. A top-level
            // input object is one and also the request's own level (RequestEstimator.requestLevel): the
            // config objects in it (a RunPod worker's input.sampling_params) count as top-level ones do
            boolean config = false;
            boolean input = false;
            boolean thinking = false;
            java.util.Set<String> configs = new java.util.HashSet<>();
            JsonToken t;
            while (depth > 0 && (t = p.nextToken()) != null) {
                switch (t) {
                    case FIELD_NAME -> {
                        // the value follows; the name stays readable through currentName(). A config
                        // object named twice is read by the endpoint from its last copy (Jackson, Go,
                        // Python), which may not hold the budget lowered in the first: not fitted
                        String name = p.currentName();
                        if (requestLevel(depth, input) && RequestEstimator.isConfig(name)
                                && !configs.add((depth == 1 ? "" : RequestEstimator.REQUEST_INPUT + ".")
                                + RequestEstimator.fold(name))) {
                            return null;
                        }
                    }
                    case START_OBJECT -> {
                        if (requestLevel(depth, input) && RequestEstimator.isConfig(p.currentName())) {
                            input |= depth == 1
                                    && RequestEstimator.REQUEST_INPUT.equals(RequestEstimator.fold(p.currentName()));
                            config = true;
                            depth++;
                        } else if (depth == 1 && THINKING.equals(p.currentName())) {
                            thinking = true;
                            depth = 2;
                        } else {
                            p.skipChildren();
                        }
                    }
                    case START_ARRAY -> p.skipChildren();
                    case END_OBJECT -> {
                        depth--;
                        // back in a top-level input object, itself a config object, or at the top
                        config = depth == 2;
                        input &= depth == 2;
                        thinking = false;
                    }
                    case VALUE_STRING, VALUE_NUMBER_INT, VALUE_NUMBER_FLOAT -> {
                        String field = p.currentName();
                        if (thinking && THINKING_BUDGET.equals(field) && t == JsonToken.VALUE_NUMBER_INT) {
                            Span span = span(p, body, false, false);
                            if (span != null && span.value() >= 0) {
                                spans.add(new Span(span.start(), span.end(), false, span.value(), false, true));
                            }
                        } else if ((depth == 1 || config) && RequestEstimator.isBudget(field)) {
                            Span span = span(p, body, t == JsonToken.VALUE_STRING,
                                    RequestEstimator.fold(field).startsWith("min_"));
                            // a budget the estimator cannot read may still be read by the endpoint
                            // (its own lenient rules): the body is not fitted
                            if (span == null || span.value() < 0) {
                                return null;
                            }
                            spans.add(span);
                        }
                    }
                    default -> {
                        // booleans are no budget; a null budget is the endpoint's own default, which
                        // a lowered sibling field cannot bound
                        if (t == JsonToken.VALUE_NULL && (depth == 1 || config) && RequestEstimator.isBudget(p.currentName())) {
                            return null;
                        }
                        // nor is a null config object (its endpoint's defaults), whatever another copy says
                        if (t == JsonToken.VALUE_NULL && requestLevel(depth, input)
                                && RequestEstimator.isConfig(p.currentName())) {
                            return null;
                        }
                    }
                }
            }
            return depth == 0 ? spans : null;
        } catch (IOException | RuntimeException e) {
            // broken, too deep or malformed: the caller answers as it would without fitting
            return null;
        }
    }

    /** Whether the object open at {@code depth} is the request's own level: the top, or a top-level input object. */
    private static boolean requestLevel(int depth, boolean input) {
        return depth == 1 || (depth == 2 && input);
    }

    private static Span span(JsonParser p, byte[] body, boolean string, boolean minimum) throws IOException {
        long offset = p.currentTokenLocation().getByteOffset();
        if (offset < 0 || offset >= body.length) {
            return null;
        }
        int start = (int) offset;
        String text = p.getText();
        int end;
        long value;
        if (string) {
            if (body[start] != '"') {
                return null;
            }
            end = closingQuote(body, start + 1);
            if (end < 0) {
                return null;
            }
            value = RequestEstimator.budget(text);
        } else {
            // a number's text is its bytes, ASCII: checked, so a surprise offset never splices elsewhere
            end = start + text.length();
            if (end > body.length || !new String(body, start, text.length(), StandardCharsets.ISO_8859_1).equals(text)) {
                return null;
            }
            if (p.isNaN()) {
                value = Double.isInfinite(p.getDoubleValue()) ? Long.MAX_VALUE : -1;
            } else {
                BigDecimal number = text.length() > LONG_NUMBER ? RequestEstimator.reduced(text) : p.getDecimalValue();
                value = RequestEstimator.budget(number);
            }
        }
        return new Span(start, end, string, value, minimum);
    }

    /** The index just past the string's closing quote, the string's content starting at {@code from}; -1 if none. */
    private static int closingQuote(byte[] body, int from) {
        for (int i = from; i < body.length; i++) {
            if (body[i] == '\\') {
                i++;
            } else if (body[i] == '"') {
                return i + 1;
            }
        }
        return -1;
    }

    /**
     * The body with every budget value above {@code budget} written as {@code budget}, a string one
     * as a string ({@code "300"}), so an endpoint reads it as it read the original; also a maximum
     * written as {@code 0}, which an endpoint may read as its own default, larger than what is held;
     * and a {@link #THINKING} budget not below {@code budget} written one below it. Every other byte
     * as it was.
     */
    static byte[] splice(byte[] body, List<Span> spans, long budget) {
        ByteArrayOutputStream out = new ByteArrayOutputStream(body.length + 16);
        int at = 0;
        for (Span s : spans) {
            if (s.thinking()) {
                if (s.value() >= budget) {
                    out.write(body, at, s.start() - at);
                    out.writeBytes(Long.toString(Math.max(0, budget - 1)).getBytes(StandardCharsets.US_ASCII));
                    at = s.end();
                }
            } else if (s.value() > budget || (s.value() == 0 && !s.minimum())) {
                out.write(body, at, s.start() - at);
                String number = Long.toString(budget);
                out.writeBytes((s.string() ? '"' + number + '"' : number).getBytes(StandardCharsets.US_ASCII));
                at = s.end();
            }
        }
        out.write(body, at, body.length - at);
        return out.toByteArray();
    }
}
