package io.tokenquota.servlet.breakit286;

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
import java.nio.charset.StandardCharsets;
import java.util.Base64;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Round 286 of issue 11 ("no model call goes unpaid, nothing that never reached a model is charged"): the rules
 * round 284 gave Gemini's Interactions API (a stream's last event's {@code interaction.usage}; a cut stream's
 * {@code content.delta} / {@code step.delta} text; a background interaction read as a job at
 * {@code /interactions/{id}}; Gemini's pictures in {@code inlineData} at 1,290 each), attacked from both sides
 * with the calls Google's own clients make after the ones round 284 tried.
 *
 * <p>Shapes, from Google's clients, docs and its developer forum:
 * <ul>
 *   <li>The Interaction resource: google-genai (Python) {@code google/genai/_interactions/types/interaction.py}
 *       ({@code id}, {@code status}, {@code outputs}, {@code usage}; no {@code background} field: an answer does
 *       not say whether it ran in the background); its {@code Usage} as round 284 wrote it.</li>
 *   <li>A stored interaction read back: java-genai {@code InteractionService.get(String id)}, "Retrieves the full
 *       details of a single interaction based on its Interaction.id", {@code GET /{api_version}/interactions/{id}};
 *       interactions are stored by default ({@code store=true}, ai.google.dev/gemini-api/docs/interactions:
 *       "The server enables state by default").</li>
 *   <li>The stream's deltas: google-genai {@code _interactions/types/content_delta.py}: {@code DeltaThoughtSummaryDelta}
 *       ({@code {"type": "thought_summary", "content": {"type": "text", "text": …}}}), {@code DeltaImageDelta}
 *       ({@code {"type": "image", "data": <base64>, "mime_type": …}}), each with its {@code event_id}, "the
 *       event_id token to be used to resume the interaction stream, from this event".</li>
 *   <li>Deep Research streamed: {@code POST /v1beta/interactions} with {@code "agent": …, "stream": true,
 *       "background": true, "store": true, "agent_config": {"type": "deep-research", "thinking_summaries":
 *       "auto"}}, answered with {@code interaction.start}, {@code interaction.status_update}, {@code content.start}
 *       ({@code thought}) and "mostly an Event Stream of thought_summary blocks"; the connection "may stop, either
 *       aborted by the client, or terminated by the Gemini server" (it breaks at 10 minutes), and the client
 *       "reconnect[s] to the Interaction ID to replay the events" (discuss.ai.google.dev threads 143098
 *       "Interactions API connection breaks at the 10 minutes mark" and 143099 "Streaming Resume broken on
 *       Interactions API", which print these events); the reconnection is {@code GET
 *       /v1beta/interactions/{id}?stream=true&last_event_id=…} (gemini_ex {@code Gemini.APIs.Interactions.get},
 *       "Resumption uses last_event_id"; js-genai {@code GetInteractionByIdRequest.last_event_id}).</li>
 *   <li>Gemini's image model ({@code gemini-2.5-flash-image}): 1,290 output tokens a picture up to 1024x1024
 *       (ai.google.dev/gemini-api/docs/image-generation, "Pricing"); asked through the Interactions API with
 *       {@code response_modalities: ["image"]} (interaction.py {@code response_modalities}), its pictures
 *       stream as {@code DeltaImageDelta}s, not as {@code inlineData}.</li>
 * </ul>
 */
abstract class AbstractRound286 extends ModelCallRound {
    static final String TEXT = ShapedAnswerRound.TEXT;
    static final long INPUT = 300;
    static final long THOUGHTS = 2_000;
    /** What the model wrote: {@link #TEXT}, about 4,400 tokens (the usage reports 4,400). */
    static final long OUTPUT = 4_400;
    static final long TOTAL = INPUT + OUTPUT + THOUGHTS;
    /** Deep Research's usage once it completed: 3,000 in, 4,000 out, 5,000 of thoughts. */
    static final long RESEARCH = 12_000;
    /** Gemini's figure for one output image up to 1024x1024. */
    static final long IMAGE_TOKENS = 1_290;
    static final String PICTURE = Base64.getEncoder().encodeToString(Pictures.png(1024, 1024, 200_000));
    static final String RESEARCHER = "\"agent\":\"deep-research-preview-04-2026\"";
    static final String IMAGE_MODEL = "\"model\":\"gemini-2.5-flash-image\"";

    /** The interactions the provider stored, by id: each as {@code GET /interactions/{id}} answers it. */
    final Map<String, String> stored = new ConcurrentHashMap<>();

    static String q(String s) {
        return ShapedAnswerRound.q(s);
    }

    /** The interaction's id the provider gives the subject's call (one call of each kind a test). */
    static String idOf(String s) {
        return "v1_" + s.replace("-", "");
    }

    static String textOutputs(String text) {
        return "[{\"type\":\"text\",\"text\":" + q(text) + "}]";
    }

    @Override
    protected Deployment deploy(QuotaFilter filter) {
        return Deployment.create()
                .filter("quota", filter, "/*")
                .servlet("gemini", new Gemini(), "/ai/*")
                .onStartup(filter::registerByServletName);
    }

    /**
     * A relay of Google's Gemini API (its stored interactions kept as the provider keeps them): {@code POST
     * /v1beta/interactions} creates one (whole, streamed in either vocabulary, Deep Research streamed in the
     * background and cut, pictures streamed and cut), {@code GET /v1beta/interactions/{id}} reads it back, with
     * {@code ?stream=true&last_event_id=…} resumes its stream; {@code :streamGenerateContent} of the image model,
     * cut after its pictures.
     */
    private final class Gemini extends HttpServlet {
        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            String body = new String(req.getInputStream().readAllBytes(), StandardCharsets.UTF_8).replace(" ", "");
            String s = req.getHeader("x-user-id");
            String path = req.getPathInfo();
            calls.count(s);
            String id = idOf(s);
            if (path.endsWith(":streamGenerateContent")) {
                generateContentPicturesCut(resp);
            } else if (!path.endsWith("/v1beta/interactions")) {
                resp.sendError(404);
            } else if (body.contains("\"background\":true") && body.contains("\"stream\":true")) {
                // Deep Research runs on; its stored interaction completes with its usage
                stored.put(id, interaction(id, RESEARCHER, "completed", textOutputs(REPORT), usage(3_000, 4_000, 5_000)));
                researchStreamCut(resp, id);
            } else if (body.contains("\"response_modalities\"")) {
                picturesStreamCut(resp, id);
            } else if (body.contains("\"stream\":true")) {
                stored.put(id, interaction(id, FLASH, "completed", textOutputs(TEXT), usage(INPUT, OUTPUT, THOUGHTS)));
                if (req.getHeader("Api-Revision") != null) {
                    revisionStream(resp, id);
                } else {
                    betaStream(resp, id);
                }
            } else {
                String whole = interaction(id, FLASH, "completed", textOutputs(TEXT), usage(INPUT, OUTPUT, THOUGHTS));
                stored.put(id, whole);
                json(resp, whole);
            }
        }

        @Override
        protected void doGet(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            String path = req.getPathInfo();
            String id = path.substring(path.lastIndexOf('/') + 1);
            String interaction = stored.get(id);
            if (!path.startsWith("/v1beta/interactions/") || interaction == null) {
                resp.sendError(404);
                return;
            }
            if ("true".equals(req.getParameter("stream")) && req.getParameter("last_event_id") != null) {
                researchStreamResumed(resp, id);
            } else {
                json(resp, interaction);
            }
        }
    }

    /** The first beta's stream, to its end (round 284's shape). */
    static void betaStream(HttpServletResponse resp, String id) throws IOException {
        resp.setContentType("text/event-stream");
        PrintWriter w = resp.getWriter();
        event(w, "interaction.start", "{\"event_type\":\"interaction.start\",\"interaction\":"
                + interaction(id, FLASH, "in_progress", null, null) + ",\"event_id\":\"e1\"}");
        event(w, "content.start", "{\"event_type\":\"content.start\",\"index\":0,\"content\":{\"type\":\"text\"},\"event_id\":\"e2\"}");
        int n = 3;
        for (String piece : pieces(TEXT)) {
            event(w, "content.delta", "{\"event_type\":\"content.delta\",\"index\":0,\"delta\":{\"type\":\"text\",\"text\":"
                    + q(piece) + "},\"event_id\":\"e" + (n++) + "\"}");
        }
        event(w, "content.stop", "{\"event_type\":\"content.stop\",\"index\":0,\"event_id\":\"e" + (n++) + "\"}");
        event(w, "interaction.complete", "{\"event_type\":\"interaction.complete\",\"interaction\":"
                + interaction(id, FLASH, "completed", null, usage(INPUT, OUTPUT, THOUGHTS)) + ",\"event_id\":\"e" + n + "\"}");
        w.write("data: [DONE]\n\n");
    }

    /** Revision 2026-05-20's stream, to its end, as Google's streaming guide prints it (round 284's shape). */
    static void revisionStream(HttpServletResponse resp, String id) throws IOException {
        resp.setContentType("text/event-stream");
        PrintWriter w = resp.getWriter();
        event(w, "interaction.created", "{\"interaction\":{\"id\":\"" + id + "\",\"status\":\"in_progress\",\"object\":\"interaction\","
                + FLASH + "},\"event_type\":\"interaction.created\"}");
        event(w, "interaction.status_update", "{\"interaction_id\":\"" + id + "\",\"status\":\"in_progress\",\"event_type\":\"interaction.status_update\"}");
        event(w, "step.start", "{\"index\":0,\"step\":{\"type\":\"model_output\"},\"event_type\":\"step.start\"}");
        for (String piece : pieces(TEXT)) {
            event(w, "step.delta", "{\"index\":0,\"delta\":{\"text\":" + q(piece) + ",\"type\":\"text\"},\"event_type\":\"step.delta\"}");
        }
        event(w, "step.stop", "{\"index\":0,\"event_type\":\"step.stop\"}");
        event(w, "interaction.status_update", "{\"interaction_id\":\"" + id + "\",\"status\":\"completed\",\"event_type\":\"interaction.status_update\"}");
        event(w, "interaction.completed", "{\"interaction\":{\"id\":\"" + id + "\",\"status\":\"completed\",\"object\":\"interaction\","
                + FLASH + ",\"usage\":" + usage(INPUT, OUTPUT, THOUGHTS) + "},\"event_type\":\"interaction.completed\"}");
    }

    /** Deep Research's report, the text its last content carries. */
    static final String REPORT = "# Google's TPUs: a history\n\nFrom the first inference ASIC of 2015 to the pods of today, "
            + "each generation traded generality for matrix throughput.";

    /**
     * Deep Research streamed in the background, as the forum threads print it: its start, its status, its
     * thought (about 4,400 tokens of thought summaries, each event with its {@code event_id}); then the
     * connection breaks (Google's 10-minute mark), before the report and the last event.
     */
    static void researchStreamCut(HttpServletResponse resp, String id) throws IOException {
        resp.setContentType("text/event-stream");
        PrintWriter w = resp.getWriter();
        event(w, "interaction.start", "{\"interaction\":{\"id\":\"" + id + "\",\"status\":\"in_progress\",\"object\":\"interaction\","
                + RESEARCHER + "},\"event_type\":\"interaction.start\",\"event_id\":\"v1_ev1\"}");
        event(w, "interaction.status_update", "{\"interaction_id\":\"" + id + "\",\"status\":\"in_progress\","
                + "\"event_type\":\"interaction.status_update\",\"event_id\":\"v1_ev2\"}");
        event(w, "content.start", "{\"index\":0,\"content\":{\"type\":\"thought\"},\"event_type\":\"content.start\",\"event_id\":\"v1_ev3\"}");
        int n = 4;
        for (String piece : pieces(TEXT)) {
            event(w, "content.delta", "{\"index\":0,\"delta\":{\"content\":{\"text\":" + q(piece) + ",\"type\":\"text\"},"
                    + "\"type\":\"thought_summary\"},\"event_id\":\"v1_ev" + (n++) + "\",\"event_type\":\"content.delta\"}");
        }
        w.flush();
    }

    /** The last event id {@link #researchStreamCut} sent. */
    static String lastResearchEvent() {
        return "v1_ev" + (3 + pieces(TEXT).size());
    }

    /** The same interaction's stream resumed after the last event the client had: the report and the last event. */
    static void researchStreamResumed(HttpServletResponse resp, String id) throws IOException {
        resp.setContentType("text/event-stream");
        PrintWriter w = resp.getWriter();
        int n = 4 + pieces(TEXT).size();
        event(w, "content.stop", "{\"index\":0,\"event_type\":\"content.stop\",\"event_id\":\"v1_ev" + (n++) + "\"}");
        event(w, "content.start", "{\"index\":1,\"content\":{\"type\":\"text\"},\"event_type\":\"content.start\",\"event_id\":\"v1_ev" + (n++) + "\"}");
        event(w, "content.delta", "{\"index\":1,\"delta\":{\"type\":\"text\",\"text\":" + q(REPORT) + "},\"event_id\":\"v1_ev"
                + (n++) + "\",\"event_type\":\"content.delta\"}");
        event(w, "content.stop", "{\"index\":1,\"event_type\":\"content.stop\",\"event_id\":\"v1_ev" + (n++) + "\"}");
        event(w, "interaction.complete", "{\"interaction\":" + interaction(id, RESEARCHER, "completed", null,
                usage(3_000, 4_000, 5_000)) + ",\"event_type\":\"interaction.complete\",\"event_id\":\"v1_ev" + n + "\"}");
        w.write("data: [DONE]\n\n");
    }

    /**
     * The image model through the Interactions API, streamed: three pictures, each a content of its own whose
     * one delta is a {@code DeltaImageDelta}; the relay's upstream broke before the last event.
     */
    static void picturesStreamCut(HttpServletResponse resp, String id) throws IOException {
        resp.setContentType("text/event-stream");
        PrintWriter w = resp.getWriter();
        event(w, "interaction.start", "{\"event_type\":\"interaction.start\",\"interaction\":"
                + interaction(id, IMAGE_MODEL, "in_progress", null, null) + ",\"event_id\":\"e1\"}");
        int n = 2;
        for (int i = 0; i < 3; i++) {
            event(w, "content.start", "{\"event_type\":\"content.start\",\"index\":" + i + ",\"content\":{\"type\":\"image\"},"
                    + "\"event_id\":\"e" + (n++) + "\"}");
            event(w, "content.delta", "{\"event_type\":\"content.delta\",\"index\":" + i + ",\"delta\":{\"type\":\"image\","
                    + "\"data\":\"" + PICTURE + "\",\"mime_type\":\"image/png\"},\"event_id\":\"e" + (n++) + "\"}");
            event(w, "content.stop", "{\"event_type\":\"content.stop\",\"index\":" + i + ",\"event_id\":\"e" + (n++) + "\"}");
            w.flush();
        }
    }

    /** The same three pictures from {@code streamGenerateContent?alt=sse} ({@code inlineData}), cut the same way (round 284's). */
    static void generateContentPicturesCut(HttpServletResponse resp) throws IOException {
        resp.setContentType("text/event-stream");
        PrintWriter w = resp.getWriter();
        for (int i = 0; i < 3; i++) {
            w.write("data: {\"candidates\":[{\"content\":{\"parts\":[{\"inlineData\":{\"mimeType\":\"image/png\",\"data\":\"" + PICTURE
                    + "\"}}],\"role\":\"model\"},\"index\":0}],\"usageMetadata\":{\"promptTokenCount\":12,\"totalTokenCount\":12,"
                    + "\"promptTokensDetails\":[{\"modality\":\"TEXT\",\"tokenCount\":12}]},\"modelVersion\":\"gemini-2.5-flash-image\","
                    + "\"responseId\":\"r1\"}\r\n\r\n");
            w.flush();
        }
    }

    static final String ASK = "{" + FLASH + ",\"input\":\"Write the committee's quarterly report.\",\"stream\":true}";
    static final String RESEARCH_ASK = "{" + RESEARCHER + ",\"input\":\"Research the history of Google's TPUs.\",\"stream\":true,"
            + "\"background\":true,\"store\":true,\"agent_config\":{\"type\":\"deep-research\",\"thinking_summaries\":\"auto\"}}";
    static final String DRAW_ASK = "{" + IMAGE_MODEL + ",\"input\":\"Tell a three-panel story about a cat, with a picture for"
            + " each panel.\",\"response_modalities\":[\"image\"],\"stream\":true}";

    private HttpResponse<String> create(String s, String body, String... headers) {
        return TestHttp.postJson(container.uri("/ai/v1beta/interactions"), s, body, headers);
    }

    private HttpResponse<String> read(String s, String query) {
        return TestHttp.send(TestHttp.requestAs(container.uri("/ai/v1beta/interactions/" + idOf(s) + query), s).GET().build());
    }

    /**
     * Finding: an interaction streamed to its end is charged its usage (6,700, round 284's rule); the client then
     * reads it back as Google's SDKs do ({@code interactions.get(id)}: the stored interaction whole, with the same
     * usage). The read runs no model; the subject must stay charged 6,700, once. A whole interaction read back
     * the same way is (the control below): the stream's interaction is not remembered as the stored call it is.
     */
    @ParameterizedTest
    @ValueSource(strings = {"beta", "rev"})
    void aStreamedInteractionReadBackIsNotChargedAgain(String vocabulary) {
        String s = subject();
        HttpResponse<String> r = "rev".equals(vocabulary) ? create(s, ASK, "Api-Revision", "2026-05-20") : create(s, ASK);
        assertCharged(s, r, 200, 1, TOTAL, "an Interactions stream (" + vocabulary + ") reporting " + TOTAL);
        HttpResponse<String> back = read(s, "");
        assertEquals(200, back.statusCode(), back.body());
        assertCharged(s, back, 200, 1, TOTAL, "the same interaction streamed (" + vocabulary + ", charged " + TOTAL
                + ") and read back by its id (GET /v1beta/interactions/{id}, no model call)");
    }

    /**
     * Control: a whole interaction read back by its id at the instance that served it: charged its usage once.
     */
    @Test
    void controlAWholeInteractionReadBackIsChargedOnce() {
        String s = subject();
        HttpResponse<String> r = create(s, "{" + FLASH + ",\"input\":\"Write the committee's quarterly report.\"}");
        assertCharged(s, r, 200, 1, TOTAL, "a whole interaction reporting " + TOTAL);
        HttpResponse<String> back = read(s, "");
        assertCharged(s, back, 200, 1, TOTAL, "the same interaction read back by its id");
    }

    /**
     * Finding: Deep Research streamed in the background, its connection broken (Google's 10-minute mark) after
     * about 4,400 tokens of thought summaries ({@code content.delta} of type {@code thought_summary}: text the
     * agent wrote, billed within its thought tokens). Round 284's rule counts a cut stream's
     * {@code content.delta} text; this one is charged its hold.
     */
    @Test
    void aDeepResearchStreamCutAfterItsThoughtSummariesIsChargedThem() {
        String s = subject();
        HttpResponse<String> r = create(s, RESEARCH_ASK);
        QuotaAccount a = assertAnswered(s, r, 200, 1);
        assertTrue(a.used() >= 4_000, "a Deep Research stream cut after about 4,400 tokens of thought summaries: "
                + figures(s, r, a));
    }

    /**
     * Finding: the same cut stream resumed as the forum thread does it ({@code GET
     * /v1beta/interactions/{id}?stream=true&last_event_id=…}): the resumed stream carries the report and the last
     * event with the job's usage (12,000). One job, one run: the subject must be charged 12,000 in all (as a
     * background Response resumed by a GET is, and as round 284 charges a polled Deep Research job "once, beyond
     * its creation's estimate"); the creation's charge is added on top.
     */
    @Test
    void aDeepResearchStreamResumedToItsEndIsChargedItsUsageOnce() {
        String s = subject();
        HttpResponse<String> r = create(s, RESEARCH_ASK);
        assertEquals(200, r.statusCode(), r.body());
        long afterCreation = settled(s).used();
        HttpResponse<String> resumed = read(s, "?stream=true&last_event_id=" + lastResearchEvent());
        assertTrue(resumed.body().contains("interaction.complete"), resumed.body());
        QuotaAccount a = assertAnswered(s, resumed, 200, 1);
        assertEquals(RESEARCH, a.used(), "Deep Research billed " + RESEARCH + ", its stream cut (charged " + afterCreation
                + ") and resumed to its last event: " + figures(s, resumed, a));
    }

    /**
     * Finding: the image model asked through the Interactions API, streamed, cut after its three pictures
     * ({@code DeltaImageDelta}s: 3 x 1,290 output tokens by Google's figure) and before its last event: round
     * 284 prices a cut stream's pictures only when they come as {@code inlineData}; these are charged the hold.
     */
    @Test
    void anInteractionsPictureStreamCutAfterItsPicturesIsChargedThem() {
        String s = subject();
        HttpResponse<String> r = create(s, DRAW_ASK);
        QuotaAccount a = assertAnswered(s, r, 200, 1);
        assertTrue(a.used() >= 3 * IMAGE_TOKENS, "three 1024x1024 pictures streamed through the Interactions API (3 x "
                + IMAGE_TOKENS + " tokens by Google's count), the stream cut before its last event: " + figures(s, r, a));
    }

    /** Control: the same three pictures as {@code inlineData} from {@code streamGenerateContent}, cut the same way. */
    @Test
    void controlTheSamePicturesAsInlineDataCutAreChargedThem() {
        String s = subject();
        HttpResponse<String> r = TestHttp.postJson(container.uri(
                "/ai/v1beta/models/gemini-2.5-flash-image:streamGenerateContent?alt=sse"), s,
                "{\"contents\":[{\"role\":\"user\",\"parts\":[{\"text\":\"Tell a three-panel story about a cat, with a picture"
                        + " for each panel.\"}]}],\"generationConfig\":{\"responseModalities\":[\"TEXT\",\"IMAGE\"]}}");
        QuotaAccount a = assertAnswered(s, r, 200, 1);
        assertTrue(a.used() >= 3 * IMAGE_TOKENS, figures(s, r, a));
    }
}
