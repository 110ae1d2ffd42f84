package io.tokenquota.servlet.breakit249;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.tokenquota.ModelWeights;
import io.tokenquota.servlet.QuotaFilter;
import io.tokenquota.servlet.testing.Deployment;
import io.tokenquota.servlet.testing.H2FilterRound;
import io.tokenquota.servlet.testing.ModelCalls;
import io.tokenquota.servlet.testing.TestHttp;
import jakarta.servlet.http.HttpServlet;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.util.UUID;
import org.junit.jupiter.api.Test;

/**
 * Round 249 of issue 11: a Bedrock relay ({@code /ai/bedrock/model/{modelId}/converse}, as a Spring MVC
 * controller with trailing-slash matching on, Spring 5's default, or a plain servlet mapped at
 * {@code /ai/bedrock/*}) behind a filter weighing by model. Bedrock's Converse answer names no model: the
 * model is the one the path names ({@code RequestEstimator.pathModels}). A client that adds a trailing
 * {@code /} to the path reaches the same model, and the path rule no longer sees it.
 */
abstract class AbstractRound249 extends H2FilterRound {
    final ModelCalls calls = new ModelCalls();

    static final ModelWeights WEIGHTS = ModelWeights.builder()
            .model("anthropic.claude-3-opus*", ModelWeights.Rates.of("2", "2", "4", "4"))
            .defaults(ModelWeights.Rates.of("1", "1", "1", "1"))
            .build();

    /** Opus's usage at the table's Opus rates: 1,200 x 2 + 3,000 x 4. */
    static final long OPUS_CHARGE = 1_200 * 2 + 3_000 * 4;

    static String subject() {
        return "u249-" + UUID.randomUUID().toString().substring(0, 12);
    }

    @Override
    protected Deployment deploy(QuotaFilter unused) {
        QuotaFilter weighted = filterFor("/ai/").modelWeights(WEIGHTS).build();
        return Deployment.create()
                .filter("weighted", weighted, "/*")
                .servlet("bedrock", new Converse(), "/ai/bedrock/*")
                .servlet("command", new ConverseCommand(), "/ai/converse");
    }

    /** A Bedrock Converse relay: the model id is the path's, the answer Bedrock's own (no model named). */
    class Converse extends HttpServlet {
        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            req.getInputStream().readAllBytes();
            String p = req.getPathInfo();
            // Spring's trailing-slash match (and the relay): /model/{id}/converse and /model/{id}/converse/ are one route
            if (!p.matches("/model/[^/]+/converse/?")) {
                resp.sendError(404);
                return;
            }
            calls.count(req.getHeader("x-user-id"));
            resp.setContentType("application/json");
            resp.getOutputStream().write(("{\"output\":{\"message\":{\"role\":\"assistant\",\"content\":[{\"text\":\""
                    + "The termination clause allows thirty days' notice. ".repeat(200) + "\"}]}},"
                    + "\"stopReason\":\"end_turn\",\"usage\":{\"inputTokens\":1200,\"outputTokens\":3000,"
                    + "\"totalTokens\":4200},\"metrics\":{\"latencyMs\":9120}}").getBytes(StandardCharsets.UTF_8));
        }
    }

    static final String BODY = "{\"messages\":[{\"role\":\"user\",\"content\":[{\"text\":\"Summarise the contract's"
            + " termination clauses.\"}]}],\"inferenceConfig\":{\"maxTokens\":4000}}";

    long converse(String s, String path) throws InterruptedException {
        HttpResponse<String> r = TestHttp.postJson(container.uri(path), s, BODY);
        assertEquals(200, r.statusCode(), r.body());
        assertEquals(1, calls.of(s));
        return settled(s).used();
    }

    /** Control: the path as the AWS SDK writes it; Opus's rates apply. */
    @Test
    void aConverseCallOnTheSdksPathIsChargedAtThePathsModel() throws Exception {
        String s = subject();
        long used = converse(s, "/ai/bedrock/model/anthropic.claude-3-opus-20240229-v1:0/converse");
        assertTrue(used >= OPUS_CHARGE, "charged " + used + ": " + ledger(s));
    }

    /** The attack: the same call with a trailing slash (the route is the same, the model is the same). */
    @Test
    void aConverseCallWithATrailingSlashIsChargedAtThePathsModel() throws Exception {
        String s = subject();
        long used = converse(s, "/ai/bedrock/model/anthropic.claude-3-opus-20240229-v1:0/converse/");
        assertTrue(used >= OPUS_CHARGE, "an Opus call (1,200 in, 3,000 out) at Opus's rates is " + OPUS_CHARGE
                + ", charged " + used + ": " + ledger(s));
    }

    /**
     * A relay that takes the AWS SDK's {@code ConverseCommand} input as the page built it
     * ({@code new ConverseCommand({modelId, messages, inferenceConfig})} serialised to JSON) and sends it
     * to Bedrock with the model id it names; Bedrock's answer names no model.
     */
    class ConverseCommand extends HttpServlet {
        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            String body = new String(req.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
            if (!body.contains("\"modelId\"")) {
                resp.sendError(400);
                return;
            }
            calls.count(req.getHeader("x-user-id"));
            resp.setContentType("application/json");
            resp.getOutputStream().write(("{\"output\":{\"message\":{\"role\":\"assistant\",\"content\":[{\"text\":\""
                    + "The termination clause allows thirty days' notice. ".repeat(200) + "\"}]}},"
                    + "\"stopReason\":\"end_turn\",\"usage\":{\"inputTokens\":1200,\"outputTokens\":3000,"
                    + "\"totalTokens\":4200},\"metrics\":{\"latencyMs\":9120}}").getBytes(StandardCharsets.UTF_8));
        }
    }

    /** The attack: the request names its model as the AWS SDK's input does, {@code modelId}. */
    @Test
    void aConverseCommandNamingItsModelIdIsChargedAtThatModel() throws Exception {
        String s = subject();
        String body = "{\"modelId\":\"anthropic.claude-3-opus-20240229-v1:0\"," + BODY.substring(1);
        HttpResponse<String> r = TestHttp.postJson(container.uri("/ai/converse"), s, body);
        assertEquals(200, r.statusCode(), r.body());
        assertEquals(1, calls.of(s));
        long used = settled(s).used();
        assertTrue(used >= OPUS_CHARGE, "an Opus call (1,200 in, 3,000 out) at Opus's rates is " + OPUS_CHARGE
                + ", charged " + used + ": " + ledger(s));
    }
}
