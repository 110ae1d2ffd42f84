package io.tokenquota.servlet;

import com.fasterxml.jackson.core.JsonFactory;
import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonToken;
import io.tokenquota.Limits;
import java.io.IOException;
import java.nio.charset.Charset;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.ToLongFunction;

/**
 * What state kept at the provider costs a call that names it, by the provider's id for it: an OpenAI
 * stored Response (continued with {@code previous_response_id}), a conversation ({@code conversation}:
 * the Conversations API), a stored prompt template ({@code prompt.id} and {@code version}; a Mistral
 * agent's, {@code agent_id}) and Gemini's
 * cached context ({@code cachedContent}: {@code cachedContents/…}, its size learnt from its creation's answer
 * when the filter saw it, else from a call's usage), an
 * Assistants thread a run reads ({@code /threads/{id}/runs}), an OpenAI batch's input file
 * ({@code input_file_id}: its requests, estimated when the filter saw it uploaded), a file the
 * conversation names by id ({@code file_id}: what the model reads of it, measured at its upload), and
 * what the provider's own tools read in
 * (file search over vector stores, web search, fetch, code execution: by the subject and the tools
 * named) and a reasoning effort named without an output budget writes (by the subject, model and
 * effort; a request that names neither a budget nor an effort, at the model's default effort, once its
 * model is seen to reason), each learnt from the answers of earlier calls. The
 * request carries only the id, and the model reads that state as input: the filter adds what it saw it
 * cost to the estimate, so a stream cut before its usage is not charged without it. Items put into a
 * conversation or a thread by requests that run no model (released) are added to it as estimated
 * ({@link #filled}), for their subject's calls alone, until a call's usage counts them.
 *
 * <p>State is keyed by its id alone: the provider's ids belong to the application's provider project,
 * not to one subject, and any subject that knows one continues it (an id is no secret worth guarding
 * here; what is remembered is a token count). What tools read in and what a reasoning effort writes
 * name no state: they are each subject's own, and follow its last such call ({@link Refs#own}), so
 * that one subject's odd call raises no other's hold. Its own memory, least recently used out, written only by
 * answers that create or extend such state: ETag answers, batch fingerprints and calls that store
 * nothing ({@code "store": false}, no conversation, no prompt) cannot evict an entry; nor can a
 * {@code GET} or {@code HEAD}, which reads state back (a poll of a stored Response: no model runs, and
 * what its body names is not what the answer's usage counts). Thread-safe.
 */
final class ProviderState {
    /**
     * Entries kept by default: about 160 bytes each for ids of OpenAI's length (about 50 characters),
     * at most 240 ({@link #MAX_ID_LENGTH}); 10 MB, at most 16 MB, in all. Evicting a figure takes as
     * many calls that store state, each charged its own usage.
     */
    static final int DEFAULT_ENTRIES = 65_536;
    /** Longer ids (and prompt versions) are not kept: an entry stays small whatever a body names. */
    static final int MAX_ID_LENGTH = 128;
    /** The kinds of state {@link #filled} adds items to: a conversation, an Assistants thread (their figures' keys). */
    static final String CONVERSATION = "c:";
    static final String THREAD = "t:";

    private final Map<String, Long> figures;
    /**
     * Multi-part uploads' markers and what their parts measured ({@link #uploadStarted}, {@link #pdfUploadStarted},
     * {@link #uploadMeasured}), least recently used out past {@code entries}, apart from {@link #figures}: an upload's
     * request is released, and written among the paid figures its markers pushed out another subject's job charge
     * (round 377: eight free uploads, and a background Response read back was charged 10,019 for 8,000). Guarded by
     * figures.
     */
    private final Map<String, Long> uploads;

    /**
     * The reads of each job, the last {@link #READS_KEPT}: when ({@link System#nanoTime}), what each paid and
     * what each showed the job cost ({@link #jobReadsSince}), by the same keys. Guarded by {@link #figures}.
     */
    private final Map<String, java.util.ArrayDeque<long[]>> jobReads;
    private static final int READS_KEPT = 8;

    /**
     * Per endpoint ({@link #inputAdded}'s route and answering model), what each of its last
     * {@link #ROUTE_SUBJECTS} subjects' complete calls showed the application adds (each subject's largest).
     * Guarded by {@link #figures}.
     */
    private final Map<String, LinkedHashMap<String, Long>> addedByRoute;
    private static final int ROUTE_SUBJECTS = 15;
    /** The fewest subjects whose figures make a route's ({@link #routeAdded}): a median of three is no one's alone. */
    private static final int ROUTE_QUORUM = 3;

    ProviderState(int entries) {
        this.entries = entries;
        this.addedByRoute = new LinkedHashMap<>(16, 0.75f, true) {
            private static final long serialVersionUID = 1L;

            @Override
            protected boolean removeEldestEntry(Map.Entry<String, LinkedHashMap<String, Long>> eldest) {
                return size() > entries;
            }
        };
        this.jobReads = new LinkedHashMap<>(16, 0.75f, true) {
            private static final long serialVersionUID = 1L;

            @Override
            protected boolean removeEldestEntry(Map.Entry<String, java.util.ArrayDeque<long[]>> eldest) {
                return size() > entries;
            }
        };
        this.figures = new LinkedHashMap<>(16, 0.75f, true) {
            private static final long serialVersionUID = 1L;

            @Override
            protected boolean removeEldestEntry(Map.Entry<String, Long> eldest) {
                return size() > entries;
            }
        };
        this.uploads = new LinkedHashMap<>(16, 0.75f, true) {
            private static final long serialVersionUID = 1L;

            @Override
            protected boolean removeEldestEntry(Map.Entry<String, Long> eldest) {
                return size() > entries;
            }
        };
    }

    /**
     * The provider state a request body names at its top level: {@code previous_response_id}, a
     * {@code conversation} (its id, or an object's {@code id}), a {@code prompt} object's {@code id}
     * and {@code version} ({@code null} each when not named), whether the answer is stored
     * ({@code "store": false} says not), and the estimates of its {@code instructions} string and of
     * its {@code tools} in tokens (OpenAI reads both for this call only and carries neither into the
     * stored Response: a continuation sends its own). {@code reasoning} is the model and the effort
     * named ({@code null} when none is named, until {@link #unbounded} says the model's default), and
     * {@code model} the body's model ({@code null} when it names none), {@code appends} whether it sends
     * Mistral's {@code inputs} (a conversation's start, append or restart).
     */
    record Refs(String previousResponse, String conversation, String prompt, String cachedContent, String inputFile,
                boolean stores, long instructions, long tools, String lookups, String reasoning, String thread,
                String subject, List<String> files, String model, boolean appends) {
        /** A body that names none (not JSON, a form, a multipart body). */
        static final Refs NONE = new Refs(null, null, null, null, null, true, 0, 0, null, null, null, null, List.of());

        /**
         * The effort of a request that names none: OpenAI's reasoning models reason at their default
         * (medium), Gemini's thinking models think as much as they decide. No provider's effort (it starts
         * with a NUL character), so the figure is apart from every named effort's.
         */
        static final String DEFAULT_EFFORT = "\u0000default";

        Refs {
            files = files == null ? List.of() : List.copyOf(files);
        }

        /** Refs of a body that names no model. */
        Refs(String previousResponse, String conversation, String prompt, String cachedContent, String inputFile,
             boolean stores, long instructions, long tools, String lookups, String reasoning, String thread,
             String subject, List<String> files) {
            this(previousResponse, conversation, prompt, cachedContent, inputFile, stores, instructions, tools, lookups,
                    reasoning, thread, subject, files, null, false);
        }

        /**
         * These refs of a request that bounds no output (no budget named): one that names no effort
         * either runs at the model's default effort, and a reasoning model then writes what it decides,
         * as at a named effort. Its figure is looked up, and learnt, by the model and
         * {@link #DEFAULT_EFFORT}; only an answer that reports reasoning teaches it ({@link #answered}),
         * so a model that does not reason never has one. A body that names no model runs the one its
         * endpoint pins (or names in its path, as Gemini's does): the figure is then the endpoint's, by
         * {@code path}, so one endpoint's reasoning model does not raise another's holds.
         */
        Refs unbounded(String path) {
            String runs = model != null ? model : "\u0000path " + path;
            return reasoning != null ? this : new Refs(previousResponse, conversation, prompt, cachedContent, inputFile,
                    stores, instructions, tools, lookups, runs + ":" + DEFAULT_EFFORT, thread, subject, files, model, appends);
        }

        /**
         * What {@link #prompt} starts with when it names a Mistral agent ({@code agent_id}): no provider's id
         * starts with a NUL character, so an agent's figure is apart from every OpenAI prompt's.
         */
        static final String AGENT = "\u0000agent ";

        /**
         * Whether the template is carried into the conversation the call starts: a Mistral agent stays with
         * its conversation, whose appends name no agent and make the model read its instructions again
         * (docs.mistral.ai/agents/agents_basics); OpenAI's stored prompt is not carried over.
         */
        boolean templateCarried() {
            return prompt != null && prompt.startsWith(AGENT);
        }

        /** Whether {@link #reasoning} is the model's default effort ({@link #unbounded}), not one the body named. */
        boolean atDefaultEffort() {
            return reasoning != null && reasoning.endsWith(":" + DEFAULT_EFFORT);
        }

        /**
         * These refs of a call on {@code path} (an Assistants run there reads the thread its path names,
         * {@code /threads/{id}/runs}) by {@code subject}: what the provider's tools read in and what a
         * reasoning effort writes are kept per subject, since they name no state of their own and one
         * subject's large call must not raise every other's hold.
         */
        Refs calledBy(String path, String subject) {
            java.util.regex.Matcher run = THREAD_RUN.matcher(path);
            java.util.regex.Matcher appended = APPENDED_CONVERSATION.matcher(path);
            // the conversation a Mistral append or restart names in its path, when its body sends the inputs that
            // extend it (round 293: a read, a metadata update or a delete of the conversation reads nothing)
            return new Refs(previousResponse, conversation != null ? conversation
                    : appends && appended.find() ? appended.group(1) : null,
                    prompt, cachedContent, inputFile, stores, instructions, tools,
                    lookups, reasoning, run.find() ? run.group(1) : null, subject, files, model, appends);
        }

        /** The key of what the subject's calls naming {@code value} (tools, a model and effort) cost. */
        String own(String value) {
            return value == null ? null : (subject == null ? "" : subject + "\u0000") + value;
        }

        /**
         * What {@code body} names, read as the estimator reads it ({@link QuotaFilter#estimateOf}): as
         * JSON in whatever Unicode encoding its bytes say (Jackson detects UTF-16 and UTF-32, as the
         * endpoint's parser does), else leniently (trailing commas, comments, unquoted values: Gson, JSON5
         * relays; {@link Json#readLeniently}), else
         * in each charset its label names, and with a malformed UTF-8 byte read as U+FFFD. Member names
         * are compared decoded, escapes and all; of a member named twice the last counts, as the
         * provider's parser reads it. Every JSON body is parsed: a search of its raw bytes for the
         * names would miss an escaped or UTF-16 one.
         *
         * @param tokens the estimator's count of a text, in tokens
         */
        static Refs of(byte[] body, List<Charset> labels, ToLongFunction<CharSequence> tokens) {
            if (body == null || body.length == 0) {
                return NONE;
            }
            Refs refs = parsed(body, tokens);
            List<Charset> readings = new ArrayList<>(labels);
            readings.add(StandardCharsets.UTF_8);
            for (int i = 0; refs == null && i < readings.size(); i++) {
                byte[] decoded = new String(body, readings.get(i)).getBytes(StandardCharsets.UTF_8);
                refs = java.util.Arrays.equals(decoded, body) ? null : parsed(decoded, tokens);
            }
            return refs == null ? NONE : refs;
        }

        /** {@link #read} strictly, then leniently; {@code null} when neither reads a JSON object. */
        private static Refs parsed(byte[] body, ToLongFunction<CharSequence> tokens) {
            Refs refs = read(body, Json.REQUEST_SCAN, tokens);
            return refs != null ? refs : Json.readLeniently(body, (bytes, json) -> read(bytes, json, tokens));
        }

        private static Refs read(byte[] body, JsonFactory json, ToLongFunction<CharSequence> tokens) {
            String previous = null;
            String conversation = null;
            String prompt = null;
            String agent = null;
            String agentVersion = null;
            String cached = null;
            String inputFile = null;
            String model = null;
            String effort = null;
            java.util.TreeSet<String> lookups = new java.util.TreeSet<>();
            List<String> files = new ArrayList<>();
            boolean stores = true;
            boolean appends = false;
            long instructions = 0;
            long tools = 0;
            try (JsonParser p = json.createParser(body)) {
                if (p.nextToken() != JsonToken.START_OBJECT) {
                    return null;
                }
                while (p.nextToken() == JsonToken.FIELD_NAME) {
                    String name = p.currentName();
                    JsonToken value = p.nextToken();
                    switch (name) {
                        // a Gemini interaction's continuation names its stored interaction so (round 288)
                        case "previous_response_id", "previous_interaction_id" ->
                                previous = value == JsonToken.VALUE_STRING ? p.getText() : null;
                        case "conversation" -> conversation = value == JsonToken.VALUE_STRING ? p.getText()
                                : value == JsonToken.START_OBJECT ? members(p)[0] : null;
                        case "prompt" -> {
                            String[] idAndVersion = value == JsonToken.START_OBJECT ? members(p) : new String[2];
                            prompt = idAndVersion[0] == null ? null
                                    : idAndVersion[0] + (idAndVersion[1] == null ? "" : "@" + idAndVersion[1]);
                        }
                        // a Mistral agent's instructions, tools and settings, stored at the provider and named by id:
                        // read as input as a stored prompt's template is (round 327: never learnt, a stream naming
                        // it cut before its usage was charged without them). Agents Completion
                        // (POST /v1/agents/completions) and a conversation's start (POST /v1/conversations) take
                        // agent_id, a conversation its agent_version too (docs.mistral.ai/api, "Agents",
                        // "Conversations")
                        case "agent_id" -> agent = value == JsonToken.VALUE_STRING ? p.getText() : null;
                        case "agent_version" -> agentVersion = value == JsonToken.VALUE_STRING
                                || value == JsonToken.VALUE_NUMBER_INT ? p.getText() : null;
                        // Gemini's and Vertex AI's JSON name it so; their parsers take the proto name too
                        case "cachedContent", "cached_content" -> cached = value == JsonToken.VALUE_STRING ? p.getText() : null;
                        // Google's OpenAI compatibility endpoint takes Gemini's own fields one level down,
                        // {"extra_body": {"google": {"cached_content": …}}} (ai.google.dev/gemini-api/docs/openai;
                        // round 322: a stream cut before its usage was held and charged without the cache)
                        case "extra_body" -> {
                            if (value == JsonToken.START_OBJECT) {
                                String named = googleCache(p);
                                cached = named != null ? named : cached;
                                continue;
                            }
                        }
                        // an OpenAI batch's requests: the lines of a file uploaded before
                        case "input_file_id" -> inputFile = value == JsonToken.VALUE_STRING ? p.getText() : null;
                        // the provider stores unless told false (null or absent: its default, true)
                        case "store" -> stores = value != JsonToken.VALUE_FALSE;
                        // instructions as input items are left in the figure: held again, never less
                        case "instructions" -> instructions = value == JsonToken.VALUE_STRING
                                ? Math.max(0, tokens.applyAsLong(p.getText())) : 0;
                        case "tools" -> tools = value == JsonToken.START_ARRAY || value == JsonToken.START_OBJECT
                                ? tools(p, tokens, lookups) : 0;
                        case "model" -> model = value == JsonToken.VALUE_STRING ? p.getText() : null;
                        // what a Mistral conversation's append or restart adds to it
                        case "inputs" -> appends = value != JsonToken.VALUE_NULL;
                        case "reasoning_effort" -> effort = value == JsonToken.VALUE_STRING ? p.getText() : null;
                        case "reasoning" -> effort = value == JsonToken.START_OBJECT ? effort(p, "effort") : null;
                        // Gemini's thinking level, or its dynamic budget (-1), with no output budget beside it
                        case "generationConfig", "generation_config" -> {
                            String level = value == JsonToken.START_OBJECT ? thinking(p) : null;
                            effort = level != null ? level : effort;
                        }
                        // Anthropic's remote MCP servers: the model reads what their tools return
                        case "mcp_servers" -> {
                            if (value == JsonToken.START_ARRAY) {
                                lookups.add("mcp_servers");
                            }
                        }
                        // the conversation's parts that name an uploaded file by id
                        case "messages", "input", "contents" -> {
                            if (value == JsonToken.START_ARRAY || value == JsonToken.START_OBJECT) {
                                fileIds(p, files);
                                continue;
                            }
                        }
                        default -> { }
                    }
                    p.skipChildren();
                }
                if (p.currentToken() != JsonToken.END_OBJECT) {
                    return null;
                }
            } catch (IOException | RuntimeException e) {
                // not JSON in this reading: the endpoint cannot read a reference in it either
                return null;
            }
            if (prompt == null && agent != null) {
                prompt = AGENT + agent + (agentVersion == null ? "" : "@" + agentVersion);
            }
            return new Refs(previous, conversation, prompt, cached, inputFile, stores, instructions, tools,
                    lookups.isEmpty() ? null : String.join(",", lookups),
                    effort == null ? null : (model == null ? "" : model) + ":" + effort, null, null,
                    files, model, appends);
        }

        /** The most file ids one request's figures are looked up for. */
        static final int MAX_FILES = 64;

        /**
         * Adds to {@code files} every {@code file_id} string in the value the parser is at the start of (an
         * OpenAI chat message's {@code file}, a Responses {@code input_file}, an Anthropic document's
         * {@code source}), read to its end: each time it is named, since the model reads the file each time.
         */
        private static void fileIds(JsonParser p, List<String> files) throws IOException {
            int depth = 1;
            String field = null;
            while (depth > 0) {
                JsonToken t = p.nextToken();
                if (t == null) {
                    throw new IOException("the body ends inside the conversation");
                }
                switch (t) {
                    case START_OBJECT, START_ARRAY -> depth++;
                    case END_OBJECT, END_ARRAY -> depth--;
                    case FIELD_NAME -> field = p.currentName();
                    case VALUE_STRING -> {
                        if ("file_id".equals(field) && files.size() < MAX_FILES) {
                            files.add(p.getText());
                        }
                    }
                    default -> { }
                }
            }
        }

        /**
         * The estimate of a {@code tools} value the parser is at the start of, as {@link RequestEstimator}
         * counts a schema field's (each member name and each string), read to its end: what the request's
         * own estimate held for it, so no more than that is taken off the figure. Also names in
         * {@code lookups} each tool the provider
         * runs itself and whose results the model reads as input: by its {@code type} (OpenAI's
         * {@code file_search}, with the vector stores it searches, {@code web_search}, {@code
         * code_interpreter}, {@code mcp}; Anthropic's {@code web_search_…}, {@code web_fetch_…},
         * {@code code_execution_…}), or by its one member (Gemini's {@code googleSearch},
         * {@code codeExecution}, {@code urlContext}); not a function the client runs (its results come
         * back in the next request, as input of its own).
         */
        private static long tools(JsonParser p, ToLongFunction<CharSequence> tokens, java.util.Set<String> lookups)
                throws IOException {
            long sum = 0;
            int depth = 1;
            String field = null;
            String type = null;
            java.util.TreeSet<String> stores = new java.util.TreeSet<>();
            boolean inStores = false;
            while (depth > 0) {
                JsonToken t = p.nextToken();
                if (t == null) {
                    throw new IOException("the body ends inside tools");
                }
                // a tool object is at depth 2 of a tools array (depth 1 of a tools object: one tool)
                switch (t) {
                    case START_OBJECT, START_ARRAY -> {
                        depth++;
                        inStores = t == JsonToken.START_ARRAY && "vector_store_ids".equals(field);
                    }
                    case END_OBJECT, END_ARRAY -> {
                        depth--;
                        inStores = false;
                        if (t == JsonToken.END_OBJECT && depth == 1) {
                            if (type != null && !"function".equals(type) && !"custom".equals(type)) {
                                lookups.add(stores.isEmpty() ? type : type + stores);
                            }
                            type = null;
                            stores.clear();
                        }
                    }
                    case FIELD_NAME -> {
                        field = p.currentName();
                        if (depth == 2 && GEMINI_TOOLS.contains(field)) {
                            // a Gemini tool object may name several of its tools as members
                            lookups.add(field);
                        }
                        sum = saturated(sum, Math.max(0, tokens.applyAsLong(field)));
                    }
                    case VALUE_STRING -> {
                        if (depth == 2 && "type".equals(field)) {
                            type = p.getText();
                        } else if (inStores) {
                            stores.add(p.getText());
                        }
                        sum = saturated(sum, Math.max(0, tokens.applyAsLong(p.getText())));
                    }
                    default -> { }
                }
            }
            return sum;
        }

        /**
         * An object's member {@code member} as a string (a number's text too), or {@code null} when absent;
         * its other members skipped.
         */
        private static String effort(JsonParser p, String... member) throws IOException {
            String found = null;
            while (p.nextToken() == JsonToken.FIELD_NAME) {
                String name = p.currentName();
                JsonToken value = p.nextToken();
                if (java.util.Arrays.asList(member).contains(name) && value.isScalarValue()) {
                    found = p.getText();
                }
                p.skipChildren();
            }
            return found;
        }

        /**
         * A Gemini {@code generationConfig}'s {@code thinkingConfig}: its {@code thinkingLevel}, or
         * {@code "dynamic"} for a {@code thinkingBudget} of -1; {@code null} for neither.
         */
        private static String thinking(JsonParser p) throws IOException {
            String found = null;
            while (p.nextToken() == JsonToken.FIELD_NAME) {
                String name = p.currentName();
                JsonToken value = p.nextToken();
                if (("thinkingConfig".equals(name) || "thinking_config".equals(name)) && value == JsonToken.START_OBJECT) {
                    String level = null;
                    String budget = null;
                    while (p.nextToken() == JsonToken.FIELD_NAME) {
                        String inner = p.currentName();
                        JsonToken v = p.nextToken();
                        if (("thinkingLevel".equals(inner) || "thinking_level".equals(inner)) && v == JsonToken.VALUE_STRING) {
                            level = p.getText();
                        } else if (("thinkingBudget".equals(inner) || "thinking_budget".equals(inner)) && v.isNumeric()) {
                            budget = p.getText();
                        }
                        p.skipChildren();
                    }
                    found = level != null ? level : "-1".equals(budget) ? "dynamic" : found;
                    continue;
                }
                p.skipChildren();
            }
            return found;
        }

        /** An object's {@code id} and {@code version} strings (null when absent); its other members skipped. */
        /**
         * The cached context an {@code extra_body} object names under {@code google} ({@code cached_content},
         * or its JSON name), or {@code null}; reads the object to its end.
         */
        private static String googleCache(JsonParser p) throws IOException {
            String cached = null;
            while (p.nextToken() == JsonToken.FIELD_NAME) {
                String name = p.currentName();
                if (p.nextToken() == JsonToken.START_OBJECT && "google".equals(name)) {
                    while (p.nextToken() == JsonToken.FIELD_NAME) {
                        String field = p.currentName();
                        JsonToken value = p.nextToken();
                        if (("cached_content".equals(field) || "cachedContent".equals(field))
                                && value == JsonToken.VALUE_STRING) {
                            cached = p.getText();
                        }
                        p.skipChildren();
                    }
                } else {
                    p.skipChildren();
                }
            }
            return cached;
        }

        private static String[] members(JsonParser p) throws IOException {
            String[] found = new String[2];
            while (p.nextToken() == JsonToken.FIELD_NAME) {
                String name = p.currentName();
                JsonToken value = p.nextToken();
                if ("id".equals(name) || "version".equals(name)) {
                    found["id".equals(name) ? 0 : 1] = value == JsonToken.VALUE_STRING ? p.getText() : null;
                }
                p.skipChildren();
            }
            return found;
        }
    }

    /**
     * What a request names and what the filter saw it cost: {@code history} the stored Response's, the
     * conversation's, the Assistants thread's and the cached context's figures (what the model reads
     * again), {@code lookups} what the provider's own tools the request names read in, {@code reasoning}
     * what its reasoning effort wrote with no budget named ({@code null} each when none is named or
     * known), {@code historyKnown}
     * whether every history named was known, {@code prompt} the stored prompt's figure ({@code null}
     * when none is named or known), {@code measured} whether the request's own input was all measured
     * (it sends no media item: an image by URL, a file by id, whose cost the estimate only bounds);
     * {@code conversationFilled} and {@code threadFilled} what the subject's requests that ran no model put
     * into the conversation and the thread named ({@link #filled}), in {@code history} too.
     */
    record Reading(Refs refs, long history, boolean historyKnown, Long prompt, boolean measured, Long lookups,
                   Long reasoning, Filled conversationFilled, Filled threadFilled) {
        /** What the request makes the model read besides its own input, in tokens. */
        long held() {
            return saturated(saturated(history, prompt == null ? 0 : prompt), lookups == null ? 0 : lookups);
        }
    }

    /**
     * What a subject's requests that ran no model put into a conversation or a thread ({@code added}, as
     * estimated), and that state's figure learnt from usage when it was read ({@code base}, 0 when none).
     */
    record Filled(long base, long added) {
        static final Filled NONE = new Filled(0, 0);
    }

    /**
     * What this filter saw the state {@code refs} names cost, for a request whose own input is {@code measured}.
     * A history is known when every part of it was learnt from a model's usage: items the subject put there by
     * requests that ran no model are held, but as estimated, so no stored prompt is learnt beside them.
     */
    Reading read(Refs refs, boolean measured) {
        Long previous = figure(key("r:", refs.previousResponse()));
        Long conversation = figure(key(CONVERSATION, refs.conversation()));
        Long cached = figure(key("g:", refs.cachedContent()));
        Long thread = figure(key(THREAD, refs.thread()));
        Filled conversationFilled = filledOf(refs, CONVERSATION, refs.conversation(), conversation);
        Filled threadFilled = filledOf(refs, THREAD, refs.thread(), thread);
        Long file = fileFigure(refs.inputFile());
        // the files the conversation names by id that the filter saw uploaded: what the model reads of them
        long named = 0;
        for (String id : refs.files()) {
            Long figure = fileFigure(id);
            named = saturated(named, figure == null ? 0 : figure);
        }
        boolean known = (refs.previousResponse() == null || previous != null)
                && (refs.conversation() == null || conversation != null)
                && (refs.cachedContent() == null || cached != null)
                && (refs.thread() == null || thread != null)
                && (refs.inputFile() == null || file != null)
                && conversationFilled.added() == 0 && threadFilled.added() == 0;
        long history = saturated(saturated(saturated(previous == null ? 0 : previous, conversation == null ? 0 : conversation),
                saturated(cached == null ? 0 : cached, thread == null ? 0 : thread)), saturated(file == null ? 0 : file, named));
        history = saturated(history, saturated(conversationFilled.added(), threadFilled.added()));
        return new Reading(refs, history, known, figure(key("p:", refs.prompt())), measured,
                figure(ownKey("x:", refs.own(refs.lookups()))), figure(ownKey("o:", refs.own(refs.reasoning()))),
                conversationFilled, threadFilled);
    }

    /**
     * Remembers what a completed call's final usage says of the state it named and created.
     *
     * <p>The stored prompt cost what the model read above the request's own input and the history it
     * named; it is learnt only when that difference is the template alone: the history was known, the
     * request's own input was all measured (an image by URL is held at the most an image costs, a file
     * by id at the least an item costs: either would move the difference by what the estimate missed or
     * overstated, another subject's file becoming every user's figure), and the usage is the model's
     * report, not a figure the handler gave ({@code handlerFigure}). Otherwise a known figure stays.
     *
     * <p>The Response it stored and the conversation it extended hold what a continuation makes the
     * model read again: this call's input and output, but the reasoning (OpenAI drops earlier turns'
     * reasoning from the context), its {@code instructions} and {@code tools} (not carried over: a
     * continuation sends its own, counted as its own input) and the prompt (a template is not carried
     * over either).
     * Every figure keeps the largest it was given ({@link #remember}).
     *
     * @param inputEstimate  the request's input as held, in raw tokens: its own and {@link Reading#held}
     * @param handlerFigure  whether the handler reported the call's figure itself
     * @param storedResponse the id of the Response the answer is, or {@code null}
     * @param conversation   the conversation the answer says it extended or started (Mistral's
     *                       {@code conversation_id}), or {@code null}
     * @param kinds          the usage by kind ({@code {input, cachedInput, output, reasoning}}), or
     *                       {@code null} when the answer did not split it
     * @param total          the usage, raw tokens
     */
    void answered(Reading reading, long inputEstimate, boolean handlerFigure, String storedResponse, String conversation,
                  long[] kinds, long total) {
        answered(reading, inputEstimate, handlerFigure, storedResponse, conversation, kinds, total, null, null);
    }

    /**
     * As above, for {@code subject}'s call to {@code endpoint} ({@link #inputAdded}; {@code null} each: none is
     * learnt): also what the call read above its own input estimate, the input its application added.
     */
    void answered(Reading reading, long inputEstimate, boolean handlerFigure, String storedResponse, String conversation,
                  long[] kinds, long total, String subject, String endpoint) {
        Refs refs = reading.refs();
        Long prompt = reading.prompt();
        if (refs.prompt() != null && reading.historyKnown() && reading.measured() && !handlerFigure && kinds != null) {
            long own = Math.max(0, inputEstimate - reading.held());
            prompt = Math.max(0, saturated(kinds[0], kinds[1]) - saturated(own, reading.history()));
            remember(key("p:", refs.prompt()), prompt);
        }
        long notCarried = saturated(saturated(saturated(kinds == null ? 0 : kinds[3], refs.instructions()),
                refs.tools()), prompt == null || refs.templateCarried() ? 0 : prompt);
        long read = Math.max(0, total - notCarried);
        if (refs.stores()) {
            remember(key("r:", storedResponse), read);
        }
        // the conversation the answer names (Mistral's: one a start or a restart made, named only there; an
        // append's own), else the one the request named
        remember(key("c:", conversation != null ? conversation : refs.conversation()), read);
        // a run reads its thread, which then holds the run's answer too: the next run reads at least all of it
        remember(key("t:", refs.thread()), total);
        // the items the subject's requests that ran no model put there, held with this call as estimated: its
        // usage counts them in the figure just learnt, as far as that figure grew past what was known
        counted(refs, CONVERSATION, refs.conversation(), reading.conversationFilled(), read);
        counted(refs, THREAD, refs.thread(), reading.threadFilled(), total);
        if (refs.lookups() != null && reading.historyKnown() && reading.measured() && !handlerFigure && kinds != null) {
            // what the tools read in: the input above the request's own, its history and its prompt
            long own = Math.max(0, inputEstimate - reading.held());
            long input = saturated(kinds[0], kinds[1]);
            latest(ownKey("x:", refs.own(refs.lookups())), Math.max(0, input - saturated(saturated(own, reading.history()),
                    prompt == null ? 0 : prompt)));
        }
        if (addsInput(refs) && reading.historyKnown() && reading.measured() && !handlerFigure && kinds != null) {
            // what the application added to the request (its system prompt, retrieved documents): the input above
            // the request's own and its history, the largest seen (round 331: following the last call, one call
            // padded with a member the application ignores, charged in full, taught 0 for every later one)
            long own = Math.max(0, inputEstimate - reading.held());
            long added = Math.max(0, saturated(kinds[0], kinds[1]) - saturated(own, reading.history()));
            remember(addedKey(subject, endpoint), added);
            routeShowed(subject, endpoint, added);
        }
        if (refs.reasoning() != null && kinds != null && !handlerFigure) {
            String key = ownKey("o:", refs.own(refs.reasoning()));
            // at the model's default effort only an answer that reports reasoning shows a reasoning model:
            // a model that does not reason never gets a figure (a long answer of one is charged in full
            // when its usage comes and says nothing of the next). Once there is one, each such call
            // replaces it, as a named effort's does, so the figure follows the subject's last call
            if (!refs.atDefaultEffort() || kinds[3] > 0 || figure(key) != null) {
                latest(key, saturated(kinds[2], kinds[3]));
            }
        }
        if (refs.cachedContent() != null && kinds != null && !handlerFigure) {
            // the cached context is what the model read from the cache (Gemini's cachedContentTokenCount):
            // the model's report of it, not a handler's figure for the whole call
            remember(key("g:", refs.cachedContent()), kinds[1]);
        }
    }

    /**
     * What {@code subject}'s last call to {@code endpoint} (its path and the model that answered) whose final usage
     * was seen read above its own input estimate and its history: the input its application adds to what the
     * client sends (a support chat's 6,000-token system prompt before a 20-token question), which no request
     * shows. Added to the input part of the floor of a call there that ends without its final usage (round 328:
     * an OpenAI stream the user stopped, whose events count nothing before the last, was charged the question
     * and the text it carried, 1,021 where the model read 6,020), never to its hold, so no call is refused for
     * it and one that reports its usage is charged that alone. The largest seen, which no client can lower
     * (round 331: a complete call padded with a member the application ignores taught 0): a stopped call may pay
     * the most the application added to one call, never less than it read. Learnt only from requests that name
     * no stored prompt and none of the provider's tools (their figures, {@code p:} and {@code x:}, are learnt
     * from the same difference), but added to every stopped call there: a client naming a prompt or a tool the
     * application ignores must not drop it (round 331). 0 when none is known.
     */
    long inputAdded(String subject, String endpoint) {
        Long figure = figure(addedKey(subject, endpoint));
        return Math.max(figure == null ? 0 : figure, routeAdded(endpoint));
    }

    /**
     * What the endpoint's application adds as its other subjects' complete calls show it: the median of the last
     * {@link #ROUTE_SUBJECTS} subjects' figures (each its largest; the lower one of an even count), 0 while fewer
     * than {@link #ROUTE_QUORUM} subjects are known: no one subject sets what others pay (round 361: with two
     * subjects on record the upper median was the larger, and one user's 15,000 tokens of project documents were
     * charged to another's stopped call, 16,430 for 1,430). Round 339: a subject whose every stream is stopped before its usage never teaches a figure of
     * its own, and a new subject's first stopped call paid no system prompt although other subjects' calls there
     * showed 4,000 tokens of it. A median, not the largest, because what an application adds varies between
     * users (retrieved documents, a user's own instructions): one subject's long context is not charged to
     * every other's stopped call; and not the smallest, because one subject's padded call teaches 0 (round 331)
     * and must not lower what other subjects' calls showed.
     */
    private long routeAdded(String endpoint) {
        if (endpoint == null) {
            return 0;
        }
        synchronized (figures) {
            LinkedHashMap<String, Long> bySubject = addedByRoute.get(endpoint);
            if (bySubject == null || bySubject.size() < ROUTE_QUORUM) {
                return 0;
            }
            long[] values = bySubject.values().stream().mapToLong(Long::longValue).sorted().toArray();
            return values[(values.length - 1) / 2];
        }
    }

    private void routeShowed(String subject, String endpoint, long added) {
        if (subject == null || endpoint == null) {
            return;
        }
        synchronized (figures) {
            LinkedHashMap<String, Long> bySubject = addedByRoute.computeIfAbsent(endpoint, e -> new LinkedHashMap<>());
            Long known = bySubject.remove(subject);
            // re-inserted last: the subjects kept are the most recent to complete a call here
            bySubject.put(subject, known == null ? added : Math.max(known, added));
            if (bySubject.size() > ROUTE_SUBJECTS) {
                bySubject.remove(bySubject.keySet().iterator().next());
            }
        }
    }

    /** Whether {@link #inputAdded} is learnt from a request naming {@code refs}: no stored prompt, no tools' lookups. */
    private static boolean addsInput(Refs refs) {
        return refs.prompt() == null && refs.lookups() == null;
    }

    private static String addedKey(String subject, String endpoint) {
        return subject == null || endpoint == null ? null : ownKey("e:", subject + "\u0000" + endpoint);
    }

    /**
     * A Google context cache was created, answered with its resource: {@code name} holds {@code tokens}
     * ({@code usageMetadata.totalTokenCount}, the provider's count; the creation is charged it), what each
     * call naming it reads from it (round 327: a stream naming a cache created through the filter, cut before
     * its usage, was charged without it). A cache's contents never change: the largest figure seen stays.
     */
    void cacheCreated(String name, long tokens) {
        remember(key("g:", name), tokens);
    }

    /**
     * {@code subject}'s request that ran no model put items estimated at {@code tokens} into the conversation
     * or the thread ({@link #CONVERSATION}, {@link #THREAD}) {@code id} (round 327: an OpenAI conversation
     * created with items or given items, an Assistants thread created with messages or given one; each
     * released, {@link ProviderObjects#filled}): the subject's calls naming it are held that much more, added
     * to what is known, until a call's usage counts them ({@link #answered}). Kept per subject: such a
     * request is free and names the state by an id the client chooses (the path's), so what it adds raises
     * no other subject's hold; apart from the figures learnt from usage, so that free requests cannot push
     * those out, and full it forgets the smallest, as {@link #files} does.
     */
    void filled(String subject, String kind, String id, long tokens) {
        String key = filledKey(subject, kind, id);
        if (key != null && tokens > 0) {
            synchronized (filledItems) {
                filledItems.add(key, tokens, entries);
            }
        }
    }

    private Filled filledOf(Refs refs, String kind, String id, Long figure) {
        String key = filledKey(refs.subject(), kind, id);
        if (key == null) {
            return Filled.NONE;
        }
        long added;
        synchronized (filledItems) {
            added = filledItems.get(key);
        }
        return added == 0 ? Filled.NONE : new Filled(figure == null ? 0 : figure, added);
    }

    /**
     * A call held with {@code filled} was answered, and its usage says the state it named holds
     * {@code learnt}: the items it held as estimated are counted there as far as the figure grew past the one
     * known when it was held (an answer that read less, an endpoint that does not read the state, leaves
     * them held), and are no longer added.
     */
    private void counted(Refs refs, String kind, String id, Filled filled, long learnt) {
        String key = filledKey(refs.subject(), kind, id);
        if (key != null && filled.added() > 0) {
            long grew = Math.max(0, learnt - filled.base());
            synchronized (filledItems) {
                filledItems.take(key, Math.min(filled.added(), grew));
            }
        }
    }

    private static String filledKey(String subject, String kind, String id) {
        return subject == null || key(kind, id) == null ? null : ownKey("i:", subject + "\u0000" + kind + id);
    }

    /**
     * What subjects' requests that ran no model put into conversations and threads ({@link #filled}), by
     * subject and state; full, the smallest is forgotten. Guarded by itself.
     */
    private final SmallestOut filledItems = new SmallestOut();

    /**
     * Figures by key, at most a number of them, the smallest forgotten first: an entry needs as many tokens of
     * items as those it pushes out. Ordered by figure, so that forgetting takes no scan of them all.
     */
    private static final class SmallestOut {
        private final Map<String, Long> figures = new java.util.HashMap<>();
        private final java.util.TreeSet<String> order = new java.util.TreeSet<>(
                java.util.Comparator.comparingLong((String key) -> figures.get(key)).thenComparing(key -> key));

        long get(String key) {
            Long figure = figures.get(key);
            return figure == null ? 0 : figure;
        }

        void add(String key, long tokens, int entries) {
            Long before = figures.get(key);
            if (before != null) {
                order.remove(key);
            }
            figures.put(key, saturated(before == null ? 0 : before, tokens));
            order.add(key);
            while (figures.size() > entries) {
                figures.remove(order.pollFirst());
            }
        }

        void take(String key, long tokens) {
            Long before = figures.get(key);
            if (before == null || tokens <= 0) {
                return;
            }
            order.remove(key);
            if (before > tokens) {
                figures.put(key, before - tokens);
                order.add(key);
            } else {
                figures.remove(key);
            }
        }

        int size() {
            return figures.size();
        }
    }

    /**
     * Remembers what the requests of a batch input file the filter saw uploaded may cost (each line's
     * input and output budget, as a batch body's requests are estimated), by the id the provider's answer
     * gave the file: a batch created later naming it ({@code input_file_id}) is held that.
     */
    void uploaded(String fileId, long tokens) {
        rememberFile(fileId, tokens);
    }

    /**
     * What the calls of {@code subject} that made a job the provider runs on its own were charged so far
     * (a background Response, an Assistants run, a batch, a stored call read back later), or {@code null}
     * when this filter saw none of them. Kept per subject: an id may be the client's choice (vLLM takes
     * a {@code request_id}), and one subject's payment must not settle another's calls.
     */
    Long jobCharged(String subject, String jobId) {
        return figure(ownKey("j:", subject + "\u0000" + jobId));
    }

    /** {@code subject}'s job {@code jobId} has been charged {@code tokens} in all (kept when more than known). */
    void jobCharged(String subject, String jobId, long tokens) {
        jobCharged(subject, jobId, tokens, false);
    }

    /**
     * As {@link #jobCharged(String, String, long)}; {@code read}: by a request that acts on the job by its
     * id (a poll, a read back, a resumed stream), whose answer showed the job cost at least {@code tokens}:
     * {@link #jobReadsSince} then tells what it paid and saw.
     */
    void jobCharged(String subject, String jobId, long tokens, boolean read) {
        String key = ownKey("j:", subject + "\u0000" + jobId);
        if (key != null) {
            synchronized (figures) {
                Long known = figures.get(key);
                if (known == null && tokens == 0) {
                    // nothing paid and nothing shown for a job this filter holds no figure of (a poll of another's
                    // queued job): kept, a free read would push a paid figure out (round 379: eight such polls, and
                    // a background Response read back was charged again in full, 10,019 for 8,000)
                    return;
                }
                if (known == null || tokens > known) {
                    figures.put(key, tokens);
                }
                java.util.ArrayDeque<long[]> reads = read ? jobReads.computeIfAbsent(key, k -> new java.util.ArrayDeque<>()) : null;
                long paid = known == null ? tokens : Math.max(0, tokens - known);
                // a read that paid nothing and showed no more than the last one (a poll loop of a finished job)
                // tells nothing new: kept, it would push out one that did
                if (reads != null && (paid > 0 || reads.isEmpty() || tokens > reads.getLast()[2])) {
                    if (reads.size() == READS_KEPT) {
                        reads.removeFirst();
                    }
                    reads.addLast(new long[] {System.nanoTime(), paid, tokens});
                }
            }
        }
    }

    /**
     * What reads of {@code subject}'s job {@code jobId} that settled after {@code since} ({@link System#nanoTime})
     * paid for it and the most any of them showed it cost, {@code {paid, seen}}; {@code null} when none did.
     * Such reads were of the run of the call that made it, which still ran (its id went out with the
     * stream's first event), though what they paid was measured against the figure of an earlier run under
     * the same id (a client may choose it). What another making call paid is that call's (a server may give
     * every answer the same id).
     */
    long[] jobReadsSince(String subject, String jobId, long since) {
        String key = ownKey("j:", subject + "\u0000" + jobId);
        if (key == null) {
            return null;
        }
        synchronized (figures) {
            long[] paidAndSeen = null;
            for (long[] read : jobReads.getOrDefault(key, new java.util.ArrayDeque<>())) {
                if (read[0] - since >= 0) {
                    paidAndSeen = paidAndSeen == null ? new long[2] : paidAndSeen;
                    paidAndSeen[0] = StreamText.plus(paidAndSeen[0], read[1]);
                    paidAndSeen[1] = Math.max(paidAndSeen[1], read[2]);
                }
            }
            return paidAndSeen;
        }
    }

    /**
     * {@code subject}'s job {@code jobId} (re)started, charged {@code tokens} for it: what it was charged
     * before was for a run that is over (a regenerate runs the model again; a provider's job made again
     * under an id an earlier one had: vLLM takes the client's {@code request_id} for a Response's).
     */
    void jobStarted(String subject, String jobId, long tokens) {
        latest(ownKey("j:", subject + "\u0000" + jobId), tokens);
        jobResult(subject, jobId, null);
    }

    /**
     * What identifies the finished result {@code subject}'s job {@code jobId} was last charged for at this instance
     * ({@link #jobResult(String, String, String)}), or {@code null}: none since its figure (re)started.
     */
    String jobResult(String subject, String jobId) {
        String key = ownKey("d:", subject + "\u0000" + jobId);
        if (key == null) {
            return null;
        }
        synchronized (jobs) {
            Object result = jobs.get(key);
            return result instanceof String digest ? digest : null;
        }
    }

    /**
     * {@code subject}'s job {@code jobId} was charged for the finished result {@code result} identifies (its model
     * text and usage: {@link Settlement}), or ({@code null}) for none yet. Beside the job's figure, per instance: a
     * read there that reports another finished result reads a run this instance did not see start (round 329: run
     * again through another instance behind the load balancer), which owes its whole usage.
     */
    void jobResult(String subject, String jobId, String result) {
        String key = ownKey("d:", subject + "\u0000" + jobId);
        if (key != null) {
            synchronized (jobs) {
                if (result == null) {
                    jobs.remove(key);
                } else {
                    jobs.put(key, result);
                }
            }
        }
    }

    /**
     * Whether {@code subject}'s job {@code jobId} is open: created, and its result not read yet (a provider's
     * job polled by the id its creation was answered with). An open job's figure is not started again by
     * another creation answered with its id: that one's is the ordinary call's charge.
     */
    boolean jobOpen(String subject, String jobId) {
        String key = ownKey("o:", subject + "\u0000" + jobId);
        if (key == null) {
            return false;
        }
        synchronized (jobs) {
            return jobs.get(key) != null;
        }
    }

    /** {@code subject}'s job {@code jobId} is open ({@link #jobOpen}), or no longer. */
    void jobOpen(String subject, String jobId, boolean open) {
        String key = ownKey("o:", subject + "\u0000" + jobId);
        if (key != null) {
            synchronized (jobs) {
                if (open) {
                    jobs.put(key, Boolean.TRUE);
                } else {
                    jobs.remove(key);
                }
            }
        }
    }

    /**
     * The application jobs of {@code subject} answered with the id {@code jobId}, each named by the path
     * its reads take at the collection that started it ({@code /reports/1}, {@code /translations/1}: two
     * tables may number their jobs alike).
     */
    java.util.List<String> jobsNamed(String subject, String jobId) {
        String key = ownKey("n:", subject + "\u0000" + jobId);
        if (key == null) {
            return java.util.List.of();
        }
        synchronized (jobs) {
            Object named = jobs.get(key);
            return named instanceof java.util.List<?> list ? list.stream().map(String::valueOf).toList() : java.util.List.of();
        }
    }

    /** {@code subject}'s application job {@code job} ({@link #jobsNamed}) is answered with the id {@code jobId}. */
    void jobNamed(String subject, String jobId, String job) {
        String key = ownKey("n:", subject + "\u0000" + jobId);
        if (key == null) {
            return;
        }
        synchronized (jobs) {
            @SuppressWarnings("unchecked")
            java.util.List<String> named = (java.util.List<String>) jobs.computeIfAbsent(key, k -> new java.util.ArrayList<String>());
            if (!named.contains(job)) {
                named.add(job);
                if (named.size() > MAX_JOBS_NAMED) {
                    named.remove(0);
                }
            }
        }
    }

    /** The application job of {@code subject} read at {@code path} (its collection's path, a status monitor), or {@code null}. */
    String jobAt(String subject, String path) {
        String key = ownKey("a:", subject + "\u0000" + path);
        if (key == null) {
            return null;
        }
        synchronized (jobs) {
            Object job = jobs.get(key);
            return job instanceof String named ? named : null;
        }
    }

    /** {@code subject}'s application job {@code job} is read at {@code path}. */
    void jobReadAt(String subject, String path, String job) {
        String key = ownKey("a:", subject + "\u0000" + path);
        if (key != null) {
            synchronized (jobs) {
                jobs.put(key, job);
            }
        }
    }

    /** Jobs answered with one id at most: as many tables numbering their jobs alike. */
    private static final int MAX_JOBS_NAMED = 8;
    /**
     * Application jobs: by id, the jobs answered with it ({@link #jobsNamed}); by read path, the job read
     * there ({@link #jobAt}); and the provider's jobs still open ({@link #jobOpen}). Least recently used out.
     * Guarded by itself.
     */
    private final Map<String, Object> jobs = new LinkedHashMap<>(16, 0.75f, true) {
        private static final long serialVersionUID = 1L;

        @Override
        protected boolean removeEldestEntry(Map.Entry<String, Object> eldest) {
            return size() > entries;
        }
    };

    /** A multi-part upload of a batch's input file began (OpenAI's Uploads API): its parts are counted. */
    void uploadStarted(String uploadId) {
        String key = key("u:", uploadId);
        if (key != null) {
            synchronized (figures) {
                uploads.putIfAbsent(key, 0L);
            }
        }
    }

    /** Whether {@code uploadId} names a multi-part upload of a batch's input file this filter saw begin. */
    boolean batchUpload(String uploadId) {
        return upload(key("u:", uploadId)) != null;
    }

    /**
     * A part of a batch upload ({@link #uploadStarted}): its whole lines are counted by {@code lines},
     * the first joined to what the part before left of a line; its last line, cut, waits for the next
     * part (or the completion). Parts are joined in the order they arrive, as an upload sends them
     * one after another; a line cut by parts sent at once, or longer than {@link #MAX_CUT_LINE}, is
     * counted by its pieces' text.
     */
    void uploadPart(String uploadId, byte[] part, java.util.function.ToLongFunction<byte[]> lines) {
        String key = key("u:", uploadId);
        if (key == null) {
            return;
        }
        synchronized (figures) {
            if (!uploads.containsKey(key)) {
                return;
            }
            byte[] before = cutLines.remove(key);
            byte[] joined = before == null ? part : java.util.Arrays.copyOf(before, before.length + part.length);
            if (before != null) {
                System.arraycopy(part, 0, joined, before.length, part.length);
            }
            int end = joined.length;
            while (end > 0 && joined[end - 1] != '\n') {
                end--;
            }
            long tokens = lines.applyAsLong(java.util.Arrays.copyOf(joined, end));
            byte[] rest = java.util.Arrays.copyOfRange(joined, end, joined.length);
            if (rest.length > MAX_CUT_LINE) {
                tokens = saturated(tokens, lines.applyAsLong(rest));
            } else if (rest.length > 0) {
                cutLines.put(key, rest);
            }
            long counted = tokens;
            uploads.computeIfPresent(key, (k, sum) -> saturated(sum, counted));
        }
    }

    /** A multi-part upload that says it is a PDF began: its parts are pieces of one, counted by their pages. */
    void pdfUploadStarted(String uploadId) {
        String key = key("p:", uploadId);
        if (key != null) {
            synchronized (figures) {
                uploads.putIfAbsent(key, 0L);
            }
        }
    }

    /** Whether {@code uploadId} names a multi-part upload of a PDF this filter saw begin. */
    boolean pdfUpload(String uploadId) {
        return upload(key("p:", uploadId)) != null;
    }

    /**
     * A piece of a PDF uploaded in parts ({@link #pdfUploadStarted}): the pages of the objects it ends,
     * with what the piece before left of an object it began (a compressed object stream of page objects
     * counts only whole), added to its upload's figure; the object it leaves unfinished waits for the
     * next piece (or the completion). One longer than {@link #MAX_PDF_CARRY} is counted by its pieces.
     */
    void pdfPiece(String uploadId, byte[] piece) {
        String key = key("p:", uploadId);
        if (key == null) {
            return;
        }
        byte[] before;
        synchronized (figures) {
            if (!uploads.containsKey(key)) {
                return;
            }
            before = pdfCarry.remove(key);
        }
        // parsed outside the lock (review 39): a hostile piece costs the request that sent it, not every
        // request that reads provider state while it is parsed; the lock only takes and keeps the carried piece
        byte[] joined = before == null ? piece : java.util.Arrays.copyOf(before, before.length + piece.length);
        if (before != null) {
            System.arraycopy(piece, 0, joined, before.length, piece.length);
        }
        int cut = PdfPages.unfinishedObject(joined);
        long pages = PdfPages.pageObjects(cut == joined.length ? joined : java.util.Arrays.copyOf(joined, cut));
        byte[] rest = cut < joined.length ? java.util.Arrays.copyOfRange(joined, cut, joined.length) : null;
        boolean kept = false;
        if (rest != null && rest.length <= MAX_PDF_CARRY) {
            synchronized (figures) {
                // a piece of the same upload that came meanwhile kept its own: this rest is counted now, not dropped
                kept = uploads.containsKey(key) && !pdfCarry.holds(key);
                if (kept) {
                    pdfCarry.put(key, rest);
                }
            }
        }
        if (rest != null && !kept) {
            pages = saturated(pages, PdfPages.pageObjects(rest));
        }
        uploadMeasured(uploadId, pages * MediaSize.PDF_PAGE_TOKENS);
    }

    /** The longest unfinished object of a PDF kept until its next piece comes: an object stream of pages is far shorter. */
    static final int MAX_PDF_CARRY = 1 << 20;
    /** The PDF uploads whose last piece ended inside an object: that object's start, by the upload's key. Guarded by figures. */
    private final Carried pdfCarry = new Carried();

    /**
     * A part of a multi-part upload that is no batch's input (any file a request may later name by id)
     * was measured: what the model reads of it, added to its upload's.
     */
    void uploadMeasured(String uploadId, long tokens) {
        String key = key("m:", uploadId);
        if (key != null) {
            synchronized (figures) {
                uploads.merge(key, tokens, ProviderState::saturated);
            }
        }
    }

    /**
     * A multi-part upload completed as the file {@code fileId}: a batch naming it is held its parts'
     * requests, and a request naming it what the model reads of its parts.
     */
    void uploadCompleted(String uploadId, String fileId, java.util.function.ToLongFunction<byte[]> lines) {
        String key = key("u:", uploadId);
        if (key == null) {
            return;
        }
        Long parts;
        byte[] unfinished = null;
        synchronized (figures) {
            byte[] last = cutLines.remove(key);
            if (last != null) {
                uploads.computeIfPresent(key, (k, sum) -> saturated(sum, lines.applyAsLong(last)));
            }
            parts = uploads.get(key);
            if (parts == null) {
                unfinished = pdfCarry.remove(key("p:", uploadId));
                parts = uploads.get(key("m:", uploadId));
            }
        }
        if (unfinished != null) {
            // a PDF's last unfinished object is parsed outside the lock, as its pieces are (pdfPiece)
            uploadMeasured(uploadId, PdfPages.pageObjects(unfinished) * MediaSize.PDF_PAGE_TOKENS);
            synchronized (figures) {
                parts = uploads.get(key("m:", uploadId));
            }
        }
        if (parts != null) {
            rememberFile(fileId, parts);
        }
    }

    /** The longest cut line kept until the next part comes: a batch request's line is far shorter. */
    static final int MAX_CUT_LINE = 64 * 1024;
    /** The uploads whose last part ended inside a line: that line's start, by the upload's key. Guarded by figures. */
    private final Carried cutLines = new Carried();

    /** The bytes {@link Carried} keeps in all, for each of its two uses: a batch's cut lines, a PDF's unfinished objects. */
    static final int MAX_CARRIED_BYTES = 4 << 20;

    /**
     * What uploads' parts left unfinished for their next part, least recently used out once they hold more
     * than {@link #MAX_CARRIED_BYTES} in all (round 275: 1,024 cut lines of 64 KB and 64 PDF objects of
     * 1 MB could keep 128 MB across requests). An upload whose carry was pushed out counts its next part
     * by that part alone, as for one cut by parts sent at once. Guarded by figures.
     */
    private static final class Carried {
        private final LinkedHashMap<String, byte[]> kept = new LinkedHashMap<>(16, 0.75f, true);
        private long bytes;

        boolean holds(String key) {
            return kept.containsKey(key);
        }

        byte[] remove(String key) {
            byte[] b = kept.remove(key);
            if (b != null) {
                bytes -= b.length;
            }
            return b;
        }

        void put(String key, byte[] value) {
            remove(key);
            kept.put(key, value);
            bytes += value.length;
            var eldest = kept.entrySet().iterator();
            while (bytes > MAX_CARRIED_BYTES && eldest.hasNext()) {
                bytes -= eldest.next().getValue().length;
                eldest.remove();
            }
        }
    }

    /**
     * What the files uploaded through the filter cost the model to read, by id. Apart from the other
     * figures, and full it forgets the smallest: an upload is released (it runs no model), so were it
     * least recently used out, a client could push out a large file's figure with free uploads of small
     * ones. Guarded by itself.
     */
    private final Map<String, Long> files = new java.util.HashMap<>();
    private final int entries;

    private Long fileFigure(String fileId) {
        String key = key("f:", fileId);
        if (key == null) {
            return null;
        }
        synchronized (files) {
            return files.get(key);
        }
    }

    private void rememberFile(String fileId, long tokens) {
        String key = key("f:", fileId);
        if (key == null) {
            return;
        }
        synchronized (files) {
            files.merge(key, tokens, Math::max);
            if (files.size() > entries) {
                files.entrySet().stream().min(Map.Entry.comparingByValue()).map(Map.Entry::getKey).ifPresent(files::remove);
            }
        }
    }

    private Long figure(String key) {
        if (key == null) {
            return null;
        }
        synchronized (figures) {
            return figures.get(key);
        }
    }

    /** An upload's figure ({@link #uploads}), or {@code null}. */
    private Long upload(String key) {
        if (key == null) {
            return null;
        }
        synchronized (figures) {
            return uploads.get(key);
        }
    }

    /**
     * Keeps {@code tokens} as {@code key}'s figure unless a larger one is known: a figure never shrinks.
     * Calls complete out of order (a slow turn started when its conversation was short finishes after a
     * later, larger one), and each reports what it read when it started, so the largest seen is what the
     * next call naming the state will at least read: a conversation only grows, a stored Response never
     * changes (an answer repeating its id, a cancel, cannot lower it), and a prompt named without a
     * version is its newest, which a slow call begun under an older, shorter version must not lower.
     */
    private void remember(String key, long tokens) {
        if (key != null) {
            synchronized (figures) {
                Long known = figures.get(key);
                figures.put(key, known == null ? tokens : Math.max(known, tokens));
            }
        }
    }

    /**
     * Keeps {@code tokens} as {@code key}'s figure, whatever it was: what the subject's last such call
     * read or wrote. What tools find and what a model reasons varies from call to call and grows with
     * nothing, so the largest ever seen would hold one odd call's figure against every later call.
     */
    private void latest(String key, long tokens) {
        if (key != null) {
            synchronized (figures) {
                figures.put(key, tokens);
            }
        }
    }

    private static String key(String kind, String id) {
        return id == null || id.isEmpty() || id.length() > MAX_ID_LENGTH ? null : kind + id;
    }

    /**
     * The key of a subject's figure for what it names ({@link Refs#own}): a long name (many vector
     * stores, a long subject id) kept as its digest, so an entry stays small.
     */
    private static String ownKey(String kind, String name) {
        if (name == null || name.length() <= MAX_ID_LENGTH) {
            return key(kind, name);
        }
        try {
            byte[] digest = java.security.MessageDigest.getInstance("SHA-256").digest(name.getBytes(StandardCharsets.UTF_8));
            return kind + "#" + java.util.Base64.getEncoder().encodeToString(digest);
        } catch (java.security.NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    /** Gemini's tools the provider runs, as a tool object's members name them (not its function declarations). */
    private static final java.util.Set<String> GEMINI_TOOLS = java.util.Set.of("googleSearch", "google_search",
            "googleSearchRetrieval", "google_search_retrieval", "codeExecution", "code_execution", "urlContext",
            "url_context", "fileSearch", "file_search", "googleMaps", "google_maps", "enterpriseWebSearch",
            "enterprise_web_search", "retrieval", "computerUse", "computer_use");

    /** An Assistants run's path: the thread's id. */
    private static final java.util.regex.Pattern THREAD_RUN = java.util.regex.Pattern.compile("/threads/([^/]+)/runs(?:/|$)");
    /**
     * A Mistral conversation appended to or restarted ({@code POST /v1/conversations/{id}},
     * {@code /v1/conversations/{id}/restart}): the model reads the conversation its path names.
     */
    private static final java.util.regex.Pattern APPENDED_CONVERSATION = java.util.regex.Pattern.compile(
            "/conversations/([^/]+)(?:/restart)?/?$");

    private static long saturated(long a, long b) {
        long sum = a + b;
        return sum < 0 || sum > Limits.MAX_TOKENS ? Limits.MAX_TOKENS : sum;
    }
}
