package io.tokenquota.servlet.breakit437;

import static org.junit.jupiter.api.Assertions.assertEquals;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.tokenquota.ModelWeights;
import io.tokenquota.servlet.QuotaFilter;
import io.tokenquota.servlet.testing.Deployment;
import io.tokenquota.servlet.testing.ModelCallRound;
import io.tokenquota.servlet.testing.TestHttp;
import jakarta.servlet.http.HttpServlet;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import org.junit.jupiter.api.Test;

/**
 * Round 437 of issue 11: per-model weights after round 435 (a model is also weighed by its name without a
 * snapshot's date or {@code -latest}, the dearest matching row applying).
 *
 * <p>Two sides of that change:
 * <ul>
 * <li>An honest call to a dated snapshot that the table prices by its <em>own exact row</em>, cheaper than the
 * alias's row, is charged at the alias's row. OpenAI, "Introducing Structured Outputs in the API" (6 Aug 2024):
 * "with the new gpt-4o-2024-08-06, developers save 50% on inputs ($2.50/1M input tokens) and 33% on outputs
 * ($10.00/1M output tokens) compared to gpt-4o-2024-05-13"; until 2 Oct 2024 the alias {@code gpt-4o} pointed to
 * {@code gpt-4o-2024-05-13} ($5 / $15, OpenAI models page and pricing page of the time), so a table copied from
 * the pricing page has a row {@code gpt-4o} at 5 / 15 and a row {@code gpt-4o-2024-08-06} at 2.5 / 10. The README
 * says "The most specific wins: an exact name". A client naming the snapshot is answered with that snapshot's
 * name (OpenAI chat completion object, {@code model}: "The model used for the chat completion").</li>
 * <li>Gemini names its stable versions with a three-digit suffix, not a date (Gemini API docs, "Model versions":
 * stable {@code gemini-1.5-pro-002}, latest-stable alias {@code gemini-1.5-pro}, latest {@code gemini-1.5-pro-latest}),
 * and answers a request for an alias with the version that ran in {@code modelVersion} (GenerateContentResponse:
 * "Output only. The model version used to generate the response."; a published capture of
 * {@code POST /v1beta/models/gemini-1.5-flash-latest:generateContent} answered {@code "modelVersion":
 * "gemini-1.5-flash-002"}). Round 435's rule strips a date or {@code -latest} only, so the answer's name matches no
 * row and the call held at the request's row is charged the table's default.</li>
 * </ul>
 */
abstract class AbstractRound437 extends ModelCallRound {
    static final ObjectMapper JSON = new ObjectMapper();

    /**
     * Rows from the providers' price lists, in dollars per million tokens (input, cached input, output, reasoning):
     * OpenAI's gpt-4o alias while it pointed to gpt-4o-2024-05-13 (5 / 15, no cache discount then), the dated
     * gpt-4o-2024-08-06 (2.5 / 1.25 / 10), Gemini 1.5 Pro up to 128k (1.25 / 0.3125 / 5); every other model 1.
     */
    static final ModelWeights TABLE = ModelWeights.builder()
            .model("gpt-4o", ModelWeights.Rates.of("5", "5", "15", "15"))
            .model("gpt-4o-2024-08-06", ModelWeights.Rates.of("2.5", "1.25", "10", "10"))
            .model("gemini-1.5-pro", ModelWeights.Rates.of("1.25", "0.3125", "5", "5"))
            .defaults(ModelWeights.Rates.of("1", "1", "1", "1"))
            .build();

    static final long PROMPT = 400;
    static final long COMPLETION = 400;
    /** gpt-4o-2024-08-06 at its own row: 400 x 2.5 + 400 x 10. */
    static final long AT_AUGUST_SNAPSHOT = 1_000 + 4_000;
    /** The alias gpt-4o at its row: 400 x 5 + 400 x 15. */
    static final long AT_ALIAS = 2_000 + 6_000;

    static final long GEMINI_PROMPT = 400;
    static final long GEMINI_OUTPUT = 800;
    /** Gemini 1.5 Pro at its row: 400 x 1.25 + 800 x 5. */
    static final long AT_GEMINI_PRO = 500 + 4_000;

    @Override
    protected Deployment deploy(QuotaFilter unused) {
        QuotaFilter weighted = filterFor("/ai/").modelWeights(TABLE).build();
        return Deployment.create()
                .filter("weighted", weighted, "/*")
                .servlet("openai", new OpenAiChat(), "/ai/openai/*")
                .servlet("gemini", new GeminiGenerate(), "/ai/gemini/*");
    }

    /**
     * A relay of OpenAI's {@code POST /v1/chat/completions} (OpenAI API reference, "Create chat completion"): the chat
     * completion object with {@code model} the snapshot that ran: the one the request named when it named a snapshot
     * (as OpenAI answers), the alias's snapshot when it named the alias.
     */
    class OpenAiChat extends HttpServlet {
        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            JsonNode body = JSON.readTree(req.getInputStream());
            if (!req.getPathInfo().endsWith("/v1/chat/completions") || !body.has("messages")) {
                resp.sendError(404);
                return;
            }
            calls.count(req.getHeader("x-user-id"));
            String asked = body.get("model").asText();
            String model = "gpt-4o".equals(asked) ? "gpt-4o-2024-05-13" : asked;
            resp.setContentType("application/json");
            resp.getOutputStream().write(("{\"id\":\"chatcmpl-B9MHDbslfkBeAs8l4bebGdFOJ6PeG\",\"object\":\"chat.completion\","
                    + "\"created\":1741570283,\"model\":" + JSON.writeValueAsString(model) + ",\"choices\":[{\"index\":0,"
                    + "\"message\":{\"role\":\"assistant\",\"content\":\"" + "The clause allows thirty days' notice. ".repeat(40)
                    + "\",\"refusal\":null,\"annotations\":[]},\"logprobs\":null,\"finish_reason\":\"stop\"}],"
                    + "\"usage\":{\"prompt_tokens\":" + PROMPT + ",\"completion_tokens\":" + COMPLETION
                    + ",\"total_tokens\":" + (PROMPT + COMPLETION) + ",\"prompt_tokens_details\":{\"cached_tokens\":0,"
                    + "\"audio_tokens\":0},\"completion_tokens_details\":{\"reasoning_tokens\":0,\"audio_tokens\":0,"
                    + "\"accepted_prediction_tokens\":0,\"rejected_prediction_tokens\":0}},"
                    + "\"service_tier\":\"default\",\"system_fingerprint\":\"fp_fc9f1d7035\"}")
                    .getBytes(StandardCharsets.UTF_8));
        }
    }

    /**
     * A relay of the Gemini API's {@code POST /v1beta/models/{model}:generateContent} (Gemini API reference,
     * "Generating content"): a GenerateContentResponse with {@code candidates}, {@code usageMetadata}
     * ({@code promptTokenCount}, {@code candidatesTokenCount}, {@code totalTokenCount}) and {@code modelVersion},
     * the stable version that ran ({@code x-answer: version}: {@code gemini-1.5-pro-002}, as the capture above
     * answered {@code gemini-1.5-flash-002} for {@code gemini-1.5-flash-latest}) or the name the path gave.
     */
    class GeminiGenerate extends HttpServlet {
        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            JsonNode body = JSON.readTree(req.getInputStream());
            String path = req.getPathInfo();
            int models = path.indexOf("/models/");
            int colon = path.lastIndexOf(":generateContent");
            if (models < 0 || colon < models || !body.has("contents")) {
                resp.sendError(404);
                return;
            }
            calls.count(req.getHeader("x-user-id"));
            String asked = path.substring(models + "/models/".length(), colon);
            String version = "version".equals(req.getHeader("x-answer")) ? "gemini-1.5-pro-002" : asked;
            resp.setContentType("application/json; charset=UTF-8");
            resp.getOutputStream().write(("{\"candidates\":[{\"content\":{\"parts\":[{\"text\":\""
                    + "The clause allows thirty days' notice. ".repeat(60) + "\"}],\"role\":\"model\"},"
                    + "\"finishReason\":\"STOP\",\"avgLogprobs\":-0.22993026177088419}],"
                    + "\"usageMetadata\":{\"promptTokenCount\":" + GEMINI_PROMPT + ",\"candidatesTokenCount\":"
                    + GEMINI_OUTPUT + ",\"totalTokenCount\":" + (GEMINI_PROMPT + GEMINI_OUTPUT) + "},"
                    + "\"modelVersion\":" + JSON.writeValueAsString(version) + "}")
                    .getBytes(StandardCharsets.UTF_8));
        }
    }

    static String chat(String model) {
        return "{\"model\":\"" + model + "\",\"messages\":[{\"role\":\"user\",\"content\":"
                + "\"Summarise the termination clauses of the attached contract.\"}],\"max_completion_tokens\":1000}";
    }

    /** A generateContent request (Gemini API reference): {@code contents} and {@code generationConfig.maxOutputTokens}. */
    static final String GENERATE = "{\"contents\":[{\"role\":\"user\",\"parts\":[{\"text\":"
            + "\"Summarise the termination clauses of the attached contract.\"}]}],"
            + "\"generationConfig\":{\"maxOutputTokens\":1000}}";

    long openAi(String s, String model) {
        HttpResponse<String> r = TestHttp.postJson(container.uri("/ai/openai/v1/chat/completions"), s, chat(model),
                "x-answer", "as-openai");
        assertEquals(200, r.statusCode(), r.body());
        assertEquals(1, calls.of(s));
        return settled(s).used();
    }

    long gemini(String s, String model, String answer) {
        HttpResponse<String> r = TestHttp.postJson(container.uri("/ai/gemini/v1beta/models/" + model + ":generateContent"),
                s, GENERATE, "x-answer", answer);
        assertEquals(200, r.statusCode(), r.body());
        assertEquals(1, calls.of(s));
        return settled(s).used();
    }

    /** Control: the alias gpt-4o, answered as its snapshot gpt-4o-2024-05-13, is charged at the alias's row. */
    @Test
    void aGpt4oCallIsChargedAtTheAliassRow() {
        String s = subject();
        assertEquals(AT_ALIAS, openAi(s, "gpt-4o"), kind() + ": " + ledger(s));
    }

    /**
     * Found and fixed: a client naming the cheaper dated snapshot gpt-4o-2024-08-06, answered under that name, which the
     * table prices by its own exact row (2.5 / 10), is charged at the alias's row gpt-4o (5 / 15): 8,000 for 5,000.
     * Round 435's undated spelling overrides the most specific row.
     */
    @Test
    void aCallToTheCheaperSnapshotIsChargedAtItsOwnExactRow() {
        String s = subject();
        assertEquals(AT_AUGUST_SNAPSHOT, openAi(s, "gpt-4o-2024-08-06"), kind()
                + ": gpt-4o-2024-08-06 has its own exact row (2.5 / 10), the alias gpt-4o's row is 5 / 15; " + ledger(s));
    }

    /** Control: a Gemini call whose answer names the model as the path does is charged at gemini-1.5-pro's row. */
    @Test
    void aGeminiProCallAnsweredUnderItsNameIsChargedAtItsRow() {
        String s = subject();
        assertEquals(AT_GEMINI_PRO, gemini(s, "gemini-1.5-pro", "echo"), kind() + ": " + ledger(s));
    }

    /**
     * Found and fixed: the same call, answered as the Gemini API answers an alias, {@code "modelVersion": "gemini-1.5-pro-002"}
     * (the stable version that ran): held at gemini-1.5-pro's rates, charged the default, 1,200 for 4,500.
     */
    @Test
    void aGeminiProCallAnsweredAsItsStableVersionIsChargedAtItsRow() {
        String s = subject();
        assertEquals(AT_GEMINI_PRO, gemini(s, "gemini-1.5-pro", "version"), kind()
                + ": the path named gemini-1.5-pro (row 1.25 / 5), the answer its version gemini-1.5-pro-002; " + ledger(s));
    }

    /** Found and fixed: the alias {@code gemini-1.5-pro-latest} answered as its version: the same under-charge. */
    @Test
    void aGeminiProLatestCallAnsweredAsItsStableVersionIsChargedAtItsRow() {
        String s = subject();
        assertEquals(AT_GEMINI_PRO, gemini(s, "gemini-1.5-pro-latest", "version"), kind()
                + ": the path named gemini-1.5-pro-latest (row gemini-1.5-pro: 1.25 / 5), the answer gemini-1.5-pro-002; "
                + ledger(s));
    }
}
