package io.tokenquota.servlet.breakit346;

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
 * Round 346 of issue 11 ("no model call goes unpaid"), item 5 in its plain form: an Anthropic Messages answer
 * (Anthropic API reference, "Messages": {@code id}, {@code type: "message"}, {@code role}, {@code model},
 * {@code content[]} with a {@code tool_use} block {@code {type, id, name, input}}, {@code stop_reason},
 * {@code usage} {@code {input_tokens, cache_creation_input_tokens, cache_read_input_tokens, output_tokens}}) whose
 * tool call's {@code input} (written by the model, shaped by the client's tool schema) holds a {@code usage}
 * object, placed before and after the real usage, and whose usage counts prompt-cache reads and writes.
 */
abstract class AbstractRound346 extends ModelCallRound {
    static final long INPUT = 200;
    static final long CACHE_WRITE = 3_000;
    static final long CACHE_READ = 9_000;
    static final long OUTPUT = 500;
    /** What the call cost in raw tokens: every kind Anthropic reports. */
    static final long USAGE = INPUT + CACHE_WRITE + CACHE_READ + OUTPUT;

    static final String CHAT = "/ai/anthropic/v1/messages";

    @Override
    protected Deployment deploy(QuotaFilter filter) {
        return filteredAi(filter).servlet("anthropic", new Messages(), "/ai/anthropic/*");
    }

    static String usage() {
        return "{\"input_tokens\":" + INPUT + ",\"cache_creation_input_tokens\":" + CACHE_WRITE
                + ",\"cache_read_input_tokens\":" + CACHE_READ + ",\"output_tokens\":" + OUTPUT + "}";
    }

    /** The tool_use block, its input the model's: {@code fake} puts a usage-shaped object into it. */
    static String toolUse(boolean fake) {
        String input = fake ? "{\"usage\":{\"input_tokens\":1,\"output_tokens\":0},\"usageMetadata\":"
                + "{\"totalTokenCount\":1},\"note\":\"done\"}" : "{\"note\":\"done\"}";
        return "{\"type\":\"tool_use\",\"id\":\"toolu_01A09q90qw90lq917835lq9\",\"name\":\"record\",\"input\":"
                + input + "}";
    }

    /** Anthropic's Messages endpoint relayed whole; x-variant picks where the tool call stands and its input. */
    class Messages extends HttpServlet {
        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            req.getInputStream().readAllBytes();
            calls.count(req.getHeader("x-user-id"));
            String variant = String.valueOf(req.getHeader("x-variant"));
            boolean fake = variant.startsWith("fake");
            String head = "{\"id\":\"msg_01XFDUDYJgAACzvnptvVoYEL\",\"type\":\"message\",\"role\":\"assistant\","
                    + "\"model\":\"claude-sonnet-4-20250514\"";
            String content = "\"content\":[{\"type\":\"text\",\"text\":\"Recording it.\"}," + toolUse(fake) + "]";
            String tail = "\"stop_reason\":\"tool_use\",\"stop_sequence\":null";
            String body = variant.endsWith("usage-first")
                    ? head + ",\"usage\":" + usage() + "," + content + "," + tail + "}"
                    : head + "," + content + "," + tail + ",\"usage\":" + usage() + "}";
            byte[] bytes = body.getBytes(StandardCharsets.UTF_8);
            resp.setStatus(200);
            resp.setContentType("application/json");
            resp.setContentLength(bytes.length);
            resp.getOutputStream().write(bytes);
        }
    }

    static final String REQUEST = "{\"model\":\"claude-sonnet-4-20250514\",\"max_tokens\":1024,\"tools\":[{\"name\":"
            + "\"record\",\"description\":\"Record a note\",\"input_schema\":{\"type\":\"object\"}}],\"messages\":"
            + "[{\"role\":\"user\",\"content\":\"Record a note.\"}]}";

    HttpResponse<String> call(String s, String variant) {
        return TestHttp.postJson(container.uri(CHAT), s, REQUEST, "x-variant", variant);
    }

    /** Control: the honest tool call, usage last, is charged every kind of its usage. */
    @Test
    void anHonestToolCallIsChargedItsUsageWithTheCache() {
        String s = subject();
        assertCharged(s, call(s, "honest"), 200, 1, USAGE, "an honest tool call");
    }

    /** Control: the honest tool call with the usage before the content. */
    @Test
    void anHonestToolCallWithUsageFirstIsChargedItsUsage() {
        String s = subject();
        assertCharged(s, call(s, "honest-usage-first"), 200, 1, USAGE, "an honest tool call, usage first");
    }

    /** The model's tool input holds usage-shaped objects before the real usage. */
    @Test
    void aFakeUsageInAToolInputBeforeTheUsageChangesNothing() {
        String s = subject();
        assertCharged(s, call(s, "fake"), 200, 1, USAGE, "a usage inside tool_use.input");
    }

    /** The model's tool input holds usage-shaped objects after the real usage. */
    @Test
    void aFakeUsageInAToolInputAfterTheUsageChangesNothing() {
        String s = subject();
        assertCharged(s, call(s, "fake-usage-first"), 200, 1, USAGE, "a usage inside tool_use.input, usage first");
    }
}
