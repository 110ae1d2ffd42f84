package io.tokenquota.servlet.breakit327;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.tokenquota.servlet.QuotaFilter;
import io.tokenquota.servlet.testing.Deployment;
import io.tokenquota.servlet.testing.EventStreams;
import io.tokenquota.servlet.testing.HangUps;
import io.tokenquota.servlet.testing.ModelCallRound;
import io.tokenquota.servlet.testing.Prose;
import io.tokenquota.servlet.testing.ResponsesApi;
import io.tokenquota.servlet.testing.TestHttp;
import jakarta.servlet.http.HttpServlet;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;
import java.io.OutputStream;
import java.net.http.HttpResponse;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import org.junit.jupiter.api.Test;

/**
 * Round 327 of issue 11 ("no model call goes unpaid"): state kept at the provider that a request names
 * ({@code ProviderState}), made or grown through the filter by requests that run no model, or named by a name the
 * filter does not read.
 *
 * <p>{@code ProviderState} adds to a request's hold what it saw the state the request names cost, "so a stream cut
 * before its usage is not charged without it"; docs/decisions.md ("State kept at the provider is read again"):
 * "State made through another instance, before a restart, or outside the filter (a conversation created with items
 * through an unprotected path) is not known until a call naming it completes". Its figures are learnt only from a
 * model call's final usage ({@code ProviderState.answered}, called from {@code Settlement} for a 2xx answer with
 * usage). State that requests running no model put there <i>through the protected path</i>, which the filter holds
 * and then releases, is never learnt:
 *
 * <ol>
 * <li><b>A Gemini context cache created through the filter</b> ({@code POST /v1beta/cachedContents}; its answer, the
 * {@code CachedContent} resource, carries the cache's size as {@code usageMetadata.totalTokenCount}, and the filter
 * charges that creation "as any call", docs/decisions.md) is not held when a call names it: Google's OpenAI
 * compatibility stream naming it ({@code extra_body.google.cached_content}, round 322's shape) cut before its usage
 * is charged without the cache.</li>
 * <li><b>An OpenAI conversation created with items, or given items</b> ({@code POST /v1/conversations} with
 * {@code items}; {@code POST /v1/conversations/{id}/items}: both released, docs/decisions.md "Answers that are
 * objects no model made") is held at nothing (or at its stale figure) when a Responses stream names it: cut before
 * {@code response.completed}, it is charged without the items the model read.</li>
 * <li><b>A Mistral agent's stored instructions</b> ({@code agent_id}, Mistral's stored template) are never learnt,
 * unlike OpenAI's stored {@code prompt}: after a completed call showed what the agent costs, a second call naming
 * the same agent, streamed and cut before its usage, is held and charged without the instructions.</li>
 * </ol>
 *
 * <p>Shapes, each from the provider's reference:
 * <ul>
 * <li>Gemini caching (ai.google.dev/api/caching, {@code cachedContents.create}):
 * {@code POST /v1beta/cachedContents} with {@code {"model": "models/…", "contents": [...], "systemInstruction":
 * {...}, "ttl": "300s"}}, answered with the {@code CachedContent}: {@code name} ({@code cachedContents/…}),
 * {@code model}, {@code createTime}, {@code updateTime}, {@code expireTime}, {@code displayName},
 * {@code usageMetadata.totalTokenCount}. {@code GenerateContentResponse} (ai.google.dev/api/generate-content) with
 * {@code usageMetadata.cachedContentTokenCount}. The compatibility endpoint
 * (ai.google.dev/gemini-api/docs/openai, "extra_body") streams OpenAI's {@code chat.completion.chunk}.</li>
 * <li>OpenAI Conversations (platform.openai.com/docs/api-reference/conversations): create
 * {@code POST /v1/conversations} {@code {"metadata": {...}, "items": [{"type": "message", "role": "user",
 * "content": "…"}]}} (up to 20 items) answered {@code {"id": "conv_…", "object": "conversation", "created_at": …,
 * "metadata": {...}}}; create items {@code POST /v1/conversations/{conversation_id}/items} {@code {"items": [...]}}
 * answered with {@code {"object": "list", "data": [...], "first_id", "last_id", "has_more"}}; a Response in a
 * conversation ({@code "conversation": "conv_…"}, platform.openai.com/docs/api-reference/responses/create)
 * streamed as {@code response.created}, {@code response.output_text.delta}, ..., {@code response.completed}
 * (platform.openai.com/docs/api-reference/responses-streaming); the model reads the conversation's items as
 * input ("Items from this conversation are prepended to input_items for this response request").</li>
 * <li>Mistral agents (docs.mistral.ai/api, "Agents": {@code POST /v1/agents} creates an agent with {@code model},
 * {@code name}, {@code instructions}; {@code POST /v1/agents/completions} "Agents Completion" takes
 * {@code agent_id}, {@code messages}, {@code stream}; client-python {@code mistral.agents.complete(agent_id=…,
 * messages=…)} and {@code .stream(...)}); the answer a {@code chat.completion} with {@code usage}
 * ({@code prompt_tokens}, {@code completion_tokens}, {@code total_tokens}), streamed as
 * {@code chat.completion.chunk}s, the last with {@code usage}, then {@code data: [DONE]}. OpenAI's stored prompt,
 * the control: {@code "prompt": {"id": "pmpt_…", "version": "2"}} (platform.openai.com/docs/api-reference/responses/create).</li>
 * </ul>
 */
abstract class AbstractRound327 extends ModelCallRound {
    static final ObjectMapper JSON = new ObjectMapper();

    static final String GEMINI = "/ai/v1beta";
    static final String NATIVE = GEMINI + "/models/gemini-2.5-flash:generateContent";
    static final String COMPAT = GEMINI + "/openai/chat/completions";
    static final String OPENAI = "/ai/openai/v1";
    static final String MISTRAL = "/ai/mistral/v1/agents/completions";

    /** The question every call asks, and what the mock providers count it as. */
    static final String QUESTION = "Summarize the committee's quarterly findings";
    static final long QUESTION_TOKENS = 8;
    static final long OUTPUT = 60;

    /** The cached transcript: Gemini's count of it, and its text (Prose: about 4.5 characters a token). */
    static final long CACHED = 6_000;
    static final String TRANSCRIPT = Prose.english(27_000);

    /**
     * The items a conversation is given: OpenAI's count of them, and their text. (Fix of round 327: this prose
     * reads about 6.6 characters an o200k token, not Prose's 4.5; jtokkit 1.1.0's o200k_base counts 4,107 tokens in
     * its first 27,000 characters and 6,009 in these 39,500, so the mock's 6,000 is what OpenAI would count of them.
     * The filter can hold items no call has reported only as it estimates them.)
     */
    static final long ITEMS = 6_000;
    static final String ITEMS_TEXT = Prose.english(39_500);

    /** A Mistral agent's instructions (and OpenAI's stored prompt, the control): what the model reads of them. */
    static final long TEMPLATE = 8_000;
    static final String AGENT = "ag_0198a1f2c3d47e6f8a9b0c1d2e3f4a5b";
    static final String PROMPT_ID = "pmpt_68a1b2c3d4e5f60718293a4b5c6d7e8f0a1b2c3d4e5f6071";

    /** The answer's words, the last of them the one the cutting client waits for. */
    static final String ANSWER = ("The committee found revenue grew in every region while logistics costs rose. ")
            .repeat(2) + "Finally.";

    final HangUps hangUps = new HangUps();
    /** Subjects whose client hangs up before the stream's usage. */
    final Set<String> cutting = ConcurrentHashMap.newKeySet();
    /** What each OpenAI conversation holds, by the provider's count. */
    final Map<String, Long> conversations = new ConcurrentHashMap<>();

    @Override
    protected Deployment deploy(QuotaFilter filter) {
        return filteredByServletName(filter)
                .servlet("gemini", new Gemini(), "/ai/v1beta/*")
                .servlet("openai", new OpenAi(), "/ai/openai/*")
                .servlet("mistral", new Mistral(), "/ai/mistral/*");
    }

    // ------------------------------------------------------------------ the providers

    /** Writes the words of {@link #ANSWER} as {@code chunk(word)} events, then the tail (or, cut, not). */
    void stream(String s, OutputStream out, java.util.function.Function<String, String> chunk, String filler, String tail)
            throws IOException {
        // read before the words go out: the client removes itself from cutting once it has hung up
        boolean cut = cutting.contains(s);
        for (String word : ANSWER.split(" ")) {
            EventStreams.write(out, chunk.apply(word + " "));
        }
        if (cut) {
            hangUps.relayUntilGone(s, out, filler, tail);
        } else {
            EventStreams.write(out, tail);
        }
    }

    /**
     * Gemini: a context cache created ({@code POST …/cachedContents}, answered with its resource and size), the
     * native {@code :generateContent} answered whole, the OpenAI compatibility endpoint streamed chunk by chunk.
     */
    class Gemini extends HttpServlet {
        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            JsonNode body = JSON.readTree(req.getInputStream());
            String s = req.getHeader("x-user-id");
            String uri = req.getRequestURI();
            resp.setContentType("application/json");
            if (uri.endsWith("/cachedContents")) {
                assertTrue(body.path("contents").toString().contains("committee"));
                resp.getWriter().write("{\"name\":\"" + cache(s) + "\",\"model\":\"models/gemini-2.5-flash\","
                        + "\"createTime\":\"2026-03-02T10:00:00.000000Z\",\"updateTime\":\"2026-03-02T10:00:00.000000Z\","
                        + "\"expireTime\":\"2026-03-02T10:05:00.000000Z\",\"displayName\":\"\","
                        + "\"usageMetadata\":{\"totalTokenCount\":" + CACHED + "}}");
                return;
            }
            calls.count(s);
            long prompt = CACHED + QUESTION_TOKENS;
            if (uri.endsWith(":generateContent")) {
                resp.getWriter().write("{\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"" + ANSWER + "\"}],"
                        + "\"role\":\"model\"},\"finishReason\":\"STOP\",\"index\":0}],\"usageMetadata\":{"
                        + "\"promptTokenCount\":" + prompt + ",\"candidatesTokenCount\":" + OUTPUT + ","
                        + "\"totalTokenCount\":" + (prompt + OUTPUT) + ",\"cachedContentTokenCount\":" + CACHED + "},"
                        + "\"modelVersion\":\"gemini-2.5-flash\",\"responseId\":\"mKdHaP7aKcn2z7IPkoWW4Q8\"}");
                return;
            }
            resp.setContentType("text/event-stream");
            String head = "{\"id\":\"nKdHaJ3NKqP1z7IP3vq9mQk\",\"object\":\"chat.completion.chunk\",\"created\":1750000000,"
                    + "\"model\":\"gemini-2.5-flash\",";
            stream(s, resp.getOutputStream(), word -> "data: " + head + "\"choices\":[{\"index\":0,\"delta\":{\"role\":"
                            + "\"assistant\",\"content\":\"" + word + "\"}}]}\n\n", ": keep-alive\n\n",
                    "data: " + head + "\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}],"
                            + "\"usage\":{\"prompt_tokens\":" + prompt + ",\"completion_tokens\":" + OUTPUT
                            + ",\"total_tokens\":" + (prompt + OUTPUT) + "}}\n\ndata: [DONE]\n\n");
        }
    }

    static String cache(String s) {
        return "cachedContents/" + s.replace("-", "") + "0000aaaa1111bbbb";
    }

    /**
     * OpenAI's Conversations and Responses APIs, with the conversation's items kept at the provider: a conversation
     * created (with or without items), items added to it, and a Response in it (the model reads its items, a
     * stored prompt's template, and the request's input) that stores its input and output in it.
     */
    class OpenAi extends HttpServlet {
        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            JsonNode body = JSON.readTree(req.getInputStream());
            String s = req.getHeader("x-user-id");
            String path = req.getPathInfo();
            resp.setContentType("application/json");
            String conv = "conv_" + s.replace("-", "") + "a1b2c3d4e5f6";
            if (path.equals("/v1/conversations")) {
                conversations.put(conv, body.path("items").isArray() && !body.path("items").isEmpty() ? ITEMS : 0L);
                resp.getWriter().write("{\"id\":\"" + conv + "\",\"object\":\"conversation\",\"created_at\":1772445600,"
                        + "\"metadata\":{\"topic\":\"q3-report\"}}");
                return;
            }
            if (path.endsWith("/items")) {
                conversations.merge(conv, ITEMS, Long::sum);
                resp.getWriter().write("{\"object\":\"list\",\"data\":[{\"type\":\"message\",\"id\":\"msg_0327a\","
                        + "\"status\":\"completed\",\"role\":\"user\",\"content\":[{\"type\":\"input_text\",\"text\":"
                        + "\"(the committee's minutes)\"}]}],\"first_id\":\"msg_0327a\",\"last_id\":\"msg_0327a\","
                        + "\"has_more\":false}");
                return;
            }
            calls.count(s);
            String named = body.path("conversation").asText(null);
            long read = (named == null ? 0 : conversations.getOrDefault(named, 0L))
                    + (body.has("prompt") ? TEMPLATE : 0)
                    + (body.path("input").asText("").length() > 1_000 ? ITEMS : QUESTION_TOKENS);
            if (named != null) {
                conversations.put(named, read + OUTPUT);
            }
            String rid = "resp_0327" + s.replace("-", "") + calls.of(s);
            String usage = "{\"input_tokens\":" + read + ",\"input_tokens_details\":{\"cached_tokens\":0},"
                    + "\"output_tokens\":" + OUTPUT + ",\"output_tokens_details\":{\"reasoning_tokens\":0},"
                    + "\"total_tokens\":" + (read + OUTPUT) + "}";
            String fields = named == null ? "" : "\"conversation\":{\"id\":\"" + named + "\"},";
            String done = ResponsesApi.response(rid, "completed", fields, "gpt-4.1-2025-04-14", usage, ANSWER);
            if (!body.path("stream").asBoolean(false)) {
                resp.getWriter().write(done);
                return;
            }
            resp.setContentType("text/event-stream");
            OutputStream out = resp.getOutputStream();
            EventStreams.write(out, EventStreams.event("response.created", "{\"type\":\"response.created\","
                    + "\"sequence_number\":0,\"response\":" + ResponsesApi.response(rid, "in_progress", fields,
                    "gpt-4.1-2025-04-14", "null", null) + "}"));
            int[] seq = {1};
            stream(s, out, word -> EventStreams.event("response.output_text.delta", "{\"type\":"
                            + "\"response.output_text.delta\",\"sequence_number\":" + seq[0]++ + ",\"item_id\":\"msg_"
                            + rid + "\",\"output_index\":0,\"content_index\":0,\"delta\":\"" + word + "\",\"logprobs\":[]}"),
                    ": keep-alive\n\n", EventStreams.event("response.completed", "{\"type\":\"response.completed\","
                            + "\"sequence_number\":" + seq[0] + ",\"response\":" + done + "}"));
        }
    }

    /** Mistral's Agents Completion: the model reads the agent's stored instructions, then the messages. */
    class Mistral extends HttpServlet {
        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            JsonNode body = JSON.readTree(req.getInputStream());
            String s = req.getHeader("x-user-id");
            calls.count(s);
            assertEquals(AGENT, body.path("agent_id").asText());
            long prompt = TEMPLATE + QUESTION_TOKENS;
            String head = "{\"id\":\"cmpl-0327" + s.replace("-", "") + calls.of(s) + "\",\"object\":\"chat.completion.chunk\","
                    + "\"created\":1772445600,\"model\":\"mistral-medium-latest\",";
            String usage = "\"usage\":{\"prompt_tokens\":" + prompt + ",\"completion_tokens\":" + OUTPUT
                    + ",\"total_tokens\":" + (prompt + OUTPUT) + "}";
            if (!body.path("stream").asBoolean(false)) {
                resp.setContentType("application/json");
                resp.getWriter().write("{\"id\":\"cmpl-0327" + s.replace("-", "") + "\",\"object\":\"chat.completion\","
                        + "\"created\":1772445600,\"model\":\"mistral-medium-latest\",\"choices\":[{\"index\":0,"
                        + "\"message\":{\"role\":\"assistant\",\"content\":\"" + ANSWER + "\",\"tool_calls\":null},"
                        + "\"finish_reason\":\"stop\"}]," + usage + "}");
                return;
            }
            resp.setContentType("text/event-stream");
            stream(s, resp.getOutputStream(), word -> "data: " + head + "\"choices\":[{\"index\":0,\"delta\":{"
                            + "\"content\":\"" + word + "\"},\"finish_reason\":null}]}\n\n", ": keep-alive\n\n",
                    "data: " + head + "\"choices\":[{\"index\":0,\"delta\":{\"content\":\"\"},\"finish_reason\":\"stop\"}],"
                            + usage + "}\n\ndata: [DONE]\n\n");
        }
    }

    // ------------------------------------------------------------------ helpers

    /** Posts {@code body} as {@code s}, hangs up once the answer's last word is read: what was charged for it. */
    long cutCall(String s, String path, String body) throws IOException {
        long before = settled(s).used();
        int callsBefore = calls.of(s);
        cutting.add(s);
        try {
            String seen = hangUps.postAndHangUpAfter(container.port(), path, s, body, "Finally.");
            assertTrue(seen.startsWith("HTTP/1.1 200"), kind() + ": " + seen.lines().findFirst().orElse("") + "; " + ledger(s));
        } finally {
            cutting.remove(s);
        }
        assertEquals(callsBefore + 1, calls.of(s), "one model call");
        return settled(s).used() - before;
    }

    HttpResponse<String> post(String path, String s, String body) {
        HttpResponse<String> r = TestHttp.postJson(container.uri(path), s, body);
        assertEquals(200, r.statusCode(), kind() + ": " + r.body() + "; " + ledger(s));
        return r;
    }

    // ------------------------------------------------------------------ 1. a Gemini cache created through the filter

    static String createCache() {
        return "{\"model\":\"models/gemini-2.5-flash\",\"contents\":[{\"parts\":[{\"text\":\"" + TRANSCRIPT + "\"}],"
                + "\"role\":\"user\"}],\"systemInstruction\":{\"parts\":[{\"text\":\"You are an expert at analyzing"
                + " transcripts.\"}]},\"ttl\":\"300s\"}";
    }

    static String compatStream(String cache) {
        return "{\"model\":\"gemini-2.5-flash\",\"n\":1,\"messages\":[{\"role\":\"user\",\"content\":\"" + QUESTION
                + "\"}],\"stream\":true,\"stream_options\":{\"include_usage\":true},"
                + "\"extra_body\":{\"google\":{\"cached_content\":\"" + cache + "\"}}}";
    }

    /**
     * Finding: the cache is created through the filter, whose answer says it holds 6,000 tokens (and the filter
     * charges the creation that figure); the first call naming it (Google's compatibility stream, cut after the
     * answer's last word, before the usage chunk) is held and charged without it. The model read the 6,000 cached
     * tokens (6,008 prompt tokens); the filter saw the cache's size and did not hold it.
     */
    @Test
    void aCompatStreamNamingACacheCreatedThroughTheFilterCutBeforeItsUsageIsChargedTheCache() throws IOException {
        String s = subject();
        post(GEMINI + "/cachedContents", s, createCache());
        long created = settled(s).used();
        long cut = cutCall(s, COMPAT, compatStream(cache(s)));
        assertTrue(cut >= CACHED + QUESTION_TOKENS, kind() + ": the cache " + cache(s) + " was created through the filter"
                + " (its answer: usageMetadata.totalTokenCount " + CACHED + "; the creation charged " + created + "); the"
                + " compatibility stream naming it (the model read " + (CACHED + QUESTION_TOKENS) + " prompt tokens) was"
                + " cut before its usage and charged " + cut + "; " + ledger(s));
    }

    /**
     * Control: the same cache, once a native call naming it completed (its {@code cachedContentTokenCount} learnt):
     * the same cut compatibility stream is charged the cache.
     */
    @Test
    void controlTheSameCutStreamAfterANativeCallIsChargedTheCache() throws IOException {
        String s = subject();
        post(NATIVE, s, "{\"cachedContent\":\"" + cache(s) + "\",\"contents\":[{\"role\":\"user\",\"parts\":[{\"text\":\""
                + QUESTION + "\"}]}]}");
        assertEquals(CACHED + QUESTION_TOKENS + OUTPUT, settled(s).used(), kind() + ": " + ledger(s));
        long cut = cutCall(s, COMPAT, compatStream(cache(s)));
        assertTrue(cut >= CACHED + QUESTION_TOKENS, kind() + ": charged " + cut + "; " + ledger(s));
    }

    // ------------------------------------------------------------------ 2. an OpenAI conversation given items

    static String responseIn(String conv, String input, boolean stream) {
        return "{\"model\":\"gpt-4.1\",\"conversation\":\"" + conv + "\",\"input\":\"" + input + "\""
                + (stream ? ",\"stream\":true" : "") + "}";
    }

    static String items() {
        return "[{\"type\":\"message\",\"role\":\"user\",\"content\":[{\"type\":\"input_text\",\"text\":\"" + ITEMS_TEXT
                + "\"}]}]";
    }

    /** The conversation {@code s}'s OpenAI mock names. */
    static String conv(String s) {
        return "conv_" + s.replace("-", "") + "a1b2c3d4e5f6";
    }

    /**
     * Finding: a conversation created with its items ({@code conversations.create(items=[…])}, 6,000 tokens), its
     * creation released (no model ran); a Responses stream in it, cut before {@code response.completed}: the model
     * read the 6,000 tokens of items and the question, the filter held and charged its own input and output budget.
     */
    @Test
    void aStreamInAConversationCreatedWithItemsCutBeforeItsUsageIsChargedTheItems() throws IOException {
        String s = subject();
        post(OPENAI + "/conversations", s, "{\"metadata\":{\"topic\":\"q3-report\"},\"items\":" + items() + "}");
        assertEquals(0, settled(s).used(), kind() + ": the creation (no model): " + ledger(s));
        long cut = cutCall(s, OPENAI + "/responses", responseIn(conv(s), QUESTION, true));
        assertTrue(cut >= ITEMS + QUESTION_TOKENS, kind() + ": the conversation was created through the filter with "
                + ITEMS + " tokens of items; a Responses stream in it (the model read " + (ITEMS + QUESTION_TOKENS)
                + " input tokens) was cut before response.completed and charged " + cut + "; " + ledger(s));
    }

    /**
     * Finding: a conversation the filter knows (a completed turn: 8 + 60 tokens), then given 6,000 tokens of items
     * ({@code conversations.items.create}: released); a Responses stream in it cut before its usage is held at the
     * stale figure and charged without the items.
     */
    @Test
    void aStreamInAConversationGivenItemsCutBeforeItsUsageIsChargedTheItems() throws IOException {
        String s = subject();
        post(OPENAI + "/conversations", s, "{\"metadata\":{\"topic\":\"q3-report\"}}");
        post(OPENAI + "/responses", s, responseIn(conv(s), QUESTION, false));
        long first = settled(s).used();
        assertEquals(QUESTION_TOKENS + OUTPUT, first, kind() + ": " + ledger(s));
        post(OPENAI + "/conversations/" + conv(s) + "/items", s, "{\"items\":" + items() + "}");
        assertEquals(first, settled(s).used(), kind() + ": items added (no model): " + ledger(s));
        long cut = cutCall(s, OPENAI + "/responses", responseIn(conv(s), QUESTION, true));
        long read = first + ITEMS + QUESTION_TOKENS;
        assertTrue(cut >= read, kind() + ": " + ITEMS + " tokens of items were added through the filter to a"
                + " conversation it knew at " + first + "; a Responses stream in it (the model read " + read
                + " input tokens) was cut before response.completed and charged " + cut + "; " + ledger(s));
    }

    /**
     * Control: the same 6,000 tokens put into the conversation by a completed Response (its input): the same cut
     * stream in it is held and charged them.
     */
    @Test
    void controlAStreamInAConversationAModelCallFilledIsChargedItsItems() throws IOException {
        String s = subject();
        post(OPENAI + "/conversations", s, "{\"metadata\":{\"topic\":\"q3-report\"}}");
        post(OPENAI + "/responses", s, responseIn(conv(s), ITEMS_TEXT, false));
        assertEquals(ITEMS + OUTPUT, settled(s).used(), kind() + ": " + ledger(s));
        long cut = cutCall(s, OPENAI + "/responses", responseIn(conv(s), QUESTION, true));
        assertTrue(cut >= ITEMS + QUESTION_TOKENS, kind() + ": charged " + cut + "; " + ledger(s));
    }

    // ------------------------------------------------------------------ 3. a Mistral agent's stored instructions

    static String agentCall(boolean stream) {
        return "{\"agent_id\":\"" + AGENT + "\",\"messages\":[{\"role\":\"user\",\"content\":\"" + QUESTION + "\"}]"
                + (stream ? ",\"stream\":true" : "") + "}";
    }

    /**
     * Finding: a completed Agents Completion showed the agent costs 8,000 tokens above the question (8,068 charged);
     * a second one naming the same {@code agent_id}, streamed and cut before its usage chunk, is held and charged
     * without the agent's instructions (the model read 8,008 prompt tokens).
     */
    @Test
    void aSecondAgentCallCutBeforeItsUsageIsChargedTheAgentsInstructions() throws IOException {
        String s = subject();
        post(MISTRAL, s, agentCall(false));
        long first = settled(s).used();
        assertEquals(TEMPLATE + QUESTION_TOKENS + OUTPUT, first, kind() + ": " + ledger(s));
        long cut = cutCall(s, MISTRAL, agentCall(true));
        assertTrue(cut >= TEMPLATE + QUESTION_TOKENS, kind() + ": the first call naming agent " + AGENT
                + " showed it reads " + TEMPLATE + " tokens of stored instructions; the second, streamed (the model read "
                + (TEMPLATE + QUESTION_TOKENS) + " prompt tokens), was cut before its usage and charged " + cut + "; "
                + ledger(s));
    }

    /**
     * Control: OpenAI's stored prompt, the same template named by {@code prompt.id}: after a completed call, the
     * same cut stream is held and charged the template.
     */
    @Test
    void controlASecondStoredPromptCallCutBeforeItsUsageIsChargedTheTemplate() throws IOException {
        String s = subject();
        String prompt = "\"prompt\":{\"id\":\"" + PROMPT_ID + "\",\"version\":\"2\"}";
        post(OPENAI + "/responses", s, "{\"model\":\"gpt-4.1\"," + prompt + ",\"input\":\"" + QUESTION + "\"}");
        assertEquals(TEMPLATE + QUESTION_TOKENS + OUTPUT, settled(s).used(), kind() + ": " + ledger(s));
        long cut = cutCall(s, OPENAI + "/responses", "{\"model\":\"gpt-4.1\"," + prompt + ",\"input\":\"" + QUESTION
                + "\",\"stream\":true}");
        assertTrue(cut >= TEMPLATE + QUESTION_TOKENS, kind() + ": charged " + cut + "; " + ledger(s));
    }
}
