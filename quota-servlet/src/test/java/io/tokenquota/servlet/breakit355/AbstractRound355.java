package io.tokenquota.servlet.breakit355;

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
 * Round 355 of issue 11 ("no model call goes unpaid"), the request side (item 10: "the estimate misses Gemini
 * {@code generationConfig.maxOutputTokens}, OpenAI Responses {@code instructions} and {@code input} items, and
 * {@code tools} definitions").
 *
 * <p>The rule (RequestEstimator's javadoc, docs/servlet.md "The estimate"): "Under the top-level SCHEMA_FIELDS (tool
 * and function definitions, response schemas) and the Responses API's {@code text.format}, which the provider
 * serialises into the prompt, every field name and string counts". Round 15 states that Gemini's
 * {@code generationConfig.responseSchema} (and {@code responseJsonSchema}) is serialised into the prompt "like OpenAI's
 * {@code response_format}" (Gemini API docs, "Structured output": the schema counts towards the input tokens). But
 * only {@code tools}, {@code functions} and {@code response_format} at the top level are read as schemas: a schema
 * under {@code generationConfig}, or Bedrock Converse's tool definitions under {@code toolConfig}, has its property
 * names (JSON keys, which are most of a schema's text) left out of the estimate; only string values count, and
 * {@code "type": "STRING"} is a label. A 1,500-field extraction schema of about 26,000 tokens (30,520 as OpenAI's {@code response_format}) is held at a few
 * hundred, served on a 20,000 allowance, and an answer without usage (the application hands its client the extracted
 * JSON alone) is charged that.
 *
 * <p>The application: an extraction service behind the filter ({@code /ai/*}) that sends its client's request to the
 * provider and answers the extracted object alone, without the provider's usage (the plainest such relay: it
 * returns {@code candidates[0].content.parts[0].text} of Gemini's {@code GenerateContentResponse}, or the
 * {@code toolUse.input} of Bedrock's {@code ConverseResponse}).
 *
 * <p>Shapes: Gemini API reference, "Generating content" ({@code contents[].parts[].text},
 * {@code generationConfig.responseMimeType}, {@code responseSchema} of the OpenAPI {@code Schema} object with
 * {@code type: "OBJECT"}/{@code "STRING"} and {@code properties}, {@code responseJsonSchema} a JSON Schema,
 * {@code maxOutputTokens}; {@code tools[].functionDeclarations[]} with {@code name}, {@code description},
 * {@code parameters}); Amazon Bedrock API reference, "Converse" ({@code messages[].content[].text},
 * {@code inferenceConfig.maxTokens}, {@code toolConfig.tools[].toolSpec} with {@code name}, {@code description},
 * {@code inputSchema.json}, {@code toolConfig.toolChoice.tool.name}); OpenAI API reference, "Create chat completion"
 * ({@code response_format: {"type": "json_schema", "json_schema": {"name", "strict", "schema"}}}); Anthropic
 * Messages API reference ({@code tools[]} with {@code name}, {@code description}, {@code input_schema};
 * {@code tool_choice: {"type": "tool", "name"}}).
 */
abstract class AbstractRound355 extends ModelCallRound {
    /** The fields of the extraction schema. */
    static final int FIELDS = 1_500;
    static final String ASK = "Extract every field of the attached tax return.";

    @Override
    protected Deployment deploy(QuotaFilter filter) {
        return filteredAi(filter).servlet("extractor", new Extractor(), "/ai/*");
    }

    /** The extraction service: one model call per request, answered with the extracted object alone (no usage). */
    class Extractor extends HttpServlet {
        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            req.getInputStream().readAllBytes();
            calls.count(req.getHeader("x-user-id"));
            resp.setContentType("application/json");
            resp.getOutputStream().write("{\"taxpayer_name\":\"Jane Doe\"}".getBytes(StandardCharsets.UTF_8));
        }
    }

    /** A field's name: what a developer calls a line of the form. */
    static String field(int i) {
        return "line_" + i + "_amount_reported_on_schedule_b_for_qualified_dividends_and_interest";
    }

    /** The schema's {@code properties} members, each {@code "<name>": {"type": <type>}}. */
    static String properties(String type) {
        StringBuilder sb = new StringBuilder();
        for (int i = 0; i < FIELDS; i++) {
            sb.append(i == 0 ? "" : ",").append('"').append(field(i)).append("\":{\"type\":\"").append(type).append("\"}");
        }
        return sb.toString();
    }

    static final String GEMINI = "/ai/gemini/v1beta/models/gemini-2.5-flash:generateContent";
    static final String GEMINI_CONTENTS = "\"contents\":[{\"role\":\"user\",\"parts\":[{\"text\":\"" + ASK + "\"}]}]";
    static final String BEDROCK = "/ai/bedrock/model/anthropic.claude-3-5-haiku-20241022-v1:0/converse";
    static final String BEDROCK_MESSAGES = "\"messages\":[{\"role\":\"user\",\"content\":[{\"text\":\"" + ASK + "\"}]}]";

    void assertRefused(String path, String body, String what) {
        String s = subject();
        HttpResponse<String> r = TestHttp.postJson(container.uri(path), s, body);
        assertCharged(s, r, 429, 0, 0, what + " (" + body.length() + " bytes, a " + FIELDS + "-field schema of about "
                + "26,000 tokens by its field names) on a " + ALLOWANCE + "-token allowance: the model must not be called");
    }

    // ------------------------------------------------------------------ findings

    /** Finding: Gemini structured output, {@code generationConfig.responseSchema}: its field names are not estimated. */
    @Test
    void aGeminiResponseSchemaLargerThanTheAllowanceIsRefused() {
        assertRefused(GEMINI, "{" + GEMINI_CONTENTS + ",\"generationConfig\":{\"responseMimeType\":\"application/json\","
                + "\"responseSchema\":{\"type\":\"OBJECT\",\"properties\":{" + properties("STRING") + "}},"
                + "\"maxOutputTokens\":1024}}", "Gemini generationConfig.responseSchema");
    }

    /** Finding: the same as a JSON Schema, {@code generationConfig.responseJsonSchema}. */
    @Test
    void aGeminiResponseJsonSchemaLargerThanTheAllowanceIsRefused() {
        assertRefused(GEMINI, "{" + GEMINI_CONTENTS + ",\"generationConfig\":{\"responseMimeType\":\"application/json\","
                + "\"responseJsonSchema\":{\"type\":\"object\",\"properties\":{" + properties("string") + "}},"
                + "\"maxOutputTokens\":1024}}", "Gemini generationConfig.responseJsonSchema");
    }

    /** Finding: Bedrock Converse's tool definition ({@code toolConfig.tools[].toolSpec.inputSchema.json}). */
    @Test
    void aBedrockConverseToolDefinitionLargerThanTheAllowanceIsRefused() {
        assertRefused(BEDROCK, "{" + BEDROCK_MESSAGES + ",\"inferenceConfig\":{\"maxTokens\":1024},\"toolConfig\":{"
                + "\"tools\":[{\"toolSpec\":{\"name\":\"record_tax_return\",\"description\":\"Records the fields of a tax"
                + " return.\",\"inputSchema\":{\"json\":{\"type\":\"object\",\"properties\":{" + properties("string")
                + "}}}}}],\"toolChoice\":{\"tool\":{\"name\":\"record_tax_return\"}}}}", "Bedrock Converse toolConfig");
    }

    // ------------------------------------------------------------------ controls

    /** Control: the same schema as OpenAI's {@code response_format} is refused. */
    @Test
    void controlTheSameSchemaAsOpenAiResponseFormatIsRefused() {
        assertRefused("/ai/openai/v1/chat/completions", "{\"model\":\"gpt-4o-mini\",\"messages\":[{\"role\":\"user\","
                + "\"content\":\"" + ASK + "\"}],\"response_format\":{\"type\":\"json_schema\",\"json_schema\":{\"name\":"
                + "\"tax_return\",\"strict\":true,\"schema\":{\"type\":\"object\",\"properties\":{" + properties("string")
                + "}}}},\"max_tokens\":1024}", "OpenAI response_format");
    }

    /** Control: the same schema as a Gemini function declaration (top-level {@code tools}) is refused. */
    @Test
    void controlTheSameSchemaAsAGeminiFunctionDeclarationIsRefused() {
        assertRefused(GEMINI, "{" + GEMINI_CONTENTS + ",\"tools\":[{\"functionDeclarations\":[{\"name\":"
                + "\"record_tax_return\",\"description\":\"Records the fields of a tax return.\",\"parameters\":{\"type\":"
                + "\"OBJECT\",\"properties\":{" + properties("STRING") + "}}}]}],\"generationConfig\":{\"maxOutputTokens\":1024}}",
                "Gemini tools.functionDeclarations");
    }

    /** Control: the same tool on Anthropic's Messages API (top-level {@code tools[].input_schema}) is refused. */
    @Test
    void controlTheSameToolOnAnthropicMessagesIsRefused() {
        assertRefused("/ai/anthropic/v1/messages", "{\"model\":\"claude-3-5-haiku-20241022\",\"max_tokens\":1024,"
                + "\"messages\":[{\"role\":\"user\",\"content\":\"" + ASK + "\"}],\"tools\":[{\"name\":\"record_tax_return\","
                + "\"description\":\"Records the fields of a tax return.\",\"input_schema\":{\"type\":\"object\","
                + "\"properties\":{" + properties("string") + "}}}],\"tool_choice\":{\"type\":\"tool\",\"name\":"
                + "\"record_tax_return\"}}", "Anthropic tools");
    }
}
