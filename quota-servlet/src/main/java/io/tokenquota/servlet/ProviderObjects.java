package io.tokenquota.servlet;

import java.util.Set;

/**
 * The objects of the providers' APIs that an answer is when no model ran for the request: a relay that
 * passes a whole API on under a protected prefix answers listing the models, creating a conversation,
 * reading a thread's messages, polling a batch or reading a file's metadata with them. OpenAI's (and
 * those of the servers that copy it) name themselves by {@code object}, Anthropic's by {@code type};
 * Google's, AWS's and Cohere's are known by their fields ({@link #resource}). Such an answer, alone and
 * without usage, is released ({@link Settlement}). A model's own JSON shaped so is the documented
 * exception (an endpoint that returns it as its whole answer reports its usage itself).
 */
final class ProviderObjects {
    /**
     * What a read ({@code GET}, {@code HEAD}) answers: lists and stored objects (a fine-tuning job polled:
     * OpenAI's {@code fine_tuning.job}, Mistral's {@code job}). A list is only taken from a read: an
     * embeddings server without usage answers its {@code POST} with a list.
     */
    private static final Set<String> READ = Set.of("list", "model", "conversation", "conversation.item", "thread",
            "thread.message", "assistant", "vector_store", "vector_store.file", "vector_store.file_batch", "file",
            "container", "container.file", "batch", "upload", "fine_tuning.job", "fine_tuning.job.event",
            "fine_tuning.job.checkpoint", "job", "video", "video.generation.job", "eval", "eval.run");
    /** What a write that calls no model answers: objects created or deleted that only hold data. */
    private static final Set<String> WRITTEN = Set.of("conversation", "conversation.deleted", "thread", "thread.deleted",
            "thread.message", "thread.message.deleted", "assistant", "assistant.deleted", "vector_store",
            "vector_store.deleted", "vector_store.file", "vector_store.file_batch", "vector_store.file.deleted",
            "file.deleted", "container", "container.deleted", "container.file", "container.file.deleted",
            "response.deleted", "chat.completion.deleted", "model.deleted", "eval", "eval.deleted", "video.deleted",
            "chatkit.thread.deleted");
    /**
     * Anthropic's objects that only hold data, named by their {@code type}: what a read answers (a
     * Message Batch's status, a file's metadata, and lists of them, {@link #LISTED_STORED}), and what a
     * delete answers (round 263: a client polling its batch every minute was charged 1,000 tokens a poll).
     * Creating a batch answers a {@code message_batch} too: that is charged its requests' estimate.
     */
    private static final Set<String> READ_TYPES = Set.of("message_batch", "file");
    private static final Set<String> DELETED_TYPES = Set.of("message_batch_deleted", "file_deleted");
    /**
     * A job's cancelling, stopping, pausing or resuming: OpenAI's {@code /cancel}, {@code /pause} and
     * {@code /resume} (a fine-tuning job, an upload, a ChatKit session), Google's {@code :cancel}, AWS's
     * {@code /stop}. Answered with the job's object or an empty {@code {}}: no model runs for it.
     */
    private static final java.util.regex.Pattern STOPS = java.util.regex.Pattern.compile("(/cancel|:cancel|/stop|/pause|/resume)$");
    /**
     * The jobs' objects such a request is answered with. Never a model's answer (a chat completion, a
     * Response, a list): on a route that takes any path (an application's {@code /ask/*}), a client may
     * end its path with {@code /cancel} and still have the model answer.
     */
    private static final Set<String> JOBS = Set.of("fine_tuning.job", "upload", "chatkit.session", "batch",
            "message_batch", "eval.run", "video", "video.generation.job", "vector_store.file_batch");
    /**
     * OpenAI's eval run cancelled ({@code POST …/evals/{id}/runs/{run}}, answered with the run), and a
     * Realtime call hung up, rejected or referred ({@code POST …/realtime/calls/{id}/hangup}: no body).
     */
    private static final java.util.regex.Pattern EVAL_RUN = java.util.regex.Pattern.compile("/evals/[^/]+/runs/[^/]+$");
    private static final java.util.regex.Pattern CALL_ENDED = java.util.regex.Pattern.compile(
            "/realtime/calls/[^/]+/(hangup|reject|refer)$");
    /** Vertex AI's poll of a long-running prediction's operation ({@code POST …/models/{m}:fetchPredictOperation}). */
    private static final String FETCH_OPERATION = ":fetchPredictOperation";
    /** OpenAI's items added to a conversation ({@code POST …/conversations/{id}/items}). */
    private static final java.util.regex.Pattern CONVERSATION_ITEMS = java.util.regex.Pattern.compile("/conversations/[^/]+/items$"
            + "|/checkpoints/[^/]+/permissions$");
    /** A batch's cancelling ({@code POST …/batches/{id}/cancel}) answers the batch: OpenAI's, Anthropic's. */
    private static final Set<String> BATCHES = Set.of("batch", "message_batch");
    /** Parts of a call read back, whose usage is the call's (an Assistants run's steps: the run carries the sum). */
    private static final Set<String> PARTS = Set.of("thread.run.step");

    private ProviderObjects() {
    }

    /**
     * The providers' catalogues, read by the paths their SDKs and chat UIs use on every start: a models
     * list or one model's card ({@code GET …/models}, {@code GET …/models/{id}}: OpenAI, Anthropic,
     * Gemini and the servers that copy them), Ollama's local models, running models and version
     * ({@code GET /api/tags}, {@code /api/ps}, {@code /api/version}) and a model's card
     * ({@code POST /api/show}). Answered with JSON and no usage, they ran no model.
     */
    static boolean catalogue(String method, String path, JsonDocumentScanner.Document answer) {
        boolean reads = "GET".equals(method) || "HEAD".equals(method);
        // the path is the client's to choose on a route that takes any (/ask/*), and an application may
        // answer its own list of models: the answer must be shaped as the provider's catalogue is
        int fields = answer.catalogueFields();
        if (reads && path.endsWith("/models")) {
            // Gemini's and Ollama's list (models of names models/… or with a digest), Anthropic's (data of
            // "type": "model")
            return (fields & (LISTED_MODEL | LISTED_CARD)) != 0;
        }
        if (reads && (path.endsWith("/api/tags") || path.endsWith("/api/ps"))) {
            return (fields & LISTED_MODEL) != 0;
        }
        if (reads && path.endsWith("/api/version")) {
            return (fields & VERSION) != 0;
        }
        if ("POST".equals(method) && path.endsWith("/api/show")) {
            return (fields & MODELFILE) != 0;
        }
        int slash = path.lastIndexOf('/');
        // one model's card: the segment after models names it (a Gemini action, models/{m}:generateContent, is a
        // POST); Anthropic's says "type": "model" and has a display_name, Gemini's a name models/… and its
        // inputTokenLimit
        return reads && slash > 0 && path.substring(0, slash).endsWith("/models") && path.indexOf(':', slash) < 0
                && ("model".equals(answer.type()) && (fields & DISPLAY_NAME) != 0
                || (fields & (GEMINI_NAME | TOKEN_LIMIT)) == (GEMINI_NAME | TOKEN_LIMIT));
    }

    /** What an answer's fields tell of a catalogue whose answer names no {@code object}: {@link #catalogueField}. */
    static final int LISTED_MODEL = 1;
    static final int LISTED_CARD = 2;
    static final int TOKEN_LIMIT = 4;
    static final int VERSION = 8;
    static final int MODELFILE = 16;
    static final int DISPLAY_NAME = 32;
    static final int GEMINI_NAME = 64;
    /** A list's element is one of Anthropic's stored objects ({@link #READ_TYPES}). */
    static final int LISTED_STORED = 128;
    /**
     * The answer is a stored resource, known by what only a provider's has: an AWS job's ARN
     * ({@code jobArn}, a Bedrock batch job; {@code invocationArn}, an async invocation), a Cohere embed
     * job's {@code input_dataset_id}, a Cohere {@code dataset} object's {@code dataset_type}.
     */
    static final int RESOURCE = 256;
    /** The answer lists such resources: an element of a {@link #RESOURCE_LISTS} list shaped as one. */
    static final int LISTED_RESOURCE = 512;
    /** {@code "deleted": true} at the top level: what OpenAI and Mistral answer a file's deletion with. */
    static final int DELETED = 1024;
    /** The {@code name} is a Google context cache's ({@link #GOOGLE_RESOURCE}). */
    static final int CACHE = 2048;
    /** The answer has a top-level field at all (an empty {@code {}} has none). */
    static final int NAMED = 4096;
    /** The top-level {@code name} is a Google resource's ({@link #GOOGLE_RESOURCE}). */
    static final int GOOGLE_NAME = 8192;
    /** A top-level field that Google's resources have beside their name ({@link #GOOGLE_FIELDS}). */
    static final int GOOGLE_FIELD = 16384;
    /** A top-level field other than {@code name}. */
    static final int BEYOND_NAME = 32768;
    /** llama.cpp's server properties ({@code default_generation_settings}) or one of its slots ({@code is_processing}). */
    static final int SERVER_STATE = 65536;
    /** A top-level field other than {@code status}. */
    static final int BEYOND_STATUS = 131072;
    /** Ollama's answer to a model loaded or unloaded ({@code "done_reason": "load"} or {@code "unload"}). */
    static final int MODEL_LOADED = 262144;

    /** The fields of Google's stored resources besides their name: times, a state, an operation's parts. */
    private static final Set<String> GOOGLE_FIELDS = Set.of("createTime", "updateTime", "expireTime", "state",
            "metadata", "done");
    /** Top-level fields whose string value is an ARN ({@code arn:…}) when the answer is an AWS job. */
    private static final Set<String> ARN_FIELDS = Set.of("jobArn", "invocationArn");
    /**
     * Top-level lists of stored resources, each element named as one: Google's caches, files, batches,
     * operations, Vertex's batch prediction jobs and tuned models (a {@code name}, {@link #GOOGLE_RESOURCE}),
     * Bedrock's models, batch jobs and async invocations (an ARN).
     */
    private static final Set<String> RESOURCE_LISTS = Set.of("cachedContents", "files", "batches", "operations",
            "batchPredictionJobs", "tunedModels", "modelSummaries", "invocationJobSummaries", "asyncInvokeSummaries");
    private static final Set<String> LISTED_ARNS = Set.of("modelArn", "jobArn", "invocationArn");
    /** A Google resource's name ({@code cachedContents/x}, {@code projects/p/locations/l/batchPredictionJobs/1}...). */
    private static final java.util.regex.Pattern GOOGLE_RESOURCE = java.util.regex.Pattern.compile(
            "(?:.*/)?(cachedContents|files|batches|operations|batchPredictionJobs|tunedModels)/[A-Za-z0-9_-]+");

    /**
     * The flag a field name sets: at the top level ({@code list} {@code null}), or in an element of the
     * top-level list {@code list}; else 0.
     */
    static int catalogueField(String list, String name) {
        if (list == null) {
            return NAMED | ("name".equals(name) ? 0 : BEYOND_NAME) | ("status".equals(name) ? 0 : BEYOND_STATUS)
                    | (GOOGLE_FIELDS.contains(name) ? GOOGLE_FIELD : 0)
                    | ("input_dataset_id".equals(name) ? RESOURCE : 0) | switch (name) {
                        case "inputTokenLimit" -> TOKEN_LIMIT;
                        case "display_name" -> DISPLAY_NAME;
                        case "modelfile", "model_info" -> MODELFILE;
                        case "default_generation_settings", "is_processing" -> SERVER_STATE;
                        default -> 0;
                    };
        }
        // an Ollama model listed (tags, ps) has its digest
        return "models".equals(list) && "digest".equals(name) ? LISTED_MODEL : 0;
    }

    /** The flag a field of the top-level object {@code object} sets: a Cohere dataset's {@code dataset_type}. */
    static int nestedField(String object, String name) {
        return "dataset".equals(object) && "dataset_type".equals(name) ? RESOURCE : 0;
    }

    /** As {@link #catalogueField}, for a string value of the field {@code name}. */
    static int catalogueValue(String list, String name, String value) {
        if (list == null && "name".equals(name)) {
            java.util.regex.Matcher resource = GOOGLE_RESOURCE.matcher(value);
            int google = !resource.matches() ? 0 : "cachedContents".equals(resource.group(1)) ? GOOGLE_NAME | CACHE : GOOGLE_NAME;
            return (value.startsWith("models/") ? GEMINI_NAME : 0) | google;
        }
        if (list == null) {
            return "version".equals(name) && VERSION_NUMBER.matcher(value).matches() ? VERSION
                    : ARN_FIELDS.contains(name) && value.startsWith("arn:") ? RESOURCE
                    : "done_reason".equals(name) && ("load".equals(value) || "unload".equals(value)) ? MODEL_LOADED : 0;
        }
        if (RESOURCE_LISTS.contains(list) && ("name".equals(name) && GOOGLE_RESOURCE.matcher(value).matches()
                || LISTED_ARNS.contains(name) && value.startsWith("arn:"))) {
            return LISTED_RESOURCE;
        }
        return "models".equals(list) && "name".equals(name) && value.startsWith("models/") ? LISTED_MODEL
                : "data".equals(list) && "type".equals(name) && "model".equals(value) ? LISTED_CARD
                : "data".equals(list) && "type".equals(name) && READ_TYPES.contains(value) ? LISTED_STORED : 0;
    }

    /**
     * Whether the answer is a stored resource ({@link #RESOURCE}), or a Google one: a resource's name and
     * a field Google's resources have, or the name alone (an operation not done yet).
     */
    private static boolean resource(int fields) {
        return (fields & RESOURCE) != 0
                || (fields & GOOGLE_NAME) != 0 && ((fields & GOOGLE_FIELD) != 0 || (fields & BEYOND_NAME) == 0);
    }

    private static final java.util.regex.Pattern VERSION_NUMBER = java.util.regex.Pattern.compile("[0-9]+(\\.[0-9]+)+[-+.0-9A-Za-z]*");

    /**
     * Whether an answer is a Google context cache's resource read, extended or deleted: its
     * {@code usageMetadata} counts the cache's tokens, charged when the cache was created (round 264: each
     * read of a 6,000-token cache was charged 6,000). Its creation ({@code POST}) is charged as any call.
     */
    static boolean cacheKept(JsonDocumentScanner.Document answer, String method) {
        int fields = answer.catalogueFields();
        return !"POST".equals(method) && (fields & CACHE) != 0 && resource(fields);
    }

    /**
     * The name of the Google context cache a request created, when its answer is the cache's resource
     * ({@code POST …/cachedContents}, Gemini's and Vertex AI's {@code projects/…/locations/…/cachedContents}:
     * the {@code CachedContent} whose {@code usageMetadata.totalTokenCount} is the cache's size,
     * ai.google.dev/api/caching, cloud.google.com/vertex-ai/generative-ai/docs/reference/rest/v1/projects.locations.cachedContents);
     * {@code null} for any other answer, or one to a request not to the caches' collection. The creation is
     * charged as any call; a call naming the cache then reads that size (round 327: a stream naming it cut
     * before its usage was charged without it).
     */
    static String cacheCreated(JsonDocumentScanner.Document answer, String method, String path) {
        int fields = answer.catalogueFields();
        return "POST".equals(method) && path.endsWith("/cachedContents") && (fields & CACHE) != 0 && resource(fields)
                ? answer.name() : null;
    }

    /**
     * The state a request that runs no model filled with items the model reads when a later call names it,
     * as {@code {kind, id}} ({@link ProviderState#filled}): an OpenAI conversation created with its
     * {@code items} ({@code POST …/conversations}, answered with the {@code conversation}: its {@code id}) or
     * given items ({@code POST …/conversations/{id}/items}, answered with their {@code list}: the id in the path;
     * platform.openai.com/docs/api-reference/conversations), and an Assistants thread created with its
     * {@code messages} ({@code POST …/threads}, answered with the {@code thread}) or given one
     * ({@code POST …/threads/{id}/messages}, answered with the {@code thread.message}, which names no run;
     * platform.openai.com/docs/api-reference/threads, /messages); {@code null} for any other answer. Each is
     * released ({@link #callNoModel}); round 327: a stream naming the state, cut before its usage, was charged
     * without the items.
     */
    static String[] filled(JsonDocumentScanner.Document answer, String method, String path) {
        if (!"POST".equals(method)) {
            return null;
        }
        String object = answer.object();
        if ("conversation".equals(object) && path.endsWith("/conversations") && answer.id() != null) {
            return new String[] {ProviderState.CONVERSATION, answer.id()};
        }
        if ("thread".equals(object) && path.endsWith("/threads") && answer.id() != null) {
            return new String[] {ProviderState.THREAD, answer.id()};
        }
        java.util.regex.Matcher items = FILLED_CONVERSATION.matcher(path);
        if ("list".equals(object) && items.find()) {
            return new String[] {ProviderState.CONVERSATION, items.group(1)};
        }
        java.util.regex.Matcher message = FILLED_THREAD.matcher(path);
        if ("thread.message".equals(object) && answer.runId() == null && message.find()) {
            return new String[] {ProviderState.THREAD, message.group(1)};
        }
        return null;
    }

    /** An OpenAI conversation given items, and an Assistants thread given a message: the id in the path. */
    private static final java.util.regex.Pattern FILLED_CONVERSATION = java.util.regex.Pattern.compile("/conversations/([^/]+)/items$");
    private static final java.util.regex.Pattern FILLED_THREAD = java.util.regex.Pattern.compile("/threads/([^/]+)/messages$");

    /**
     * Whether a request ends or refuses a Realtime call ({@link #CALL_ENDED}), answered with no body (as
     * OpenAI answers it): it ran no model. With a body it is charged as any call: on a route that takes
     * any path, a client may name its path so and still have the model answer.
     */
    static boolean endsACall(String method, String path, boolean answered) {
        return !answered && "POST".equals(method) && CALL_ENDED.matcher(path).find();
    }

    /**
     * Whether the request is a local model server's own business, as its web UI and SDKs call it (round 282:
     * each was charged about 1,000): llama.cpp's properties and slots ({@code GET /props}, {@code GET /slots},
     * answered with its settings, or its slots, each with {@code is_processing}), Ollama's model pulled, pushed
     * or created ({@code POST /api/pull}, {@code /api/push}, {@code /api/create}: progress lines ending with
     * {@code {"status": "success"}} and nothing else, round 285: an application's JSend answer
     * {@code {"status": "success", "data": …}} at a path its client chose is a model's). {@code answer} is the
     * answer's last document, of however many ({@code null} for none). Ollama's copy and delete, answered
     * with no body, are not told from a model call answered so (round 285): charged. A model loaded or
     * unloaded ({@code POST /api/generate} or {@code /api/chat} naming only the model, or
     * {@code "keep_alive": 0}: {@code ollama stop}, the clients' {@code generate(model, keep_alive=0)}) is
     * answered {@code "done_reason": "load"} or {@code "unload"} with no text and no counts (round 289).
     */
    static boolean serverBusiness(String method, String path, JsonDocumentScanner.Document answer) {
        boolean reads = "GET".equals(method) || "HEAD".equals(method);
        if (reads && (path.endsWith("/props") || path.endsWith("/slots"))) {
            return answer != null && (answer.catalogueFields() & SERVER_STATE) != 0;
        }
        if ("POST".equals(method) && (path.endsWith("/api/generate") || path.endsWith("/api/chat"))) {
            return answer != null && (answer.catalogueFields() & MODEL_LOADED) != 0 && answer.textTokens() == 0;
        }
        return "POST".equals(method) && (path.endsWith("/api/pull") || path.endsWith("/api/push") || path.endsWith("/api/create"))
                && answer != null && "success".equals(answer.status()) && (answer.catalogueFields() & BEYOND_STATUS) == 0;
    }

    /** Whether an answer read back that is the object {@code object} is part of a call charged as a whole. */
    static boolean partOfACall(String object) {
        return object != null && PARTS.contains(object);
    }

    /**
     * Whether an answer that is a provider's object (its top-level {@code object}, or Anthropic's
     * {@code type}) says no model ran for a request of {@code method} to {@code path}.
     */
    static boolean callNoModel(JsonDocumentScanner.Document answer, String method, String path) {
        boolean reads = "GET".equals(method) || "HEAD".equals(method);
        String type = answer.object() == null ? answer.type() : null;
        if (type == null ? reads && answer.object() == null && (answer.catalogueFields() & LISTED_STORED) != 0
                : reads && READ_TYPES.contains(type) || DELETED_TYPES.contains(type)) {
            return true;
        }
        String batch = answer.object() != null ? answer.object() : type;
        if (batch != null && "POST".equals(method) && path.endsWith("/cancel") && BATCHES.contains(batch)) {
            return true;
        }
        int fields = answer.catalogueFields();
        if ("POST".equals(method) && path.endsWith(FETCH_OPERATION) && resource(fields)) {
            // Vertex AI's poll of a long-running prediction (Veo): a read sent as a POST (round 267)
            return true;
        }
        if ("POST".equals(method) && "list".equals(answer.object()) && CONVERSATION_ITEMS.matcher(path).find()) {
            // items added to a stored conversation (the Agents SDK's session after each run), answered with
            // the items: stored, not written by a model (round 267); a fine-tuned checkpoint shared (round
            // 268); an embeddings list is a POST's too
            return true;
        }
        if ("POST".equals(method) && (answer.object() != null && JOBS.contains(answer.object()) && STOPS.matcher(path).find()
                || "eval.run".equals(answer.object()) && EVAL_RUN.matcher(path).find())) {
            return true;
        }
        if (reads && (resource(fields) || (fields & LISTED_RESOURCE) != 0)
                || "DELETE".equals(method) && ((fields & DELETED) != 0 || resource(fields))) {
            return true;
        }
        boolean empty = (fields & NAMED) == 0;
        if (empty && ("DELETE".equals(method) || "POST".equals(method) && STOPS.matcher(path).find())) {
            // what Google answers a deletion and a batch's cancelling with, and AWS a batch job's stopping
            return true;
        }
        String object = answer.object();
        if (!reads && "thread.message".equals(object) && answer.runId() != null) {
            // a message a run wrote (the assistant's reply an application returns after runs.createAndPoll):
            // the model ran for this request; a message a write adds (the user's) names no run
            return false;
        }
        return object != null && (WRITTEN.contains(object) || reads && READ.contains(object));
    }
}
