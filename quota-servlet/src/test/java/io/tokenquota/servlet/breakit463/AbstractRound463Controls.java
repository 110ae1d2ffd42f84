package io.tokenquota.servlet.breakit463;

import static org.junit.jupiter.api.Assertions.assertEquals;

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
import java.util.StringJoiner;
import org.junit.jupiter.api.Test;

/**
 * Round 463's controls, the other way: a count is now told by the provider's whole path shape and an answer holding
 * exactly its endpoint's fields, its tokens listed held to the quarter-of-the-estimate floor a number is. Each
 * provider's genuine count, optional fields included, reached through a gateway's prefix, is still released (charged
 * 0). And the residual case (a catch-all route calling a model at a path of a count's whole shape, the model answering
 * exactly a count's shape, is released) has the host's remedy: the endpoint's own figure, which wins over any reading
 * of the answer.
 */
abstract class AbstractRound463Controls extends H2FilterRound {
    /** About 90 tokens of prose: what each count request counts. */
    static final String PROMPT = "Summarise the quarterly report for the board: revenue rose eleven percent, costs"
            + " held flat, and the new region opened two months ahead of plan. Keep it to three sentences, plain words,"
            + " no figures beyond the ones given, and end with the single risk the board should watch next quarter.";

    final ModelCalls calls = new ModelCalls();

    @Override
    protected Deployment deploy(QuotaFilter filter) {
        return Deployment.create().filter("quota", filter, "/*").servlet("gateway", new Gateway(), "/ai/*");
    }

    /**
     * A gateway relaying each provider's token count ({@code /ai/gw/...}: the provider's answer, its size the
     * request's, about a token per four bytes as a tokenizer counts prose), and an application's catch-all route
     * ({@code /ai/app/...}) that calls a model whose answer is shaped exactly as a count.
     */
    private final class Gateway extends HttpServlet {
        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            byte[] body = req.getInputStream().readAllBytes();
            String path = req.getPathInfo();
            long n = body.length / 4 + 10;
            resp.setContentType("application/json");
            String answer;
            if (path.startsWith("/app/")) {
                calls.count(req.getHeader("x-user-id"));
                // the model wrote a count's shape; the endpoint knows what the call cost
                if ("attribute".equals(req.getParameter("report"))) {
                    req.setAttribute(QuotaFilter.ACTUAL_TOKENS_ATTRIBUTE, 4_400L);
                } else if ("header".equals(req.getParameter("report"))) {
                    resp.setHeader(QuotaFilter.ACTUAL_TOKENS_HEADER, "4400");
                }
                answer = "{\"totalTokens\":250000}";
            } else if (path.endsWith(":countTokens") && path.contains("/publishers/google/")) {
                answer = "{\"totalTokens\":" + n + ",\"totalBillableCharacters\":" + n * 4 + ",\"promptTokensDetails\":"
                        + "[{\"modality\":\"TEXT\",\"tokenCount\":" + n + "}]}";
            } else if (path.endsWith(":countTokens")) {
                answer = "{\"totalTokens\":" + n + ",\"cachedContentTokenCount\":0,\"promptTokensDetails\":"
                        + "[{\"modality\":\"TEXT\",\"tokenCount\":" + n + "}],\"cacheTokensDetails\":[]}";
            } else if (path.endsWith(":computeTokens")) {
                answer = "{\"tokensInfo\":[{\"tokens\":" + list(n, "\"VGhl\"") + ",\"tokenIds\":" + list(n, "\"651\"")
                        + ",\"role\":\"user\"}]}";
            } else if (path.endsWith("/messages/count_tokens") || path.endsWith("count-tokens:rawPredict")) {
                answer = "{\"input_tokens\":" + n + (path.endsWith("count_tokens")
                        ? ",\"context_management\":{\"original_input_tokens\":" + n + "}}" : "}");
            } else if (path.endsWith("/responses/input_tokens")) {
                answer = "{\"object\":\"response.input_tokens\",\"input_tokens\":" + n + "}";
            } else if (path.endsWith("/count-tokens")) {
                answer = "{\"inputTokens\":" + n + "}";
            } else if ("llama".equals(req.getParameter("server"))) {
                answer = "{\"tokens\":" + list(n, "{\"id\":9906,\"piece\":\"Hello\"}") + "}";
            } else if ("tgi".equals(req.getParameter("server"))) {
                answer = list(n, "{\"id\":5159,\"text\":\"My\",\"start\":0,\"stop\":2}");
            } else {
                answer = "{\"count\":" + n + ",\"max_model_len\":32768,\"tokens\":" + list(n, "791")
                        + ",\"token_strs\":" + list(n, "\"a\"") + "}";
            }
            resp.getOutputStream().write(answer.getBytes(StandardCharsets.UTF_8));
        }
    }

    private static String list(long n, String element) {
        StringJoiner j = new StringJoiner(",", "[", "]");
        for (long i = 0; i < n; i++) {
            j.add(element);
        }
        return j.toString();
    }

    private static String text() {
        return "\"" + PROMPT + "\"";
    }

    private long charged(String path, String body) {
        String s = "r463c-" + kind() + "-" + System.nanoTime();
        HttpResponse<String> r = TestHttp.postJson(container.uri(path), s, body);
        assertEquals(200, r.statusCode(), r.body());
        return settled(s).used();
    }

    private void assertReleased(String path, String body) {
        String s = "r463c-" + kind() + "-" + System.nanoTime();
        HttpResponse<String> r = TestHttp.postJson(container.uri(path), s, body);
        assertEquals(200, r.statusCode(), r.body());
        assertEquals(0, settled(s).used(), kind() + ": " + path + " answered a genuine count (" + r.body() + "), no model"
                + " ran: " + ledger(s));
    }

    @Test
    void geminisCountThroughAGatewayIsReleased() {
        String gemini = "{\"contents\":[{\"role\":\"user\",\"parts\":[{\"text\":" + text() + "}]}]}";
        assertReleased("/ai/gw/v1beta/models/gemini-2.5-flash:countTokens", gemini);
        assertReleased("/ai/gw/v1/projects/p/locations/us-central1/publishers/google/models/gemini-2.5-flash:countTokens",
                gemini);
        assertReleased("/ai/gw/v1/projects/p/locations/us-central1/publishers/google/models/gemini-2.5-flash:computeTokens",
                gemini);
    }

    @Test
    void anthropicsCountThroughAGatewayIsReleased() {
        String messages = "{\"model\":\"claude-sonnet-4-5\",\"messages\":[{\"role\":\"user\",\"content\":" + text() + "}]}";
        assertReleased("/ai/gw/v1/messages/count_tokens", messages);
        assertReleased("/ai/gw/v1/projects/p/locations/us-east5/publishers/anthropic/models/count-tokens:rawPredict",
                "{\"anthropic_version\":\"vertex-2023-10-16\",\"model\":\"claude-sonnet-4-5\",\"messages\":[{\"role\":"
                        + "\"user\",\"content\":" + text() + "}]}");
    }

    @Test
    void openAisAndBedrocksCountsThroughAGatewayAreReleased() {
        assertReleased("/ai/gw/v1/responses/input_tokens", "{\"model\":\"gpt-4.1\",\"input\":" + text() + "}");
        assertReleased("/ai/gw/model/anthropic.claude-sonnet-4-5-20250929-v1:0/count-tokens", "{\"input\":{\"converse\":"
                + "{\"messages\":[{\"role\":\"user\",\"content\":[{\"text\":" + text() + "}]}]}}}");
    }

    @Test
    void tokenizersListsThroughAGatewayAreReleased() {
        assertReleased("/ai/gw/tokenize", "{\"model\":\"Qwen/Qwen2.5-7B-Instruct\",\"prompt\":" + text() + "}");
        assertReleased("/ai/gw/tokenize?server=llama", "{\"content\":" + text() + ",\"with_pieces\":true}");
        assertReleased("/ai/gw/tokenize?server=tgi", "{\"inputs\":" + text() + "}");
    }

    /**
     * The residual case's remedy: a catch-all route calls a model at a path of Gemini's whole count shape and the
     * model answers exactly a count's shape; the endpoint reports what the call cost, through the request attribute
     * or the header, and that figure is charged, not the count's release.
     */
    @Test
    void theEndpointsOwnFigureWinsOverACountShapedAnswer() {
        String request = "{\"contents\":[{\"role\":\"user\",\"parts\":[{\"text\":" + text() + "}]}]}";
        String path = "/ai/app/v1beta/models/gemini-invoice:countTokens";
        assertEquals(4_400, charged(path + "?report=attribute", request), kind() + ": the attribute's figure");
        assertEquals(4_400, charged(path + "?report=header", request), kind() + ": the header's figure");
    }
}
