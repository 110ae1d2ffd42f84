package io.tokenquota.examples;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.tokenquota.EventKind;
import io.tokenquota.LedgerEvent;
import io.tokenquota.ModelWeights.Rates;
import io.tokenquota.TokenUsage;
import io.tokenquota.testkit.MutableClock;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.YearMonth;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The demo's per-model weights: {@code QUOTA_MODEL_WEIGHTS} loads a table, without it the example table
 * applies, the mock answers as the model the request names and is charged at that model's weights, and
 * the dashboard's data shows usage by model.
 */
class DemoModelWeightsTest {
    private static final YearMonth MONTH = YearMonth.of(2026, 11);
    private static DemoApp app;
    private static final HttpClient HTTP = HttpClient.newHttpClient();

    @BeforeAll
    static void start() throws Exception {
        app = DemoApp.start(DemoConfig.builder().port(0).host("127.0.0.1")
                .jdbc("jdbc:h2:mem:weights-" + UUID.randomUUID() + ";DB_CLOSE_DELAY=-1", "sa", "")
                .adminToken(DemoClient.ADMIN_TOKEN).paymentSecret(DemoClient.PAYMENT_SECRET)
                .clock(MutableClock.at(MONTH, 10, 9)).build());
    }

    @AfterAll
    static void stop() throws Exception {
        if (app != null) {
            app.close();
        }
    }

    @Test
    void theEnvironmentNamesTheWeightsFile(@TempDir Path dir) throws Exception {
        Path csv = dir.resolve("weights.csv");
        Files.writeString(csv, "model,input,cached_input,output,reasoning\nmy-model*,2,1,6,6\n");
        DemoConfig c = DemoConfig.fromEnv(Map.of("QUOTA_MODEL_WEIGHTS", csv.toString()));
        assertEquals(Rates.of("2", "1", "6", "6"), c.modelWeights().rates("my-model-1"));
        assertEquals(Rates.ONE, c.modelWeights().rates("gpt-4o"), "a file replaces the example table whole");
        assertEquals(Rates.of("0.15", "0.075", "0.6", "0.6"), DemoConfig.fromEnv(Map.of()).modelWeights()
                .rates("gpt-4o-mini-2024-07-18"));
    }

    @Test
    void aBadOrMissingFileStopsStartupNamingTheVariableAndLine(@TempDir Path dir) throws Exception {
        Path csv = dir.resolve("weights.csv");
        Files.writeString(csv, "model,input,cached_input,output,reasoning\nok,1,1,1,1\nbad,1,1,-4,1\n");
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> DemoConfig.fromEnv(Map.of("QUOTA_MODEL_WEIGHTS", csv.toString())));
        assertTrue(e.getMessage().startsWith("QUOTA_MODEL_WEIGHTS has an unusable value"), e.getMessage());
        assertTrue(e.getMessage().contains("line 3"), e.getMessage());
        IllegalArgumentException missing = assertThrows(IllegalArgumentException.class,
                () -> DemoConfig.fromEnv(Map.of("QUOTA_MODEL_WEIGHTS", dir.resolve("none.json").toString())));
        assertTrue(missing.getMessage().startsWith("QUOTA_MODEL_WEIGHTS has an unusable value"), missing.getMessage());
    }

    private static HttpResponse<String> chat(String user, String model) throws Exception {
        String body = "{\"model\":\"" + model + "\",\"messages\":[{\"role\":\"user\",\"content\":\"Plan my week.\"}],"
                + "\"max_tokens\":60}";
        return HTTP.send(HttpRequest.newBuilder(app.baseUri().resolve(DemoApp.CHAT_COMPLETIONS_PATH))
                .header("x-user-id", user).header("content-type", "application/json")
                .POST(HttpRequest.BodyPublishers.ofString(body)).build(), HttpResponse.BodyHandlers.ofString());
    }

    @Test
    void theMockAnswersAsTheRequestedModelAndIsChargedAtItsWeights() throws Exception {
        String user = "weights-" + UUID.randomUUID().toString().substring(0, 8);
        DemoClient client = new DemoClient(app.baseUri());
        long charged = 0;
        for (String model : List.of("gpt-4o-mini", "claude-opus-4-1", "mock-gpt")) {
            HttpResponse<String> r = chat(user, model);
            assertEquals(200, r.statusCode(), r.body());
            Map<String, Object> answer = TestJson.object(r.body());
            assertEquals(model, answer.get("model"));
            long prompt = TestJson.longAt(answer, "usage", "prompt_tokens");
            long completion = TestJson.longAt(answer, "usage", "completion_tokens");
            client.settledQuota(user);
            List<LedgerEvent> commits = app.store().events(user, MONTH).stream()
                    .filter(e -> e.kind() == EventKind.COMMITTED).toList();
            LedgerEvent last = commits.get(commits.size() - 1);
            TokenUsage usage = TokenUsage.of(model, prompt, completion);
            assertEquals(usage, last.usage());
            assertEquals(DemoConfig.exampleWeights().charge(usage), last.tokens());
            charged += last.tokens();
        }
        assertEquals(charged, app.store().account(user, MONTH).orElseThrow().used());
        HttpResponse<String> data = HTTP.send(HttpRequest.newBuilder(app.baseUri()
                        .resolve(DemoApp.DASHBOARD_DATA_PATH + "?user_id=" + user))
                .header("Authorization", "Bearer " + DemoClient.ADMIN_TOKEN).GET().build(),
                HttpResponse.BodyHandlers.ofString());
        assertEquals(200, data.statusCode(), data.body());
        assertTrue(data.body().contains("\"model\":\"claude-opus-4-1\""), data.body());
        assertTrue(data.body().contains("\"model\":\"gpt-4o-mini\""), data.body());
    }
}
