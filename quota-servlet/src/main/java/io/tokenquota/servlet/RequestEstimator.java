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
import java.util.ArrayList;
import java.util.Deque;
import java.util.List;
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
 * token per id), but in data the provider serialises whole (a tool's input or result, below) a number,
 * {@code true}, {@code false} or {@code null} counts its literal and a separator, as in an application's
 * own data or a schema ({@link #dataValue}, {@link #literal}). In a tool or schema definition
 * ({@link #definition}: the request-level {@link #SCHEMA_FIELDS}, tool and function definitions and
 * response schemas, Bedrock's {@code toolConfig};
 * the Responses API's {@code text.format} and Anthropic's {@code output_config.format}; Gemini's
 * {@code generationConfig.responseSchema} and {@code responseJsonSchema}), which the provider serialises into
 * the prompt, every field name and string counts; elsewhere a JSON Schema (an object naming a {@code type}
 * and its {@code properties}: Ollama's {@code format}) has its property names counted; beneath an object
 * that a text field or one of
 * {@link #DATA_FIELDS} holds (a tool's input, a function's arguments or response), or a Bedrock tool
 * result's {@link #JSON_BLOCK}, member names count as its strings do. The
 * requested output budget is the largest {@link #OUTPUT_FIELDS} value at the top level or in one of
 * the {@link #CONFIG_OBJECTS} (Gemini's {@code generationConfig.maxOutputTokens}, Ollama's
 * {@code options.num_predict}...), a top-level {@code input} object counting as the top level
 * ({@link #requestLevel}), or in any deeper object of settings (each such object, times the completions
 * it names beside its budget, and each row of a table or tensor of budgets, a request of its own:
 * {@link #nestedBudget}), plus a reasoning
 * budget it does not bound ({@link #THINKING_FIELDS}), or an image model's output
 * ({@link ImageOutput}), for each of the completions asked for
 * ({@link #COMPLETIONS_FIELDS}, Gemini's {@code generationConfig.candidateCount}); each read as the
 * endpoint reads it ({@link #count}): a JSON integer, a whole float or a decimal string; a negative
 * budget is no limit ({@link #budget(String)}); {@code NaN} and {@code Infinity} are read, and so
 * is a number of any length ({@link #reduced}). Media items (a base64 payload, a {@code data:} URL, an
 * {@link #MEDIA_FIELDS} part or {@link #MEDIA_TYPES} part, an Anthropic media {@code source}) are
 * counted, each once ({@link Estimate#mediaItems()}), for the filter to price. A batch of requests
 * (each element of a {@link #BATCH_LIST} list holding its request under one of
 * {@link #BATCHED_REQUEST_FIELDS}, a batch file's line, JSON lines) also gets each request's own
 * estimate ({@link Estimate#requests()}). A body with
 * malformed UTF-8 is read as an endpoint's {@code Reader} reads it, each malformed byte a U+FFFD; a
 * body nested deeper than the parser goes is read down to {@link #KEPT_DEPTH} levels, the rest
 * counted as text; no other parser limit applies (lengths are bounded by the body limit alone), so
 * none turns a body into text and drops its budget. Immutable and thread-safe.
 */
final class RequestEstimator {
    static final Set<String> TEXT_FIELDS = Set.of("prompt", "content", "input", "text", "query", "system",
            "instructions", "arguments", "output", "input_ids");
    /**
     * Ollama's {@code /api/generate} {@code context}: the token ids its previous answer handed back, which
     * the client sends again and the model reads before the prompt; each id a token.
     */
    static final String CONTEXT_IDS = "context";
    /** Top-level fields holding the conversation: OpenAI and Anthropic {@code messages}, Gemini {@code contents}. */
    static final Set<String> CONVERSATION_FIELDS = Set.of("messages", "contents");
    /** A conversation message's participant name, which the model reads (OpenAI bills it). */
    private static final String MESSAGE_NAME = "name";
    /** The OpenAI Responses API's list of input items, each a message or another item the model reads. */
    private static final String RESPONSES_INPUT = "input";
    /**
     * What a server adds around each message of a conversation: OpenAI counts 3 tokens a message, and its
     * role one more (a role is a label the walk does not count as text).
     */
    static final long MESSAGE_FRAMING_TOKENS = 4;
    /**
     * The OpenAI Responses API's opaque state a client sends back (a {@code reasoning} item's or a
     * {@code compaction} item's {@code encrypted_content}): the model reads what it holds, the reasoning
     * or the compacted conversation, billed as input (round 262: a continuation from a 5,000-token
     * compaction, its stream cut before usage, was charged 1,019). Counted by its size as OpenAI's own
     * Codex client counts it for its context window, not read as text ({@link #encryptedTokens}).
     */
    static final String ENCRYPTED_CONTENT = "encrypted_content";
    /** The bytes of an {@link #ENCRYPTED_CONTENT} value that are the envelope, not what the model reads. */
    private static final long ENCRYPTED_OVERHEAD_BYTES = 650;
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
    /**
     * The request-level fields holding tool and function definitions and response schemas
     * ({@link #definition}): OpenAI's and Anthropic's {@code tools}, {@code functions},
     * {@code response_format}, Bedrock Converse's {@code toolConfig} (its
     * {@code tools[].toolSpec.inputSchema.json}) and Anthropic's {@code output_format}.
     */
    static final Set<String> SCHEMA_FIELDS = Set.of("tools", "functions", "response_format", "toolConfig",
            "output_format");
    /**
     * Response schemas in one of the {@link #CONFIG_OBJECTS}: Gemini's {@code generationConfig.responseSchema}
     * and {@code responseJsonSchema} (snake_case as its REST API also reads them).
     */
    static final Set<String> RESPONSE_SCHEMAS = Set.of("responseSchema", "responseJsonSchema", "response_schema",
            "response_json_schema");
    /**
     * Fields whose object value is data the provider serialises whole into the prompt, names and
     * values: a {@link #TEXT_FIELDS} object (Anthropic {@code tool_use.input}), Gemini
     * {@code functionCall.args} and {@code functionResponse.response}.
     */
    static final Set<String> DATA_FIELDS = Set.of("args", "response");
    /**
     * A Bedrock Converse tool result's JSON block in the conversation ({@code toolResult.content[].json}, an
     * object or a list): data the provider serialises whole, as a {@link #DATA_FIELDS} object is (round 357).
     */
    private static final String JSON_BLOCK = "json";
    /**
     * The top-level objects whose {@code format} is a response schema: OpenAI Responses' {@code text}
     * (its {@code response_format}) and Anthropic's {@code output_config}.
     */
    private static final Set<String> FORMAT_HOLDERS = Set.of("text", "output_config");
    private static final String FORMAT = "format";
    /** A JSON Schema's member holding its object's properties, each named by a member name. */
    private static final String SCHEMA_PROPERTIES = "properties";
    /**
     * The names servers read an output budget under, the largest of those present counting: OpenAI
     * {@code max_tokens}, {@code max_completion_tokens}, {@code max_output_tokens} (also Anthropic,
     * Cohere, vLLM, llama.cpp), Gemini {@code maxOutputTokens}, llama.cpp's {@code n_predict} (read
     * before {@code max_tokens}), Ollama's {@code num_predict}, vLLM's {@code min_tokens} (the least the
     * model must write), Hugging Face TGI's {@code max_new_tokens} and {@code min_new_tokens}, AWS
     * Bedrock Converse's {@code maxTokens}, Anthropic's legacy {@code max_tokens_to_sample}, Bedrock
     * InvokeModel's Titan {@code maxTokenCount} and Meta {@code max_gen_len}, KoboldCpp's
     * {@code max_length}, Aleph Alpha's {@code maximum_tokens}, LMDeploy's {@code request_output_len}; and
     * each of these in camelCase ({@code maxCompletionTokens}, {@code maxNewTokens}, {@code numPredict}...),
     * as a Java host's own request record names them when it binds the body with Jackson's defaults and
     * passes the budget on (but {@code max_length}, whose {@code maxLength} is JSON Schema's). Read at the
     * top level, in the {@link #CONFIG_OBJECTS}, in deeper objects of settings ({@link #nestedBudget})
     * and in a request's parameters ({@link Asked}); a negative one ({@code -1}, {@code -2}: no limit, fill the context) holds the cap.
     */
    static final Set<String> OUTPUT_FIELDS = Set.of("max_tokens", "max_completion_tokens", "max_output_tokens",
            "maxOutputTokens", "n_predict", "num_predict", "min_tokens", "max_new_tokens", "min_new_tokens",
            "maxTokens", "max_tokens_to_sample", "maxTokenCount", "max_gen_len", "max_length", "maximum_tokens",
            "request_output_len", "maxCompletionTokens", "nPredict", "numPredict", "minTokens", "maxNewTokens",
            "minNewTokens", "maxTokensToSample", "maxGenLen", "maximumTokens", "requestOutputLen");
    /**
     * Top-level objects holding a request's generation settings: Gemini {@code generationConfig},
     * Ollama {@code options}, Hugging Face TGI {@code parameters}, AWS Bedrock Converse
     * {@code inferenceConfig}, Bedrock Titan {@code textGenerationConfig}, a Replicate prediction's
     * {@code input} (an object there; OpenAI's {@code input} is a string or a list, never one), SGLang's
     * {@code sampling_params}, MLflow and Databricks serving's {@code params}, OpenLLM's {@code llm_config};
     * the {@link #OUTPUT_FIELDS} in them are budgets. A top-level {@code input} object is also the
     * request's own level ({@link #requestLevel}): these objects in it count as top-level ones do.
     */
    static final Set<String> CONFIG_OBJECTS = Set.of("generationConfig", "generation_config", "options", "parameters",
            "inferenceConfig", "textGenerationConfig", "input", "sampling_params", "samplingParams", "params",
            "llm_config");
    /**
     * How many completions the model writes, each up to the output budget: OpenAI {@code n}, OpenAI and
     * TGI {@code best_of}, Gemini and Vertex {@code candidateCount}, transformers' {@code num_return_sequences},
     * Cohere's {@code num_generations}, AI21's {@code numResults}, Replicate's {@code num_outputs}, and
     * these in camelCase (a Java host's own record); read where {@link #asked} reads a budget, and beside
     * a budget in any deeper settings object ({@link #nestedCount}).
     */
    static final Set<String> COMPLETIONS_FIELDS = Set.of("n", "best_of", "candidateCount", "candidate_count",
            "num_return_sequences", "num_generations", "numResults", "num_outputs", "bestOf", "numReturnSequences",
            "numGenerations", "numOutputs");

    /**
     * The names above as Go's {@code encoding/json} matches a key to a field: case-insensitively, with
     * Unicode's simple folding ({@code MAX_TOKENS}, {@code max_to\u212Aens} with a Kelvin sign). A Go
     * relay (one-api, Ollama's OpenAI-compatible API) reads those keys as the budget, so they are one.
     */
    private static final Set<String> OUTPUT_NAMES = folded(OUTPUT_FIELDS);
    private static final Set<String> CONFIG_NAMES = folded(CONFIG_OBJECTS);
    private static final Set<String> COMPLETIONS_NAMES = folded(COMPLETIONS_FIELDS);

    /** Whether a key names an output budget ({@link #OUTPUT_FIELDS}, folded). */
    static boolean isBudget(String key) {
        return named(OUTPUT_NAMES, key);
    }

    /** Whether a key is one of {@code folded} names, folded as {@link #fold} does. */
    private static boolean named(Set<String> folded, String key) {
        return key != null && folded.contains(fold(key));
    }

    /** Whether a key names a generation config object ({@link #CONFIG_OBJECTS}, folded). */
    static boolean isConfig(String key) {
        return named(CONFIG_NAMES, key);
    }

    private static Set<String> folded(Set<String> names) {
        return names.stream().map(RequestEstimator::fold).collect(java.util.stream.Collectors.toUnmodifiableSet());
    }

    /** A key as case-insensitive matching sees it: each character upper-cased, then lower-cased. */
    static String fold(String key) {
        StringBuilder folded = new StringBuilder(key.length());
        for (int i = 0; i < key.length(); ) {
            int c = key.codePointAt(i);
            folded.appendCodePoint(Character.toLowerCase(Character.toUpperCase(c)));
            i += Character.charCount(c);
        }
        return folded.toString();
    }
    /**
     * Legacy completions ({@code /v1/completions}: OpenAI, vLLM, llama.cpp) and SGLang's native
     * {@code /generate} ({@code text}, or pre-tokenised {@code input_ids}): a top-level list of prompts
     * (strings or token id lists) is a batch, each prompt completed on its own, {@code n} times, each
     * up to the output budget.
     */
    static final Set<String> BATCHED_PROMPTS = Set.of("prompt", "text", "input_ids");
    /**
     * Fields whose value is a media item (an image, audio, a file): OpenAI's {@code image_url} and
     * {@code input_audio} parts, the Responses API's {@code image_url} of an {@code input_image},
     * Gemini's {@code inline_data} / {@code inlineData} and {@code file_data} / {@code fileData}.
     */
    static final Set<String> MEDIA_FIELDS = Set.of("image_url", "input_image", "image", "input_audio",
            "inline_data", "inlineData", "file_data", "fileData");
    /** Gemini's inline media, in either spelling its API reads: priced at Gemini's rates ({@link #rate}). */
    private static final Set<String> GEMINI_INLINE = Set.of("inlineData", "inline_data");
    /**
     * A Gemini part's video settings beside its media, in either spelling: its {@code fps} is the rate
     * the part's video is sampled at ({@link MediaSize#sampledTokens}).
     */
    private static final Set<String> VIDEO_METADATA = Set.of("videoMetadata", "video_metadata");
    private static final String FPS = "fps";
    /** A frame rate written as a JSON text ({@code "fps": "10"}), which the API's JSON mapping reads as a number. */
    private static final java.util.regex.Pattern NUMBER_TEXT =
            java.util.regex.Pattern.compile("-?[0-9]{1,20}(?:\\.[0-9]{1,20})?(?:[eE][+-]?[0-9]{1,4})?");
    /** {@code type} values of a content part that is a media item. */
    static final Set<String> MEDIA_TYPES = Set.of("image_url", "input_image", "image", "input_audio", "input_file",
            "file");
    /**
     * The {@link #MEDIA_FIELDS} and {@link #MEDIA_TYPES} that hold an image (OpenAI's {@code image_url}
     * and {@code input_image}, Anthropic's {@code image}): one without a payload (a URL, a file id) is
     * held at {@link MediaSize#unseenImageTokens}: {@link MediaSize#UNSEEN_IMAGE_TOKENS}, or
     * {@link MediaSize#LOW_DETAIL_IMAGE_TOKENS} with {@code "detail": "low"}, more on a model the
     * request names that bills images above them.
     */
    static final Set<String> IMAGE_PARTS = Set.of("image_url", "input_image", "image");
    /** {@code type} values of an Anthropic {@code source} that is media (a {@code text} document is read as text). */
    static final Set<String> MEDIA_SOURCE_TYPES = Set.of("base64", "url", "file");
    private static final String MEDIA_SOURCE = "source";
    /**
     * A batch of requests: a {@code requests} list whose elements hold their request under one of
     * {@link #BATCHED_REQUEST_FIELDS} (Anthropic Message Batches {@code params}, an OpenAI batch
     * line's {@code body}, Gemini's inline batch {@code request}).
     */
    static final String BATCH_LIST = "requests";
    static final Set<String> BATCHED_REQUEST_FIELDS = Set.of("params", "body", "request");
    /** A batch file's line ({@code {"custom_id": …, "params" | "body": {…}}}) at the top level. */
    static final String BATCH_LINE_ID = "custom_id";
    static final Set<String> BATCH_LINE_FIELDS = Set.of("params", "body");
    /**
     * Vertex AI's {@code :predict}: each element of the top-level {@code instances} list is a request of
     * its own ({@code {"prompt": …}}), the top-level {@code parameters} its settings unless it has its own.
     */
    static final String INSTANCE_LIST = "instances";
    private static final Set<String> BATCH_LISTS = folded(Set.of(BATCH_LIST));
    private static final Set<String> BATCHED_REQUEST_NAMES = folded(BATCHED_REQUEST_FIELDS);
    private static final Set<String> BATCH_LINE_NAMES = folded(BATCH_LINE_FIELDS);
    private static final Set<String> INSTANCE_LISTS = folded(Set.of(INSTANCE_LIST));
    /** A budget or count written as a number longer than this is read from its digits, not converted whole. */
    private static final int LONG_NUMBER = 1_000;
    /** Shorter values of a payload field are counted as text: too short to be worth telling apart. */
    private static final int MIN_PAYLOAD_CHARS = 64;
    /** The shortest plain base64 in an application's own field read as the item it decodes to. */
    private static final int MIN_MEDIA_CHARS = 1_024;
    /**
     * Nesting a body that is too deep for the parser is cut down to: well below the parser's limit,
     * far above anything a request's budget or conversation sits at.
     */
    static final int KEPT_DEPTH = 64;
    private static final BigDecimal LONG_MAX = BigDecimal.valueOf(Long.MAX_VALUE);

    private final TokenEstimator estimator;
    /** What the filter charges each media item at least: a sized item adds what it costs above that. */
    private final long mediaItemTokens;

    RequestEstimator(TokenEstimator estimator) {
        this(estimator, DEFAULT_MEDIA_ITEM_TOKENS);
    }

    /** The requests estimated go to an image endpoint: each draws an image, whatever model it names ({@link ImageOutput}). */
    private final boolean drawing;
    /** The models the request names outside its body ({@link #pathModels}): their image rates apply too. */
    private final List<String> named;
    /** The request goes to Replicate's {@code /predictions}, whose body may name its model in {@code version}. */
    private final boolean predictions;

    RequestEstimator(TokenEstimator estimator, long mediaItemTokens) {
        this(estimator, mediaItemTokens, false, List.of(), false);
    }

    private RequestEstimator(TokenEstimator estimator, long mediaItemTokens, boolean drawing, List<String> named,
                             boolean predictions) {
        this.estimator = estimator;
        this.mediaItemTokens = mediaItemTokens;
        this.drawing = drawing;
        this.named = named;
        this.predictions = predictions;
    }

    /** This estimator for the requests of an image endpoint ({@link ImageOutput#drawsAt}). */
    RequestEstimator drawing() {
        return new RequestEstimator(estimator, mediaItemTokens, true, named, predictions);
    }

    /**
     * This estimator for a request to {@code path}, which may name the model beside the body's ({@link #pathModels}),
     * or let the body name it in {@code version} (a route ending {@code /predictions}, {@link #REPLICATE_VERSION}).
     */
    RequestEstimator at(String path) {
        List<String> models = pathModels(path);
        boolean versioned = path != null && route(path).endsWith("/predictions");
        return models.isEmpty() && !versioned ? this
                : new RequestEstimator(estimator, mediaItemTokens, drawing, models, versioned);
    }

    /**
     * Models a path names: Gemini and Vertex {@code .../models/gemini-2.5-pro:generateContent}, Bedrock
     * {@code /model/anthropic.claude-3-opus-20240229-v1:0/converse} (and {@code converse-stream},
     * {@code invoke}, {@code invoke-with-response-stream}), and an Azure OpenAI deployment
     * {@code /openai/deployments/gpt-4o-mini/chat/completions}, whose body names no model (a deployment
     * is named after its model unless its owner chose otherwise; an unknown name prices nothing lower).
     * Round 410: three more APIs name the model in the path only, and their answers name none, so the
     * call was weighed at the table's default (charged 100 for 800, 1,010 for 8,080): Cloudflare Workers
     * AI's {@code /accounts/{account_id}/ai/run/@cf/meta/llama-3.1-70b-instruct} (every id starts {@code @cf/}
     * or {@code @hf/} and holds {@code /}; round 413: also through Cloudflare AI Gateway,
     * {@code /v1/{account_id}/{gateway_id}/workers-ai/@cf/…}, charged 100 for 800), Replicate's
     * {@code /v1/models/{owner}/{name}/predictions} and
     * {@code /v1/deployments/{owner}/{name}/predictions} (a deployment's name, like Azure's), and Databricks'
     * {@code /serving-endpoints/{name}/invocations} (an endpoint's name). Each pattern is anchored on its
     * API's fixed segments and its end: the dearest candidate is charged, so a false one (an application's
     * {@code /api/models/list}) could only raise a charge, wrongly. A bare {@code /models/{id}} (Hugging
     * Face's serverless inference) cannot be told from an application's own route, so it is not read.
     */
    private static final java.util.regex.Pattern[] MODEL_PATHS = {
        java.util.regex.Pattern.compile("/models/([^/:]+):[A-Za-z]+$"),
        java.util.regex.Pattern.compile("/model/([^/]+)/(?:converse|converse-stream|invoke|invoke-with-response-stream)$"),
        java.util.regex.Pattern.compile("/openai/deployments/([^/]+)(?:/|$)"),
        java.util.regex.Pattern.compile("/accounts/[^/]+/ai/run/(@[^/]+/.+)$"),
        java.util.regex.Pattern.compile("/workers-ai/(@[^/]+/.+)$"),
        java.util.regex.Pattern.compile("/(?:models|deployments)/([^/]+/[^/]+)/predictions$"),
        java.util.regex.Pattern.compile("/serving-endpoints/([^/]+)/invocations$"),
    };

    /**
     * The models {@code path} names ({@link #MODEL_PATHS}); empty for none. A trailing {@code /} is the same
     * route to Spring MVC's trailing-slash matching and to a servlet mapped under a prefix (round 249: a
     * Bedrock Converse call to {@code .../converse/} was weighed at the table's default).
     */
    static List<String> pathModels(String path) {
        if (path == null) {
            return List.of();
        }
        String route = route(path);
        List<String> models = new ArrayList<>(1);
        for (java.util.regex.Pattern pattern : MODEL_PATHS) {
            java.util.regex.Matcher m = pattern.matcher(route);
            if (m.find()) {
                models.add(m.group(1));
            }
        }
        return models;
    }

    /** {@code path} without its trailing {@code /}s ({@link #pathModels}). */
    private static String route(String path) {
        String route = path;
        while (route.endsWith("/")) {
            route = route.substring(0, route.length() - 1);
        }
        return route;
    }

    /**
     * Replicate's {@code POST /v1/predictions} names an official model in its body's top-level {@code version}:
     * {@code {owner}/{name}} or {@code {owner}/{name}:{version_id}} (or a bare version id, which names no model).
     * Round 413: a streamed call of {@code meta/meta-llama-3-70b-instruct}, whose answer names no model, was weighed
     * at the table's default, 1,020 for 8,160. Read only on a route ending {@code /predictions} and only in that
     * form, its {@code owner/name} the candidate: an application's {@code "version": "2"} is no model.
     */
    private static final java.util.regex.Pattern REPLICATE_VERSION =
            java.util.regex.Pattern.compile("([A-Za-z0-9][A-Za-z0-9._-]*/[A-Za-z0-9][A-Za-z0-9._-]*)(?::[0-9a-f]{64})?");

    /** The filter's default least cost of a media item (Gemini's image rate). */
    static final long DEFAULT_MEDIA_ITEM_TOKENS = 258;

    /** Estimated tokens of plain text (a body that is not JSON). */
    long text(CharSequence text) {
        return Math.max(0, estimator.estimate(text));
    }

    /**
     * What the prompt a JSON body asks back in the answer costs, as this estimator counts it: with a
     * top-level {@code "echo": true} (a text completion's, OpenAI's and vLLM's), whose answer starts
     * each of its {@code n} choices with the prompt's text, the top-level {@code prompt} string (or each
     * string of a list of them) times {@code n}; 0 for any other body.
     */
    long echoedPrompt(byte[] body) {
        if (body == null || body.length == 0) {
            return 0;
        }
        try (JsonParser p = Json.REQUEST_SCAN.createParser(body)) {
            if (p.nextToken() != JsonToken.START_OBJECT) {
                return 0;
            }
            boolean echo = false;
            long prompt = 0;
            long choices = 1;
            while (p.nextToken() == JsonToken.FIELD_NAME) {
                String name = p.currentName();
                JsonToken value = p.nextToken();
                if ("echo".equals(name)) {
                    echo = value == JsonToken.VALUE_TRUE;
                } else if ("n".equals(name) && value == JsonToken.VALUE_NUMBER_INT) {
                    choices = Math.max(1, p.getLongValue());
                } else if ("prompt".equals(name) && value == JsonToken.VALUE_STRING) {
                    prompt = text(p.getText());
                } else if ("prompt".equals(name) && value == JsonToken.START_ARRAY) {
                    prompt = 0;
                    while ((value = p.nextToken()) != JsonToken.END_ARRAY) {
                        if (value == JsonToken.VALUE_STRING) {
                            prompt = saturatingAdd(prompt, text(p.getText()));
                        }
                        p.skipChildren();
                    }
                }
                p.skipChildren();
            }
            return echo ? (prompt > Long.MAX_VALUE / choices ? Long.MAX_VALUE : prompt * choices) : 0;
        } catch (IOException | RuntimeException e) {
            return 0;
        }
    }

    /**
     * @param inputTokens  estimated tokens of the text fields
     * @param outputBudget the requested output budget per completion, or -1 when the body names none
     * @param completions  how many completions the request asks for (at least 1)
     * @param mediaItems   how many media items (images, audio, files) the body sends, each counted once
     * @param requests     when the body is a batch of requests (a {@link #BATCH_LIST} list, a batch
     *                     file's line, JSON lines), each request's own estimate; else empty
     * @param orDefault    whether the endpoint may write its own default budget although one is named:
     *                     a budget or config object that is {@code null}, or a config object named twice
     *                     (Jackson, Go and Python read the last copy, which may hold no budget)
     * @param thinkingBudget the output per completion that the output budget does not bound, written on
     *                     top of it: a reasoning budget ({@link #THINKING_FIELDS}) and the image a Responses
     *                     {@code image_generation} tool may draw ({@link #IMAGE_TOOL}); -1 when none
     * @param models       every string the body's own top-level {@link #MODEL_FIELDS} keys hold, in order
     *                     (each of a repeated key, any case: an endpoint keeps the first or the last, a Go
     *                     relay matches {@code Model} too), and a Replicate {@code version}'s model
     *                     ({@link #REPLICATE_VERSION}); a batch's requests name theirs in {@code requests}
     */
    record Estimate(long inputTokens, long outputBudget, long completions, long mediaItems, List<Estimate> requests,
                    boolean orDefault, long thinkingBudget, List<String> models) {
        Estimate(long inputTokens, long outputBudget, long completions) {
            this(inputTokens, outputBudget, completions, 0, List.of(), false, -1, List.of());
        }

        Estimate(long inputTokens, long outputBudget, long completions, long mediaItems, List<Estimate> requests,
                 boolean orDefault) {
            this(inputTokens, outputBudget, completions, mediaItems, requests, orDefault, -1, List.of());
        }

        Estimate {
            requests = List.copyOf(requests);
            models = List.copyOf(models);
        }

        /**
         * Every model this reading of the body names: its own and, for a batch (a {@code requests} list,
         * a batch file's line, JSON lines), each of its requests', found by the same walk that finds
         * their budgets, so the weighing prices the requests the estimate counts.
         */
        List<String> allModels() {
            if (requests.isEmpty()) {
                return models;
            }
            List<String> all = new ArrayList<>(models);
            for (Estimate one : requests) {
                all.addAll(one.allModels());
            }
            return all;
        }
    }

    /**
     * The keys a request names its model with (folded, {@link #fold}): {@code model}, and the AWS SDK's
     * Bedrock {@code modelId} and the {@code model_id} and {@code model_name} of Python frameworks, which a
     * relay passes on as they come (round 249: a Converse command naming {@code modelId} was weighed at the
     * table's default). Each is a candidate: more of them can only raise the hold and the charge.
     */
    static final Set<String> MODEL_FIELDS = Set.of("model", "modelid", "model_id", "modelname", "model_name");

    private static boolean hasTrailingContent(JsonParser p) {
        try {
            return p.nextToken() != null;
        } catch (IOException | RuntimeException e) {
            return true;
        }
    }

    /**
     * The estimate, or {@code null} when the body is empty, not a JSON object, or broken before the
     * object ends (content after a complete object is counted as text; when it is more objects, the
     * body is JSON lines, each line a request of its own).
     */
    Estimate estimate(byte[] body) {
        return estimate(body, true);
    }

    /** @param batches whether the body may be a batch of requests (not within one of a batch's requests) */
    private Estimate estimate(byte[] body, boolean batches) {
        Estimate e = readable(body, batches);
        if (e == null && body != null && !isUtf8(body)) {
            // the parser stops at a malformed byte; an endpoint reading through a Reader gets U+FFFD
            // for it and parses the rest, so the estimate reads the same text
            e = readable(new String(body, StandardCharsets.UTF_8).getBytes(StandardCharsets.UTF_8), batches);
        }
        return e;
    }

    private Estimate readable(byte[] body, boolean batches) {
        Estimate e = scan(body, batches, Json.REQUEST_SCAN);
        if (e == null) {
            // Gson's fromJson and JSON5-style relays read comments, single quotes, unquoted names (and
            // Gson unquoted values, => and ;): such a body asks for its budget and n as surely as strict
            // JSON does
            Estimate lenient = Json.readLeniently(body, (bytes, json) -> scan(bytes, batches, json));
            if (lenient != null && lenient != TOO_DEEP) {
                long text = estimator.estimate(new String(body, StandardCharsets.UTF_8));
                return new Estimate(Math.max(lenient.inputTokens(), text), lenient.outputBudget(), lenient.completions(),
                        lenient.mediaItems(), lenient.requests(), lenient.orDefault(), lenient.thinkingBudget(),
                        lenient.models());
            }
        }
        return e == TOO_DEEP ? shallowEstimate(body, batches) : e;
    }

    /**
     * The estimates of a body that is a JSON array of objects (a batch endpoint's
     * {@code @RequestBody List<ChatRequest>}), one per element, each read as a JSON body of its own;
     * {@code null} when the body is not such an array (or is broken, or holds anything but objects).
     * What follows the array does not matter: Jackson, as Spring binds a body, reads the root value
     * and never looks past it; the caller counts the whole body as text besides.
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
            return t == JsonToken.END_ARRAY && !each.isEmpty() ? each : null;
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
    private Estimate shallowEstimate(byte[] body, boolean batches) {
        ByteArrayOutputStream cut = new ByteArrayOutputStream();
        Estimate e = scan(shallow(body, cut), batches, Json.REQUEST_SCAN);
        if (e == null || e == TOO_DEEP) {
            return null;
        }
        return new Estimate(saturatingAdd(e.inputTokens(), estimator.estimate(cut.toString(StandardCharsets.UTF_8))),
                e.outputBudget(), e.completions(), e.mediaItems(), e.requests(), e.orDefault(), e.thinkingBudget(),
                e.models());
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

    private Estimate scan(byte[] body, boolean batches, com.fasterxml.jackson.core.JsonFactory json) {
        if (body == null || body.length == 0) {
            return null;
        }
        Deque<Frame> stack = new ArrayDeque<>();
        try (JsonParser p = json.createParser(body)) {
            if (p.nextToken() != JsonToken.START_OBJECT) {
                return null;
            }
            stack.push(new Frame(false, null, false, false, false));
            long input = 0;
            long output = -1;
            long completions = 1;
            long prompts = 0;
            long media = 0;
            // a budget named with a value and again as null, a null config object, or a config object
            // named twice: see Estimate.orDefault
            boolean orDefault = false;
            Set<String> configs = new java.util.HashSet<>();
            Set<String> nullBudgets = new java.util.HashSet<>();
            Set<String> valuedBudgets = new java.util.HashSet<>();
            // the byte ranges of a batch's requests: {start, end, 1 for a batch line's own request}
            List<long[]> batched = null;
            boolean lineId = false;
            // reasoning budgets: beside the answer's (Qwen's thinking_budget), or within it when one is
            // named (Gemini's thinkingConfig.thinkingBudget counts in maxOutputTokens)
            long thinkingAdded = -1;
            // the largest image a Responses image_generation tool of the request may draw (IMAGE_TOOL)
            long drawn = 0;
            long thinkingWithin = -1;
            // an image generation request's model, size, quality and partial images (ImageOutput)
            String[] image = new String[3];
            long partialImages = 0;
            // the budgets named deeper than the top level and the config objects (nestedBudget): the
            // largest, and how many requests they stand for (each settings object, each row of a table)
            long nestedMax = -1;
            long nestedRows = 0;
            // read first: the body may name its model after the images its rate prices
            List<String> models = models(body, json, predictions);
            // the path's model too: an Azure deployment's body names none
            MediaSize.ModelRates imageRates = MediaSize.ModelRates.of(named.isEmpty() ? models
                    : java.util.stream.Stream.concat(models.stream(), named.stream()).toList(),
                    () -> mediaResolutions(body, json));
            JsonToken t;
            while ((t = p.nextToken()) != null) {
                Frame top = stack.peek();
                switch (t) {
                    case FIELD_NAME -> {
                        top.field = p.currentName();
                        if (requestLevel(stack.size(), top) && isConfig(top.field)
                                && !configs.add((top.requestInput ? REQUEST_INPUT + "." : "") + fold(top.field))) {
                            orDefault = true;
                        }
                        if (top.schema || top.data || words(top.field)) {
                            input = saturatingAdd(input, estimator.estimate(top.field));
                        } else if (top.propertiesOf != null) {
                            // a JSON Schema wherever it sits (Ollama's format, a schema under a key no list
                            // names): its property names are most of its text, counted when the object
                            // holding them names a type too (round 355)
                            top.propertiesOf.propertyNames = saturatingAdd(top.propertiesOf.propertyNames,
                                    estimator.estimate(top.field));
                        }
                        top.typed |= "type".equals(top.field);
                        if (stack.size() == 1 && BATCH_LINE_ID.equals(fold(top.field))) {
                            lineId = true;
                        }
                    }
                    case START_OBJECT, START_ARRAY -> {
                        if (t == JsonToken.START_ARRAY && batchedPrompt(stack.size(), top)) {
                            prompts++;
                        }
                        boolean definition = definition(stack.size(), top);
                        boolean schema = top.schema || definition;
                        boolean said = top.said || TEXT_FIELDS.contains(top.valueName())
                                || (stack.size() == 1 && CONVERSATION_FIELDS.contains(top.field));
                        // an object a text field holds (not the array of a conversation's parts) is the
                        // caller's own data: its member names reach the prompt as its strings do
                        boolean data = top.data || (t == JsonToken.START_OBJECT && !top.array
                                && (TEXT_FIELDS.contains(top.field) || DATA_FIELDS.contains(top.field)))
                                || (top.said && !top.array && JSON_BLOCK.equals(top.field));
                        if (!schema && !top.array && MEDIA_FIELDS.contains(top.field)) {
                            // an image_url / inlineData / ... part: one item, whatever it holds
                            top.mediaHere = true;
                            top.image |= IMAGE_PARTS.contains(top.field);
                        }
                        boolean message = t == JsonToken.START_OBJECT && top.array && stack.size() == 2
                                && (CONVERSATION_FIELDS.contains(top.name) || RESPONSES_INPUT.equals(top.name));
                        if (message) {
                            // each message of the conversation is framed by tokens the server adds around it
                            // and its role: thousands of empty or one-word messages are read as such (round
                            // 258: 4,000 empty messages, 16,023 tokens, were estimated 1,001)
                            input = saturatingAdd(input, MESSAGE_FRAMING_TOKENS);
                        }
                        Frame frame = new Frame(t == JsonToken.START_ARRAY, top.valueName(), schema, said, data);
                        frame.message = message;
                        // a top-level input object (Replicate's prediction, a RunPod worker's job) holds the
                        // request itself: its text still counts as input (said, data above), but its budgets
                        // and settings objects are the request's, as at the top level
                        frame.requestInput = stack.size() == 1 && t == JsonToken.START_OBJECT && top.field != null
                                && REQUEST_INPUT.equals(fold(top.field));
                        boolean level = requestLevel(stack.size(), top);
                        frame.atRequestLevel = level && !top.array;
                        // what a model or a user wrote, or a definition, seen from the request's own level
                        // (the top, or a top-level input object): never the request's settings
                        frame.written = !frame.requestInput && (top.written || definition
                                || TEXT_FIELDS.contains(top.valueName())
                                || (level && !top.array && CONVERSATION_FIELDS.contains(top.field))
                                || (t == JsonToken.START_OBJECT && !top.array
                                && (TEXT_FIELDS.contains(top.field) || DATA_FIELDS.contains(top.field))));
                        frame.inRequest = top.inRequest;
                        frame.inConfig = top.inConfig || (level && !top.array && isConfig(top.field));
                        frame.inLabels = top.inLabels || (!top.array && LABELS.equals(top.field));
                        if (!schema && t == JsonToken.START_OBJECT && !top.array && SCHEMA_PROPERTIES.equals(top.field)) {
                            frame.propertiesOf = top;
                        }
                        if (t == JsonToken.START_ARRAY && !top.array && settings(top)) {
                            if (TENSOR_DATA.equals(top.field)) {
                                frame.table = top;
                            } else if (TABLE_COLUMNS.equals(top.field)) {
                                frame.columnsOf = top;
                            } else if (isBudget(top.field)) {
                                // a column of budgets (MLflow's columnar inputs: {"max_tokens": [8000, 8000]})
                                frame.table = top;
                                frame.budgetColumn = true;
                            }
                        } else if (t == JsonToken.START_ARRAY && top.array) {
                            frame.table = top.table;
                            frame.budgetColumn = top.budgetColumn;
                        }
                        if (batches && t == JsonToken.START_OBJECT && !top.inRequest && !schema && !said && !data) {
                            if (top.array && stack.size() == 2 && named(INSTANCE_LISTS, top.name)) {
                                // a Vertex prediction instance: a request of its own, under the body's parameters
                                frame.requestStart = p.currentTokenLocation().getByteOffset();
                                frame.instance = true;
                                frame.inRequest = true;
                            } else if (top.array && named(BATCH_LISTS, top.name)) {
                                frame.batchElement = true;
                            } else if (!top.array && ((top.batchElement && named(BATCHED_REQUEST_NAMES, top.field))
                                    || (stack.size() == 1 && named(BATCH_LINE_NAMES, top.field)))) {
                                // one request of a batch: estimated on its own when the body ends
                                frame.requestStart = p.currentTokenLocation().getByteOffset();
                                frame.batchLine = !top.batchElement;
                                frame.inRequest = true;
                            }
                        }
                        stack.push(frame);
                    }
                    case END_OBJECT, END_ARRAY -> {
                        Frame done = stack.pop();
                        if (done.videos != null && done.fps > 0) {
                            // a Gemini part whose videoMetadata (before or after its inlineData) asks for its
                            // own frame rate: its video costs the frames sampled, not one a second (round 541)
                            for (MediaSize.Measured video : done.videos) {
                                input = saturatingAdd(input,
                                        Math.max(0, MediaSize.sampledTokens(video.played(), done.fps) - video.tokens()));
                            }
                        } else if (done.videos != null && !done.array && done.name != null && GEMINI_INLINE.contains(done.name)
                                && !stack.isEmpty()) {
                            // the part holding the inlineData reads its frame rate
                            for (MediaSize.Measured video : done.videos) {
                                stack.peek().video(video);
                            }
                        }
                        if (done.fps > 0 && done.name != null && !done.array && VIDEO_METADATA.contains(done.name)
                                && !stack.isEmpty()) {
                            stack.peek().fps(done.fps);
                        }
                        if (done.typed) {
                            // a JSON Schema: an object naming its properties and a type (round 355)
                            input = saturatingAdd(input, done.propertyNames);
                        }
                        if (done.tool != null && IMAGE_TOOL.equals(done.tool[0])) {
                            // the image the tool may draw, as the Images API's request of it is estimated
                            drawn = Math.max(drawn, ImageOutput.tokens(null, true, done.tool[1], done.tool[2],
                                    done.tool[3] == null ? 0 : count(done.tool[3])));
                        }
                        long[] rows = done.nestedRows();
                        if (rows != null) {
                            // each settings object asks for its own output (each record of a table of requests)
                            nestedMax = Math.max(nestedMax, rows[0]);
                            nestedRows = saturatingAdd(nestedRows, rows[1]);
                        }
                        // a part and the payload it holds are one item; a list holds as many as its elements
                        long items = Math.max(done.mediaHere ? 1 : 0, done.mediaBelow);
                        // likewise what its images the filter cannot see cost above the least of an item
                        long unseen = Math.max(done.mediaHere && done.image && !done.payloadBelow
                                ? unseenImage(done.lowDetail, imageRates) : 0, done.unseenBelow);
                        if (done.numbers > 0 && !(done.unitFloats && VECTOR_DIMENSIONS.contains(done.numbers))) {
                            input = saturatingAdd(input, done.numberCost);
                        }
                        if (done.textSource) {
                            // an Anthropic text document's source: its data is the text itself, whatever
                            // alphabet it is written in
                            input = Math.max(0, saturatingAdd(input, done.plainData) - done.decodedData);
                        }
                        if (stack.isEmpty()) {
                            media = items;
                            input = saturatingAdd(input, unseen);
                        } else {
                            Frame parent = stack.peek();
                            parent.mediaBelow += items;
                            parent.unseenBelow = saturatingAdd(parent.unseenBelow, unseen);
                            parent.payloadBelow |= done.payloadBelow;
                            parent.lowDetail |= done.lowDetail;
                        }
                        long end = p.currentLocation().getByteOffset();
                        if (done.requestStart >= 0 && end > done.requestStart) {
                            if (batched == null) {
                                batched = new ArrayList<>();
                            }
                            batched.add(new long[] {done.requestStart, end, done.batchLine ? 1 : done.instance ? 2 : 0});
                        }
                    }
                    case VALUE_STRING -> {
                        if (batchedPrompt(stack.size(), top)) {
                            prompts++;
                        }
                        int asked = asked(stack.size(), top);
                        if (asked == BUDGET) {
                            valuedBudgets.add(budgetKey(stack.size(), top));
                        }
                        if (asked != NOT_ASKED) {
                            long value = asked == BUDGET ? budget(p.getText()) : count(p.getText());
                            if (value >= 0 && asked == BUDGET) {
                                output = Math.max(output, value);
                                // only JavaScript reads a number in it: another endpoint writes its default
                                orDefault |= javaScriptOnly(p.getText());
                            } else if (value >= 0) {
                                completions = Math.max(completions, value);
                            }
                        } else if (nestedBudget(stack.size(), top)) {
                            top.nestedBudget = Math.max(top.nestedBudget, budget(p.getText()));
                        } else if (nestedCount(stack.size(), top)) {
                            top.nestedCompletions = Math.max(top.nestedCompletions, count(p.getText()));
                        } else if (stack.size() == 1 && ImageOutput.FIELDS.contains(top.field)) {
                            image[ImageOutput.FIELDS.indexOf(top.field)] = p.getText();
                        } else if (imageTool(stack.size(), top) && TOOL_FIELDS.contains(top.field)) {
                            top.tool()[TOOL_FIELDS.indexOf(top.field)] = p.getText();
                        } else if (!top.array && "name".equals(top.field) && settings(top) && isBudget(p.getText())) {
                            top.budgetTensor = true;
                        } else if (top.columnsOf != null && isBudget(p.getText())) {
                            top.columnsOf.budgetColumns |= column(top.position);
                        }
                        boolean settingsField = !top.array && settings(top) && settingsText(top.field);
                        if ((settingsField || (top.table != null && !top.budgetColumn))
                                && embeddedObject(p.getTextCharacters(), p.getTextOffset(), p.getTextLength())) {
                            // settings sent as a JSON text (Triton's vLLM backend: a "sampling_parameters"
                            // tensor holding "{\"max_tokens\": 8000}"): the endpoint parses and reads them.
                            // Only there: a prompt or an instruction may be JSON text holding any budget
                            Estimate inner = scan(p.getText().getBytes(StandardCharsets.UTF_8), false, Json.REQUEST_SCAN);
                            if (inner != null && inner != TOO_DEEP && inner.outputBudget() >= 0) {
                                Frame owner = settingsField ? top : top.table;
                                owner.textBudgetMax = Math.max(owner.textBudgetMax, inner.outputBudget());
                                owner.textBudgetRows = saturatingAdd(owner.textBudgetRows, inner.completions());
                                owner.textInField |= settingsField;
                            }
                        }
                        if (!top.array && "name".equals(top.field) && settings(top) && settingsText(p.getText())) {
                            top.settingsTensor = true;
                        }
                        // a view of the parser's buffer, not a String copy: read only during this token
                        CharBuffer text = CharBuffer.wrap(p.getTextCharacters(), p.getTextOffset(), p.getTextLength());
                        boolean named = top.schema || TEXT_FIELDS.contains(top.valueName());
                        // a provider's payload field, or an application's own field holding an image, a PDF or
                        // audio as plain base64 (Jackson writes a byte[] so, round 211: a 20 KB photo was held
                        // as 14,304 tokens of text): the model sees the item, not its characters
                        boolean base64 = PAYLOAD_FIELDS.contains(top.valueName()) && isBase64(text)
                                || !named && text.length() >= MIN_MEDIA_CHARS && isBase64(text)
                                && MediaSize.tokens(text, rate(top), imageRates) > 0;
                        // a base64 data: URL in an application's own field (FileReader.readAsDataURL) is
                        // decoded before a model sees it: its decoded text counts (below), not its characters
                        boolean encoded = base64 || (isDataUrl(text) && isBase64(text));
                        // every string counts, whatever the application calls its field, so well-formed
                        // JSON never costs less than the same strings sent as plain text; labels and ids do not
                        // a message's name (OpenAI's participant name) is read by the model with the message
                        // (round 258: 600 messages each named with 63 digits were estimated 1,600 for 16,223)
                        boolean label = top.labels() && !(ownData(stack.size(), top) && NAMING.contains(top.valueName()))
                                && !(top.message && MESSAGE_NAME.equals(top.field));
                        if (!top.schema && !top.array && ENCRYPTED_CONTENT.equals(top.field)) {
                            input = saturatingAdd(input, encryptedTokens(text));
                        } else if ((named || !label || prose(text)) && (named || !encoded)) {
                            input = saturatingAdd(input, estimator.estimate(text));
                        }
                        if (!top.array && "type".equals(top.field) && "text".contentEquals(text)) {
                            top.textSource = true;
                        }
                        if (!top.schema && text.length() > 0) {
                            boolean payload = base64 || isDataUrl(text);
                            if (payload) {
                                // a text document sent as base64 (Gemini inlineData of text/plain) is read
                                // by the model as its text: that counts, beside the item
                                long decoded = base64Text(text);
                                input = saturatingAdd(input, decoded);
                                if (base64 && !top.array) {
                                    // a text document (Anthropic's source of type text) holds its text as it
                                    // is, whatever alphabet it is written in (words joined by underscores, or
                                    // base64 the model is asked to decode): that counts in place of the decoding
                                    top.plainData = saturatingAdd(top.plainData, estimator.estimate(text));
                                    top.decodedData = saturatingAdd(top.decodedData, decoded);
                                }
                                // an image by its size at its provider's rate, a PDF by its pages, audio by
                                // its duration: what the item costs above the least every item is charged
                                MediaSize.Rate rate = rate(top);
                                MediaSize.Measured measured = MediaSize.measured(text, rate, imageRates);
                                input = saturatingAdd(input, Math.max(0, measured.tokens() - mediaItemTokens));
                                if (rate == MediaSize.Rate.GEMINI && !top.array && measured.played() != null
                                        && measured.played().video() > 0) {
                                    // priced again when its part ends if the part asks for another frame rate
                                    top.video(measured);
                                }
                            }
                            top.payloadBelow |= payload;
                            if (top.array && (payload || MEDIA_FIELDS.contains(top.name))) {
                                // each image of a list is an item
                                top.mediaBelow++;
                                if (!payload && IMAGE_PARTS.contains(top.name)) {
                                    top.unseenBelow = saturatingAdd(top.unseenBelow, unseenImage(false, imageRates));
                                }
                            } else if (payload || (!top.array && (MEDIA_FIELDS.contains(top.field)
                                    || ("type".equals(top.field) && mediaType(top.name, text))))) {
                                top.mediaHere = true;
                                top.image |= !top.array && (IMAGE_PARTS.contains(top.field)
                                        || ("type".equals(top.field) && IMAGE_PARTS.contains(text.toString())));
                            }
                        }
                        if (fpsField(top) && NUMBER_TEXT.matcher(text).matches()) {
                            top.fps(Double.parseDouble(text.toString()));
                        }
                        if (!top.schema && !top.array && "detail".equals(top.field)) {
                            // the provider's parser keeps the last of a repeated member: any other value is high
                            top.lowDetail = "low".contentEquals(text);
                        }
                    }
                    case VALUE_NUMBER_INT, VALUE_NUMBER_FLOAT -> {
                        if (fpsField(top)) {
                            top.fps(p.getTextLength() > LONG_NUMBER ? reduced(p.getText()).doubleValue() : p.getDoubleValue());
                        }
                        int asked = asked(stack.size(), top);
                        if (asked == BUDGET) {
                            valuedBudgets.add(budgetKey(stack.size(), top));
                        }
                        if (asked != NOT_ASKED) {
                            long value = number(p, asked);
                            if (value >= 0 && asked == BUDGET) {
                                output = Math.max(output, value);
                            } else if (value >= 0) {
                                completions = Math.max(completions, value);
                            }
                        } else if (nestedBudget(stack.size(), top)) {
                            top.nestedBudget = Math.max(top.nestedBudget, number(p, BUDGET));
                        } else if (nestedCount(stack.size(), top)) {
                            top.nestedCompletions = Math.max(top.nestedCompletions, number(p, COMPLETIONS));
                        } else if (stack.size() == 1 && ImageOutput.PARTIAL_IMAGES.equals(top.field)) {
                            partialImages = Math.max(0, number(p, COMPLETIONS));
                        } else if (imageTool(stack.size(), top) && ImageOutput.PARTIAL_IMAGES.equals(top.field)) {
                            top.tool()[3] = p.getText();
                        } else if (!top.array && settings(top) && named(THINKING_NAMES, top.field)) {
                            if (named(THINKING_CONFIGS, top.name)) {
                                thinkingWithin = Math.max(thinkingWithin, number(p, BUDGET));
                            } else {
                                thinkingAdded = Math.max(thinkingAdded, number(p, BUDGET));
                            }
                        } else if (top.table != null) {
                            top.table.tabled(number(p, BUDGET), top.position, top.budgetColumn);
                        }
                        boolean tokenId = t == JsonToken.VALUE_NUMBER_INT && (TEXT_FIELDS.contains(top.valueName())
                                || stack.size() == 2 && top.array && CONTEXT_IDS.equals(top.name));
                        if (top.data && !(tokenId && top.array) && dataValue(stack.size(), top, asked)) {
                            // a number of data the provider serialises whole (a tool's input or result in the
                            // conversation) is read as its digits, and a separator beside it, every one of them,
                            // a vector's too (round 357: 4,000 prices such as 18001.7502, about 24,000 tokens as
                            // text, in a Gemini functionResponse.response were estimated at about 5,000, a token each)
                            input = saturatingAdd(input, estimator.estimate(p.getText()) + 1);
                        } else if (top.saysText() || tokenId) {
                            // a token id of a pre-tokenised prompt (or of Ollama's context, the earlier turns the
                            // model reads before the prompt)
                            input = saturatingAdd(input, 1);
                        } else if (dataValue(stack.size(), top, asked)) {
                            // a number of an application's own data (a series of readings) or of a schema reaches
                            // the prompt as its digits, and a separator beside it
                            long digits = estimator.estimate(p.getText()) + 1;
                            if (top.array) {
                                // decided when the list ends: an embedding vector is searched with, not read
                                top.numberCost = saturatingAdd(top.numberCost, digits);
                                top.numbers++;
                                top.unitFloats &= t == JsonToken.VALUE_NUMBER_FLOAT && Math.abs(p.getDoubleValue()) <= 1
                                        && fractionDigits(p.getText()) >= VECTOR_DIGITS;
                            } else {
                                input = saturatingAdd(input, digits);
                            }
                        }
                    }
                    case VALUE_NULL -> {
                        // a null is text where it is data (literal). A budget named with a value and
                        // again as null (the endpoint reads the last: its own default) or a null config object
                        // leaves the endpoint its default; a null beside another budget name (a serialised
                        // record's unset max_tokens beside its max_completion_tokens) does not
                        if (!top.schema && !top.array && "detail".equals(top.field)) {
                            // a null detail is the provider's default (auto: high for a large image)
                            top.lowDetail = false;
                        }
                        int asked = asked(stack.size(), top);
                        if (asked == BUDGET) {
                            nullBudgets.add(budgetKey(stack.size(), top));
                        } else if (requestLevel(stack.size(), top) && isConfig(top.field)) {
                            orDefault = true;
                        }
                        input = saturatingAdd(input, literal(stack.size(), top, asked, p.getText()));
                    }
                    case VALUE_TRUE, VALUE_FALSE -> input = saturatingAdd(input, literal(stack.size(), top,
                            asked(stack.size(), top), p.getText()));
                }
                if (top.array && t != JsonToken.FIELD_NAME && t != JsonToken.END_OBJECT && t != JsonToken.END_ARRAY) {
                    top.position++;
                }
                if (stack.isEmpty()) {
                    break;
                }
            }
            if (!stack.isEmpty()) {
                return null;
            }
            List<Estimate> requests = List.of();
            if (hasTrailingContent(p)) {
                // a lenient endpoint reads the object and ignores what follows: keep the object's output
                // budget, and count the whole body's text so nothing rides free behind it
                input = Math.max(input, estimator.estimate(new String(body, java.nio.charset.StandardCharsets.UTF_8)));
                // JSON lines (a batch file's lines, an NDJSON endpoint): each line is a request
                List<Estimate> lines = batches ? lines(body) : null;
                if (lines != null) {
                    requests = lines;
                }
            }
            if (requests.isEmpty() && batched != null) {
                requests = new ArrayList<>(batched.size());
                for (long[] range : batched) {
                    if (range[2] == 1 && !lineId) {
                        // a top-level params or body without custom_id is not a batch line
                        continue;
                    }
                    Estimate one = estimate(java.util.Arrays.copyOfRange(body, (int) range[0], (int) range[1]), false);
                    if (one != null && range[2] == 2) {
                        // the body's parameters apply to each instance; its own settings may ask for more
                        one = new Estimate(one.inputTokens(), Math.max(one.outputBudget(), output),
                                Math.max(one.completions(), completions), one.mediaItems(), one.requests(),
                                one.orDefault() || orDefault, Math.max(one.thinkingBudget(), thinking(output, thinkingAdded,
                                thinkingWithin)), one.models());
                    }
                    if (one != null) {
                        requests.add(one);
                    }
                }
            }
            long imageOutput = ImageOutput.tokens(image[0], drawing, image[1], image[2], partialImages);
            if (imageOutput > 0) {
                // an image model writes its image as output tokens, by size and quality, whatever budget
                output = Math.max(output, imageOutput);
            }
            if (drawn > 0) {
                // written beside the answer, whatever its budget: output the answer's budget does not bound
                thinkingAdded = saturatingAdd(Math.max(0, thinkingAdded), drawn);
            }
            if (nestedRows > 0) {
                // each of those requests may write up to the largest of their budgets
                output = Math.max(output, nestedMax);
                completions = Math.max(completions, nestedRows);
            }
            // each prompt of a batch gets its own n completions
            long batch = prompts > 1 && completions > Long.MAX_VALUE / prompts ? Long.MAX_VALUE
                    : completions * Math.max(1, prompts);
            nullBudgets.retainAll(valuedBudgets);
            return new Estimate(input, output, batch, media, requests, orDefault || !nullBudgets.isEmpty(),
                    thinking(output, thinkingAdded, thinkingWithin), models);
        } catch (StreamConstraintsException e) {
            // nested past the parser's limit (the only limit it has: lengths are bounded by the body
            // limit alone): read again with the deep part cut away, not as plain text, which would drop
            // the budget
            return stack.size() >= Json.REQUEST_SCAN.streamReadConstraints().getMaxNestingDepth() ? TOO_DEEP : null;
        } catch (IOException | RuntimeException e) {
            // broken or hostile JSON: the caller falls back to the endpoint default
            return null;
        }
    }

    /**
     * The estimates of a body that is two or more JSON objects one after another (JSON lines), each
     * read as a body of its own; {@code null} when it is anything else.
     */
    private List<Estimate> lines(byte[] body) {
        List<int[]> ranges = new ArrayList<>();
        try (JsonParser p = Json.REQUEST_SCAN.createParser(body)) {
            JsonToken t;
            while ((t = p.nextToken()) != null) {
                if (t != JsonToken.START_OBJECT) {
                    return null;
                }
                int start = (int) p.currentTokenLocation().getByteOffset();
                p.skipChildren();
                ranges.add(new int[] {start, (int) p.currentLocation().getByteOffset()});
            }
        } catch (IOException | RuntimeException e) {
            return null;
        }
        if (ranges.size() < 2) {
            return null;
        }
        List<Estimate> each = new ArrayList<>(ranges.size());
        for (int[] range : ranges) {
            Estimate e = estimate(java.util.Arrays.copyOfRange(body, range[0], range[1]), true);
            if (e == null) {
                return null;
            }
            each.add(e);
        }
        return each;
    }

    /**
     * What an image given by URL or file id costs above the least every item is charged: the most a
     * provider reads for one image, unless the request asks for OpenAI's low detail; more on a model
     * the request names that bills images above those ({@link MediaSize#unseenImageTokens}).
     */
    private long unseenImage(boolean lowDetail, MediaSize.ModelRates models) {
        return Math.max(0, models.unseenImageTokens(lowDetail) - mediaItemTokens);
    }

    /**
     * Every string the body's own top-level {@link #MODEL_FIELDS} keys hold, in order (each of a
     * repeated key, any case, as {@link Estimate#models} says), and on Replicate's {@code /predictions}
     * ({@code predictions}) the model of a top-level {@code version} ({@link #REPLICATE_VERSION}), read by
     * {@code json} as the body's walk reads it. What was read before a break stands: the walk decides
     * whether the body is JSON.
     */
    private static List<String> models(byte[] body, com.fasterxml.jackson.core.JsonFactory json, boolean predictions) {
        List<String> models = new ArrayList<>();
        try (JsonParser p = json.createParser(body)) {
            if (p.nextToken() != JsonToken.START_OBJECT) {
                return models;
            }
            while (p.nextToken() == JsonToken.FIELD_NAME) {
                String name = fold(p.currentName());
                boolean model = MODEL_FIELDS.contains(name);
                boolean version = predictions && "version".equals(name);
                if (p.nextToken() == JsonToken.VALUE_STRING && model) {
                    models.add(p.getText());
                } else if (p.currentToken() == JsonToken.VALUE_STRING && version) {
                    java.util.regex.Matcher m = REPLICATE_VERSION.matcher(p.getText());
                    if (m.matches()) {
                        models.add(m.group(1));
                    }
                }
                p.skipChildren();
            }
        } catch (IOException | RuntimeException e) {
            // broken or nested past the parser's limit: the models before it
        }
        return models;
    }

    /** Gemini's generation settings, in either spelling its API reads. */
    private static final Set<String> GENERATION_CONFIG = Set.of("generationConfig", "generation_config");
    private static final Set<String> MEDIA_RESOLUTION = Set.of("mediaResolution", "media_resolution");

    /**
     * The media resolutions the body's top-level {@code generationConfig.mediaResolution} names (each of
     * a repeated key), read as {@link #models} reads the models: before the walk, since the settings
     * may follow the media they price ({@link MediaSize.ModelRates}, round 364). A part's own
     * {@code mediaResolution} is not read: it may follow the item it prices, and usage settles it.
     */
    private static List<String> mediaResolutions(byte[] body, com.fasterxml.jackson.core.JsonFactory json) {
        List<String> levels = new ArrayList<>();
        try (JsonParser p = json.createParser(body)) {
            if (p.nextToken() != JsonToken.START_OBJECT) {
                return levels;
            }
            while (p.nextToken() == JsonToken.FIELD_NAME) {
                boolean config = GENERATION_CONFIG.contains(p.currentName());
                if (p.nextToken() == JsonToken.START_OBJECT && config) {
                    while (p.nextToken() == JsonToken.FIELD_NAME) {
                        boolean level = MEDIA_RESOLUTION.contains(p.currentName());
                        if (p.nextToken() == JsonToken.VALUE_STRING && level) {
                            levels.add(p.getText());
                        }
                        p.skipChildren();
                    }
                } else {
                    p.skipChildren();
                }
            }
        } catch (IOException | RuntimeException e) {
            // broken or nested past the parser's limit: the levels before it
        }
        return levels;
    }

    /** Whether the value at hand is a {@code videoMetadata} object's {@code fps}. */
    private static boolean fpsField(Frame top) {
        return !top.array && !top.schema && FPS.equals(top.field) && top.name != null && VIDEO_METADATA.contains(top.name);
    }

    /** Whose rate a media payload is billed at, told by the object or field holding it. */
    private static MediaSize.Rate rate(Frame top) {
        String holder = top.array ? top.name : top.field;
        if ("image_url".equals(top.name) || "image_url".equals(holder) || "input_audio".equals(top.name)) {
            return MediaSize.Rate.OPENAI;
        }
        if (MEDIA_SOURCE.equals(top.name)) {
            return MediaSize.Rate.ANTHROPIC;
        }
        if (top.name != null && GEMINI_INLINE.contains(top.name)) {
            return MediaSize.Rate.GEMINI;
        }
        return MediaSize.Rate.ANY;
    }

    /** Whether a {@code type} value names a media part, or, in an Anthropic {@code source}, a media source. */
    private static boolean mediaType(String holder, CharSequence type) {
        String value = type.toString();
        return MEDIA_TYPES.contains(value) || (MEDIA_SOURCE.equals(holder) && MEDIA_SOURCE_TYPES.contains(value));
    }

    /**
     * The tokens an {@link #ENCRYPTED_CONTENT} value holds: its base64 decoded (3 bytes each 4 characters),
     * less the {@link #ENCRYPTED_OVERHEAD_BYTES}, at 4 bytes a token. Read as text it would count about 2
     * tokens each 4 characters, 5 to 10 times what the model reads.
     */
    private static long encryptedTokens(CharSequence value) {
        long bytes = Math.max(0, value.length() * 3L / 4 - ENCRYPTED_OVERHEAD_BYTES);
        return (bytes + 3) / 4;
    }

    /** Whether a string is a {@code data:} URL of some media type ({@code data:image/png;base64,…}). */
    static boolean isDataUrl(CharSequence value) {
        if (value.length() < 8 || !"data:".contentEquals(value.subSequence(0, 5))) {
            return false;
        }
        boolean slash = false;
        for (int i = 5; i < value.length() && i < 260; i++) {
            char c = value.charAt(i);
            if (c == ',') {
                return slash;
            }
            if (c == '/' && i > 5) {
                slash = true;
            } else if (c == ';' && !slash) {
                return false;
            } else if (c <= ' ') {
                return false;
            }
        }
        return false;
    }

    /**
     * A JSON number's text read as {@link #count(BigDecimal)} and {@link #budget(BigDecimal)} read it,
     * without converting its digits whole (the time that takes grows faster than their length): a
     * small number of the same sign and integer part, plus a half when a fraction follows; a value of
     * 10^19 or more is read as 10^20, one between 0 and 1 as a half.
     */
    static BigDecimal reduced(String number) {
        boolean negative = number.startsWith("-");
        int start = negative || number.startsWith("+") ? 1 : 0;
        int e = number.length();
        int dot = -1;
        for (int k = start; k < number.length(); k++) {
            char c = number.charAt(k);
            if (c == '.') {
                dot = k;
            } else if (c == 'e' || c == 'E') {
                e = k;
                break;
            }
        }
        long exponent = 0;
        if (e < number.length()) {
            int k = e + 1;
            boolean down = k < number.length() && number.charAt(k) == '-';
            if (k < number.length() && (number.charAt(k) == '-' || number.charAt(k) == '+')) {
                k++;
            }
            for (; k < number.length(); k++) {
                // saturates far beyond the length of any body
                exponent = Math.min(exponent * 10 + (number.charAt(k) - '0'), 1L << 40);
            }
            exponent = down ? -exponent : exponent;
        }
        String digits = dot < 0 ? number.substring(start, e) : number.substring(start, dot) + number.substring(dot + 1, e);
        // where the decimal point sits, counted from the first significant digit
        long point = (dot < 0 ? e - start : dot - start) + exponent;
        int lead = 0;
        while (lead < digits.length() && digits.charAt(lead) == '0') {
            lead++;
        }
        if (lead == digits.length()) {
            return BigDecimal.ZERO;
        }
        point -= lead;
        BigDecimal value;
        if (point <= 0) {
            value = new BigDecimal("0.5");
        } else if (point > 19) {
            value = BigDecimal.TEN.pow(20);
        } else {
            int whole = (int) point;
            String significant = digits.substring(lead);
            StringBuilder integer = new StringBuilder(significant.substring(0, Math.min(whole, significant.length())));
            while (integer.length() < whole) {
                integer.append('0');
            }
            boolean fraction = false;
            for (int k = whole; k < significant.length() && !fraction; k++) {
                fraction = significant.charAt(k) != '0';
            }
            value = new BigDecimal(integer.toString());
            if (fraction) {
                value = value.add(new BigDecimal("0.5"));
            }
        }
        return negative ? value.negate() : value;
    }

    /**
     * A JSON number as {@link #asked} reads it ({@link #budget(BigDecimal)} or {@link #count(BigDecimal)}):
     * NaN asks for nothing, an infinite budget is no limit (as -1 is); a long number (a Python
     * endpoint reads 4,300 digits) is read from its digits, since converting it whole would cost time
     * that grows faster than its length.
     */
    private static long number(JsonParser p, int asked) throws IOException {
        if (p.isNaN()) {
            return asked == BUDGET && Double.isInfinite(p.getDoubleValue()) ? Long.MAX_VALUE : -1;
        }
        BigDecimal number = p.getTextLength() > LONG_NUMBER ? reduced(p.getText()) : p.getDecimalValue();
        return asked == BUDGET ? budget(number) : count(number);
    }

    private static final int NOT_ASKED = 0;
    private static final int BUDGET = 1;
    private static final int COMPLETIONS = 2;

    /**
     * Whether the value at hand is one prompt of a batch: a string or a token id list directly in the
     * top-level {@link #BATCHED_PROMPTS} list (a list of token ids alone is one prompt).
     */
    private static boolean batchedPrompt(int depth, Frame top) {
        return depth == 2 && top.array && top.name != null && BATCHED_PROMPTS.contains(fold(top.name));
    }

    /** Which budget field the value at hand is, as an endpoint keys it: its settings object and folded name. */
    private static String budgetKey(int depth, Frame top) {
        String holder = depth == 1 ? ""
                : top.requestInput || depth == 2 ? fold(top.name) : REQUEST_INPUT + "." + fold(top.name);
        return holder + "/" + fold(top.field);
    }

    /**
     * The field whose array holds a named input tensor's values (KServe v2: {@code {"name": …, "data":
     * [[…]]}}), or the rows of a table whose {@link #TABLE_COLUMNS} name them (MLflow's
     * {@code dataframe_split}: {@code {"columns": ["prompt", "max_tokens"], "data": [["…", 8000]]}}).
     */
    private static final String TENSOR_DATA = "data";
    private static final String TABLE_COLUMNS = "columns";
    /** Names of settings a server reads from a JSON text: the config objects', Triton vLLM's {@code sampling_parameters}. */
    private static boolean settingsText(String name) {
        // OpenAI's input is a text (Replicate's is an object, a config only as one)
        return name != null && !TEXT_FIELDS.contains(name) && (isConfig(name) || "sampling_parameters".equals(fold(name)));
    }

    /** Whether a string is a JSON object's text ({@code {…}} around optional white space). */
    private static boolean embeddedObject(char[] text, int offset, int length) {
        int start = offset;
        int end = offset + length - 1;
        while (start <= end && Character.isWhitespace(text[start])) {
            start++;
        }
        while (end >= start && Character.isWhitespace(text[end])) {
            end--;
        }
        return end > start && text[start] == '{' && text[end] == '}';
    }

    /** The bit of a table's column at a row position; columns past 64 are not told apart. */
    private static long column(int position) {
        return position < Long.SIZE ? 1L << position : 0;
    }

    /**
     * Whether the value at hand is a tool or schema definition the provider serialises into the prompt,
     * every name and string of it read by the model: one of the {@link #SCHEMA_FIELDS} at the request's
     * own level ({@link #requestLevel}), the {@code format} of one of the {@link #FORMAT_HOLDERS}, or one of
     * the {@link #RESPONSE_SCHEMAS} in a settings object (round 355: a 1,500-field schema of about 26,000
     * tokens under Gemini's {@code generationConfig.responseSchema} or Bedrock's {@code toolConfig} was held
     * at about 1,000 to 2,500, its field names uncounted, and served on a 20,000 allowance).
     */
    private static boolean definition(int depth, Frame top) {
        return !top.array && ((requestLevel(depth, top) && SCHEMA_FIELDS.contains(top.field))
                || (depth == 2 && FORMAT_HOLDERS.contains(top.name) && FORMAT.equals(top.field))
                || (top.inConfig && RESPONSE_SCHEMAS.contains(top.field)));
    }

    /**
     * Whether the object at hand may hold a request's settings: not a tool or schema definition, not
     * the conversation or a text field's data (a model or a user wrote those), not one request of a
     * batch (estimated on its own).
     */
    private static boolean settings(Frame top) {
        return !top.written && !top.inRequest && !top.inLabels;
    }

    /**
     * Whether the value at hand is an application's own data rather than a provider's request: below the
     * request's own level, outside the conversation, the text fields, the settings objects the request
     * level holds, a batch's requests and {@code metadata}. Its member names and its "labels" (a product's
     * {@code name}, a record's {@code type}) are what the application puts into the prompt.
     */
    private static boolean ownData(int depth, Frame top) {
        return !requestLevel(depth, top) && !top.said && !top.written && !top.inRequest && !top.inLabels
                && !top.instance && !top.inConfig;
    }

    /**
     * Whether a number, boolean or null at hand may be data the model reads serialised rather than a setting:
     * not a budget or count, not a table of settings, not OpenAI's {@code logit_bias}, not a value of the
     * request's own level or of a settings object it holds ({@code temperature}, {@code stream: true}).
     */
    private static boolean dataValue(int depth, Frame top, int asked) {
        return asked == NOT_ASKED && top.table == null && !top.biases()
                && !(!top.array && (requestLevel(depth, top) || (top.atRequestLevel && isConfig(top.name))));
    }

    /**
     * What a {@code true}, {@code false} or {@code null} at hand costs: its literal's estimate and a separator
     * where a number would count as data ({@link #dataValue}: data the provider serialises whole, an
     * application's own data, a schema), nothing in the conversation's own fields or the request's settings,
     * which include the objects its own level holds outside the conversation and the definitions
     * ({@code "stream_options": {"include_usage": true}}, {@code thinking}, {@code tool_choice}) (round 357:
     * 18,000 booleans, about 24,000 tokens as text, in a Gemini functionResponse.response were estimated at 5).
     */
    private long literal(int depth, Frame top, int asked, String literal) {
        boolean settings = !top.array && top.atRequestLevel && !top.written;
        return (top.data || !top.saysText()) && !settings && dataValue(depth, top, asked)
                ? estimator.estimate(literal) + 1 : 0;
    }

    /**
     * The labels of {@link #NOT_TEXT} that name or classify rather than reference: in an application's own
     * data ({@link #ownData}: a product's {@code name}, a record's {@code type}) they are text it puts into the
     * prompt; URLs, media types, ids, signatures stay references wherever they are.
     */
    private static final Set<String> NAMING = Set.of("type", "role", "name", "format", "detail", "model", "user");

    /**
     * Whether a member name or label is written in words: it has a blank in it, or a letter outside ASCII
     * (Chinese and Japanese are written without blanks). A provider's or framework's keys, ids, URLs,
     * signatures and encodings are ASCII without blanks; text sent as keys or labels is not.
     */
    private static boolean words(CharSequence name) {
        for (int i = 0; i < name.length(); i++) {
            char c = name.charAt(i);
            if (Character.isWhitespace(c) || Character.isSpaceChar(c)
                    || c >= 0x80 && (Character.isLetter(c) || Character.isSurrogate(c))) {
                return true;
            }
        }
        return false;
    }

    /**
     * An embedding vector, a query's vector an application searches with and no model reads: a list of as
     * many numbers as the common embedding models give (OpenAI's, Cohere's, sentence-transformers', Gemini's),
     * every one within [-1, 1] and written to at least {@link #VECTOR_DIGITS} decimals as a float's full
     * precision is. A series an application writes into the prompt (returns, readings) is rounded to fewer
     * decimals, or of another length: its numbers count.
     */
    private static final Set<Long> VECTOR_DIMENSIONS = Set.of(128L, 256L, 384L, 512L, 768L, 1024L, 1536L, 2048L,
            3072L, 4096L);
    private static final int VECTOR_DIGITS = 6;

    /** The digits after a JSON number's decimal point (before any exponent). */
    private static int fractionDigits(String number) {
        int dot = number.indexOf('.');
        if (dot < 0) {
            return 0;
        }
        int end = dot + 1;
        while (end < number.length() && Character.isDigit(number.charAt(end))) {
            end++;
        }
        return end - dot - 1;
    }

    /** OpenAI's sampling biases by token id: numbers that are no text. */
    private static final String LOGIT_BIAS = "logit_bias";

    /** Objects of labels a provider stores beside the request (OpenAI's {@code metadata}), never its settings. */
    private static final String LABELS = "metadata";

    /**
     * Whether the value at hand is a budget named below the places {@link #asked} reads: in an object
     * of any depth that may hold settings (Azure ML's {@code input_data.parameters}, Clarifai's
     * {@code model.model_version.output_info.params}, a record of MLflow's {@code dataframe_records}).
     * Servers nest their settings wherever their own API puts them; an endpoint that reads a budget
     * there writes that many tokens, so it is held as any budget is.
     */
    private static boolean nestedBudget(int depth, Frame top) {
        return depth >= 2 && !top.array && settings(top) && isBudget(top.field);
    }

    /**
     * Whether the value at hand is a completion count ({@link #COMPLETIONS_FIELDS}) where
     * {@link #nestedBudget} reads budgets: beside a budget in the same object it multiplies that
     * object's request (Azure ML's {@code input_data.parameters.num_return_sequences} beside its
     * {@code max_new_tokens}: that many sequences of up to that many tokens), as {@link #asked} reads
     * {@code n} beside a top-level budget. Alone, it asks for nothing: an application's own object may
     * name an {@code n} that means anything.
     */
    private static boolean nestedCount(int depth, Frame top) {
        return depth >= 2 && !top.array && settings(top) && named(COMPLETIONS_NAMES, top.field);
    }

    /**
     * Reasoning budgets the output budget does not bound: SiliconFlow's and DashScope's Qwen3
     * {@code thinking_budget} beside {@code max_tokens} (which bounds the answer alone), Gemini 2.5's
     * {@code thinkingConfig.thinkingBudget} (within {@code maxOutputTokens} when that is named, beside the
     * endpoint's default when not). A negative one ({@code -1}: dynamic) holds the cap; 0 turns thinking
     * off. Anthropic's {@code budget_tokens} is within {@code max_tokens}: not one of them.
     */
    static final Set<String> THINKING_FIELDS = Set.of("thinking_budget", "thinkingBudget");
    private static final Set<String> THINKING_NAMES = folded(THINKING_FIELDS);
    /** The objects a thinking budget within the output budget sits in (Gemini's). */
    private static final Set<String> THINKING_CONFIGS = folded(Set.of("thinkingConfig", "thinking_config"));

    /**
     * The OpenAI Responses API's built-in tool that draws an image within a call ({@code tools} element of
     * this {@code type}), by its {@link #TOOL_FIELDS}: the image is billed as the image model's output,
     * beside the answer, as the Images API bills it ({@link ImageOutput}; round 262: a stream cut after two
     * partial images of a 6,240-token image was charged 1,030).
     */
    static final String IMAGE_TOOL = "image_generation";
    /** A tool definition's fields {@link #imageTool} reads: its type, then the image's size, quality and partial images. */
    private static final List<String> TOOL_FIELDS = List.of("type", "size", "quality", ImageOutput.PARTIAL_IMAGES);

    /** Whether the value at hand is in a tool definition of the request's top-level {@code tools} list. */
    private static boolean imageTool(int depth, Frame top) {
        return depth == 3 && !top.array && "tools".equals(top.name);
    }

    /** The reasoning budget the answer's budget does not bound, or -1 ({@link #THINKING_FIELDS}). */
    private static long thinking(long output, long added, long within) {
        return Math.max(added, output < 0 ? within : -1);
    }

    /**
     * Whether the value at hand is the request's output budget, its completion count, or neither: a
     * field at the request's own level ({@link #requestLevel}) or in one of its {@link #CONFIG_OBJECTS}.
     */
    private static int asked(int depth, Frame top) {
        boolean asked = requestLevel(depth, top) || (!top.array && top.atRequestLevel && isConfig(top.name));
        if (asked && isBudget(top.field)) {
            return BUDGET;
        }
        if (asked && named(COMPLETIONS_NAMES, top.field)) {
            return COMPLETIONS;
        }
        return NOT_ASKED;
    }

    /**
     * The top-level field whose object holds the request itself: a Replicate prediction's
     * {@code input}, a RunPod serverless worker's job ({@code {"input": {"messages": …,
     * "sampling_params": {…}}}}). OpenAI's {@code input} is a string or a list, never an object.
     */
    static final String REQUEST_INPUT = "input";

    /**
     * Whether the object at hand is the request's own level: the body's top, or a top-level
     * {@link #REQUEST_INPUT} object, whose budgets, counts and {@link #CONFIG_OBJECTS} are read as the
     * top level's are (a RunPod worker's {@code input.sampling_params.max_tokens}).
     */
    private static boolean requestLevel(int depth, Frame top) {
        return depth == 1 || top.requestInput;
    }

    /**
     * A budget or count written as a string, as lenient readers read one: Jackson's coercion
     * ({@code Integer.parseInt}: any Unicode decimal digits, {@code "１６０００"}), pydantic's lax mode
     * (vLLM, FastAPI: {@code "16_000"}, {@code "8.0"}), protobuf's JSON mapping (Gemini); surrounding
     * spaces allowed. -1 for anything else (the endpoint refuses it or ignores it). Negative is 0, past
     * 64 bits is {@link Long#MAX_VALUE}.
     */
    static long count(String value) {
        BigDecimal number = decimal(value);
        return number == null ? -1 : count(number);
    }

    /**
     * An output budget, read as {@link #count(String)} reads it but for a negative one: llama.cpp's
     * server and LM Studio read {@code max_tokens: -1} as "no limit", so it is the largest budget
     * ({@link Long#MAX_VALUE}, which the filter's cap bounds), never none.
     */
    static long budget(String value) {
        BigDecimal number = decimal(value);
        return number == null ? -1 : budget(number);
    }

    /**
     * A number written as a string, or {@code null}, as the most lenient of the readers in
     * {@link #count(String)} reads it. Around it, whatever any of them trims: every character up to
     * U+0020 (Java's {@code String.trim()}, Jackson's coercion) and Unicode white space (Python,
     * pydantic's Rust {@code str::trim}: U+00A0, U+202F, U+3000...). Then a sign, digits of any script
     * ({@link Character#digit}), single underscores between digits (Python's integer syntax) and a
     * fraction after a point (a nonzero one counts as a half, so it rounds up as a JSON float's does);
     * as many digits as it has, read without converting them whole ({@link #reduced}). Else what
     * {@code Double.parseDouble} reads, as Gson's {@code nextInt()} falls back to (an exponent,
     * {@code "1.6e4"}; a hex float; a {@code d} or {@code f} suffix): infinity is past 64 bits, NaN is
     * nothing. Else what a JavaScript endpoint reads ({@link #javaScript}).
     */
    private static BigDecimal decimal(String value) {
        int from = 0;
        int to = value.length();
        while (from < to && pad(value.charAt(from))) {
            from++;
        }
        while (to > from && pad(value.charAt(to - 1))) {
            to--;
        }
        String trimmed = value.substring(from, to);
        BigDecimal plain = plainDecimal(trimmed);
        if (plain != null || trimmed.isEmpty()) {
            return plain;
        }
        try {
            double d = Double.parseDouble(trimmed);
            if (Double.isNaN(d)) {
                return null;
            }
            if (Double.isInfinite(d)) {
                return d > 0 ? LONG_MAX : LONG_MAX.negate();
            }
            return new BigDecimal(d);
        } catch (NumberFormatException e) {
            return javaScript(trimmed);
        }
    }

    /** Whether of the readers {@link #decimal} follows, only a JavaScript one reads a number in {@code value}. */
    static boolean javaScriptOnly(String value) {
        BigDecimal any = decimal(value);
        if (any == null) {
            return false;
        }
        String trimmed = value.strip();
        if (plainDecimal(trimmed) != null) {
            return false;
        }
        try {
            Double.parseDouble(trimmed);
            return false;
        } catch (NumberFormatException e) {
            return true;
        }
    }

    /**
     * A number as a Node endpoint reads a string it is given: {@code Number} ({@code "0x2EE0"},
     * {@code "0b…"}, {@code "0o…"}, whole), else {@code parseInt} (a sign, then the leading digits, hex
     * after {@code 0x}; the rest ignored: {@code "12000 tokens"}); {@code null} when neither reads one.
     */
    private static BigDecimal javaScript(String trimmed) {
        String body = trimmed;
        boolean negative = false;
        if (body.startsWith("+") || body.startsWith("-")) {
            negative = body.charAt(0) == '-';
            body = body.substring(1);
        }
        String lower = body.toLowerCase(java.util.Locale.ROOT);
        int radix = 10;
        boolean whole = false;
        if (lower.startsWith("0x")) {
            radix = 16;
            body = body.substring(2);
        } else if ((lower.startsWith("0b") || lower.startsWith("0o")) && !negative && trimmed.equals(body)) {
            // Number() reads these whole (and unsigned); parseInt reads the leading 0
            radix = lower.charAt(1) == 'b' ? 2 : 8;
            body = body.substring(2);
            whole = true;
        }
        int end = 0;
        while (end < body.length() && end < 64 && Character.digit(body.charAt(end), radix) >= 0
                && body.charAt(end) < 128) {
            end++;
        }
        if (end == 0) {
            return whole ? BigDecimal.ZERO : null;
        }
        if (whole && end < body.length()) {
            return BigDecimal.ZERO;
        }
        BigDecimal number = new BigDecimal(new java.math.BigInteger(body.substring(0, end), radix));
        return negative ? number.negate() : number;
    }

    /** A character some reader trims from around a number: up to U+0020, or Unicode white space. */
    private static boolean pad(char c) {
        return c <= ' ' || Character.isWhitespace(c) || Character.isSpaceChar(c) || c == '\u0085';
    }

    private static BigDecimal plainDecimal(String trimmed) {
        StringBuilder ascii = new StringBuilder(trimmed.length());
        int i = 0;
        if (trimmed.startsWith("+") || trimmed.startsWith("-")) {
            ascii.append(trimmed.charAt(0));
            i = 1;
        }
        boolean digitBefore = false;
        boolean point = false;
        boolean fraction = false;
        for (; i < trimmed.length(); i++) {
            char c = trimmed.charAt(i);
            int digit = Character.digit(c, 10);
            if (digit >= 0) {
                if (point) {
                    fraction |= digit != 0;
                } else {
                    ascii.append((char) ('0' + digit));
                }
                digitBefore = true;
            } else if (c == '_' && digitBefore && i + 1 < trimmed.length() && Character.digit(trimmed.charAt(i + 1), 10) >= 0) {
                digitBefore = false;
            } else if (c == '.' && !point && digitBefore) {
                point = true;
            } else {
                return null;
            }
        }
        if (!digitBefore) {
            return null;
        }
        BigDecimal number = ascii.length() > LONG_NUMBER ? reduced(ascii.toString()) : new BigDecimal(ascii.toString());
        return fraction ? number.add(new BigDecimal(number.signum() < 0 ? "-0.5" : "0.5")) : number;
    }

    /**
     * An output budget written as a JSON number: a negative one is no limit ({@link #budget(String)});
     * one below 1 is 0, which holds the endpoint's default budget, because a truncating endpoint
     * ({@code 0.4} bound to an int) reads 0, "the model's default".
     */
    static long budget(BigDecimal value) {
        if (value.signum() < 0) {
            return Long.MAX_VALUE;
        }
        return value.compareTo(BigDecimal.ONE) < 0 ? 0 : count(value);
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

    /**
     * An output budget written as a YAML key on a line of its own ({@code max_tokens: 16000}) or as an XML
     * element ({@code <max_tokens>16000</max_tokens>}), under any of the {@link #OUTPUT_FIELDS}: how a body
     * in those formats names it.
     */
    private static final java.util.regex.Pattern STRUCTURED_BUDGET = java.util.regex.Pattern.compile(
            "(?m)^[ \\t-]*[\"']?(" + String.join("|", OUTPUT_FIELDS) + ")[\"']?[ \\t]*:[ \\t]*[\"']?(\\d{1,18})[\"']?[ \\t]*$"
            + "|<(" + String.join("|", OUTPUT_FIELDS) + ")>\\s*(\\d{1,18})\\s*</\\3>");

    /**
     * The largest output budget a text body that is no JSON names as YAML or XML does
     * ({@link #STRUCTURED_BUDGET}), or -1: such a body bound by the endpoint (Spring with Jackson's YAML or
     * XML format) asks for it as surely as JSON does.
     */
    static long structuredTextBudget(CharSequence text) {
        if (text == null) {
            return -1;
        }
        long largest = -1;
        java.util.regex.Matcher m = STRUCTURED_BUDGET.matcher(text);
        while (m.find()) {
            String digits = m.group(2) != null ? m.group(2) : m.group(4);
            largest = Math.max(largest, Long.parseLong(digits));
        }
        return largest;
    }

    /** The longest label or id that is taken for one: a longer value written in words is text. */
    private static final int LABEL_LENGTH = 64;

    /**
     * Whether a label's value is text a model reads rather than a label: longer than labels are and written
     * in words ({@link #words}: a document sent as a product's {@code name}, a prompt under {@code user}).
     */
    private static boolean prose(CharSequence value) {
        if (value.length() <= LABEL_LENGTH) {
            return false;
        }
        return words(value);
    }

    /** The estimate of the text a base64 payload (plain or a {@code data:} URL) decodes to; 0 when it is not text. */
    private long base64Text(CharSequence value) {
        int start = 0;
        if ("data:".contentEquals(value.subSequence(0, Math.min(5, value.length())))) {
            int comma = -1;
            for (int i = 5; i < value.length() && comma < 0; i++) {
                comma = value.charAt(i) == ',' ? i : -1;
            }
            if (comma < 0 || !value.subSequence(0, comma).toString().endsWith(";base64")) {
                return 0;
            }
            start = comma + 1;
        }
        // the URL-safe alphabet read as the standard one; the MIME decoder skips line breaks
        String encoded = value.subSequence(start, value.length()).toString().replace('-', '+').replace('_', '/');
        try {
            // strictly: UTF-8 (or a byte order mark's); a decoded image or audio is never guessed as text
            CharSequence decoded = BodyText.text(java.util.Base64.getMimeDecoder().decode(encoded), StandardCharsets.UTF_8, true);
            return decoded == null ? 0 : estimator.estimate(decoded);
        } catch (IllegalArgumentException notBase64) {
            return 0;
        }
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
        /** Whether a JSON part leaves the endpoint its own default budget beside the one named. */
        boolean orDefault;
        /** A JSON body (or one of its requests) names an output budget above the filter's cap. */
        boolean aboveCap;
        /** The largest output budget an estimate of the request counted (the rest of it is input). */
        private long countedOutput;

        void countOutput(long output) {
            countedOutput = Math.max(countedOutput, output);
        }

        /** The most output a reading's budgets above the filter's cap ask for past it (the estimate counts the cap). */
        private long beyondCap;

        void countBeyondCap(long output) {
            beyondCap = Math.max(beyondCap, output);
        }

        long beyondCap() {
            return beyondCap;
        }

        /** The most completions a JSON body asked for, or a parameter. */
        private long completionsAsked = 1;

        void countCompletions(long n) {
            completionsAsked = Math.max(completionsAsked, n);
        }

        long completionsAsked() {
            return Math.max(completionsAsked, completions);
        }

        /** The most media items a JSON reading of the body sends (images, audio, files). */
        private long mediaItems;

        void countMedia(long items) {
            mediaItems = Math.max(mediaItems, items);
        }

        long mediaItems() {
            return mediaItems;
        }

        long countedOutput() {
            return countedOutput;
        }

        /**
         * Every model named by a JSON reading of the request (each charset it is read in, each JSON
         * part or parameter, each request of a batch), in the order read: the same readings the
         * estimate counts, so the hold is weighed for the models of the very text it counts.
         */
        private final Set<String> models = new java.util.LinkedHashSet<>();

        void countModels(Estimate e) {
            models.addAll(e.allModels());
        }

        Set<String> models() {
            return java.util.Collections.unmodifiableSet(models);
        }

        /** Reads one parameter; whether it was a budget or a count (else it is text). */
        boolean read(String name, String value) {
            name = settingName(name);
            if (name == null) {
                return false;
            }
            boolean budgetField = isBudget(name);
            if (!budgetField && !named(COMPLETIONS_NAMES, name)) {
                return false;
            }
            long v = budgetField ? budget(value) : count(value);
            if (v < 0) {
                return false;
            }
            if (budgetField) {
                budget = Math.max(budget, v);
                orDefault |= javaScriptOnly(value);
            } else {
                completions = Math.max(completions, v);
            }
            return true;
        }

        /**
         * The setting a parameter name addresses as a data binder reads it: itself at the top level, or
         * its last part under a settings object ({@code generationConfig.maxOutputTokens},
         * {@code options[num_predict]}: Spring binds them into the nested object); {@code null} for a
         * name nested anywhere else ({@code messages[0].content}).
         */
        private static String settingName(String name) {
            int cut = Math.max(name.lastIndexOf('.'), name.lastIndexOf('['));
            if (cut < 0) {
                return name;
            }
            String last = name.substring(cut + 1);
            if (last.endsWith("]")) {
                last = last.substring(0, last.length() - 1);
            }
            String parent = name.substring(0, cut);
            return isConfig(parent) ? last : null;
        }

        /** Takes the budget and count of a JSON part of the request, read by the JSON body's rules. */
        void include(Estimate e) {
            budget = Math.max(budget, e.outputBudget());
            completions = Math.max(completions, e.completions());
            orDefault |= e.orDefault();
            countModels(e);
        }

        /** The largest output budget a JSON body named, -1 when none did. */
        private long jsonBudget = -1;
        /** A reading of the JSON body leaves the endpoint its own default budget ({@link Estimate#orDefault}). */
        private boolean jsonOrDefault;

        void countBudget(Estimate e) {
            jsonBudget = Math.max(jsonBudget, e.outputBudget());
            jsonOrDefault |= e.orDefault();
        }

        /**
         * Whether the request bounds what the model writes: a budget named in its JSON, a JSON part or a
         * parameter, and no reading of it that leaves the endpoint its own default.
         */
        boolean budgetNamed() {
            return Math.max(budget, jsonBudget) > 0 && !orDefault && !jsonOrDefault;
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
        /** A signal of a media item was seen directly in this object (a part, a source, a payload). */
        boolean mediaHere;
        /** {@code "type": "text"} directly in this object: an Anthropic text document's source. */
        boolean textSource;
        /** The numbers of this list that count as text ({@link #ownData}), what they cost, and whether all are in [-1, 1] and not whole. */
        long numbers;
        long numberCost;
        /** Within one of the {@link #CONFIG_OBJECTS} of the request's own level (a response schema in it too). */
        boolean inConfig;
        boolean unitFloats = true;
        /** What the base64-looking payloads of this object cost read as they are, and as they decode. */
        long plainData;
        long decodedData;
        /** Media items counted in the values this object or array holds. */
        long mediaBelow;
        /** An image part: an {@link #IMAGE_PARTS} field or {@code type} directly in this object. */
        boolean image;
        /** A payload (base64, a {@code data:} URL) in this object or below: an image the filter can measure. */
        boolean payloadBelow;
        /** A {@code "detail": "low"} in this object (the last detail it names) or below. */
        boolean lowDetail;
        /** What the images the filter cannot see below this object or array cost ({@link #unseenImage}). */
        long unseenBelow;
        /** An element of the {@link #INSTANCE_LIST}: a request whose defaults are the body's parameters. */
        boolean instance;
        /** An element of a {@link #BATCH_LIST} list. */
        boolean batchElement;
        /** Where this object starts when it is one request of a batch, else -1. */
        long requestStart = -1;
        /** This object is a top-level batch line's request (it counts when the line has a {@code custom_id}). */
        boolean batchLine;
        /** Within one request of a batch: no batch is looked for inside it. */
        boolean inRequest;
        /** Within an object of {@link #LABELS}. */
        boolean inLabels;
        /** This object is the top-level {@link #REQUEST_INPUT} object ({@link #requestLevel}). */
        boolean requestInput;
        /** A message of the request's top-level conversation (its participant name is read too). */
        boolean message;
        /** This object or array is held directly by the request's own level ({@link #requestLevel}). */
        boolean atRequestLevel;
        /**
         * Within a tool or schema definition, the conversation or a text field's data, seen from the
         * request's own level (a top-level input object is that level, not text): never settings.
         */
        boolean written;
        /** The largest budget named in this object when it sits below the top level and the config objects. */
        long nestedBudget = -1;
        /** The most completions named beside it ({@link #nestedCount}), or -1. */
        long nestedCompletions = -1;
        /** This object is a named input tensor whose name is a budget ({@code {"name": "max_tokens", "data": [[8000]]}}). */
        boolean budgetTensor;
        /** The largest number in this object's {@link #TENSOR_DATA} arrays, and how many: one per request of a batch. */
        long tensorMax = -1;
        long tensorCount;
        /** Those numbers by their position in a row (the largest, how many), for the {@link #budgetColumns}. */
        long[] columnMax;
        long[] columnCount;
        /** The positions its {@link #TABLE_COLUMNS} name a budget at. */
        long budgetColumns;
        /** Its budget-named arrays' numbers (a column of budgets, one per row): the largest, how many. */
        long columnBudgetMax = -1;
        long columnBudgetCount;
        /** The object whose {@link #TENSOR_DATA} or budget column this array (or an array inside it) is, or {@code null}. */
        Frame table;
        /** The budget settings sent as JSON texts in this object ask for: the largest, how many requests. */
        long textBudgetMax = -1;
        long textBudgetRows;
        /** Those texts are the value of a settings field of this object (else of its tensor's data). */
        boolean textInField;
        /** This object is a named input tensor of settings ({@code "name": "sampling_parameters"}). */
        boolean settingsTensor;
        /** This array is under a budget's name: all its numbers are budgets. */
        boolean budgetColumn;
        /** The object whose {@link #TABLE_COLUMNS} this array is, or {@code null}. */
        Frame columnsOf;
        /** Values seen so far in this array: the position of the next one. */
        int position;
        /** The object this one is the {@link #SCHEMA_PROPERTIES} of, outside a definition, or {@code null}. */
        Frame propertiesOf;
        /** This object names a {@code type}: with properties, a JSON Schema. */
        boolean typed;
        /** What the member names of this object's properties cost, counted when it names a {@code type}. */
        long propertyNames;
        /** A tool definition's {@link #TOOL_FIELDS} values, or {@code null} before the first. */
        String[] tool;
        /**
         * The largest frame rate a {@code videoMetadata} object names (a repeated {@code fps} may be read
         * either way), handed to the part holding it; 0 for none.
         */
        double fps;
        /** The Gemini videos sent inline in this {@code inlineData} object, handed to its part; {@code null} for none. */
        List<MediaSize.Measured> videos;

        void fps(double rate) {
            // NaN and zero or less ask for nothing (Gemini refuses them)
            if (rate > fps) {
                fps = rate;
            }
        }

        void video(MediaSize.Measured video) {
            if (videos == null) {
                videos = new ArrayList<>(1);
            }
            videos.add(video);
        }

        String[] tool() {
            if (tool == null) {
                tool = new String[TOOL_FIELDS.size()];
            }
            return tool;
        }

        /** A number of this object's table: at {@code position} in its row, or in a budget column. */
        void tabled(long value, int position, boolean inBudgetColumn) {
            if (value < 0) {
                return;
            }
            if (inBudgetColumn) {
                columnBudgetMax = Math.max(columnBudgetMax, value);
                columnBudgetCount++;
                return;
            }
            tensorMax = Math.max(tensorMax, value);
            tensorCount++;
            if (position < Long.SIZE) {
                if (columnMax == null) {
                    columnMax = new long[Long.SIZE];
                    columnCount = new long[Long.SIZE];
                }
                columnMax[position] = Math.max(columnMax[position], value);
                columnCount[position]++;
            }
        }

        /**
         * The budget this object asks for, {@code {largest, requests}}, or {@code null} for none: a
         * budget named in it (one request), a budget tensor's numbers, the budget columns of its table
         * or a column of budgets (each number, each row, a request of its own).
         */
        long[] nestedRows() {
            long max = nestedBudget;
            // the object is one request, asking for as many completions as it names beside its budget
            long rows = nestedBudget >= 0 ? Math.max(1, nestedCompletions) : 0;
            if (textBudgetRows > 0 && (textInField || settingsTensor)) {
                max = Math.max(max, textBudgetMax);
                rows = Math.max(rows, textBudgetRows);
            }
            if (columnBudgetCount > 0) {
                max = Math.max(max, columnBudgetMax);
                rows = Math.max(rows, columnBudgetCount);
            }
            if (budgetTensor && tensorCount > 0) {
                max = Math.max(max, tensorMax);
                rows = Math.max(rows, tensorCount);
            } else if (budgetColumns != 0 && columnMax != null) {
                for (int i = 0; i < Long.SIZE; i++) {
                    if ((budgetColumns & (1L << i)) != 0 && columnCount[i] > 0) {
                        max = Math.max(max, columnMax[i]);
                        rows = Math.max(rows, columnCount[i]);
                    }
                }
            }
            return rows > 0 ? new long[] {max, rows} : null;
        }

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

        /**
         * Whether this object's numbers are no text: OpenAI's {@code logit_bias} (token ids to biases), which
         * the endpoint applies to the model's sampling and never puts into the prompt.
         */
        boolean biases() {
            return !array && LOGIT_BIAS.equals(name);
        }

        /** Whether the value at hand is a label, id or reference rather than text. */
        boolean labels() {
            String value = valueName();
            return value != null && (NOT_TEXT.contains(value) || value.endsWith("_id"));
        }
    }
}
