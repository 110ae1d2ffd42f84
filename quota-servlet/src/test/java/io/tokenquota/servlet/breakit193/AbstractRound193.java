package io.tokenquota.servlet.breakit193;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

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
import java.util.UUID;
import org.junit.jupiter.api.Test;

/**
 * Round 193 of issue 11: a Java application on Ollama through ollama4j returns the library's
 * {@code OllamaResult} as its answer (a Spring controller returning it, serialised by Jackson from its
 * Lombok getters): {@code response}, {@code model}, {@code done}, {@code promptEvalCount},
 * {@code evalCount}... in camelCase at the top level. The model ran and its counts are in the answer.
 */
abstract class AbstractRound193 extends H2FilterRound {
    final ModelCalls calls = new ModelCalls();

    static String subject() {
        return "u193-" + UUID.randomUUID().toString().substring(0, 12);
    }

    static final String WORDS = "The supplier may terminate with thirty days' notice for non-payment of any invoice. ";

    static String answer(boolean camel) {
        String text = WORDS.repeat(250);
        String p = camel ? "promptEvalCount" : "prompt_eval_count";
        String e = camel ? "evalCount" : "eval_count";
        return camel
                ? "{\"response\":\"" + text + "\",\"thinking\":null,\"httpStatusCode\":200,\"responseTime\":41230,"
                        + "\"model\":\"llama3.1:8b\",\"createdAt\":\"2025-08-16T21:50:45.146929735Z\",\"done\":true,"
                        + "\"doneReason\":\"stop\",\"context\":null,\"totalDuration\":41200000000,\"loadDuration\":12000000,"
                        + "\"" + p + "\":900,\"promptEvalDuration\":310000000,\"" + e + "\":4000,\"evalDuration\":40800000000}"
                : "{\"model\":\"llama3.1:8b\",\"created_at\":\"2025-08-16T21:50:45.146929735Z\",\"response\":\"" + text
                        + "\",\"done\":true,\"done_reason\":\"stop\",\"total_duration\":41200000000,"
                        + "\"" + p + "\":900,\"" + e + "\":4000}";
    }

    @Override
    protected Deployment deploy(QuotaFilter filter) {
        return Deployment.create()
                .filter("quota", filter, "/*")
                .servlet("generate", new Generate(), "/ai/generate/*")
                .onStartup(filter::registerByServletName);
    }

    /** Calls the model and writes the result object as JSON ({@code /camel}: ollama4j's; {@code /relay}: Ollama's own). */
    class Generate extends HttpServlet {
        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            req.getInputStream().readAllBytes();
            calls.count(req.getHeader("x-user-id"));
            resp.setContentType("application/json");
            resp.getWriter().write(answer(req.getPathInfo().endsWith("/camel")));
        }
    }

    static final String BODY = "{\"model\":\"llama3.1:8b\",\"prompt\":\"Summarise the termination clauses of the supply contract.\"}";

    /** The attack: the app returns ollama4j's {@code OllamaResult}: 900 + 4,000 tokens counted in it. */
    @Test
    void anOllama4jResultIsChargedItsCounts() {
        String s = subject();
        HttpResponse<String> r = TestHttp.postJson(container.uri("/ai/generate/camel"), s, BODY);
        assertEquals(200, r.statusCode(), r.body());
        assertEquals(1, calls.of(s), "the model ran once");
        long used = settled(s).used();
        assertTrue(used >= 4_900, "an ollama4j result counting 900 + 4,000 tokens is charged them, charged " + used
                + ": " + ledger(s));
    }

    /** Control: the same call relayed in Ollama's own snake_case is charged its counts. */
    @Test
    void theSameCallInOllamasOwnFormatIsCharged() {
        String s = subject();
        HttpResponse<String> r = TestHttp.postJson(container.uri("/ai/generate/relay"), s, BODY);
        assertEquals(200, r.statusCode(), r.body());
        assertEquals(1, calls.of(s), "the model ran once");
        long used = settled(s).used();
        assertTrue(used >= 4_900, "charged " + used + ": " + ledger(s));
    }
}
