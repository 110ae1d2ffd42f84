package io.tokenquota.servlet.breakit284;

import static io.tokenquota.servlet.testing.GeminiInteractions.event;
import static io.tokenquota.servlet.testing.GeminiInteractions.interaction;
import static io.tokenquota.servlet.testing.GeminiInteractions.json;
import static io.tokenquota.servlet.testing.GeminiInteractions.pieces;
import static io.tokenquota.servlet.testing.GeminiInteractions.usage;
import static io.tokenquota.servlet.testing.GeminiInteractions.FLASH;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.tokenquota.QuotaAccount;
import io.tokenquota.servlet.QuotaFilter;
import io.tokenquota.servlet.testing.Deployment;
import io.tokenquota.servlet.testing.ModelCallRound;
import io.tokenquota.servlet.testing.Pictures;
import io.tokenquota.servlet.testing.ShapedAnswerRound;
import io.tokenquota.servlet.testing.TestHttp;
import jakarta.servlet.http.HttpServlet;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;
import java.io.PrintWriter;
import java.net.http.HttpResponse;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Round 284 of issue 11 ("no model call goes unpaid, nothing that never reached a model is charged"):
 * Google's Gemini Interactions API, which Google's docs now call "the recommended standard API for all new
 * projects" (ai.google.dev/static/api/interactions-v1.md.txt; ai.google.dev/gemini-api/docs/interactions),
 * relayed under the protected prefix ({@code POST /ai/.../v1beta/interactions}, as a gateway passes
 * {@code generativelanguage.googleapis.com} on), and Gemini's native image model streamed.
 *
 * <p>Shapes, from Google's own clients and docs:
 * <ul>
 *   <li>The Interaction resource ({@code id}, {@code object: "interaction"}, {@code status} of
 *       {@code in_progress | requires_action | completed | failed | cancelled}, {@code outputs[]}, {@code usage})
 *       and its {@code Usage} ({@code total_input_tokens}, {@code total_output_tokens},
 *       {@code total_thought_tokens}, {@code total_cached_tokens}, {@code total_tool_use_tokens},
 *       {@code total_tokens}: "prompt + responses + other internal tokens"): google-genai (Python)
 *       {@code google/genai/_interactions/types/interaction.py}, js-genai {@code Interactions.Interaction} and
 *       {@code Interactions.Usage}, java-genai {@code com.google.genai.interactions.models.interactions.Usage}.</li>
 *   <li>The stream of the first beta ({@code stream: true}): {@code interaction.start}, {@code content.start},
 *       {@code content.delta} ({@code {"delta": {"type": "text", "text": …}, "index": 0}}), {@code content.stop},
 *       {@code interaction.complete} carrying the whole {@code interaction} with its {@code usage}
 *       (google-genai {@code _interactions/types/interaction_event.py}, {@code content_delta.py}).</li>
 *   <li>The stream of revision {@code 2026-05-20} ({@code Api-Revision} header), as
 *       ai.google.dev/gemini-api/docs/interactions/streaming prints it: {@code interaction.created},
 *       {@code interaction.status_update}, {@code step.start}, {@code step.delta}
 *       ({@code {"index": 1, "delta": {"text": …, "type": "text"}, "event_type": "step.delta"}}),
 *       {@code step.stop}, {@code interaction.completed} (js-genai {@code InteractionCompletedEvent}: its
 *       {@code interaction} is an {@code InteractionSseEventInteraction} with {@code usage}).</li>
 *   <li>Deep Research: {@code agent: "deep-research-pro-preview-12-2025"} runs only with
 *       {@code background: true}; the client polls {@code GET /v1beta/interactions/{id}} until the status is
 *       {@code completed} (Google's "Deep Research" guide; gemini_ex {@code Interactions.get}, whose
 *       default poll interval is 2 s for up to 5 minutes).</li>
 *   <li>Gemini's native image model ({@code gemini-2.5-flash-image}) answers pictures as
 *       {@code candidates[].content.parts[].inlineData} ({@code mimeType}, base64 {@code data}); Google bills
 *       an output image up to 1024x1024 as 1,290 tokens (ai.google.dev/gemini-api/docs/image-generation,
 *       "Pricing"), reported in {@code usageMetadata.candidatesTokensDetails} with modality {@code IMAGE}.</li>
 * </ul>
 */
abstract class AbstractRound284 extends ModelCallRound {
    static final String TEXT = ShapedAnswerRound.TEXT;
    static final long INPUT = 300;
    static final long THOUGHTS = 2_000;
    /** What the model wrote: {@link #TEXT}, about 4,400 tokens (the usage reports 4,400). */
    static final long OUTPUT = 4_400;
    static final long TOTAL = INPUT + OUTPUT + THOUGHTS;
    /** Deep Research's usage once it completed. */
    static final long RESEARCH = 12_000;
    /** Gemini's figure for one output image up to 1024x1024. */
    static final long IMAGE_TOKENS = 1_290;
    static final String PICTURE = Base64.getEncoder().encodeToString(Pictures.png(1024, 1024, 200_000));

    /** Polls of a background interaction answered so far, by subject. */
    private final Map<String, AtomicInteger> polls = new ConcurrentHashMap<>();

    static String q(String s) {
        return ShapedAnswerRound.q(s);
    }

    static final String RESEARCHER = "\"agent\":\"deep-research-pro-preview-12-2025\"";

    @Override
    protected Deployment deploy(QuotaFilter filter) {
        return Deployment.create()
                .filter("quota", filter, "/*")
                .servlet("gemini", new Gemini(), "/ai/*")
                .onStartup(filter::registerByServletName);
    }

    /** A relay of Google's Gemini API: the first path segment says which shape the provider answers in. */
    private final class Gemini extends HttpServlet {
        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            req.getInputStream().readAllBytes();
            calls.count(req.getHeader("x-user-id"));
            String path = req.getPathInfo();
            String shape = path.substring(1, path.indexOf('/', 1));
            switch (shape) {
                case "whole" -> json(resp, interaction("v1_abc", FLASH, "completed",
                        "[{\"type\":\"thought\",\"signature\":\"Cq0BAXLI2nw\"},{\"type\":\"text\",\"text\":" + q(TEXT) + "}]",
                        usage(INPUT, OUTPUT, THOUGHTS)));
                case "beta", "beta-cut" -> betaStream(resp, shape.endsWith("-cut"));
                case "rev", "rev-cut" -> revisionStream(resp, shape.endsWith("-cut"));
                case "research" -> json(resp, interaction("v1_dr1", RESEARCHER, "in_progress", null, null));
                case "image" -> json(resp, "{\"candidates\":[{\"content\":{\"parts\":[" + pictures(3)
                        + "],\"role\":\"model\"},\"finishReason\":\"STOP\",\"index\":0}]," + imageUsage(12, 3 * IMAGE_TOKENS)
                        + ",\"modelVersion\":\"gemini-2.5-flash-image\",\"responseId\":\"r1\"}");
                case "image-cut" -> imageStreamCut(resp);
                default -> resp.sendError(404);
            }
        }

        /** A poll of the background interaction: running for three polls, then completed with its usage. */
        @Override
        protected void doGet(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            if (!req.getPathInfo().startsWith("/research/")) {
                resp.sendError(404);
                return;
            }
            int n = polls.computeIfAbsent(req.getHeader("x-user-id"), s -> new AtomicInteger()).incrementAndGet();
            json(resp, n <= 3 ? interaction("v1_dr1", RESEARCHER, "in_progress", null, null)
                    : interaction("v1_dr1", RESEARCHER, "completed", "[{\"type\":\"text\",\"text\":\"# TPUs: a history\\n\\n...\"}]",
                    usage(9_000, 3_000, 0)));
        }
    }

    /** The first beta's stream (google-genai's InteractionEvent, ContentDelta); cut: its upstream broke before the end. */
    static void betaStream(HttpServletResponse resp, boolean cut) throws IOException {
        resp.setContentType("text/event-stream");
        PrintWriter w = resp.getWriter();
        event(w, "interaction.start", "{\"event_type\":\"interaction.start\",\"interaction\":"
                + interaction("v1_abc", FLASH, "in_progress", null, null) + ",\"event_id\":\"e1\"}");
        event(w, "content.start", "{\"event_type\":\"content.start\",\"index\":0,\"content\":{\"type\":\"text\"},\"event_id\":\"e2\"}");
        int id = 3;
        for (String piece : pieces(TEXT)) {
            event(w, "content.delta", "{\"event_type\":\"content.delta\",\"index\":0,\"delta\":{\"type\":\"text\",\"text\":"
                    + q(piece) + "},\"event_id\":\"e" + (id++) + "\"}");
        }
        event(w, "content.stop", "{\"event_type\":\"content.stop\",\"index\":0,\"event_id\":\"e" + (id++) + "\"}");
        w.flush();
        if (cut) {
            return;
        }
        event(w, "interaction.complete", "{\"event_type\":\"interaction.complete\",\"interaction\":"
                + interaction("v1_abc", FLASH, "completed", null, usage(INPUT, OUTPUT, THOUGHTS)) + ",\"event_id\":\"e" + id + "\"}");
        w.write("data: [DONE]\n\n");
    }

    /** Revision 2026-05-20's stream, as Google's streaming guide prints it; cut: its upstream broke before the end. */
    static void revisionStream(HttpServletResponse resp, boolean cut) throws IOException {
        resp.setContentType("text/event-stream");
        PrintWriter w = resp.getWriter();
        event(w, "interaction.created", "{\"interaction\":{\"id\":\"v1_abc\",\"status\":\"in_progress\",\"object\":\"interaction\","
                + FLASH + "},\"event_type\":\"interaction.created\"}");
        event(w, "interaction.status_update", "{\"interaction_id\":\"v1_abc\",\"status\":\"in_progress\",\"event_type\":\"interaction.status_update\"}");
        event(w, "step.start", "{\"index\":0,\"step\":{\"type\":\"thought\"},\"event_type\":\"step.start\"}");
        event(w, "step.delta", "{\"index\":0,\"delta\":{\"signature\":\"Cq0BAXLI2nw\",\"type\":\"thought_signature\"},\"event_type\":\"step.delta\"}");
        event(w, "step.stop", "{\"index\":0,\"event_type\":\"step.stop\"}");
        event(w, "step.start", "{\"index\":1,\"step\":{\"type\":\"model_output\"},\"event_type\":\"step.start\"}");
        for (String piece : pieces(TEXT)) {
            event(w, "step.delta", "{\"index\":1,\"delta\":{\"text\":" + q(piece) + ",\"type\":\"text\"},\"event_type\":\"step.delta\"}");
        }
        event(w, "step.stop", "{\"index\":1,\"event_type\":\"step.stop\"}");
        w.flush();
        if (cut) {
            return;
        }
        event(w, "interaction.status_update", "{\"interaction_id\":\"v1_abc\",\"status\":\"completed\",\"event_type\":\"interaction.status_update\"}");
        event(w, "interaction.completed", "{\"interaction\":{\"id\":\"v1_abc\",\"status\":\"completed\",\"object\":\"interaction\","
                + FLASH + ",\"usage\":" + usage(INPUT, OUTPUT, THOUGHTS) + "},\"event_type\":\"interaction.completed\"}");
    }

    static String pictures(int n) {
        StringBuilder b = new StringBuilder();
        for (int i = 0; i < n; i++) {
            b.append(i == 0 ? "" : ",").append("{\"inlineData\":{\"mimeType\":\"image/png\",\"data\":\"").append(PICTURE).append("\"}}");
        }
        return b.toString();
    }

    static String imageUsage(long prompt, long images) {
        return "\"usageMetadata\":{\"promptTokenCount\":" + prompt + ",\"candidatesTokenCount\":" + images + ",\"totalTokenCount\":"
                + (prompt + images) + ",\"promptTokensDetails\":[{\"modality\":\"TEXT\",\"tokenCount\":" + prompt
                + "}],\"candidatesTokensDetails\":[{\"modality\":\"IMAGE\",\"tokenCount\":" + images + "}]}";
    }

    /**
     * {@code streamGenerateContent?alt=sse} of the image model: one chunk per picture, each with the prompt-only
     * count Gemini sends before its last chunk; the relay's upstream broke before that last chunk.
     */
    static void imageStreamCut(HttpServletResponse resp) throws IOException {
        resp.setContentType("text/event-stream");
        PrintWriter w = resp.getWriter();
        for (int i = 0; i < 3; i++) {
            w.write("data: {\"candidates\":[{\"content\":{\"parts\":[" + pictures(1) + "],\"role\":\"model\"},\"index\":0}],"
                    + "\"usageMetadata\":{\"promptTokenCount\":12,\"totalTokenCount\":12,\"promptTokensDetails\":[{\"modality\":\"TEXT\","
                    + "\"tokenCount\":12}]},\"modelVersion\":\"gemini-2.5-flash-image\",\"responseId\":\"r1\"}\r\n\r\n");
            w.flush();
        }
    }

    static final String ASK = "{" + FLASH + ",\"input\":\"Write the committee's quarterly report.\",\"stream\":true}";
    static final String DRAW = "{\"contents\":[{\"role\":\"user\",\"parts\":[{\"text\":\"Tell a three-panel story about a cat, "
            + "with a picture for each panel.\"}]}],\"generationConfig\":{\"responseModalities\":[\"TEXT\",\"IMAGE\"]}}";

    private HttpResponse<String> ask(String s, String shape) {
        return TestHttp.postJson(container.uri("/ai/" + shape + "/v1beta/interactions"), s, ASK, "Api-Revision", "2026-05-20");
    }

    /**
     * Finding: an interaction streamed to its end, its usage in the last event ({@code interaction.complete}'s or
     * {@code interaction.completed}'s {@code interaction.usage}: 6,700 tokens), is charged only its hold.
     */
    @ParameterizedTest
    @ValueSource(strings = {"beta", "rev"})
    void aStreamedInteractionIsChargedTheUsageOfItsLastEvent(String vocabulary) {
        String s = subject();
        HttpResponse<String> r = ask(s, vocabulary);
        assertCharged(s, r, 200, 1, TOTAL, "an Interactions stream (" + vocabulary + ") whose last event reports "
                + TOTAL + " tokens");
    }

    /**
     * Finding: the same stream cut after the model's text ({@code content.delta} / {@code step.delta}
     * {@code delta.text}: about 4,400 tokens) and before its last event is charged its hold, not the text it carried.
     */
    @ParameterizedTest
    @ValueSource(strings = {"beta-cut", "rev-cut"})
    void aStreamedInteractionCutBeforeItsEndIsChargedTheTextItCarried(String vocabulary) {
        String s = subject();
        HttpResponse<String> r = ask(s, vocabulary);
        QuotaAccount a = assertAnswered(s, r, 200, 1);
        assertTrue(a.used() >= 4_000, "an Interactions stream (" + vocabulary + ") cut after about 4,400 tokens of text: "
                + figures(s, r, a));
    }

    /**
     * Finding: Deep Research as Google's guide runs it. The creation ({@code background: true}) answers the
     * interaction {@code in_progress}; three polls find it still running (no model call: a status read); the
     * fourth finds it completed with its usage (12,000). The subject must be charged that usage, once: the
     * polls of a running interaction are no model calls (as a background OpenAI Response's are released), and
     * the creation's hold is part of the job the usage reports.
     */
    @Test
    void aDeepResearchInteractionPolledToItsEndIsChargedItsUsageOnce() {
        String s = subject();
        HttpResponse<String> r = TestHttp.postJson(container.uri("/ai/research/v1beta/interactions"), s,
                "{" + RESEARCHER + ",\"input\":\"Research the history of Google's TPUs.\",\"background\":true}");
        assertEquals(200, r.statusCode(), r.body());
        long afterCreation = settled(s).used();
        List<Long> afterPolls = new ArrayList<>();
        for (int i = 0; i < 4; i++) {
            r = TestHttp.send(TestHttp.requestAs(container.uri("/ai/research/v1beta/interactions/v1_dr1"), s).GET().build());
            assertEquals(200, r.statusCode(), r.body());
            afterPolls.add(settled(s).used());
        }
        QuotaAccount a = settled(s);
        assertEquals(RESEARCH, a.used(), "Deep Research billed " + RESEARCH + ": charged " + afterCreation
                + " at its creation, then after each of its four polls (three running, one completed) " + afterPolls
                + ": " + figures(s, r, a));
    }

    /**
     * Finding: Gemini's image model streamed, cut after its three pictures (3 x 1,290 output tokens, Google's
     * figure) and before the last chunk's count: charged its hold.
     */
    @Test
    void aGeminiImageStreamCutAfterItsPicturesIsChargedThem() {
        String s = subject();
        HttpResponse<String> r = TestHttp.postJson(container.uri(
                "/ai/image-cut/v1beta/models/gemini-2.5-flash-image:streamGenerateContent?alt=sse"), s, DRAW);
        QuotaAccount a = assertAnswered(s, r, 200, 1);
        assertTrue(a.used() >= 3 * IMAGE_TOKENS, "three 1024x1024 pictures streamed (3 x " + IMAGE_TOKENS
                + " tokens by Google's count), the stream cut before its last chunk: " + figures(s, r, a));
    }

    /** Control: a whole interaction (no stream) carries its usage at the top level: charged it exactly. */
    @Test
    void aWholeInteractionIsChargedItsUsage() {
        String s = subject();
        HttpResponse<String> r = TestHttp.postJson(container.uri("/ai/whole/v1beta/interactions"), s,
                "{" + FLASH + ",\"input\":\"Write the committee's quarterly report.\"}");
        assertCharged(s, r, 200, 1, TOTAL, "a whole interaction reporting " + TOTAL);
    }

    /** Control: the image model's whole answer with its usageMetadata is charged it exactly (12 + 3 x 1,290). */
    @Test
    void aGeminiImageAnswerWithItsUsageIsChargedIt() {
        String s = subject();
        HttpResponse<String> r = TestHttp.postJson(container.uri(
                "/ai/image/v1beta/models/gemini-2.5-flash-image:generateContent"), s, DRAW);
        assertCharged(s, r, 200, 1, 12 + 3 * IMAGE_TOKENS, "an image answer reporting " + (12 + 3 * IMAGE_TOKENS));
    }
}
