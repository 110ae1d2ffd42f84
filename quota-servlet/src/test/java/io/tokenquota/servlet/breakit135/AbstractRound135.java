package io.tokenquota.servlet.breakit135;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.tokenquota.QuotaAccount;
import io.tokenquota.servlet.QuotaFilter;
import io.tokenquota.servlet.testing.Deployment;
import io.tokenquota.servlet.testing.ModelCallRound;
import io.tokenquota.servlet.testing.ModelCalls;
import io.tokenquota.servlet.testing.TestHttp;
import jakarta.servlet.http.HttpServlet;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.util.LinkedHashMap;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * Round 135 of issue 11 ("no model call goes unpaid, nothing that never reached a model is charged"):
 * a Spring MVC chat controller that returns the provider's completion object (a {@code ChatCompletion}
 * of the SDK, or a {@code Map}), which Spring serialises with whatever message converter the client's
 * {@code Accept} header picks. A Spring application registers more converters than JSON's as soon as
 * their Jackson data formats are on its classpath ({@code WebMvcConfigurationSupport} adds Jackson's
 * XML converter for {@code jackson-dataformat-xml}, its CBOR converter for
 * {@code jackson-dataformat-cbor}, which the AWS SDK for Java v1 brings in, and its YAML converter for
 * {@code jackson-dataformat-yaml} since Spring 6.2). The completion, its {@code usage} included, then
 * goes out in that format, with the same fields. The endpoint here writes the bytes those converters
 * write for the completion (the JSON case is Spring's Jackson JSON converter).
 *
 * <p>The model is a reasoning model: the client names no {@code max_tokens}, the model thinks for
 * 8,900 tokens (billed as output, not shown) and answers in one line. The provider reports
 * {@code prompt_tokens} 40, {@code completion_tokens} 9,000, {@code total_tokens} 9,040. The filter
 * holds the short request plus the default output budget (about 1,040).
 */
abstract class AbstractRound135 extends ModelCallRound {
    static final ModelCalls CALLS = new ModelCalls();

    static final long PROMPT = 40;
    static final long COMPLETION = 9_000;
    static final long TOTAL = PROMPT + COMPLETION;

    AbstractRound135() {
        super(CALLS);
    }

    @Override
    protected Deployment deploy(QuotaFilter filter) {
        return filteredAi(filter).servlet("chat", new Chat(), "/ai/chat");
    }

    /** The completion the provider returned, as the SDK object's fields serialise (in order). */
    static Map<String, Object> completion() {
        Map<String, Object> message = new LinkedHashMap<>();
        message.put("role", "assistant");
        message.put("content", "The shortest route visits the depots in the order B, D, A, C, E.");
        Map<String, Object> choice = new LinkedHashMap<>();
        choice.put("index", 0);
        choice.put("message", message);
        choice.put("finish_reason", "stop");
        Map<String, Object> details = new LinkedHashMap<>();
        details.put("reasoning_tokens", 8_900);
        Map<String, Object> usage = new LinkedHashMap<>();
        usage.put("prompt_tokens", PROMPT);
        usage.put("completion_tokens", COMPLETION);
        usage.put("total_tokens", TOTAL);
        usage.put("completion_tokens_details", details);
        Map<String, Object> c = new LinkedHashMap<>();
        c.put("id", "chatcmpl-135a");
        c.put("object", "chat.completion");
        c.put("created", 1735689600);
        c.put("model", "o3-mini-2025-01-31");
        c.put("choices", java.util.List.of(choice));
        c.put("usage", usage);
        return c;
    }

    /**
     * {@code POST /ai/chat}: calls the model (one call, counted) and returns the completion through the
     * converter the client's {@code Accept} picks, as Spring MVC does with {@code @RestController}
     * returning the SDK's object and the Jackson data formats on the classpath.
     */
    static class Chat extends HttpServlet {
        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            req.getInputStream().readAllBytes();
            CALLS.count(req.getHeader("x-user-id"));
            Map<String, Object> c = completion();
            String accept = String.valueOf(req.getHeader("Accept"));
            byte[] body;
            if (accept.contains("application/xml")) {
                resp.setContentType("application/xml;charset=UTF-8");
                StringBuilder sb = new StringBuilder("<ChatCompletion>");
                xml(sb, c);
                body = sb.append("</ChatCompletion>").toString().getBytes(StandardCharsets.UTF_8);
            } else if (accept.contains("application/yaml")) {
                resp.setContentType("application/yaml;charset=UTF-8");
                StringBuilder sb = new StringBuilder("---\n");
                yaml(sb, c, "");
                body = sb.toString().getBytes(StandardCharsets.UTF_8);
            } else if (accept.contains("application/cbor")) {
                resp.setContentType("application/cbor");
                ByteArrayOutputStream out = new ByteArrayOutputStream();
                cbor(out, c);
                body = out.toByteArray();
            } else {
                resp.setContentType("application/json");
                body = new com.fasterxml.jackson.databind.ObjectMapper().writeValueAsBytes(c);
            }
            resp.setContentLength(body.length);
            resp.getOutputStream().write(body);
        }
    }

    /** Jackson XML's writing of a map: each entry an element, a list's items repeated under its name. */
    @SuppressWarnings("unchecked")
    static void xml(StringBuilder sb, Map<String, Object> map) {
        for (Map.Entry<String, Object> e : map.entrySet()) {
            if (e.getValue() instanceof java.util.List<?> list) {
                sb.append('<').append(e.getKey()).append('>');
                for (Object item : list) {
                    sb.append("<").append(e.getKey()).append('>');
                    xml(sb, (Map<String, Object>) item);
                    sb.append("</").append(e.getKey()).append('>');
                }
                sb.append("</").append(e.getKey()).append('>');
            } else if (e.getValue() instanceof Map<?, ?> inner) {
                sb.append('<').append(e.getKey()).append('>');
                xml(sb, (Map<String, Object>) inner);
                sb.append("</").append(e.getKey()).append('>');
            } else {
                sb.append('<').append(e.getKey()).append('>').append(e.getValue()).append("</").append(e.getKey()).append('>');
            }
        }
    }

    /** Jackson YAML's block style. */
    @SuppressWarnings("unchecked")
    static void yaml(StringBuilder sb, Map<String, Object> map, String indent) {
        for (Map.Entry<String, Object> e : map.entrySet()) {
            sb.append(indent).append(e.getKey()).append(':');
            if (e.getValue() instanceof java.util.List<?> list) {
                sb.append('\n');
                for (Object item : list) {
                    StringBuilder inner = new StringBuilder();
                    yaml(inner, (Map<String, Object>) item, indent + "  ");
                    sb.append(indent).append("- ").append(inner.substring(indent.length() + 2));
                }
            } else if (e.getValue() instanceof Map<?, ?> inner) {
                sb.append('\n');
                yaml(sb, (Map<String, Object>) inner, indent + "  ");
            } else if (e.getValue() instanceof String s) {
                sb.append(" \"").append(s).append("\"\n");
            } else {
                sb.append(' ').append(e.getValue()).append('\n');
            }
        }
    }

    /** CBOR (RFC 8949) as Jackson's CBOR generator writes a map: definite-length maps, arrays, texts, ints. */
    @SuppressWarnings("unchecked")
    static void cbor(ByteArrayOutputStream out, Object value) {
        if (value instanceof Map<?, ?> map) {
            head(out, 5, map.size());
            for (Map.Entry<String, Object> e : ((Map<String, Object>) map).entrySet()) {
                cbor(out, e.getKey());
                cbor(out, e.getValue());
            }
        } else if (value instanceof java.util.List<?> list) {
            head(out, 4, list.size());
            for (Object item : list) {
                cbor(out, item);
            }
        } else if (value instanceof String s) {
            byte[] b = s.getBytes(StandardCharsets.UTF_8);
            head(out, 3, b.length);
            out.writeBytes(b);
        } else {
            head(out, 0, ((Number) value).longValue());
        }
    }

    static void head(ByteArrayOutputStream out, int major, long n) {
        if (n < 24) {
            out.write(major << 5 | (int) n);
        } else if (n < 256) {
            out.write(major << 5 | 24);
            out.write((int) n);
        } else if (n < 65_536) {
            out.write(major << 5 | 25);
            out.write((int) (n >> 8));
            out.write((int) n);
        } else {
            out.write(major << 5 | 26);
            for (int shift = 24; shift >= 0; shift -= 8) {
                out.write((int) (n >> shift));
            }
        }
    }

    /** The client's question: no {@code max_tokens} (a reasoning model decides how long it thinks). */
    static final String BODY = "{\"model\":\"o3-mini\",\"messages\":[{\"role\":\"user\",\"content\":"
            + "\"Find the shortest route through depots A to E given the distance table I sent earlier.\"}]}";

    /** Posts the question as a new subject with {@code accept}; one model call, charged the provider's total. */
    void assertChargedTheCompletionsUsage(String accept) {
        String s = subject();
        HttpResponse<String> r = TestHttp.postJson(container.uri("/ai/chat"), s, BODY, "Accept", accept);
        QuotaAccount a = assertAnswered(s, r, 200, 1);
        assertTrue(a.used() >= TOTAL, "the model billed " + TOTAL + " tokens (usage in the answer, as "
                + accept + "); charged " + a.used() + ". " + figures(s, r, a));
    }

    /** Control: {@code Accept: application/json}: Spring's Jackson JSON converter; charged 9,040. */
    @Test
    void controlJsonCompletionIsChargedItsUsage() {
        String s = subject();
        HttpResponse<String> r = TestHttp.postJson(container.uri("/ai/chat"), s, BODY, "Accept", "application/json");
        QuotaAccount a = assertAnswered(s, r, 200, 1);
        assertEquals(TOTAL, a.used(), figures(s, r, a));
    }

    /**
     * Attack: the same call with {@code Accept: application/xml}. Spring writes the completion with
     * Jackson's XML converter ({@code <ChatCompletion>...<usage><total_tokens>9040</total_tokens>...}).
     * The model billed 9,040; the filter reads usage only from JSON and event streams, so the answer is a
     * 2xx without usage and is charged the estimate (about 1,040). Expected: at least 9,040.
     */
    @Test
    void xmlCompletionIsChargedItsUsage() {
        assertChargedTheCompletionsUsage("application/xml");
    }

    /**
     * Attack: {@code Accept: application/yaml} (Spring's Jackson YAML converter): the same completion as a
     * YAML document ({@code usage:\n  total_tokens: 9040}). Expected: at least 9,040.
     */
    @Test
    void yamlCompletionIsChargedItsUsage() {
        assertChargedTheCompletionsUsage("application/yaml");
    }

    /**
     * Attack: {@code Accept: application/cbor} (Spring's Jackson CBOR converter, registered whenever
     * {@code jackson-dataformat-cbor} is on the classpath, as with the AWS SDK for Java v1): the completion
     * as binary CBOR. Expected: at least 9,040.
     */
    @Test
    void cborCompletionIsChargedItsUsage() {
        assertChargedTheCompletionsUsage("application/cbor");
    }
}
