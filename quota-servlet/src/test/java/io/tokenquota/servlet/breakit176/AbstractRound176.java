package io.tokenquota.servlet.breakit176;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.tokenquota.servlet.QuotaFilter;
import io.tokenquota.servlet.testing.ChatCompletions;
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
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.UUID;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * Round 176 of issue 11 (a helper checking the issue item by item). Item 9: "match on path-segment
 * boundaries"; the builder refuses a prefix that is a pattern ({@code *}, {@code ?}, <code>{</code>) or does
 * not start with {@code /}, so that a prefix that protects nothing fails at start. A host builds its
 * prefixes from configuration: a base path and a suffix joined as strings ({@code "/api/" + "/ai/"}), a
 * list read from an environment variable or a properties file with a stray blank, a path written with a
 * dot segment or an escaped character. Such a prefix is accepted and matches no request the container
 * delivers (containers collapse dot segments and decode escapes; Jetty refuses empty segments), so the
 * endpoint it was meant to protect is served unprotected: every model call there is free. Expected: the
 * prefix is refused at {@code build()} with an {@code IllegalArgumentException}, or it protects the path
 * it names (the call is charged its usage).
 */
abstract class AbstractRound176 extends H2FilterRound {
    final ModelCalls calls = new ModelCalls();
    /** Per case: the filter built with that prefix, or the builder's refusal. */
    final Map<String, Object> built = new LinkedHashMap<>();

    static String subject() {
        return "u176-" + UUID.randomUUID().toString().substring(0, 12);
    }

    /** case name, prefix as configured, the path the model servlet is mapped at. */
    static final String[][] CASES = {
            {"joined", "/j1//ai/", "/j1/ai/*"},
            {"dot", "/j2/./ai/", "/j2/ai/*"},
            {"dotdot", "/j3/v0/../ai/", "/j3/ai/*"},
            {"blank", "/j4/ai/ ", "/j4/ai/*"},
            {"escaped", "/j5/a%69/", "/j5/ai/*"},
            {"control", "/j6/ai/", "/j6/ai/*"},
    };

    @Override
    protected Deployment deploy(QuotaFilter filter) {
        Deployment d = Deployment.create().filter("quota", filter, "/*");
        for (String[] c : CASES) {
            try {
                QuotaFilter f = filterFor(c[1]).build();
                built.put(c[0], f);
                d.filter("quota-" + c[0], f, "/*");
            } catch (IllegalArgumentException refused) {
                built.put(c[0], refused);
            }
            d.servlet("model-" + c[0], new Model(), c[2]);
        }
        return d;
    }

    /** A chat completions endpoint: the model's answer with its usage, 1,000 in and 5,000 out. */
    class Model extends HttpServlet {
        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            req.getInputStream().readAllBytes();
            calls.count(req.getHeader("x-user-id"));
            byte[] bytes = ChatCompletions.completion("chatcmpl-176", "gpt-4o", "A long answer.", 1_000, 5_000)
                    .getBytes(StandardCharsets.UTF_8);
            ChatCompletions.writeWithLength(resp, bytes);
        }
    }

    /**
     * The host configured {@code prefix} to protect its chat endpoint at {@code path}; a client calls it.
     * Either the builder refused the prefix, or the call is charged its 6,000 tokens of usage.
     */
    @ParameterizedTest(name = "{0}: protect(\"{1}\")")
    @CsvSource(value = {"joined|/j1//ai/|/j1/ai/chat/completions", "dot|/j2/./ai/|/j2/ai/chat/completions",
            "dotdot|/j3/v0/../ai/|/j3/ai/chat/completions", "blank|'/j4/ai/ '|/j4/ai/chat/completions",
            "escaped|/j5/a%69/|/j5/ai/chat/completions", "control|/j6/ai/|/j6/ai/chat/completions"}, delimiter = '|')
    void aPrefixThatMatchesNoRequestIsRefusedOrProtectsItsPath(String name, String prefix, String path) {
        Object filterOrRefusal = built.get(name);
        if (filterOrRefusal instanceof IllegalArgumentException) {
            return; // refused at build(): the host learns at start
        }
        String s = subject();
        HttpResponse<String> r = TestHttp.postJson(container.uri(path), s,
                "{\"model\":\"gpt-4o\",\"messages\":[{\"role\":\"user\",\"content\":\"Write the long report.\"}]}");
        assertEquals(200, r.statusCode(), r.body());
        assertEquals(1, calls.of(s), "the model ran once");
        long used = settled(s).used();
        assertTrue(used >= 6_000, "protect(\"" + prefix + "\") was accepted, and a call to " + path
                + " whose usage is 6,000 is charged " + used + ": " + ledger(s));
    }
}
