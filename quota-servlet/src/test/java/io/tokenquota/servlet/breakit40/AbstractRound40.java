package io.tokenquota.servlet.breakit40;

import static io.tokenquota.servlet.testing.RelayedAnswers.called;
import static io.tokenquota.servlet.testing.RelayedAnswers.calls;
import static org.junit.jupiter.api.Assertions.assertEquals;

import io.tokenquota.QuotaAccount;
import io.tokenquota.servlet.QuotaFilter;
import io.tokenquota.servlet.testing.Deployment;
import io.tokenquota.servlet.testing.H2FilterRound;
import io.tokenquota.servlet.testing.RelayedAnswers;
import io.tokenquota.servlet.testing.TestHttp;
import jakarta.servlet.ServletException;
import jakarta.servlet.http.HttpServlet;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;
import java.net.http.HttpResponse;
import java.util.UUID;
import org.junit.jupiter.api.Test;

/**
 * Round 40 of issue 11 ("no model call goes unpaid, nothing that never reached a model is charged"):
 * ways into a model endpoint mounted under the protected prefix that the filter's path check never
 * sees.
 */
abstract class AbstractRound40 extends H2FilterRound {

    static String subject() {
        return "u40-" + UUID.randomUUID().toString().substring(0, 12);
    }

    static final String CHAT = "{\"model\":\"gpt-4o\",\"max_tokens\":100,"
            + "\"messages\":[{\"role\":\"user\",\"content\":\"Tell me a story\"}]}";

    /** The model endpoint, mounted under the protected /ai/ prefix: it calls the model and relays its usage. */
    public static class ModelChat extends HttpServlet {
        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            req.getInputStream().readAllBytes();
            called(req);
            resp.setContentType("application/json");
            resp.getWriter().write(RelayedAnswers.completionJson("Once upon a time", 12, 4_988));
        }
    }

    /**
     * An old API path kept as an alias of the model endpoint by forwarding to it by servlet name, as
     * Spring's {@code ServletForwardingController} does ("forwards to a named servlet, i.e. the
     * servlet-name in web.xml rather than a URL path mapping").
     */
    public static class NamedForward extends HttpServlet {
        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException, ServletException {
            getServletContext().getNamedDispatcher("model-chat").forward(req, resp);
        }
    }

    /** A page that includes the model's answer through the named dispatcher. */
    public static class NamedInclude extends HttpServlet {
        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException, ServletException {
            getServletContext().getNamedDispatcher("model-chat").include(req, resp);
        }
    }

    @Override
    protected Deployment deploy(QuotaFilter filter) {
        return Deployment.create()
                .filter("quota", filter, "/*")
                .servlet("model-chat", new ModelChat(), "/ai/chat")
                .servlet("named-forward", new NamedForward(), "/v0/chat")
                .servlet("named-include", new NamedInclude(), "/v0/page");
    }

    /** Control: the model endpoint on its own path is held and charged the usage it reported. */
    void theModelPathIsCharged() {
        String s = subject();
        HttpResponse<String> r = TestHttp.postJson(container.uri("/ai/chat"), s, CHAT);
        assertEquals(200, r.statusCode(), r.body());
        assertEquals(5_000, settled(s).used(), "control: " + ledger(s));
    }

    /**
     * {@code POST /v0/chat} (an alias forwarding by servlet name to the model servlet at /ai/chat):
     * the model is called and its 5,000 tokens of usage are charged nothing.
     */
    @Test
    void aNamedForwardToTheModelServletIsCharged() {
        theModelPathIsCharged();
        String s = subject();
        HttpResponse<String> r = TestHttp.postJson(container.uri("/v0/chat"), s, CHAT);
        assertEquals(200, r.statusCode(), r.body());
        assertEquals(1, calls(s), "the model was called once");
        QuotaAccount account = settled(s);
        assertEquals(5_000, account.used(), "the model call reached through a named forward: " + ledger(s));
    }

    /** {@code POST /v0/page} (a page including the model servlet by name): the model's answer is free. */
    @Test
    void aNamedIncludeOfTheModelServletIsCharged() {
        theModelPathIsCharged();
        String s = subject();
        HttpResponse<String> r = TestHttp.postJson(container.uri("/v0/page"), s, CHAT);
        assertEquals(200, r.statusCode(), r.body());
        assertEquals(1, calls(s), "the model was called once");
        assertEquals(5_000, settled(s).used(), "the model call reached through a named include: " + ledger(s));
    }
}
