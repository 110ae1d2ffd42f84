package io.tokenquota.servlet;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.tokenquota.servlet.testing.ContainerKind;
import io.tokenquota.servlet.testing.Deployment;
import io.tokenquota.servlet.testing.H2FilterRound;
import io.tokenquota.servlet.testing.TestHttp;
import jakarta.servlet.http.HttpServlet;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.util.UUID;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;

/**
 * A path that ends like a token-counting endpoint but reaches an application that calls the model
 * (its last segment a conversation id the client chose): the output budget cap applies as anywhere, and
 * a budget the filter cannot lower is charged whole when the answer is no count.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class CountPathBudgetTest extends H2FilterRound {

    /** Answers the application's own JSON (no usage, no count), echoing the body it was sent. */
    static final class Conversations extends HttpServlet {
        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            String body = new String(req.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
            resp.setContentType("application/json");
            resp.getWriter().write("{\"reply\":\"Here is the answer.\",\"sent\":" + body + "}");
        }
    }

    @Override
    protected ContainerKind kind() {
        return ContainerKind.JETTY;
    }

    @Override
    protected Deployment deploy(QuotaFilter filter) {
        return Deployment.create().filter("quota", filter, "/*").servlet("chat", new Conversations(), "/ai/chat/*");
    }

    private static String subject() {
        return "cpb-" + UUID.randomUUID().toString().substring(0, 12);
    }

    @Test
    void aBudgetAboveTheCapIsLoweredOnACountPathToo() {
        String s = subject();
        HttpResponse<String> r = TestHttp.postJson(container.uri("/ai/chat/tokenize"), s,
                "{\"message\":\"Summarise the report.\",\"max_tokens\":19000}");
        assertEquals(200, r.statusCode(), r.body());
        assertTrue(r.body().contains("\"max_tokens\":16384"), "the endpoint is sent the cap: " + r.body());
        long used = settled(s).used();
        assertTrue(used >= 16_384, "no count: charged the hold, " + used + " " + ledger(s));
    }

    /** A Gemini count's request whose budget is nested (the filter cannot lower it): 19,000 output tokens. */
    private static final String NESTED_BUDGET = "{\"generateContentRequest\":{\"contents\":[{\"role\":\"user\","
            + "\"parts\":[{\"text\":\"Write a long story.\"}]}],\"generationConfig\":{\"maxOutputTokens\":19000}}}";

    /**
     * A count path is Gemini's whole shape ({@code …/models/{model}:countTokens}), here reaching the application.
     * (Round 463: a last segment alone, {@code /ai/chat/c-1:countTokens}, a conversation id the client chose, is no
     * count path; this test used one before.)
     */
    @Test
    void aBudgetTheFilterCannotLowerIsChargedWholeWhenTheAnswerIsNoCount() {
        String s = subject();
        HttpResponse<String> r = TestHttp.postJson(container.uri("/ai/chat/v1beta/models/c-1:countTokens"), s, NESTED_BUDGET);
        assertEquals(200, r.statusCode(), "a count path is not refused for its budget: " + r.body());
        assertTrue(r.body().contains("19000"), "sent as it came: " + r.body());
        long used = settled(s).used();
        assertTrue(used >= 19_000, "the endpoint was asked for 19,000 tokens and answered no count; charged " + used
                + " " + ledger(s));
    }

    /**
     * Round 463: a client-chosen id ending {@code :countTokens} makes no count path, so the cap applies there as
     * on any path: a budget the filter cannot lower is refused before the call.
     */
    @Test
    void aLastSegmentEndingLikeACountIsNoCountPathForTheCap() {
        String s = subject();
        HttpResponse<String> r = TestHttp.postJson(container.uri("/ai/chat/c-1:countTokens"), s, NESTED_BUDGET);
        assertEquals(422, r.statusCode(), r.body());
        assertEquals(0, settled(s).used(), ledger(s));
    }
}
