package io.tokenquota.servlet;

import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonToken;
import com.fasterxml.jackson.core.exc.StreamConstraintsException;
import io.tokenquota.TokenEstimator;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.math.BigDecimal;
import java.math.RoundingMode;
import java.nio.ByteBuffer;
import java.nio.CharBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayDeque;
import java.util.Deque;
import java.util.Set;

/**
 * Estimates an AI request's tokens from its JSON body with a streaming parser (no tree is built).
 * Counted: every string value at any depth, whatever its field is called (an application's own
 * {@code message}, a Gemini {@code responseSchema} description, OpenAI {@code messages[].content}), so
 * a JSON body never costs less than its strings would as plain text, except what is not text a model
 * reads: the labels, ids, references and media types of {@link #NOT_TEXT} (and {@code *_id}), and a
 * {@link #PAYLOAD_FIELDS} value that is base64 (an image, audio or PDF, which providers bill by their
 * own measures, not by the characters of their encoding). A string whose field is one of
 * {@link #TEXT_FIELDS} always counts. A number beneath such a field or beneath the top-level
 * {@link #CONVERSATION_FIELDS} counts a token (a pre-tokenised {@code prompt: [[9906, 1917]]} is one
 * token per id). Under the top-level {@link #SCHEMA_FIELDS} (tool and function definitions, response
 * schemas) and the Responses API's {@code text.format}, which the provider serialises into the prompt,
 * every field name and string counts; beneath an object that a text field or one of
 * {@link #DATA_FIELDS} holds (a tool's input, a function's arguments or response), member names count
 * as its strings do. The
 * requested output budget is the largest top-level {@link #OUTPUT_FIELDS} value or Gemini's
 * {@code generationConfig.maxOutputTokens}, for each of the completions asked for
 * ({@link #COMPLETIONS_FIELDS}, Gemini's {@code generationConfig.candidateCount}); each read as the
 * endpoint reads it ({@link #count}): a JSON integer, a whole float or a decimal string; a negative
 * budget is no limit ({@link #budget(String)}); {@code NaN} and {@code Infinity} are read. A body with
 * malformed UTF-8 is read as an endpoint's {@code Reader} reads it, each malformed byte a U+FFFD; a
 * body nested deeper than the parser goes is read down to {@link #KEPT_DEPTH} levels, the rest
 * counted as text. Immutable and thread-safe.
 */
final class RequestEstimator {
    static final Set<String> TEXT_FIELDS = Set.of("prompt", "content", "input", "text", "query", "system",
            "instructions", "arguments", "output");
    /** Top-level fields holding the conversation: OpenAI and Anthropic {@code messages}, Gemini {@code contents}. */
    static final Set<String> CONVERSATION_FIELDS = Set.of("messages", "contents");
    /** Fields inside the conversation whose strings label or reference rather than say something. */
    static final Set<String> NOT_TEXT = Set.of("type", "role", "name", "id", "url", "uri", "image_url", "file_url",
            "file_data", "file_uri", "fileUri", "media_type", "mime_type", "mimeType", "format", "detail",
            "signature", "encrypted_content", "model", "user");
    /**
     * Fields that hold a binary payload as base64 (Anthropic {@code source.data}, Gemini
     * {@code inlineData.data}, OpenAI {@code input_audio.data}) or, in an Anthropic text document,
     * the document's text: counted unless the value is base64.
     */
    static final Set<String> PAYLOAD_FIELDS = Set.of("data");
    static final Set<String> SCHEMA_FIELDS = Set.of("tools", "functions", "response_format");
    /**
     * Fields whose object value is data the provider serialises whole into the prompt, names and
     * values: a {@link #TEXT_FIELDS} object (Anthropic {@code tool_use.input}), Gemini
     * {@code functionCall.args} and {@code functionResponse.response}.
     */
    static final Set<String> DATA_FIELDS = Set.of("args", "response");
    /** OpenAI Responses' structured output, {@code text.format}: its {@code response_format}. */
    private static final String RESPONSES_TEXT = "text";
    private static final String RESPONSES_FORMAT = "format";
    static final Set<String> OUTPUT_FIELDS = Set.of("max_tokens", "max_completion_tokens", "max_output_tokens");
    static final Set<String> GEMINI_CONFIG = Set.of("generationConfig", "generation_config");
    static final Set<String> GEMINI_OUTPUT_FIELDS = Set.of("maxOutputTokens", "max_output_tokens");
    /** How many completions the model writes, each up to the output budget (OpenAI {@code n}, {@code best_of}). */
    static final Set<String> COMPLETIONS_FIELDS = Set.of("n", "best_of");
    static final Set<String> GEMINI_COMPLETIONS_FIELDS = Set.of("candidateCount", "candidate_count");
    /**
     * Legacy completions ({@code /v1/completions}: OpenAI, vLLM, llama.cpp): a top-level list of
     * prompts (strings or token id lists) is a batch, each prompt completed on its own, {@code n}
     * times, each up to the output budget.
     */
    static final String BATCHED_PROMPT = "prompt";
    /** Shorter values of a payload field are counted as text: too short to be worth telling apart. */
    private static final int MIN_PAYLOAD_CHARS = 64;
    /**
     * Nesting a body that is too deep for the parser is cut down to: well below the parser's limit,
     * far above anything a request's budget or conversation sits at.
     */
    static final int KEPT_DEPTH = 64;
    /** A decimal string read as a budget or a count, as Jackson's and protobuf's coercions read one. */
    private static final java.util.regex.Pattern DECIMAL = java.util.regex.Pattern.compile("[+-]?[0-9]{1,1000}");
    private static final BigDecimal LONG_MAX = BigDecimal.valueOf(Long.MAX_VALUE);

    private final TokenEstimator estimator;

    RequestEstimator(TokenEstimator estimator) {
        this.estimator = estimator;
    }

    /** Estimated tokens of plain text (a body that is not JSON). */
    long text(CharSequence text) {
        return Math.max(0, estimator.estimate(text));
    }

    /**
     * @param inputTokens  estimated tokens of the text fields
     * @param outputBudget the requested output budget per completion, or -1 when the body names none
     * @param completions  how many completions the request asks for (at least 1)
     */
    record Estimate(long inputTokens, long outputBudget, long completions) {
    }

    private static boolean hasTrailingContent(JsonParser p) {
        try {
            return p.nextToken() != null;
        } catch (IOException | RuntimeException e) {
            return true;
        }
    }

    /**
     * The estimate, or {@code null} when the body is empty, not a JSON object, or broken before the
     * object ends (content after a complete object is counted as text).
     */
    Estimate estimate(byte[] body) {
        Estimate e = scan(body);
        if (e == null && body != null && !isUtf8(body)) {
            // the parser stops at a malformed byte; an endpoint reading through a Reader gets U+FFFD
            // for it and parses the rest, so the estimate reads the same text
            e = scan(new String(body, StandardCharsets.UTF_8).getBytes(StandardCharsets.UTF_8));
        }
        return e == TOO_DEEP ? shallowEstimate(body) : e;
    }

    /**
     * The estimates of a body that is a JSON array of objects (a batch endpoint's
     * {@code @RequestBody List<ChatRequest>}), one per element, each read as a JSON body of its own;
     * {@code null} when the body is not such an array (or is broken, or holds anything but objects).
     */
    java.util.List<Estimate> estimateEach(byte[] body) {
        if (body == null || body.length == 0) {
            return null;
        }
        java.util.List<Estimate> each = new java.util.ArrayList<>();
        try (JsonParser p = Json.REQUEST_SCAN.createParser(body)) {
            if (p.nextToken() != JsonToken.START_ARRAY) {
                return null;
            }
            JsonToken t;
            while ((t = p.nextToken()) == JsonToken.START_OBJECT) {
                int start = (int) p.currentTokenLocation().getByteOffset();
                p.skipChildren();
                int end = (int) p.currentLocation().getByteOffset();
                Estimate e = estimate(java.util.Arrays.copyOfRange(body, start, end));
                if (e == null) {
                    return null;
                }
                each.add(e);
            }
            return t == JsonToken.END_ARRAY && !each.isEmpty() && !hasTrailingContent(p) ? each : null;
        } catch (IOException | RuntimeException e) {
            return null;
        }
    }

    /** What {@link #scan} answers for a body nested past the parser's limit. */
    private static final Estimate TOO_DEEP = new Estimate(0, -1, 1);

    /**
     * A body nested past the parser's limit, which an endpoint with a deeper limit (Jackson's is
     * 1,000) still reads: the object read with its values below {@link #KEPT_DEPTH} cut away, so the
     * budget and {@code n} beside them are still found, plus the cut bytes counted as text.
     */
    private Estimate shallowEstimate(byte[] body) {
        ByteArrayOutputStream cut = new ByteArrayOutputStream();
        Estimate e = scan(shallow(body, cut));
        if (e == null || e == TOO_DEEP) {
            return null;
        }
        return new Estimate(saturatingAdd(e.inputTokens(), estimator.estimate(cut.toString(StandardCharsets.UTF_8))),
                e.outputBudget(), e.completions());
    }

    /**
     * The body with every value nested deeper than {@link #KEPT_DEPTH} cut down to an empty {@code {}}
     * or {@code []} (still the same JSON, minus what was cut); the cut bytes go to {@code cut}.
     */
    static byte[] shallow(byte[] body, ByteArrayOutputStream cut) {
        ByteArrayOutputStream kept = new ByteArrayOutputStream(body.length);
        int depth = 0;
        boolean inString = false;
        boolean escaped = false;
        for (byte b : body) {
            boolean keep;
            if (inString) {
                keep = depth <= KEPT_DEPTH;
                if (escaped) {
                    escaped = false;
                } else if (b == '\\') {
                    escaped = true;
                } else if (b == '"') {
                    inString = false;
                }
            } else if (b == '{' || b == '[') {
                depth++;
                keep = depth <= KEPT_DEPTH + 1;
            } else if (b == '}' || b == ']') {
                keep = depth <= KEPT_DEPTH + 1;
                depth--;
            } else {
                inString = b == '"';
                keep = depth <= KEPT_DEPTH;
            }
            (keep ? kept : cut).write(b);
        }
        return kept.toByteArray();
    }

    private static boolean isUtf8(byte[] body) {
        try {
            StandardCharsets.UTF_8.newDecoder().decode(ByteBuffer.wrap(body));
            return true;
        } catch (CharacterCodingException e) {
            return false;
        }
    }

    private Estimate scan(byte[] body) {
        if (body == null || body.length == 0) {
            return null;
        }
        Deque<Frame> stack = new ArrayDeque<>();
        try (JsonParser p = Json.REQUEST_SCAN.createParser(body)) {
            if (p.nextToken() != JsonToken.START_OBJECT) {
                return null;
            }
            stack.push(new Frame(false, null, false, false, false));
            long input = 0;
            long output = -1;
            long completions = 1;
            long prompts = 0;
            JsonToken t;
            while ((t = p.nextToken()) != null) {
                Frame top = stack.peek();
                switch (t) {
                    case FIELD_NAME -> {
                        top.field = p.currentName();
                        if (top.schema || top.data) {
                            input = saturatingAdd(input, estimator.estimate(top.field));
                        }
                    }
                    case START_OBJECT, START_ARRAY -> {
                        if (t == JsonToken.START_ARRAY && batchedPrompt(stack.size(), top)) {
                            prompts++;
                        }
                        boolean schema = top.schema || (stack.size() == 1 && SCHEMA_FIELDS.contains(top.field))
                                || (stack.size() == 2 && RESPONSES_TEXT.equals(top.name) && RESPONSES_FORMAT.equals(top.field));
                        boolean said = top.said || TEXT_FIELDS.contains(top.valueName())
                                || (stack.size() == 1 && CONVERSATION_FIELDS.contains(top.field));
                        // an object a text field holds (not the array of a conversation's parts) is the
                        // caller's own data: its member names reach the prompt as its strings do
                        boolean data = top.data || (t == JsonToken.START_OBJECT && !top.array
                                && (TEXT_FIELDS.contains(top.field) || DATA_FIELDS.contains(top.field)));
                        stack.push(new Frame(t == JsonToken.START_ARRAY, top.valueName(), schema, said, data));
                    }
                    case END_OBJECT, END_ARRAY -> stack.pop();
                    case VALUE_STRING -> {
                        if (batchedPrompt(stack.size(), top)) {
                            prompts++;
                        }
                        int asked = asked(stack.size(), top);
                        if (asked != NOT_ASKED) {
                            long value = asked == BUDGET ? budget(p.getText()) : count(p.getText());
                            if (value >= 0 && asked == BUDGET) {
                                output = Math.max(output, value);
                            } else if (value >= 0) {
                                completions = Math.max(completions, value);
                            }
                        }
                        boolean named = top.schema || TEXT_FIELDS.contains(top.valueName());
                        // every string counts, whatever the application calls its field, so well-formed
                        // JSON never costs less than the same strings sent as plain text; labels and ids do not
                        if (named || !top.labels()) {
                            // a view of the parser's buffer, not a String copy: the estimator reads it only during the call
                            CharBuffer text = CharBuffer.wrap(p.getTextCharacters(), p.getTextOffset(), p.getTextLength());
                            if (named || !(PAYLOAD_FIELDS.contains(top.valueName()) && isBase64(text))) {
                                input = saturatingAdd(input, estimator.estimate(text));
                            }
                        }
                    }
                    case VALUE_NUMBER_INT, VALUE_NUMBER_FLOAT -> {
                        int asked = asked(stack.size(), top);
                        if (asked != NOT_ASKED) {
                            // NaN asks for nothing; an infinite budget is no limit, as -1 is
                            long value = !p.isNaN() ? (asked == BUDGET ? budget(p.getDecimalValue()) : count(p.getDecimalValue()))
                                    : asked == BUDGET && Double.isInfinite(p.getDoubleValue()) ? Long.MAX_VALUE : -1;
                            if (value >= 0 && asked == BUDGET) {
                                output = Math.max(output, value);
                            } else if (value >= 0) {
                                completions = Math.max(completions, value);
                            }
                        }
                        if (top.saysText() || (t == JsonToken.VALUE_NUMBER_INT && TEXT_FIELDS.contains(top.valueName()))) {
                            // a token id of a pre-tokenised prompt, or a number in a tool's input
                            input = saturatingAdd(input, 1);
                        }
                    }
                    default -> {
                        // booleans and nulls carry no text
                    }
                }
                if (stack.isEmpty()) {
                    break;
                }
            }
            if (!stack.isEmpty()) {
                return null;
            }
            if (hasTrailingContent(p)) {
                // a lenient endpoint reads the object and ignores what follows: keep the object's output
                // budget, and count the whole body's text so nothing rides free behind it
                input = Math.max(input, estimator.estimate(new String(body, java.nio.charset.StandardCharsets.UTF_8)));
            }
            // each prompt of a batch gets its own n completions
            long batch = prompts > 1 && completions > Long.MAX_VALUE / prompts ? Long.MAX_VALUE
                    : completions * Math.max(1, prompts);
            return new Estimate(input, output, batch);
        } catch (StreamConstraintsException e) {
            // nested past the parser's limit (the only limit a body within maxBodyBytes reaches at
            // this depth): read again with the deep part cut away, not as plain text, which would drop
            // the budget
            return stack.size() >= Json.REQUEST_SCAN.streamReadConstraints().getMaxNestingDepth() ? TOO_DEEP : null;
        } catch (IOException | RuntimeException e) {
            // broken or hostile JSON: the caller falls back to the endpoint default
            return null;
        }
    }

    private static final int NOT_ASKED = 0;
    private static final int BUDGET = 1;
    private static final int COMPLETIONS = 2;

    /**
     * Whether the value at hand is one prompt of a batch: a string or a token id list directly in the
     * top-level {@link #BATCHED_PROMPT} list (a list of token ids alone is one prompt).
     */
    private static boolean batchedPrompt(int depth, Frame top) {
        return depth == 2 && top.array && BATCHED_PROMPT.equals(top.name);
    }

    /** Whether the value at hand is the request's output budget, its completion count, or neither. */
    private static int asked(int depth, Frame top) {
        boolean gemini = depth == 2 && !top.array && GEMINI_CONFIG.contains(top.name);
        if ((depth == 1 && OUTPUT_FIELDS.contains(top.field)) || (gemini && GEMINI_OUTPUT_FIELDS.contains(top.field))) {
            return BUDGET;
        }
        if ((depth == 1 && COMPLETIONS_FIELDS.contains(top.field))
                || (gemini && GEMINI_COMPLETIONS_FIELDS.contains(top.field))) {
            return COMPLETIONS;
        }
        return NOT_ASKED;
    }

    /**
     * A budget or count written as a string, as Jackson's default coercion and protobuf's JSON mapping
     * (Gemini) read one: a decimal integer, surrounding spaces allowed; -1 for anything else (the
     * endpoint refuses it or ignores it). Negative is 0, past 64 bits is {@link Long#MAX_VALUE}.
     */
    static long count(String value) {
        String digits = value.trim();
        if (!DECIMAL.matcher(digits).matches()) {
            return -1;
        }
        return count(new BigDecimal(digits));
    }

    /**
     * An output budget, read as {@link #count(String)} reads it but for a negative one: llama.cpp's
     * server and LM Studio read {@code max_tokens: -1} as "no limit", so it is the largest budget
     * ({@link Long#MAX_VALUE}, which the filter's cap bounds), never none.
     */
    static long budget(String value) {
        String digits = value.trim();
        return DECIMAL.matcher(digits).matches() ? budget(new BigDecimal(digits)) : -1;
    }

    /** An output budget written as a JSON number: a negative one is no limit ({@link #budget(String)}). */
    static long budget(BigDecimal value) {
        return value.signum() < 0 ? Long.MAX_VALUE : count(value);
    }

    /**
     * A budget or count written as a JSON float: a whole one ({@code 8.0}, {@code 1.6e4}) is that
     * number, as Jackson binds it to an int; a fraction is rounded up, so a truncating endpoint never
     * gets more than was held.
     */
    static long count(BigDecimal value) {
        if (value.signum() <= 0) {
            return 0;
        }
        if (value.compareTo(BigDecimal.ONE) < 0) {
            return 1;
        }
        if (value.compareTo(LONG_MAX) >= 0) {
            return Long.MAX_VALUE;
        }
        return value.setScale(0, RoundingMode.CEILING).longValueExact();
    }

    /**
     * Whether a payload field's value is base64 (plain or a {@code data:} URL): no spaces, only the
     * base64 alphabet and line breaks. Text a model reads has spaces or punctuation somewhere in 64
     * characters.
     */
    private static boolean isBase64(CharSequence value) {
        if (value.length() < MIN_PAYLOAD_CHARS) {
            return false;
        }
        int start = 0;
        if (value.length() > 5 && "data:".contentEquals(value.subSequence(0, 5))) {
            for (int i = 5; i < value.length(); i++) {
                if (value.charAt(i) == ',') {
                    start = i + 1;
                    break;
                }
            }
        }
        for (int i = start; i < value.length(); i++) {
            char c = value.charAt(i);
            boolean base64 = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')
                    || c == '+' || c == '/' || c == '=' || c == '-' || c == '_' || c == '\r' || c == '\n';
            if (!base64) {
                return false;
            }
        }
        return true;
    }

    private static long saturatingAdd(long a, long b) {
        long sum = a + Math.max(0, b);
        return sum < 0 ? Long.MAX_VALUE : sum;
    }

    /**
     * The output budget and completion count a request's parameters ask for (its query string, form
     * fields, multipart fields), read by the rules of a JSON body's top-level fields, so where a
     * client writes them does not change the hold. Not thread-safe.
     */
    static final class Asked {
        long budget = -1;
        long completions = 1;

        /** Reads one parameter; whether it was a budget or a count (else it is text). */
        boolean read(String name, String value) {
            boolean budgetField = OUTPUT_FIELDS.contains(name);
            if (!budgetField && !COMPLETIONS_FIELDS.contains(name)) {
                return false;
            }
            long v = budgetField ? budget(value) : count(value);
            if (v < 0) {
                return false;
            }
            if (budgetField) {
                budget = Math.max(budget, v);
            } else {
                completions = Math.max(completions, v);
            }
            return true;
        }

        /** Takes the budget and count of a JSON part of the request, read by the JSON body's rules. */
        void include(Estimate e) {
            budget = Math.max(budget, e.outputBudget());
            completions = Math.max(completions, e.completions());
        }

        /** Whether a budget or more than one completion was asked for. */
        boolean asks() {
            return budget >= 0 || completions > 1;
        }
    }

    /** One open object or array; an array's strings belong to the field that holds the array. */
    private static final class Frame {
        final boolean array;
        final String name;
        /** Inside a tool or schema definition: every name and string counts. */
        final boolean schema;
        /** Inside the conversation or a text field's value: strings count unless {@link #NOT_TEXT}. */
        final boolean said;
        /** Inside an object of the caller's own data ({@link #DATA_FIELDS}): member names count too. */
        final boolean data;
        String field;

        Frame(boolean array, String name, boolean schema, boolean said, boolean data) {
            this.array = array;
            this.name = name;
            this.schema = schema;
            this.said = said;
            this.data = data;
        }

        String valueName() {
            return array ? name : field;
        }

        /** Whether the value at hand is something said to the model (not a label, id or reference). */
        boolean saysText() {
            return said && !labels();
        }

        /** Whether the value at hand is a label, id or reference rather than text. */
        boolean labels() {
            String value = valueName();
            return value != null && (NOT_TEXT.contains(value) || value.endsWith("_id"));
        }
    }
}
