package io.tokenquota.servlet.breakit161;

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
import java.util.UUID;
import org.junit.jupiter.api.Test;

/**
 * Round 161 of issue 11 ("no model call goes unpaid, nothing that never reached a model is charged"):
 * the usage of item 5 read where the provider puts it, after content the model wrote as JSON values
 * (an Anthropic {@code tool_use.input}, a LangServe AI message's {@code tool_calls[].args}) that holds
 * a long integer, as a big-number calculator tool's argument is written.
 */
abstract class AbstractRound161 extends H2FilterRound {
    final ModelCalls calls = new ModelCalls();

    /** What the provider reports the call read and wrote: a document named by file id, read whole. */
    static final long INPUT = 15_400;
    static final long OUTPUT = 600;

    static String subject() {
        return "u161-" + UUID.randomUUID().toString().substring(0, 12);
    }

    /** 2^4000, 1,205 digits: what a model writes as the argument of a big-integer calculator tool. */
    static final String BIG = java.math.BigInteger.TWO.pow(4000).toString();
    static final String SMALL = "4000";

    static final String ASK = "{\"model\":\"claude-sonnet-4-5\",\"max_tokens\":1024,\"messages\":[{\"role\":\"user\","
            + "\"content\":[{\"type\":\"document\",\"source\":{\"type\":\"file\",\"file_id\":\"file_011CNha8iCJcU1wXNR6q4V8w\"}},"
            + "{\"type\":\"text\",\"text\":\"Raise two to the power the report names, exactly.\"}]}],"
            + "\"tools\":[{\"name\":\"bigint\",\"description\":\"exact integer arithmetic\",\"input_schema\":"
            + "{\"type\":\"object\",\"properties\":{\"n\":{\"type\":\"integer\"}}}}]}";

    @Override
    protected Deployment deploy(QuotaFilter filter) {
        return Deployment.create()
                .filter("quota", filter, "/*")
                .servlet("anthropic", new Anthropic(), "/ai/v1/messages")
                .servlet("langserve", new LangServe(), "/ai/chain/invoke")
                .onStartup(filter::registerByServletName);
    }

    /** A relay of Anthropic's Messages API: the answer is the provider's JSON, byte for byte. */
    class Anthropic extends HttpServlet {
        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            req.getInputStream().readAllBytes();
            calls.count(req.getHeader("x-user-id"));
            String n = "big".equals(req.getParameter("arg")) ? BIG : SMALL;
            String answer = "{\"id\":\"msg_01XFDUDYJgAACzvnptvVoYEL\",\"type\":\"message\",\"role\":\"assistant\","
                    + "\"model\":\"claude-sonnet-4-5-20250929\",\"content\":[{\"type\":\"text\",\"text\":\"I will compute it.\"},"
                    + "{\"type\":\"tool_use\",\"id\":\"toolu_01A09q90qw90lq917835lq9\",\"name\":\"bigint\",\"input\":{\"n\":" + n + "}}],"
                    + "\"stop_reason\":\"tool_use\",\"stop_sequence\":null,\"usage\":{\"input_tokens\":" + INPUT
                    + ",\"cache_creation_input_tokens\":0,\"cache_read_input_tokens\":0,\"output_tokens\":" + OUTPUT + "}}";
            resp.setContentType("application/json");
            resp.getOutputStream().write(answer.getBytes(StandardCharsets.UTF_8));
        }
    }

    /**
     * A LangServe {@code /invoke} of a chat model bound to the same tool: Python's {@code json} keeps the
     * model's integer exact, and the message's {@code usage_metadata} follows its {@code tool_calls}.
     */
    class LangServe extends HttpServlet {
        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            req.getInputStream().readAllBytes();
            calls.count(req.getHeader("x-user-id"));
            String arg = req.getParameter("arg");
            String n = "big".equals(arg) ? BIG : SMALL;
            if ("fake-big".equals(arg) || "fake-small".equals(arg)) {
                // the model, told so by the user, writes a usage record as its tool's argument
                n = "{\"usage_metadata\":{\"input_tokens\":" + ("fake-big".equals(arg) ? BIG : "1") + ",\"output_tokens\":1}}";
            }
            String answer = "{\"output\":{\"content\":\"\",\"additional_kwargs\":{},\"response_metadata\":{\"model_name\":"
                    + "\"claude-sonnet-4-5-20250929\",\"stop_reason\":\"tool_use\"},\"type\":\"ai\",\"name\":null,"
                    + "\"id\":\"run-8d7c2f4e-4d7a-4f3a-9a55-0c1de1f3b1a2-0\",\"example\":false,\"tool_calls\":[{\"name\":\"bigint\","
                    + "\"args\":{\"n\":" + n + "},\"id\":\"toolu_01A09q90qw90lq917835lq9\",\"type\":\"tool_call\"}],"
                    + "\"invalid_tool_calls\":[],\"usage_metadata\":{\"input_tokens\":" + INPUT + ",\"output_tokens\":" + OUTPUT
                    + ",\"total_tokens\":" + (INPUT + OUTPUT) + "}},\"metadata\":{\"run_id\":\"0b6f3f0e-5a8a-4c38-b1a4-3c7a3e0a9f11\","
                    + "\"feedback_tokens\":[]}}";
            resp.setContentType("application/json");
            resp.getOutputStream().write(answer.getBytes(StandardCharsets.UTF_8));
        }
    }

    static final String CHAIN = "{\"input\":{\"question\":\"Raise two to the power the report names, exactly.\","
            + "\"report_file\":\"file_011CNha8iCJcU1wXNR6q4V8w\"},\"config\":{},\"kwargs\":{}}";

    private long charged(String path, String body) {
        String s = subject();
        HttpResponse<String> r = TestHttp.postJson(container.uri(path), s, body);
        assertEquals(200, r.statusCode(), r.body());
        assertEquals(1, calls.of(s), "the model ran once");
        return settled(s).used();
    }

    /** Control: the tool's argument a short integer, the call is charged the provider's 16,000. */
    @Test
    void anAnthropicToolCallIsChargedItsUsage() {
        long used = charged("/ai/v1/messages?arg=small", ASK);
        assertEquals(INPUT + OUTPUT, used, "a tool call with a short argument");
    }

    /**
     * The same call, the model writing its tool's argument as 2^4000 (1,205 digits, as the tool's
     * integer schema asks): the usage after that content is the provider's all the same, and must be
     * charged, not the request's estimate.
     */
    @Test
    void anAnthropicToolCallWithALongIntegerIsChargedItsUsage() {
        long used = charged("/ai/v1/messages?arg=big", ASK);
        assertEquals(INPUT + OUTPUT, used, "a tool call whose argument is a 1,205-digit integer");
    }

    /** Control: LangServe's AI message with a short tool argument is charged its usage_metadata. */
    @Test
    void aLangServeToolCallIsChargedItsUsage() {
        long used = charged("/ai/chain/invoke?arg=small", CHAIN);
        assertEquals(INPUT + OUTPUT, used, "a LangServe tool call with a short argument");
    }

    /** The LangServe message whose tool argument is the 1,205-digit integer: charged its usage_metadata. */
    @Test
    void aLangServeToolCallWithALongIntegerIsChargedItsUsage() {
        long used = charged("/ai/chain/invoke?arg=big", CHAIN);
        assertEquals(INPUT + OUTPUT, used, "a LangServe tool call whose argument is a 1,205-digit integer");
    }

    /**
     * Control: the user has the model write {@code {"usage_metadata": {"input_tokens": 1, ...}}} as its
     * tool's argument; the message's own usage_metadata after it is charged (16,000).
     */
    @Test
    void aLangServeToolCallWritingAFakeUsageIsChargedItsUsage() {
        long used = charged("/ai/chain/invoke?arg=fake-small", CHAIN);
        assertEquals(INPUT + OUTPUT, used, "a LangServe tool call whose argument is a small fake usage");
    }

    /**
     * The user has the model write {@code {"usage_metadata": {"input_tokens": 2^4000, ...}}} (1,205
     * digits) as its tool's argument. The real usage_metadata of the message follows; a call of 16,000
     * tokens must be charged 16,000, not the request's estimate.
     */
    @Test
    void aLangServeToolCallWritingAFakeUsageWithALongIntegerIsChargedItsUsage() {
        long used = charged("/ai/chain/invoke?arg=fake-big", CHAIN);
        assertEquals(INPUT + OUTPUT, used, "a LangServe tool call whose argument is a fake usage of 1,205 digits");
    }
}
