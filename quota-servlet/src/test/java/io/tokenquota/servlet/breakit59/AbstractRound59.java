package io.tokenquota.servlet.breakit59;

import static io.tokenquota.servlet.testing.MediaBytes.box;
import static io.tokenquota.servlet.testing.MediaBytes.cat;
import static io.tokenquota.servlet.testing.MediaBytes.u32;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.tokenquota.servlet.QuotaFilter;
import io.tokenquota.servlet.testing.ChatCompletions;
import io.tokenquota.servlet.testing.Deployment;
import io.tokenquota.servlet.testing.H2FilterRound;
import io.tokenquota.servlet.testing.ResponsesApi;
import io.tokenquota.servlet.testing.TestHttp;
import io.tokenquota.servlet.testing.Transcriptions;
import jakarta.servlet.http.HttpServlet;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.Test;

/**
 * Round 59 of issue 11: the provider state the filter remembers by id (stored Responses, conversations,
 * stored prompts), attacked from both sides: figures another subject's call makes wrong, names the
 * reader misses, and an honest multi-turn chat with a reasoning model.
 */
abstract class AbstractRound59 extends H2FilterRound {
    static final ObjectMapper JSON = new ObjectMapper();

    static String subject() {
        return "u59-" + UUID.randomUUID().toString().substring(0, 12);
    }

    @Override
    protected Deployment deploy(QuotaFilter filter) {
        return Deployment.create()
                .filter("quota", filter, "/ai/*")
                .servlet("models", new Models(), "/ai/*")
                .multipartServlet("audio", new Transcriptions.PlainText(), Transcriptions.upTo4Mb(), "/ai/v1/audio/*")
                .servlet("suggest", new Suggest(), "/ai/v1/suggest");
    }

    /**
     * A search-suggestion endpoint, {@code GET /ai/v1/suggest?q=…}: it asks the model for suggestions
     * (reading the user's 40-document library as context) and answers the list, or, when the model
     * found none, {@code 204 No Content}, the REST convention for an empty result.
     */
    public static class Suggest extends HttpServlet {
        static final AtomicLong MODEL_CALLS = new AtomicLong();

        @Override
        protected void doGet(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            MODEL_CALLS.incrementAndGet();
            String q = req.getParameter("q");
            boolean none = q == null || q.contains("zzqx");
            if (none) {
                resp.setStatus(204);
                return;
            }
            resp.setContentType("application/json");
            resp.getOutputStream().write("{\"suggestions\":[\"quarterly figures\"]}".getBytes(StandardCharsets.UTF_8));
        }
    }

    /**
     * Mock OpenAI Responses API with the state OpenAI keeps: stored Responses, conversations, stored
     * prompt templates and uploaded files. What a later call reads of a stored Response or a
     * conversation is its input and its visible output: a reasoning model's reasoning tokens are
     * billed as output of the turn that produced them and dropped from the context of later turns
     * (OpenAI's reasoning guide, "Managing the context window"). An uploaded file ({@code input_file}
     * with a {@code file_id}) is read as its tokens. An image by URL costs gpt-4o's 255 (a 512x512
     * image: 85 + 170 for its one tile). The request is parsed as JSON parsers do (escapes decoded, the
     * last of a repeated member wins).
     */
    public static class Models extends HttpServlet {
        static final Map<String, Long> CONVERSATIONS = new ConcurrentHashMap<>();
        static final Map<String, Long> PROMPTS = new ConcurrentHashMap<>();
        static final Map<String, Long> FILES = new ConcurrentHashMap<>();
        static final Map<String, Long> STORED = new ConcurrentHashMap<>();
        static final AtomicLong IDS = new AtomicLong();
        /** Every Response as a completed poll reads it back: {@code GET /v1/responses/{id}}. */
        static final Map<String, String> RESPONSES = new ConcurrentHashMap<>();

        /**
         * {@code GET /v1/responses/{id}}: reads back a stored Response (OpenAI's background mode polls
         * it). No model runs, so the handler reports 0 through {@link QuotaFilter#ACTUAL_TOKENS_ATTRIBUTE},
         * as docs/decisions.md ("Jobs the provider runs on its own are charged where their usage is read") allows.
         */
        @Override
        protected void doGet(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            String path = req.getPathInfo() == null ? "" : req.getPathInfo();
            String id = path.substring(path.lastIndexOf('/') + 1);
            String stored = path.startsWith("/v1/responses/") ? RESPONSES.get(id) : null;
            if (stored == null) {
                resp.sendError(404);
                return;
            }
            req.setAttribute(QuotaFilter.ACTUAL_TOKENS_ATTRIBUTE, 0L);
            resp.setContentType("application/json");
            resp.getOutputStream().write(stored.getBytes(StandardCharsets.UTF_8));
        }

        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            String path = req.getPathInfo() == null ? "" : req.getPathInfo();
            byte[] bytes = req.getInputStream().readAllBytes();
            if (path.endsWith("/v1/lenient/responses")) {
                // a relay that reads its clients' JSON leniently (Gson's default fromJson, a JSON5 reader)
                // and sends OpenAI the strict JSON it parsed
                responses(resp, LENIENT.readTree(bytes));
                return;
            }
            JsonNode body = JSON.readTree(bytes);
            if (path.endsWith("/v1/responses")) {
                responses(resp, body);
            } else if (path.endsWith("/v1/chat/completions")) {
                chat(resp, body);
            } else {
                resp.sendError(404);
            }
        }

        static final ObjectMapper LENIENT = new ObjectMapper(com.fasterxml.jackson.core.JsonFactory.builder()
                .enable(com.fasterxml.jackson.core.json.JsonReadFeature.ALLOW_TRAILING_COMMA,
                        com.fasterxml.jackson.core.json.JsonReadFeature.ALLOW_JAVA_COMMENTS).build());

        /**
         * Chat completions streamed with {@code include_usage}, the usage chunk last. An image by URL
         * is a 1024x2730 screenshot: gpt-4o bills it 1,445 with {@code detail} high or auto (85 + 170
         * per 512-pixel tile, 2x4 tiles), 85 with low. The detail is read as JSON parsers read a
         * repeated member: the last wins.
         */
        private void chat(HttpServletResponse resp, JsonNode body) throws IOException {
            long input = 20;
            for (JsonNode message : body.path("messages")) {
                for (JsonNode part : message.path("content")) {
                    if ("image_url".equals(part.path("type").asText())) {
                        input += "low".equals(part.path("image_url").path("detail").asText()) ? 85 : 1_445;
                    }
                }
            }
            ChatCompletions.streamWordsWithUsage(resp, "chatcmpl-59", input);
        }

        private static String conversationOf(JsonNode body) {
            JsonNode c = body.path("conversation");
            return c.isTextual() ? c.asText() : c.path("id").asText(null);
        }

        /** The tokens of the request's own input: its text (4 characters a token), files and images. */
        private static long own(JsonNode body) {
            long tokens = body.path("input").isTextual() ? body.path("input").asText().length() / 4 : 0;
            for (JsonNode item : body.path("input")) {
                for (JsonNode part : item.path("content")) {
                    switch (part.path("type").asText()) {
                        case "input_text" -> tokens += part.path("text").asText().length() / 4;
                        case "input_file" -> tokens += FILES.getOrDefault(part.path("file_id").asText(), 0L);
                        case "input_image" -> tokens += 255;
                        default -> { }
                    }
                }
            }
            return tokens;
        }

        private void responses(HttpServletResponse resp, JsonNode body) throws IOException {
            String id = "resp_59" + IDS.incrementAndGet();
            String conversation = conversationOf(body);
            String prompt = body.path("prompt").path("id").asText(null);
            long history = conversation == null ? 0 : CONVERSATIONS.getOrDefault(conversation, 0L);
            history += STORED.getOrDefault(body.path("previous_response_id").asText(""), 0L);
            long template = prompt == null ? 0 : PROMPTS.getOrDefault(prompt, 0L);
            // instructions are read by this call only: "when used along with previous_response_id, the
            // instructions from a previous response will not be carried over to the next response" (OpenAI)
            long instructions = body.path("instructions").asText("").length() / 4;
            long input = history + template + instructions + own(body);
            long visible = 40;
            String effort = body.path("reasoning").path("effort").asText("");
            long reasoning = "high".equals(effort) ? 11_800 : 0;
            if ("high".equals(effort)) {
                visible = 200;
            }
            long output = visible + reasoning;
            String usage = "{\"input_tokens\":" + input + ",\"input_tokens_details\":{\"cached_tokens\":0},"
                    + "\"output_tokens\":" + output + ",\"output_tokens_details\":{\"reasoning_tokens\":" + reasoning
                    + "},\"total_tokens\":" + (input + output) + "}";
            // what a later turn reads again: this turn's input (less the template) and its visible output
            if (conversation != null) {
                CONVERSATIONS.put(conversation, input - template - instructions + visible);
            }
            if (body.path("store").asBoolean(true)) {
                STORED.put(id, input - template - instructions + visible);
            }
            String model = body.path("model").asText("gpt-4o");
            RESPONSES.put(id, response(id, model, "completed", usage, "Noted."));
            if (!body.path("stream").asBoolean(false)) {
                resp.setContentType("application/json");
                resp.getOutputStream().write(response(id, model, "completed", usage, "Noted.").getBytes(StandardCharsets.UTF_8));
                return;
            }
            ResponsesApi.streamWords(resp, id, response(id, model, "in_progress", "null", null),
                    response(id, model, "completed", usage, "word"));
        }

        private static String response(String id, String model, String status, String usage, String text) {
            return ResponsesApi.response(id, status, "", model, usage, text);
        }
    }

    /** {@link TestHttp#postAndHangUpAfter} on this round's container. */
    String postAndHangUpAfter(String path, String subject, String body, String until) throws IOException {
        return TestHttp.postAndHangUpAfter(container.port(), path, subject, body, until);
    }

    static final String NOTES = "The quarterly ledger lists every invoice by customer and contract clause. ".repeat(440);

    /** One call that stores an 8,000-token Response; its id. */
    String storeLongResponse(String owner, String extra) throws IOException {
        HttpResponse<String> first = TestHttp.postJson(container.uri("/ai/v1/responses"), owner, "{\"model\":\"gpt-4o\","
                + extra + "\"input\":" + JSON.valueToTree(NOTES) + ",\"max_output_tokens\":64}");
        assertTrue(first.statusCode() == 200, first.body());
        assertTrue(settled(owner).used() > 7_000, "the first call is charged its usage: " + ledger(owner));
        return JSON.readTree(first.body()).path("id").asText();
    }

    // ------------------------------------------------------------------ 1. honest: a reasoning model's chat

    /**
     * An honest two-turn chat with a reasoning model through {@code previous_response_id}. Turn 1
     * thinks hard: 11,800 reasoning tokens and 200 of answer, charged 12,020 of the 20,000 allowance.
     * OpenAI drops a turn's reasoning from the context of later turns (billed once, as output of the
     * turn that made it), so turn 2 makes the model read ~225 tokens of history plus its own words and
     * may write 2,000: at most ~2,230 tokens, within the 7,980 left. The filter remembered the stored
     * Response at its whole usage, reasoning included (ProviderState.answered: total), holds turn 2 at
     * 12,020 + 2,000 and refuses it with 429.
     */
    @Test
    void aReasoningModelsSecondTurnIsNotHeldAtTheFirstTurnsReasoning() throws IOException {
        String s = subject();
        HttpResponse<String> first = TestHttp.postJson(container.uri("/ai/v1/responses"), s, "{\"model\":\"o4-mini\","
                + "\"reasoning\":{\"effort\":\"high\"},\"input\":\"Prove that there are infinitely many primes.\","
                + "\"max_output_tokens\":16000}");
        assertTrue(first.statusCode() == 200, first.body());
        String previous = JSON.readTree(first.body()).path("id").asText();
        long firstCharge = settled(s).used();
        assertTrue(firstCharge > 12_000 && firstCharge < 12_100, "turn 1 is charged its usage: " + ledger(s));
        long reads = Models.STORED.get(previous);
        HttpResponse<String> second = TestHttp.postJson(container.uri("/ai/v1/responses"), s, "{\"model\":\"o4-mini\","
                + "\"previous_response_id\":\"" + previous + "\",\"input\":\"Now in two sentences.\",\"max_output_tokens\":2000}");
        assertTrue(second.statusCode() == 200, "turn 2 reads " + reads + " tokens of history and may write 2,000 ("
                + (reads + 2_005) + " at most) with " + (ALLOWANCE - firstCharge) + " left, and was answered "
                + second.statusCode() + " " + second.body());
    }

    // ------------------------------------------------------------------ 2. poisoning: a shared prompt's figure

    /**
     * An application's stored prompt ({@code pmpt_…}, a 600-token template) that every user's client
     * names. One user (hostile, or just a user summarising a report) names it with an uploaded 24,000-token
     * file ({@code input_file} by {@code file_id}, which the estimate counts at {@code mediaItemTokens}):
     * ProviderState.answered attributes all input above the request's estimate to the template, so the
     * prompt's figure becomes ~24,000. From then on every other user's call naming the prompt is held at
     * 24,000 more and refused on a 20,000 allowance, though OpenAI bills it ~650 tokens.
     */
    @Test
    void anotherUsersUploadedFileDoesNotBecomeTheSharedPromptsCost() throws IOException {
        String prompt = "pmpt_59" + UUID.randomUUID().toString().replace("-", "");
        Models.PROMPTS.put(prompt, 600L);
        String file = "file-59" + UUID.randomUUID().toString().replace("-", "");
        Models.FILES.put(file, 24_000L);
        String uploader = subject();
        HttpResponse<String> withFile = TestHttp.postJson(container.uri("/ai/v1/responses"), uploader, "{\"model\":\"gpt-4o\","
                + "\"prompt\":{\"id\":\"" + prompt + "\",\"version\":\"3\"},\"input\":[{\"role\":\"user\",\"content\":["
                + "{\"type\":\"input_file\",\"file_id\":\"" + file + "\"},{\"type\":\"input_text\",\"text\":\"Summarise.\"}]}],"
                + "\"max_output_tokens\":300}");
        assertTrue(withFile.statusCode() == 200, withFile.body());
        assertTrue(settled(uploader).used() > 24_000, "the call with the file is charged its usage: " + ledger(uploader));
        String victim = subject();
        HttpResponse<String> honest = TestHttp.postJson(container.uri("/ai/v1/responses"), victim, "{\"model\":\"gpt-4o\","
                + "\"prompt\":{\"id\":\"" + prompt + "\",\"version\":\"3\"},\"input\":\"Hello, what can you do?\","
                + "\"max_output_tokens\":300}");
        assertTrue(honest.statusCode() == 200, "a fresh user's call naming the 600-token shared prompt (billed ~650 + 300)"
                + " after another user's call with a 24,000-token file was answered " + honest.statusCode() + " "
                + honest.body());
    }

    // ------------------------------------------------------------------ 3. evasion: the prompt's figure reset to 0

    /**
     * The reverse: a stored prompt of 4,000 tokens is known to the filter from a completed call. Any
     * subject then names it once with four small images by URL (held at 1,600 each; gpt-4o bills a
     * 512x512 image 255): the model read 4,000 + 1,020 + text, the request's estimate was 6,400 + text,
     * and the prompt's figure is rewritten to max(0, 5,0xx - 6,4xx) = 0 (ProviderState.answered). The
     * next call naming the prompt, streamed and cut after the first words, is charged its own few words:
     * 4,000 tokens read for ~70. One such call resets a shared prompt for every user.
     */
    @Test
    void aPromptsFigureIsNotWipedByACallWithOverestimatedImages() throws IOException {
        String s = subject();
        String prompt = "pmpt_59" + UUID.randomUUID().toString().replace("-", "");
        Models.PROMPTS.put(prompt, 4_000L);
        HttpResponse<String> known = TestHttp.postJson(container.uri("/ai/v1/responses"), s, "{\"model\":\"gpt-4o\","
                + "\"prompt\":{\"id\":\"" + prompt + "\"},\"input\":\"Start.\",\"max_output_tokens\":64}");
        assertTrue(known.statusCode() == 200, known.body());
        assertTrue(settled(s).used() > 4_000, "the first call is charged its usage: " + ledger(s));
        String wiper = subject();
        StringBuilder images = new StringBuilder();
        for (int i = 0; i < 4; i++) {
            images.append("{\"type\":\"input_image\",\"image_url\":\"https://example.com/thumbs/").append(i).append(".png\"},");
        }
        HttpResponse<String> wipe = TestHttp.postJson(container.uri("/ai/v1/responses"), wiper, "{\"model\":\"gpt-4o\","
                + "\"prompt\":{\"id\":\"" + prompt + "\"},\"input\":[{\"role\":\"user\",\"content\":[" + images
                + "{\"type\":\"input_text\",\"text\":\"Tag these.\"}]}],\"max_output_tokens\":64}");
        assertTrue(wipe.statusCode() == 200, wipe.body());
        assertTrue(settled(wiper).used() > 5_000, "the call with the images is charged its usage: " + ledger(wiper));
        String cutter = subject();
        String seen = postAndHangUpAfter("/ai/v1/responses", cutter, "{\"model\":\"gpt-4o\",\"prompt\":{\"id\":\"" + prompt
                + "\"},\"input\":\"Next.\",\"max_output_tokens\":64,\"stream\":true}", "output_text.delta");
        assertTrue(seen.contains("word"), seen);
        long charged = settled(cutter).used();
        assertTrue(charged >= 4_000, "a call that made the model read the 4,000-token stored prompt, cut after the first"
                + " words, was charged " + charged + " (the prompt's figure was rewritten by a call with four image URLs): "
                + ledger(cutter));
    }

    // ------------------------------------------------------------------ 4. evasion: an escaped member name

    /**
     * JSON lets any character of a member name be written as a {@code \\u} escape, and every parser
     * (OpenAI's, Jackson, Python's json) reads {@code "previous\u005fresponse_id"} as
     * {@code previous_response_id}. ProviderState.Refs.of looks for the raw bytes of the names before
     * it parses, finds none, and reads no reference: the continuation of an 8,000-token stored
     * Response, cut after the first words, is charged its own four words.
     */
    @Test
    void anEscapedPreviousResponseIdIsStillAContinuation() throws IOException {
        String owner = subject();
        String previous = storeLongResponse(owner, "");
        long firstCharge = settled(owner).used();
        String seen = postAndHangUpAfter("/ai/v1/responses", owner, "{\"model\":\"gpt-4o\",\"previous\\u005fresponse_id\":\""
                + previous + "\",\"input\":\"And the totals?\",\"max_output_tokens\":64,\"stream\":true}", "output_text.delta");
        assertTrue(seen.contains("word"), seen);
        long second = settled(owner).used() - firstCharge;
        long context = Models.STORED.get(previous);
        assertTrue(second >= context, "the continuation of the stored " + context + "-token Response, its name escaped,"
                + " cut after the first words, was charged " + second + ": " + ledger(owner));
    }

    // ------------------------------------------------------------------ 5. evasion: store false, then true

    /**
     * A body that says {@code "store": false} and later {@code "store": true}: the provider, as every
     * JSON parser without duplicate detection, takes the last and stores the Response; Refs.of keeps
     * {@code stores = false} from the first and never resets it, so the stored Response's figure is not
     * remembered. Its continuation, cut after the first words, is charged its own words.
     */
    @Test
    void aRepeatedStoreMemberStoresWhatTheProviderStores() throws IOException {
        String owner = subject();
        String previous = storeLongResponse(owner, "\"store\":false,\"store\":true,");
        assertTrue(Models.STORED.containsKey(previous), "the provider stored the Response");
        long firstCharge = settled(owner).used();
        String seen = postAndHangUpAfter("/ai/v1/responses", owner, "{\"model\":\"gpt-4o\",\"previous_response_id\":\""
                + previous + "\",\"input\":\"And the totals?\",\"max_output_tokens\":64,\"stream\":true}", "output_text.delta");
        assertTrue(seen.contains("word"), seen);
        long second = settled(owner).used() - firstCharge;
        long context = Models.STORED.get(previous);
        assertTrue(second >= context, "the continuation of the stored " + context + "-token Response (stored by a body"
                + " saying store false, then true), cut after the first words, was charged " + second + ": " + ledger(owner));
    }

    // ------------------------------------------------------------------ 6. evasion: detail low, then high

    /**
     * Ten 1024x2730 screenshots by URL to gpt-4o, each saying {@code "detail": "low"} and then
     * {@code "detail": "high"} in its {@code image_url}: OpenAI, like any JSON parser without
     * duplicate detection, reads the last, high (1,445 tokens each, 14,450 in all). The estimator takes
     * any {@code "low"} it meets as low and holds 85 each. The stream (with {@code include_usage}) cut
     * after the first words is charged ~850 + the budget for 14,450 tokens of images read.
     */
    @Test
    void anImageSayingLowThenHighIsHeldAsHigh() throws IOException {
        String s = subject();
        StringBuilder parts = new StringBuilder("{\"type\":\"text\",\"text\":\"Compare the screens.\"}");
        for (int i = 0; i < 10; i++) {
            parts.append(",{\"type\":\"image_url\",\"image_url\":{\"url\":\"https://example.com/screens/").append(i)
                    .append(".png\",\"detail\":\"low\",\"detail\":\"high\"}}");
        }
        String seen = postAndHangUpAfter("/ai/v1/chat/completions", s, "{\"model\":\"gpt-4o\",\"max_tokens\":200,"
                + "\"stream\":true,\"stream_options\":{\"include_usage\":true},\"messages\":[{\"role\":\"user\","
                + "\"content\":[" + parts + "]}]}", "word");
        assertTrue(seen.contains("word"), seen);
        long charged = settled(s).used();
        assertTrue(charged >= 10 * 1_445L, "ten high-detail images (each saying low, then high; 1,445 tokens each to"
                + " gpt-4o) in a stream cut after the first words were charged " + charged + ": " + ledger(s));
    }

    // ------------------------------------------------------------------ 7. evasion: a lenient body

    /**
     * The filter estimates a body the strict reading refuses as lenient endpoints read it (Gson's
     * default {@code fromJson}, JSON5 relays: Json.LENIENT_REQUEST_SCAN), but ProviderState.Refs.of
     * reads only strict JSON and names nothing for such a body. A trailing comma after
     * {@code previous_response_id}: the relay continues the 8,000-token stored Response, the stream is
     * cut after the first words and charged its own four words.
     */
    @Test
    void aLenientBodysPreviousResponseIdIsStillAContinuation() throws IOException {
        String owner = subject();
        String previous = storeLongResponse(owner, "");
        long firstCharge = settled(owner).used();
        String seen = postAndHangUpAfter("/ai/v1/lenient/responses", owner, "{\"model\":\"gpt-4o\",\"input\":\"And the"
                + " totals?\",\"max_output_tokens\":64,\"stream\":true,\"previous_response_id\":\"" + previous + "\",}",
                "output_text.delta");
        assertTrue(seen.contains("word"), seen);
        long second = settled(owner).used() - firstCharge;
        long context = Models.STORED.get(previous);
        assertTrue(second >= context, "the continuation of the stored " + context + "-token Response in a body with a"
                + " trailing comma, cut after the first words, was charged " + second + ": " + ledger(owner));
    }

    // ------------------------------------------------------------------ 8. poisoning for free: a poll

    /**
     * A poll of a stored Response, on a handler that reports 0 as docs/decisions.md recommends, is
     * charged nothing; but its answer carries the polled Response's usage, and ProviderState.answered
     * runs on that usage with whatever provider state the poll's own request body names. A hostile
     * client sends {@code GET /ai/v1/responses/resp_<any 15,000-token Response>} with the body
     * {@code {"prompt":{"id":"pmpt_shared","version":"1"}}}: charged 0, and the application's shared
     * 500-token prompt now holds ~15,000 for every user, whose calls are refused or held far above
     * what OpenAI bills. It can be repeated at no cost whenever an honest call rewrites the figure.
     */
    @Test
    void aFreePollDoesNotRewriteASharedPromptsCost() throws Exception {
        String prompt = "pmpt_59" + UUID.randomUUID().toString().replace("-", "");
        Models.PROMPTS.put(prompt, 500L);
        String someone = subject();
        HttpResponse<String> first = TestHttp.postJson(container.uri("/ai/v1/responses"), someone, "{\"model\":\"gpt-4o\","
                + "\"input\":" + JSON.valueToTree(NOTES + NOTES) + ",\"max_output_tokens\":64}");
        assertTrue(first.statusCode() == 200, first.body());
        String big = JSON.readTree(first.body()).path("id").asText();
        assertTrue(settled(someone).used() > 15_000, "the long call is charged its usage: " + ledger(someone));
        HttpResponse<String> known = TestHttp.postJson(container.uri("/ai/v1/responses"), someone, "{\"model\":\"gpt-4o\","
                + "\"prompt\":{\"id\":\"" + prompt + "\",\"version\":\"1\"},\"input\":\"Hi.\",\"max_output_tokens\":64}");
        assertTrue(known.statusCode() == 200, known.body());
        settled(someone);
        String hostile = subject();
        java.net.http.HttpClient client = java.net.http.HttpClient.newHttpClient();
        HttpResponse<String> poll = client.send(java.net.http.HttpRequest.newBuilder(container.uri("/ai/v1/responses/" + big))
                .header("x-user-id", hostile).header("Content-Type", "application/json")
                .method("GET", java.net.http.HttpRequest.BodyPublishers.ofString("{\"prompt\":{\"id\":\"" + prompt
                        + "\",\"version\":\"1\"}}")).build(), HttpResponse.BodyHandlers.ofString());
        assertTrue(poll.statusCode() == 200, poll.body());
        assertTrue(settled(hostile).used() == 0, "the poll is charged nothing: " + ledger(hostile));
        String victim = subject();
        HttpResponse<String> honest = TestHttp.postJson(container.uri("/ai/v1/responses"), victim, "{\"model\":\"gpt-4o\","
                + "\"prompt\":{\"id\":\"" + prompt + "\",\"version\":\"1\"},\"input\":\"Hello, what can you do?\","
                + "\"max_output_tokens\":5000}");
        assertTrue(honest.statusCode() == 200, "a user's call naming the 500-token shared prompt (billed ~510 + at most"
                + " 5,000) after a free poll named it was answered " + honest.statusCode() + " " + honest.body());
        long charged = settled(victim).used();
        assertTrue(charged < 1_000, "charged " + charged + ": " + ledger(victim));
    }

    // ------------------------------------------------------------------ 9. audio: a second hdlr

    /**
     * A 10-minute AAC recording in an M4A whose audio track's {@code mdia} holds two {@code hdlr} boxes,
     * {@code vide} then {@code soun}. FFmpeg's mov demuxer reads every {@code hdlr} of a track and the
     * last sets the stream's type (mov_read_hdlr: {@code soun} makes it audio), so the provider decodes
     * its {@code mp4a} samples and bills 600 s (10,200 tokens). Mp4Duration.sound takes the first
     * {@code hdlr}, finds a video track, and measures no sound at all: the transcription, answered as
     * text without usage, is held and charged its fields alone.
     */
    @Test
    void aSecondHandlerBoxCannotHideAnM4asAudio() {
        int frames = 600 * 44_100 / 1024;
        byte[] mdat = new byte[600 * 1_000];
        new java.util.Random(59).nextBytes(mdat);
        ByteArrayOutputStream f = new ByteArrayOutputStream();
        f.writeBytes(box("ftyp", cat("M4A ".getBytes(StandardCharsets.US_ASCII), u32(0),
                "M4A mp42isom".getBytes(StandardCharsets.US_ASCII))));
        byte[] mdhd = box("mdhd", cat(u32(0), u32(0), u32(0), u32(44_100), u32(600 * 44_100), new byte[] {0x55, (byte) 0xc4, 0, 0}));
        byte[] vide = box("hdlr", cat(u32(0), u32(0), "vide".getBytes(StandardCharsets.US_ASCII), new byte[12], new byte[] {0}));
        byte[] soun = box("hdlr", cat(u32(0), u32(0), "soun".getBytes(StandardCharsets.US_ASCII), new byte[12],
                "SoundHandler\0".getBytes(StandardCharsets.US_ASCII)));
        byte[] mp4a = box("mp4a", cat(new byte[6], new byte[] {0, 1}, new byte[8], new byte[] {0, 2, 0, 16}, new byte[4],
                u32(44_100 << 16)));
        byte[] stsd = box("stsd", cat(u32(0), u32(1), mp4a));
        byte[] stts = box("stts", cat(u32(0), u32(1), u32(frames), u32(1024)));
        byte[] stbl = box("stbl", cat(stsd, stts));
        byte[] minf = box("minf", stbl);
        byte[] trak = box("trak", box("mdia", cat(mdhd, vide, soun, minf)));
        f.writeBytes(box("moov", trak));
        f.writeBytes(box("mdat", mdat));
        String s = subject();
        HttpResponse<String> r = Transcriptions.post(container.uri("/ai/v1/audio/transcriptions"), s,
                "----b59" + UUID.randomUUID(), f.toByteArray(), "meeting.m4a", "audio/mp4");
        assertTrue(r.statusCode() == 200, r.statusCode() + " " + r.body());
        long charged = settled(s).used();
        assertTrue(charged >= 600 * 17, "10 minutes of AAC (10,200 audio tokens billed) behind a vide hdlr then a soun"
                + " hdlr were charged " + charged + ": " + ledger(s));
    }

    // ------------------------------------------------------------------ 10. a GET answered 204 after the call

    /**
     * A suggestion endpoint ({@code GET /ai/v1/suggest?q=…}) calls the model and answers 204 No Content
     * when the model found nothing, the REST convention for an empty result. The model ran (read its
     * context, wrote its empty list); the call is released as "no content for a 204 read". A client that
     * asks for what has no suggestions gets every model call free. (docs/decisions.md keeps a POST 204
     * charged because "an endpoint may run a model for a side effect and answer nothing"; a GET may run
     * one to find that the answer is empty, and the filter cannot tell that 204 from EventSource's.)
     */
    @Test
    void aGetAnsweredNoContentAfterTheModelRanIsCharged() {
        String s = subject();
        long before = Suggest.MODEL_CALLS.get();
        HttpResponse<String> r = TestHttp.get(container.uri("/ai/v1/suggest?q=zzqx+quarterly+figures"), "x-user-id", s);
        assertTrue(r.statusCode() == 204, r.statusCode() + " " + r.body());
        assertTrue(Suggest.MODEL_CALLS.get() - before == 1, "the model was called");
        long charged = settled(s).used();
        assertTrue(charged > 0, "a GET whose model call found nothing, answered 204, was charged " + charged + ": " + ledger(s));
    }

    // ------------------------------------------------------------------ 11. evasion: a UTF-16 body

    /**
     * A JSON body in UTF-16 ({@code Content-Type: application/json; charset=utf-16}, with its byte order
     * mark), which Jackson (Spring's converter, this relay) detects and reads as any other, and which the
     * filter estimates too (it reads other charsets' bodies). ProviderState.Refs.of searches the raw
     * bytes for the ASCII names, finds none in UTF-16, and reads no reference: the continuation of an
     * 8,000-token stored Response, cut after the first words, is charged its own words.
     */
    @Test
    void aUtf16BodysPreviousResponseIdIsStillAContinuation() throws IOException {
        String owner = subject();
        String previous = storeLongResponse(owner, "");
        long firstCharge = settled(owner).used();
        byte[] bytes = ("{\"model\":\"gpt-4o\",\"previous_response_id\":\"" + previous + "\",\"input\":\"And the totals?\","
                + "\"max_output_tokens\":64,\"stream\":true}").getBytes(StandardCharsets.UTF_16);
        String seen = TestHttp.postAndHangUpAfter(container.port(), "/ai/v1/responses", owner,
                "application/json; charset=utf-16", bytes, "output_text.delta");
        assertTrue(seen.contains("word"), seen);
        long second = settled(owner).used() - firstCharge;
        long context = Models.STORED.get(previous);
        assertTrue(second >= context, "the continuation of the stored " + context + "-token Response in a UTF-16 body,"
                + " cut after the first words, was charged " + second + ": " + ledger(owner));
    }

    // ------------------------------------------------------------------ 12. evasion: metadata before a JPEG's frame header

    /**
     * Six 1024x2730 JPEG screenshots sent inline ({@code data:image/jpeg;base64,…}, detail high: 1,445
     * tokens each to gpt-4o, 8,670 in all) whose frame header follows 66 KB of metadata segments (APP1
     * EXIF/XMP and APP2 ICC: a Photoshop or Lightroom export carries that much). MediaSize reads only the
     * first 64 KB of a payload for its header, finds no frame header, and counts each image at
     * {@code mediaItemTokens} (258), below the 1,600 it holds for an image it cannot see by URL. The
     * stream (with {@code include_usage}) cut after the first words is charged ~1,550 + the budget.
     */
    @Test
    void aJpegWhoseFrameHeaderFollowsLongMetadataIsHeldAsAnImage() throws IOException {
        ByteArrayOutputStream jpeg = new ByteArrayOutputStream();
        jpeg.write(0xFF);
        jpeg.write(0xD8);
        for (int left = 66_000; left > 0; ) {
            int n = Math.min(65_533, left);
            jpeg.write(0xFF);
            jpeg.write(left == 66_000 ? 0xE1 : 0xE2);
            jpeg.write((n + 2) >> 8);
            jpeg.write((n + 2) & 0xFF);
            jpeg.writeBytes(new byte[n]);
            left -= n;
        }
        // SOF0: 8-bit, 2730 high, 1024 wide, three components
        jpeg.writeBytes(new byte[] {(byte) 0xFF, (byte) 0xC0, 0, 17, 8, (byte) (2730 >> 8), (byte) (2730 & 0xFF), 4, 0, 3,
            1, 0x22, 0, 2, 0x11, 1, 3, 0x11, 1});
        jpeg.writeBytes(new byte[2_000]);
        String url = "data:image/jpeg;base64," + java.util.Base64.getEncoder().encodeToString(jpeg.toByteArray());
        StringBuilder parts = new StringBuilder("{\"type\":\"text\",\"text\":\"Compare the screens.\"}");
        for (int i = 0; i < 6; i++) {
            parts.append(",{\"type\":\"image_url\",\"image_url\":{\"url\":\"").append(url).append("\",\"detail\":\"high\"}}");
        }
        String s = subject();
        String seen = postAndHangUpAfter("/ai/v1/chat/completions", s, "{\"model\":\"gpt-4o\",\"max_tokens\":200,"
                + "\"stream\":true,\"stream_options\":{\"include_usage\":true},\"messages\":[{\"role\":\"user\","
                + "\"content\":[" + parts + "]}]}", "word");
        assertTrue(seen.contains("word"), seen);
        long charged = settled(s).used();
        assertTrue(charged >= 6 * 1_445L, "six inline 1024x2730 JPEGs (1,445 tokens each to gpt-4o at high detail) with"
                + " 66 KB of metadata before their frame header, in a stream cut after the first words, were charged "
                + charged + ": " + ledger(s));
    }

    // ------------------------------------------------------------------ 13. honest: instructions are not carried over

    /**
     * An honest chat through {@code previous_response_id} whose every turn sends the application's
     * ~4,800-token {@code instructions}, as it must: OpenAI does not carry a previous Response's
     * instructions over to the next. Each turn makes the model read its own instructions, the earlier
     * turns' input and output (~100 tokens by turn 3) and its question, with 4,000 of output allowed:
     * at most ~8,900 tokens. The filter remembers each stored Response at its whole usage, its
     * instructions included, and holds the next turn at them twice: turn 3 is held ~13,000 with
     * ~10,200 left and refused with 429.
     */
    @Test
    void instructionsSentEachTurnAreNotHeldTwice() throws IOException {
        String s = subject();
        String instructions = "You are the support assistant of a bank: answer politely, cite the product terms. ".repeat(235);
        String previous = null;
        long charged = 0;
        for (int turn = 1; turn <= 3; turn++) {
            HttpResponse<String> r = TestHttp.postJson(container.uri("/ai/v1/responses"), s, "{\"model\":\"gpt-4o\","
                    + (previous == null ? "" : "\"previous_response_id\":\"" + previous + "\",")
                    + "\"instructions\":" + JSON.valueToTree(instructions) + ",\"input\":\"Question " + turn
                    + " about my savings account?\",\"max_output_tokens\":4000}");
            long history = previous == null ? 0 : Models.STORED.get(previous);
            assertTrue(r.statusCode() == 200, "turn " + turn + " (reads " + (instructions.length() / 4) + " tokens of"
                    + " instructions and " + history + " of history, may write 4,000; " + (ALLOWANCE - charged)
                    + " left) was answered " + r.statusCode() + " " + r.body());
            previous = JSON.readTree(r.body()).path("id").asText();
            charged = settled(s).used();
        }
    }
}
