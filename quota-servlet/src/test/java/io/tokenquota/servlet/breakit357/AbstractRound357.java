package io.tokenquota.servlet.breakit357;

import io.tokenquota.estimator.DefaultTokenEstimator;
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
import java.util.Locale;
import org.junit.jupiter.api.Test;

/**
 * Round 357 of issue 11 ("no model call goes unpaid"): the values of tool data in the conversation that are no
 * strings (numbers, booleans), which the provider serialises into the prompt as their JSON text.
 *
 * <p>The rules (docs/servlet.md, "The estimate", step 3; docs/estimation.md): "the member names of data the provider
 * serialises whole: an object held by one of the text fields above (Anthropic {@code tool_use.input}), and Gemini
 * {@code functionCall.args} and {@code functionResponse.response}, at any depth beneath them" count, and "Any other
 * number of an application's own data ... costs its digits' estimate plus one for its separator, as the model reads
 * it serialised". But "A number beneath those fields or beneath {@code messages} and Gemini's {@code contents} costs a
 * token, so a pre-tokenised prompt ... costs one per id" (RequestEstimator: {@code top.saysText()} adds 1 for any number,
 * integer or float, in a conversation frame). That rule is meant for token ids; it also prices every number of a tool's
 * result or input that sits in the conversation at one token, however many digits the model reads: a Gemini
 * {@code functionResponse.response} holding a price history of 4,000 readings such as {@code 18001.7502} (about 24,000
 * tokens as text by the filter's own estimator: digit groups of up to three, a point, a separator; Gemini's tokenizer
 * splits digits one a token, more still) is held at 4,016 input tokens. And booleans and nulls cost nothing anywhere
 * ("booleans carry no text"), although {@code true}, {@code false}, {@code null} and their separators are the model's
 * input as much as digits are.
 *
 * <p>The application: a forecasting relay behind the filter ({@code /ai/*}) that sends its client's request to the
 * provider and answers the model's text alone, without the provider's usage (as round 355's extractor: it returns
 * {@code candidates[0].content.parts[0].text}, Bedrock's {@code output.message.content[0].text} or Anthropic's
 * {@code content[0].text}), so the call is charged its estimate; on a 20,000-token allowance the call must be refused.
 *
 * <p>Shapes: Gemini API reference, "Function calling" (ai.google.dev/gemini-api/docs/function-calling: the model's
 * {@code {"functionCall": {"name", "args"}}} part, then the client's {@code {"functionResponse": {"name", "response"}}}
 * part, {@code response} a {@code Struct}, "The function response in JSON object format"; {@code generationConfig.maxOutputTokens});
 * Amazon Bedrock API reference, "Converse" ({@code messages[].content[].toolUse {toolUseId, name, input}},
 * {@code toolResult {toolUseId, content: [ToolResultContentBlock], status}}, ToolResultContentBlock's {@code json}: "A
 * tool result that is JSON format data"; {@code inferenceConfig.maxTokens}); Anthropic Messages API reference, "Tool
 * use" (an assistant {@code tool_use} block {@code {type, id, name, input}} followed by the user's {@code tool_result}
 * with {@code tool_use_id}); OpenAI API reference, "Create chat completion" (an assistant message's
 * {@code tool_calls[].function.arguments}, a {@code tool} message's {@code content} and {@code tool_call_id}).
 */
abstract class AbstractRound357 extends ModelCallRound {
    /** Readings in the price history. */
    static final int READINGS = 4_000;
    /** Flags in the availability grid. */
    static final int FLAGS = 18_000;
    static final String ASK = "Forecast the next week of prices from the history the tool returned.";

    @Override
    protected Deployment deploy(QuotaFilter filter) {
        return filteredAi(filter).servlet("forecaster", new Forecaster(), "/ai/*");
    }

    /** The relay: one model call per request, answered with the model's text alone (no usage). */
    class Forecaster extends HttpServlet {
        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            req.getInputStream().readAllBytes();
            calls.count(req.getHeader("x-user-id"));
            resp.setContentType("application/json");
            resp.getOutputStream().write("{\"forecast\":\"Prices rise about 2% over the week.\"}".getBytes(StandardCharsets.UTF_8));
        }
    }

    /** A price history: {@link #READINGS} decimals with four places, as a market data tool returns them. */
    static String prices() {
        StringBuilder sb = new StringBuilder();
        for (int i = 0; i < READINGS; i++) {
            sb.append(i == 0 ? "" : ",").append(String.format(Locale.ROOT, "%.4f", 18_000 + i * 1.7371 + (i % 7) * 0.0131));
        }
        return sb.toString();
    }

    /** An availability grid: {@link #FLAGS} booleans, as a booking tool returns a venue's seats. */
    static String flags() {
        StringBuilder sb = new StringBuilder();
        for (int i = 0; i < FLAGS; i++) {
            sb.append(i == 0 ? "" : ",").append(i % 3 == 0 ? "true" : "false");
        }
        return sb.toString();
    }

    /** What the filter's own estimator makes of {@code text} as plain text. */
    static long asText(String text) {
        return new DefaultTokenEstimator().estimate(text);
    }

    static final String GEMINI = "/ai/gemini/v1beta/models/gemini-2.5-flash:generateContent";
    static final String BEDROCK = "/ai/bedrock/model/anthropic.claude-3-5-haiku-20241022-v1:0/converse";
    static final String ANTHROPIC = "/ai/anthropic/v1/messages";
    static final String OPENAI = "/ai/openai/v1/chat/completions";

    /** A Gemini conversation: the question, the model's call of the tool, and the client's answer with {@code response}. */
    static String geminiWithFunctionResponse(String response) {
        return "{\"contents\":[{\"role\":\"user\",\"parts\":[{\"text\":\"" + ASK + "\"}]},"
                + "{\"role\":\"model\",\"parts\":[{\"functionCall\":{\"name\":\"get_price_history\",\"args\":{\"ticker\":\"ACME\"}}}]},"
                + "{\"role\":\"user\",\"parts\":[{\"functionResponse\":{\"name\":\"get_price_history\",\"response\":"
                + response + "}}]}],\"generationConfig\":{\"maxOutputTokens\":1024}}";
    }

    void assertRefused(String path, String body, long asText, String what) {
        String s = subject();
        HttpResponse<String> r = TestHttp.postJson(container.uri(path), s, body);
        assertCharged(s, r, 429, 0, 0, what + " (" + body.length() + " bytes, its data " + String.format(Locale.ROOT, "%,d",
                asText) + " tokens as text by the filter's own estimator) on a " + ALLOWANCE
                + "-token allowance: the model must not be called");
    }

    // ------------------------------------------------------------------ findings

    /** Found and fixed: a Gemini function response's numbers ({@code functionResponse.response}) cost a token each. */
    @Test
    void aGeminiFunctionResponseOfPricesLargerThanTheAllowanceIsRefused() {
        assertRefused(GEMINI, geminiWithFunctionResponse("{\"ticker\":\"ACME\",\"prices\":[" + prices() + "]}"),
                asText(prices()), "a Gemini functionResponse.response holding " + READINGS + " prices");
    }

    /** Found and fixed: the same history as a Bedrock Converse tool result in JSON ({@code toolResult.content[].json}). */
    @Test
    void aBedrockToolResultOfPricesLargerThanTheAllowanceIsRefused() {
        String body = "{\"messages\":[{\"role\":\"user\",\"content\":[{\"text\":\"" + ASK + "\"}]},"
                + "{\"role\":\"assistant\",\"content\":[{\"toolUse\":{\"toolUseId\":\"tooluse_kZJMlvQmRJ6eAyJE5GIl7Q\","
                + "\"name\":\"get_price_history\",\"input\":{\"ticker\":\"ACME\"}}}]},"
                + "{\"role\":\"user\",\"content\":[{\"toolResult\":{\"toolUseId\":\"tooluse_kZJMlvQmRJ6eAyJE5GIl7Q\","
                + "\"content\":[{\"json\":{\"ticker\":\"ACME\",\"prices\":[" + prices() + "]}}],\"status\":\"success\"}}]}],"
                + "\"inferenceConfig\":{\"maxTokens\":1024}}";
        assertRefused(BEDROCK, body, asText(prices()), "a Bedrock Converse toolResult json holding " + READINGS + " prices");
    }

    /** Found and fixed: the same history in an Anthropic {@code tool_use.input} the client sends back (the model charted it). */
    @Test
    void anAnthropicToolUseInputOfPricesLargerThanTheAllowanceIsRefused() {
        String body = "{\"model\":\"claude-3-5-haiku-20241022\",\"max_tokens\":1024,\"messages\":["
                + "{\"role\":\"user\",\"content\":\"" + ASK + "\"},"
                + "{\"role\":\"assistant\",\"content\":[{\"type\":\"tool_use\",\"id\":\"toolu_01A09q90qw90lq917835lq9\","
                + "\"name\":\"plot_series\",\"input\":{\"title\":\"ACME\",\"values\":[" + prices() + "]}}]},"
                + "{\"role\":\"user\",\"content\":[{\"type\":\"tool_result\",\"tool_use_id\":\"toolu_01A09q90qw90lq917835lq9\","
                + "\"content\":\"Chart rendered.\"}]}]}";
        assertRefused(ANTHROPIC, body, asText(prices()), "an Anthropic tool_use.input holding " + READINGS + " prices");
    }

    /** Found and fixed: a Gemini function response's booleans cost nothing at all. */
    @Test
    void aGeminiFunctionResponseOfFlagsLargerThanTheAllowanceIsRefused() {
        assertRefused(GEMINI, geminiWithFunctionResponse("{\"venue\":\"Hall A\",\"available\":[" + flags() + "]}"),
                asText(flags()), "a Gemini functionResponse.response holding " + FLAGS + " booleans");
    }

    // ------------------------------------------------------------------ controls

    /** Control: the same history as an OpenAI tool message's content (JSON as a string) is refused. */
    @Test
    void controlThePricesAsAnOpenAiToolMessageAreRefused() {
        String body = "{\"model\":\"gpt-4o-mini\",\"max_tokens\":1024,\"messages\":[{\"role\":\"user\",\"content\":\"" + ASK + "\"},"
                + "{\"role\":\"assistant\",\"tool_calls\":[{\"id\":\"call_abc123\",\"type\":\"function\",\"function\":"
                + "{\"name\":\"get_price_history\",\"arguments\":\"{\\\"ticker\\\":\\\"ACME\\\"}\"}}]},"
                + "{\"role\":\"tool\",\"tool_call_id\":\"call_abc123\",\"content\":\"{\\\"ticker\\\":\\\"ACME\\\",\\\"prices\\\":["
                + prices() + "]}\"}]}";
        assertRefused(OPENAI, body, asText(prices()), "an OpenAI tool message holding " + READINGS + " prices");
    }

    /** Control: the same history pasted into a Gemini text part is refused. */
    @Test
    void controlThePricesAsAGeminiTextPartAreRefused() {
        String body = "{\"contents\":[{\"role\":\"user\",\"parts\":[{\"text\":\"" + ASK + " [" + prices() + "]\"}]}],"
                + "\"generationConfig\":{\"maxOutputTokens\":1024}}";
        assertRefused(GEMINI, body, asText(prices()), "a Gemini text part holding " + READINGS + " prices");
    }

    /** Control: the same grid pasted into a Gemini text part is refused. */
    @Test
    void controlTheFlagsAsAGeminiTextPartAreRefused() {
        String body = "{\"contents\":[{\"role\":\"user\",\"parts\":[{\"text\":\"Which seats are free? [" + flags() + "]\"}]}],"
                + "\"generationConfig\":{\"maxOutputTokens\":1024}}";
        assertRefused(GEMINI, body, asText(flags()), "a Gemini text part holding " + FLAGS + " booleans");
    }
}
