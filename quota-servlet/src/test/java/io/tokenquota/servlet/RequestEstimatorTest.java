package io.tokenquota.servlet;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.charset.StandardCharsets;
import java.util.List;
import org.junit.jupiter.api.Test;

/** Which fields of an AI request count, with an estimator that makes the numbers easy: 1 token per character. */
final class RequestEstimatorTest {
    /** What each message of a conversation adds to the estimate (the server's framing and its role). */
    private static final long F = RequestEstimator.MESSAGE_FRAMING_TOKENS;

    /** Base64 of a PNG whose IHDR states 0 x 0, then zeros: measured, no size, no image tokens. */
    private static final String EMPTY_PNG = "iVBORw0KGgoAAAANSUhEUgAAAAAAAAAACAIAAAC06etF" + "A".repeat(200);

    private final RequestEstimator estimator = new RequestEstimator(CharSequence::length);

    private RequestEstimator.Estimate estimate(String json) {
        return estimator.estimate(json.getBytes(StandardCharsets.UTF_8));
    }

    @Test
    void countsChatMessagesIncludingContentParts() {
        RequestEstimator.Estimate e = estimate("""
                {"model":"gpt-4o","messages":[
                  {"role":"system","content":"abc"},
                  {"role":"user","content":[{"type":"text","text":"defg"},{"type":"image_url","image_url":{"url":"http://x"}}]},
                  {"role":"assistant","content":null,"name":"bot"}],
                 "max_completion_tokens":70,"temperature":0.2}""");
        // the text, and the image by URL at the most one image costs above the least of every item
        assertEquals(7 + "bot".length() + 3 * F + MediaSize.UNSEEN_IMAGE_TOKENS - RequestEstimator.DEFAULT_MEDIA_ITEM_TOKENS,
                e.inputTokens());
        assertEquals(70, e.outputBudget());
    }

    @Test
    void anImageTheFilterCannotSeeIsHeldAtTheMostOneImageCostsUnlessTheRequestSaysLess() {
        long above = MediaSize.UNSEEN_IMAGE_TOKENS - RequestEstimator.DEFAULT_MEDIA_ITEM_TOKENS;
        assertEquals(2 * above + F, estimate("""
                {"messages":[{"role":"user","content":[
                  {"type":"image_url","image_url":{"url":"https://x/a.png","detail":"high"}},
                  {"type":"image_url","image_url":{"url":"https://x/b.png","detail":"low"}},
                  {"type":"image","source":{"type":"url","url":"https://x/c.png"}},
                  {"type":"document","source":{"type":"url","url":"https://x/d.pdf"}}]}]}""").inputTokens(),
                "a low-detail image costs 85, under the least of an item; a document is no image");
        assertEquals(2 * above + F, estimate("""
                {"input":[{"role":"user","content":[{"type":"input_image","file_id":"file-1"},
                  {"type":"input_image","image_url":"https://x/a.png","detail":"auto"}]}]}""").inputTokens());
        assertEquals(2 * above, estimate("{\"image_url\":[\"https://a\",\"https://b\"]}").inputTokens());
        String png = EMPTY_PNG;
        assertEquals(F, estimate("""
                {"messages":[{"role":"user","content":[
                  {"type":"image_url","image_url":{"url":"data:image/png;base64,%s"}}]}]}""".formatted(png)).inputTokens(),
                "an image in the body is measured (this one's header states no size)");
        assertEquals(MediaSize.UNSEEN_IMAGE_TOKENS - 85 + F, new RequestEstimator(CharSequence::length, 85).estimate("""
                {"input":[{"role":"user","content":[{"type":"input_image","image_url":"https://x/a.png"}]}]}"""
                .getBytes(StandardCharsets.UTF_8)).inputTokens(), "above the least of an item as configured");
    }

    @Test
    void anImageIsHeldAtTheRateOfTheModelTheRequestNamesWhereverItNamesIt() {
        long item = RequestEstimator.DEFAULT_MEDIA_ITEM_TOKENS;
        String images = """
                "messages":[{"role":"user","content":[
                  {"type":"image_url","image_url":{"url":"https://x/a.png","detail":"low"}},
                  {"type":"image_url","image_url":{"url":"https://x/b.png"}}]}]""";
        // the model named after the messages prices them as surely as one named before
        assertEquals(2_833 - item + 2_833 + 8 * 5_667 - item + F,
                estimate("{" + images + ",\"model\":\"gpt-4o-mini\"}").inputTokens());
        assertEquals(2_833 - item + 2_833 + 8 * 5_667 - item + F,
                estimate("{\"model\":\"gpt-4o-mini\"," + images + "}").inputTokens());
        // o4-mini bills detail low as high: 1,536 patches at 1.72
        assertEquals(2 * (2_642 - item) + F, estimate("{\"model\":\"o4-mini\"," + images + "}").inputTokens());
        // a model named twice: the dearer
        assertEquals(2_833 - item + 2_833 + 8 * 5_667 - item + F,
                estimate("{\"model\":\"gpt-4o\",\"model\":\"gpt-4o-mini\"," + images + "}").inputTokens());
        // gpt-4o and a model not in the table: today's figures
        assertEquals(MediaSize.UNSEEN_IMAGE_TOKENS - item + F, estimate("{\"model\":\"gpt-4o\"," + images + "}").inputTokens());
        assertEquals(List.of("gpt-4o-mini"), estimate("{" + images + ",\"model\":\"gpt-4o-mini\"}").models());
    }

    @Test
    void countsAnthropicSystemBlocksAndPromptInputTextQuery() {
        assertEquals(5 + F, estimate("{\"system\":[{\"type\":\"text\",\"text\":\"ab\"}],\"messages\":[{\"content\":\"cde\"}]}").inputTokens());
        assertEquals(6, estimate("{\"input\":[\"ab\",\"cd\"],\"prompt\":\"e\",\"query\":\"f\"}").inputTokens());
        assertEquals(4, estimate("{\"text\":\"abcd\",\"model\":\"ignored-model-name\"}").inputTokens());
        assertEquals(3, estimate("{\"input\":\"abc\",\"dimensions\":256}").inputTokens());
        assertEquals(2, estimate("{\"input\":[[\"a\",\"b\"]],\"user\":\"not-counted\"}").inputTokens());
    }

    @Test
    void countsResponsesInstructionsInputItemsAndToolDefinitions() {
        RequestEstimator.Estimate responses = estimate("""
                {"model":"gpt-4.1","instructions":"abcde","input":[
                  {"role":"user","content":[{"type":"input_text","text":"fg"}]},
                  {"type":"function_call","call_id":"c1","name":"lookup","arguments":"{\\"q\\":1}"},
                  {"type":"function_call_output","call_id":"c1","output":"hij"}],
                 "max_output_tokens":9}""");
        // three input items, and the function call's name (the model reads it as it reads a message's)
        assertEquals(5 + 2 + 7 + 3 + 3 * F + "lookup".length(), responses.inputTokens());
        assertEquals(9, responses.outputBudget());
        // every name and string of a tool definition is serialised into the prompt: 30 for the names, 14 for the strings
        assertEquals(44, estimate("""
                {"tools":[{"type":"function","name":"f","description":"abcd","parameters":{"q":"x"}}]}""").inputTokens());
    }

    @Test
    void responsesEncryptedStateCountsWhatItHoldsNotItsCharacters() {
        // 20,000 base64 characters: 15,000 bytes, 650 of them the envelope, 4 bytes a token
        String sealed = "gAAAAA" + "x".repeat(19_994);
        long held = 3_588; // 14,350 / 4, rounded up
        for (String item : new String[] {"reasoning\",\"summary\":[", "compaction\",\"x\":["}) {
            assertEquals(held + "go".length() + 2 * F, estimate("""
                    {"model":"gpt-5","store":false,"input":[{"type":"%s],"encrypted_content":"%s"},
                     {"role":"user","content":"go"}]}""".formatted(item, sealed)).inputTokens(), item);
        }
        // an envelope alone holds nothing the model reads
        assertEquals(F, estimate("{\"input\":[{\"type\":\"reasoning\",\"encrypted_content\":\"gAAAAABo\"}]}").inputTokens());
    }

    @Test
    void theResponsesImageToolsImageIsOutputBesideTheAnswer() {
        RequestEstimator.Estimate e = estimate("""
                {"model":"gpt-5","input":"Draw Lisbon.","max_output_tokens":500,
                 "tools":[{"type":"web_search"},{"partial_images":2,"size":"1024x1536","type":"image_generation","quality":"high"}]}""");
        assertEquals(500, e.outputBudget(), "the answer's budget is the answer's");
        assertEquals(ImageOutput.tokens(null, true, "1024x1536", "high", 2), e.thinkingBudget(),
                "the image, as the Images API's request of it, beside the answer");
        assertEquals(6_240 + 200, e.thinkingBudget());
        assertEquals(-1, estimate("""
                {"model":"gpt-5","input":"Hi","tools":[{"type":"function","name":"image_generation","size":"1024x1536"}]}""")
                .thinkingBudget(), "a function named so draws nothing");
    }

    @Test
    void countsGeminiContentsAndItsOutputBudget() {
        RequestEstimator.Estimate e = estimate("""
                {"systemInstruction":{"parts":[{"text":"ab"}]},
                 "contents":[{"role":"user","parts":[{"text":"cde"}]}],
                 "generationConfig":{"temperature":0.1,"maxOutputTokens":777}}""");
        assertEquals(5 + F, e.inputTokens());
        assertEquals(777, e.outputBudget());
        assertEquals(5, estimate("{\"contents\":[],\"other\":{\"maxOutputTokens\":5}}").outputBudget(),
                "a server may read its settings from any object of its own API");
    }

    @Test
    void everyStringSaidInTheConversationCountsButLabelsAndBase64PayloadsDoNot() {
        String png = EMPTY_PNG;
        // Anthropic: a text document counts, a base64 image does not, a tool_use input object counts,
        // its member names too (the provider serialises the input whole)
        assertEquals(5 + 4 + "report".length() + 2 + "path".length() + "body".length() + 2 * F, estimate("""
                {"messages":[{"role":"user","content":[
                  {"type":"document","source":{"type":"text","media_type":"text/plain","data":"a doc"}},
                  {"type":"image","source":{"type":"base64","media_type":"image/png","data":"%s"}},
                  {"type":"text","text":"look"}]},
                 {"role":"assistant","content":[{"type":"tool_use","id":"toolu_1","name":"write_file",
                  "input":{"path":"report","body":"hi"}}]}]}""".formatted(png)).inputTokens());
        // Gemini: functionCall.args and functionResponse.response count, names and values; inlineData's
        // base64 does not
        assertEquals(3 + 2 + 4 + "q".length() + "r".length() + 2 * F, estimate("""
                {"contents":[{"role":"model","parts":[{"functionCall":{"name":"f","args":{"q":"abc"}}}]},
                 {"role":"user","parts":[{"functionResponse":{"name":"f","response":{"r":"ok"}}},
                  {"inlineData":{"mimeType":"audio/wav","data":"%s"}},{"text":"more"}]}]}""".formatted(png)).inputTokens());
        // OpenAI: an image URL (or data: URL) and ids are not text; a message's name is (the model reads it)
        assertEquals(2 + "lookup".length() + 2 * F, estimate("""
                {"messages":[{"role":"user","content":[{"type":"text","text":"hi"},
                  {"type":"image_url","image_url":{"url":"data:image/png;base64,%s","detail":"high"}}]},
                 {"role":"tool","tool_call_id":"call_1","name":"lookup","content":[]}]}""".formatted(png)).inputTokens());
    }

    @Test
    void aPreTokenisedPromptCostsOneTokenPerId() {
        assertEquals(4, estimate("{\"prompt\":[[9906,1917,11,1917]],\"max_tokens\":16}").inputTokens());
        assertEquals(3, estimate("{\"input\":[101,102,103]}").inputTokens());
        assertEquals(0, estimate("{\"max_tokens\":16,\"seed\":42}").inputTokens(), "settings are not text");
    }

    @Test
    void theOutputBudgetIsPerCompletion() {
        RequestEstimator.Estimate openAi = estimate("{\"n\":64,\"max_tokens\":4000,\"messages\":[]}");
        assertEquals(4_000, openAi.outputBudget());
        assertEquals(64, openAi.completions());
        assertEquals(5, estimate("{\"n\":2,\"best_of\":5,\"prompt\":\"x\"}").completions());
        assertEquals(3, estimate("{\"generationConfig\":{\"candidateCount\":3,\"maxOutputTokens\":10}}").completions());
        // a count in a settings object counts too (TGI's parameters.best_of, Vertex's parameters.candidateCount)
        assertEquals(9, estimate("{\"n\":0,\"options\":{\"n\":9}}").completions());
        assertEquals(2, estimate("{\"inputs\":\"x\",\"parameters\":{\"best_of\":2}}").completions());
        assertEquals(4, estimate("{\"parameters\":{\"num_return_sequences\":4}}").completions());
    }

    @Test
    void budgetsAndCountsAreReadAsEndpointsReadThem() {
        // Jackson binds "64" and 8.0 to an int field by default; Gemini's JSON mapping takes "16384"
        RequestEstimator.Estimate strings = estimate("{\"n\":\"64\",\"max_tokens\":\" 4000 \",\"messages\":[]}");
        assertEquals(4_000, strings.outputBudget());
        assertEquals(64, strings.completions());
        RequestEstimator.Estimate floats = estimate("{\"n\":8.0,\"max_tokens\":1.6e4}");
        assertEquals(16_000, floats.outputBudget());
        assertEquals(8, floats.completions());
        RequestEstimator.Estimate gemini = estimate(
                "{\"generationConfig\":{\"maxOutputTokens\":\"16384\",\"candidateCount\":\"8\"}}");
        assertEquals(16_384, gemini.outputBudget());
        assertEquals(8, gemini.completions());
        assertEquals(101, estimate("{\"max_tokens\":100.5}").outputBudget(), "a fraction is rounded up, never down");
        assertEquals(-1, estimate("{\"max_tokens\":\"lots\"}").outputBudget(), "not a number: no budget");
        // lenient readers: pydantic's lax mode ("16_000", "8.0"), Jackson's Integer.parseInt (any script's digits)
        assertEquals(8, estimate("{\"max_tokens\":\"8.0\"}").outputBudget());
        assertEquals(9, estimate("{\"max_tokens\":\"8.5\"}").outputBudget(), "a fraction is rounded up");
        assertEquals(16_000, estimate("{\"max_tokens\":\"16_000\"}").outputBudget());
        assertEquals(16_000, estimate("{\"max_tokens\":\"\uFF11\uFF16\uFF10\uFF10\uFF10\"}").outputBudget());
        // JavaScript's parseInt reads the leading digits ("16__000" is 16), Number() a hex one: what a Node
        // endpoint writes, held with the default another endpoint writes when it refuses the string
        RequestEstimator.Estimate underscores = estimate("{\"max_tokens\":\"16__000\"}");
        assertEquals(16, underscores.outputBudget());
        assertTrue(underscores.orDefault(), "Python refuses a double underscore: its endpoint's default");
        assertEquals(-1, estimate("{\"max_tokens\":\"_16\"}").outputBudget());
        RequestEstimator.Estimate words = estimate("{\"max_tokens\":\"12000 tokens\"}");
        assertEquals(12_000, words.outputBudget());
        assertTrue(words.orDefault());
        assertEquals(12_000, estimate("{\"max_tokens\":\"0x2EE0\"}").outputBudget());
        assertEquals(5, estimate("{\"max_tokens\":\"0b101\"}").outputBudget());
        assertFalse(estimate("{\"max_tokens\":\"16000\"}").orDefault(), "a number every reader reads");
        // Go's encoding/json matches keys case-insensitively, with Unicode folding (a Kelvin sign is a k)
        assertEquals(16_000, estimate("{\"MAX_TOKENS\":16000}").outputBudget());
        assertEquals(16_000, estimate("{\"max_to\u212Aens\":16000}").outputBudget());
        assertEquals(8, estimate("{\"N\":8}").completions());
        assertEquals(500, estimate("{\"GenerationConfig\":{\"MaxOutputTokens\":500}}").outputBudget());
        // whatever a reader trims around the digits (Jackson: up to U+0020; pydantic: Unicode white space),
        // and what Gson's nextInt() reads through Double.parseDouble
        assertEquals(16_000, estimate("{\"max_tokens\":\"\u000116000\"}").outputBudget());
        assertEquals(16_000, estimate("{\"max_tokens\":\"\u00a016000\u202f\"}").outputBudget());
        assertEquals(16_000, estimate("{\"max_tokens\":\"1.6e4\"}").outputBudget());
        assertEquals(16_000, estimate("{\"max_tokens\":\"0x1.f4p13\"}").outputBudget());
        assertEquals(16_000, estimate("{\"max_tokens\":\"16000d\"}").outputBudget());
        assertEquals(Long.MAX_VALUE, estimate("{\"max_tokens\":\"Infinity\"}").outputBudget());
        assertEquals(-1, estimate("{\"max_tokens\":\"NaN\"}").outputBudget());
        // below 1: a truncating endpoint reads 0, its default: the default budget is held
        assertEquals(0, estimate("{\"max_tokens\":0.4}").outputBudget());
        assertEquals(Long.MAX_VALUE, estimate("{\"max_tokens\":\"123456789012345678901234567890\"}").outputBudget());
        assertEquals(Long.MAX_VALUE, estimate("{\"max_tokens\":\"-5\"}").outputBudget(), "negative is no limit");
    }

    @Test
    void everyStringOfTheBodyCountsWhateverItsFieldIsCalled() {
        assertEquals(5, estimate("{\"conversation_id\":\"c-1\",\"message\":\"hello\"}").inputTokens(),
                "an application's own field counts, its id does not");
        assertEquals("type".length() + "OBJECT".length() + "properties".length() + "r".length() + "type".length()
                + "STRING".length() + "description".length() + "abcd".length(), estimate("""
                {"generationConfig":{"responseSchema":{"type":"OBJECT",
                 "properties":{"r":{"type":"STRING","description":"abcd"}}}}}""").inputTokens(),
                "a Gemini response schema is serialised into the prompt as response_format is: every name and "
                + "string counts (round 355)");
        String png = EMPTY_PNG;
        assertEquals(2, estimate("{\"image\":{\"data\":\"%s\"},\"metadata\":{\"user_id\":\"u1\",\"note\":\"ab\"}}"
                .formatted(png)).inputTokens(), "base64 payloads and ids stay uncounted anywhere");
    }

    @Test
    void aJsonSchemaCountsItsPropertyNamesWhereverItSits() {
        // round 355: Bedrock Converse's tool definitions, an Ollama format and a schema under any other key
        assertEquals("tools".length() + "toolSpec".length() + "name".length() + "f".length() + "inputSchema".length()
                + "json".length() + "type".length() + "object".length() + "properties".length() + "city".length() + "type".length()
                + "string".length(), estimate("""
                {"toolConfig":{"tools":[{"toolSpec":{"name":"f","inputSchema":{"json":{"type":"object",
                 "properties":{"city":{"type":"string"}}}}}}]}}""").inputTokens());
        // below the request's level its type labels count as an application's own data's do
        assertEquals("object".length() + "city".length() + "string".length(), estimate("""
                {"format":{"type":"object","properties":{"city":{"type":"string"}}}}""").inputTokens());
        assertEquals("city".length() + "string".length() + "address".length() + "zip".length() + "object".length()
                + "object".length(), estimate("""
                {"extract":{"properties":{"city":{"type":"string"},"address":{"properties":{"zip":{}},
                 "type":"object"}},"type":"object"}}""").inputTokens(), "its type may follow its properties");
        assertEquals("Oslo".length(), estimate("{\"feature\":{\"properties\":{\"city\":\"Oslo\"}}}").inputTokens(),
                "properties without a type are an application's own object: its member names do not count");
    }

    @Test
    void aBodyNestedPastTheParsersLimitKeepsItsBudgetAndCountsTheRestAsText() {
        String deep = "[".repeat(600) + "\"abc\"" + "]".repeat(600);
        RequestEstimator.Estimate e = estimate("{\"n\":64,\"metadata\":" + deep + ",\"max_tokens\":4000,\"prompt\":\"hi\"}");
        assertEquals(4_000, e.outputBudget(), "the budget after the deep value is still read");
        assertEquals(64, e.completions());
        // "hi", plus the 536 levels cut away (1,072 brackets) and the string inside them
        assertEquals(2 + 1_072 + 5, e.inputTokens());
        assertNull(estimate("{\"a\":" + "[".repeat(600) + "}"), "broken deep JSON is still broken");
    }

    @Test
    void theRequestsParametersAskForABudgetAsAJsonBodyDoes() {
        RequestEstimator.Asked asked = new RequestEstimator.Asked();
        assertTrue(asked.read("n", "8"));
        assertTrue(asked.read("max_tokens", "16000"));
        assertFalse(asked.read("prompt", "8"), "text, not a budget");
        assertFalse(asked.read("max_tokens", "lots"), "not a number: its text counts");
        QuotaFilter filter = QuotaFilter.builder(new io.tokenquota.memory.InMemoryQuotaStore()).protect("/ai/")
                .subjectResolver(r -> "x").estimator(CharSequence::length)
                .fallbackEstimate(500).defaultOutputBudget(50).outputBudgetCap(1_000).build();
        assertEquals(4 + 1_000, filter.estimateOf("{\"prompt\":\"abcd\"}".getBytes(StandardCharsets.UTF_8),
                java.util.List.of(StandardCharsets.UTF_8), false, "/ai/chat", asked),
                "beside a JSON body the query's budget counts (capped), its n does not: it may mean anything there");
        assertEquals(500 + 8 * 1_000, filter.estimateOf(new byte[0], java.util.List.of(StandardCharsets.UTF_8), false, "/ai/chat", asked),
                "a GET ?n=8&max_tokens=16000");
        assertEquals(500, filter.estimateOf(new byte[0], java.util.List.of(StandardCharsets.UTF_8), false, "/ai/chat", new RequestEstimator.Asked()),
                "no body and no budget: the fallback");
    }

    @Test
    void memberNamesOfDataTheProviderSerialisesCountButTheRequestsOwnKeysDoNot() {
        // a tool input's names reach the prompt as its values do, a boolean as its literal and a separator
        // (round 357); "messages", "role", "content" do not
        assertEquals("Look".length() + "the long question".length() + "true".length() + 1 + 2 * F, estimate("""
                {"messages":[{"role":"assistant","content":[{"type":"tool_use","id":"t","name":"f",
                  "input":{"the long question":true}}]},{"role":"user","content":"Look"}]}""").inputTokens());
        // Responses text.format is its response_format: every name and string of it counts
        assertEquals("hi".length() + "format".length() + "type".length() + "json_schema".length()
                + "schema".length() + "properties".length() + "a field".length() + "type".length() + "string".length(),
                estimate("""
                {"input":"hi","text":{"format":{"type":"json_schema",
                  "schema":{"properties":{"a field":{"type":"string"}}}}}}""").inputTokens());
    }

    @Test
    void numbersBooleansAndNullsOfToolDataCountAsTheModelReadsThemButTokenIdsAndSettingsDoNot() {
        // round 357: a Bedrock tool result's json is serialised whole: its names, and each number, boolean and
        // null as its literal and a separator (Bedrock's camelCase toolUseId is no *_id label: it counts)
        assertEquals("Look".length() + "t".length() + "price".length() + "18001.7502".length() + 1 + "open".length() + "false".length() + 1
                + "note".length() + "null".length() + 1 + F, estimate("""
                {"messages":[{"role":"user","content":[{"text":"Look"},{"toolResult":{"toolUseId":"t",
                  "content":[{"json":{"price":18001.7502,"open":false,"note":null}}]}}]}],
                 "inferenceConfig":{"maxTokens":10},"stream":true,"stream_options":{"include_usage":true}}""").inputTokens());
        // a Gemini function response's list of numbers; a token id list still costs one per id, a message's
        // own numbers and booleans no more than before
        assertEquals("r".length() + 2 * ("12.5".length() + 1) + "true".length() + 1 + 2 + 1 + F, estimate("""
                {"contents":[{"role":"user","weight":3,"cached":true,"parts":[{"functionResponse":{"name":"f",
                  "response":{"r":[12.5,12.5,true]}}}]}],"prompt":[9906,1917],
                 "generationConfig":{"temperature":0.2,"responseLogprobs":true}}""").inputTokens());
    }

    @Test
    void nonNumericNumbersAsPythonWritesThemKeepTheBudget() {
        RequestEstimator.Estimate e = estimate("{\"n\":8,\"max_tokens\":16000,\"prompt\":\"ab\",\"score\":NaN,\"t\":-Infinity}");
        assertEquals(16_000, e.outputBudget(), "a NaN beside the budget is not broken JSON");
        assertEquals(8, e.completions());
        assertEquals(2, e.inputTokens());
        assertEquals(-1, estimate("{\"max_tokens\":NaN}").outputBudget(), "NaN asks for no budget");
        assertEquals(Long.MAX_VALUE, estimate("{\"max_tokens\":Infinity}").outputBudget(), "infinity is no limit");
        assertEquals(1, estimate("{\"n\":Infinity}").completions());
    }

    @Test
    void aNegativeBudgetIsNoLimitAndAZeroBudgetHoldsTheDefault() {
        assertEquals(Long.MAX_VALUE, estimate("{\"max_tokens\":-1}").outputBudget(), "llama.cpp and LM Studio: no limit");
        assertEquals(Long.MAX_VALUE, estimate("{\"max_tokens\":-1.0}").outputBudget());
        QuotaFilter filter = QuotaFilter.builder(new io.tokenquota.memory.InMemoryQuotaStore()).protect("/ai/")
                .subjectResolver(r -> "x").estimator(CharSequence::length)
                .fallbackEstimate(500).defaultOutputBudget(50).outputBudgetCap(1_000).build();
        RequestEstimator.Asked none = new RequestEstimator.Asked();
        assertEquals(2 + 1_000, filter.estimateOf("{\"max_tokens\":-1,\"prompt\":\"ab\"}".getBytes(StandardCharsets.UTF_8),
                java.util.List.of(StandardCharsets.UTF_8), false, "/ai/chat", none), "no limit holds the cap");
        assertEquals(2 + 50, filter.estimateOf("{\"max_tokens\":0,\"prompt\":\"ab\"}".getBytes(StandardCharsets.UTF_8),
                java.util.List.of(StandardCharsets.UTF_8), false, "/ai/chat", none), "0 holds what no budget holds");
        RequestEstimator.Asked form = new RequestEstimator.Asked();
        assertTrue(form.read("max_tokens", "-1"));
        assertEquals(Long.MAX_VALUE, form.budget, "a form field's -1 is no limit too");
    }

    @Test
    void aMalformedUtf8ByteIsReadAsAReaderReadsIt() {
        byte[] head = "{\"messages\":[{\"role\":\"user\",\"content\":\"abc".getBytes(StandardCharsets.UTF_8);
        byte[] tail = "def\"}]}".getBytes(StandardCharsets.UTF_8);
        byte[] body = new byte[head.length + 1 + tail.length];
        System.arraycopy(head, 0, body, 0, head.length);
        body[head.length] = (byte) 0xFF;
        System.arraycopy(tail, 0, body, head.length + 1, tail.length);
        assertEquals(7 + F, estimator.estimate(body).inputTokens(), "abc, U+FFFD, def");
    }

    @Test
    void takesTheLargestTopLevelOutputBudget() {
        assertEquals(300, estimate("{\"max_tokens\":100,\"max_output_tokens\":300}").outputBudget());
        assertEquals(-1, estimate("{\"prompt\":\"x\"}").outputBudget());
        assertEquals(-1, estimate("{\"metadata\":{\"max_tokens\":100}}").outputBudget(),
                "metadata is labels the provider stores, never settings");
        assertEquals(100, estimate("{\"input_data\":{\"parameters\":{\"max_new_tokens\":100}}}").outputBudget(),
                "a budget nested where the server's API puts its settings is held");
        RequestEstimator.Estimate records = estimate("{\"dataframe_records\":[{\"max_tokens\":100},{\"max_tokens\":200}]}");
        assertEquals(200, records.outputBudget(), "the largest budget of a table of requests");
        assertEquals(2, records.completions(), "each record of a table of requests asks for its own output");
        assertEquals(8000, estimate("{\"inputs\":[{\"name\":\"max_tokens\",\"datatype\":\"INT32\",\"shape\":[1,1],"
                + "\"data\":[[8000]]},{\"name\":\"temperature\",\"data\":[[90000]]}]}").outputBudget(),
                "a named input tensor (KServe v2) is a budget when its name is one");
        assertEquals(-1, estimate("{\"tools\":[{\"parameters\":{\"max_tokens\":100}}]}").outputBudget(),
                "a tool's parameters are not the request's settings");
        assertEquals(-1, estimate("{\"messages\":[{\"options\":{\"num_predict\":100}}]}").outputBudget());
        assertEquals(Long.MAX_VALUE, estimate("{\"max_tokens\":123456789012345678901234567890}").outputBudget());
        assertEquals(Long.MAX_VALUE, estimate("{\"max_tokens\":-5}").outputBudget(), "negative is no limit");
    }

    @Test
    void everyServersOwnBudgetNameIsRead() {
        // llama.cpp reads n_predict before max_tokens; the largest present is held
        assertEquals(16_000, estimate("{\"max_tokens\":16,\"n_predict\":16000}").outputBudget());
        assertEquals(16_000, estimate("{\"min_tokens\":16000}").outputBudget(), "vLLM: at least that many");
        assertEquals(200, estimate("{\"max_tokens\":200,\"min_tokens\":0}").outputBudget());
        assertEquals(Long.MAX_VALUE, estimate("{\"n_predict\":-1}").outputBudget(), "llama.cpp: no limit");
        assertEquals(Long.MAX_VALUE, estimate("{\"n_predict\":-2}").outputBudget(), "llama.cpp: fill the context");
        assertEquals(900, estimate("{\"max_tokens_to_sample\":900,\"prompt\":\"x\"}").outputBudget(), "Anthropic legacy");
        assertEquals(900, estimate("{\"max_new_tokens\":900}").outputBudget());
        assertEquals(900, estimate("{\"maxTokens\":900}").outputBudget());
        // Ollama options, Hugging Face TGI parameters, Bedrock Converse inferenceConfig, Gemini generationConfig
        assertEquals(700, estimate("{\"model\":\"llama3\",\"options\":{\"num_predict\":700}}").outputBudget());
        assertEquals(Long.MAX_VALUE, estimate("{\"options\":{\"num_predict\":-1}}").outputBudget(), "Ollama: no limit");
        assertEquals(Long.MAX_VALUE, estimate("{\"options\":{\"num_predict\":-2}}").outputBudget(), "Ollama: fill the context");
        assertEquals(700, estimate("{\"inputs\":\"x\",\"parameters\":{\"max_new_tokens\":20,\"min_new_tokens\":700}}")
                .outputBudget());
        assertEquals(700, estimate("{\"inferenceConfig\":{\"maxTokens\":\"700\"}}").outputBudget());
        assertEquals(700, estimate("{\"generationConfig\":{\"max_tokens\":700}}").outputBudget());
        assertEquals(800, estimate("{\"max_tokens\":700,\"options\":{\"num_predict\":800}}").outputBudget());
        // the same names in a request's parameters (query string, form fields)
        for (String name : RequestEstimator.OUTPUT_FIELDS) {
            RequestEstimator.Asked asked = new RequestEstimator.Asked();
            assertTrue(asked.read(name, "1234"), name);
            assertEquals(1234, asked.budget, name);
            assertEquals(1234, estimate("{\"" + name + "\":1234}").outputBudget(), name);
            assertEquals(1234, estimate("{\"options\":{\"" + name + "\":1234}}").outputBudget(), name);
        }
        RequestEstimator.Asked noLimit = new RequestEstimator.Asked();
        assertTrue(noLimit.read("n_predict", "-1"));
        assertEquals(Long.MAX_VALUE, noLimit.budget);
    }

    @Test
    void vertexInstancesAreRequestsUnderTheBodysParameters() {
        RequestEstimator.Estimate e = estimate("{\"instances\":[{\"prompt\":\"a\"},{\"prompt\":\"b\",\"max_tokens\":16000,"
                + "\"n\":2},{\"prompt\":\"c\"}],\"parameters\":{\"maxOutputTokens\":8000,\"candidateCount\":1}}");
        assertEquals(3, e.requests().size());
        assertEquals(8_000, e.requests().get(0).outputBudget());
        assertEquals(16_000, e.requests().get(1).outputBudget(), "an instance's own budget, when larger");
        assertEquals(2, e.requests().get(1).completions());
        assertEquals(8_000, e.requests().get(2).outputBudget());
    }

    @Test
    void brokenOrNonObjectBodiesHaveNoEstimate() {
        assertNull(estimate(""));
        assertNull(estimate("[1,2]"));
        assertNull(estimate("\"text\""));
        assertNull(estimate("{\"prompt\":\"abc\""));
        // what a lenient reader (Gson, JSON5) takes as JSON is read as such, at least its characters as text
        RequestEstimator.Estimate lenient = estimate("{'prompt':'single quotes', /* note */ max_tokens: 900, n: 2,}");
        assertEquals(900, lenient.outputBudget());
        assertEquals(2, lenient.completions());
        assertNull(estimate("not json at all"));
        assertNull(estimate("[".repeat(10_000)));
    }

    @Test
    void contentAfterACompleteObjectKeepsItsBudgetAndCountsAsText() {
        RequestEstimator.Estimate e = estimate("{\"max_tokens\":16000,\"prompt\":\"abc\"} trailing words here");
        assertEquals(16_000, e.outputBudget(), "a lenient endpoint still reads the object's max_tokens");
        assertEquals("{\"max_tokens\":16000,\"prompt\":\"abc\"} trailing words here".length(), e.inputTokens(),
                "the whole body's text counts when something follows the object");
    }

    @Test
    void theFilterAddsTheBudgetOrTheDefaultsAndCaps() {
        QuotaFilter filter = QuotaFilter.builder(new io.tokenquota.memory.InMemoryQuotaStore()).protect("/ai/")
                .subjectResolver(r -> "x").estimator(CharSequence::length)
                .fallbackEstimate(500).fallbackEstimate("/ai/audio/", 2_000)
                .defaultOutputBudget(50).defaultOutputBudget("/ai/embed/", 0).outputBudgetCap(1_000).build();
        byte[] withBudget = "{\"prompt\":\"abcd\",\"max_tokens\":5000}".getBytes(StandardCharsets.UTF_8);
        byte[] withoutBudget = "{\"prompt\":\"abcd\"}".getBytes(StandardCharsets.UTF_8);
        byte[] broken = "{\"prompt\"".getBytes(StandardCharsets.UTF_8);
        assertEquals(1_004, filter.estimateOf(withBudget, java.util.List.of(StandardCharsets.UTF_8), false, "/ai/chat", new RequestEstimator.Asked()));
        assertEquals(54, filter.estimateOf(withoutBudget, java.util.List.of(StandardCharsets.UTF_8), false, "/ai/chat", new RequestEstimator.Asked()));
        assertEquals(4, filter.estimateOf(withoutBudget, java.util.List.of(StandardCharsets.UTF_8), false, "/ai/embed/", new RequestEstimator.Asked()));
        assertEquals(500, filter.estimateOf(broken, java.util.List.of(StandardCharsets.UTF_8), false, "/ai/chat", new RequestEstimator.Asked()));
        assertEquals(2_000, filter.estimateOf(broken, java.util.List.of(StandardCharsets.UTF_8), false, "/ai/audio/", new RequestEstimator.Asked()));
        assertEquals(1, filter.estimateOf("{}".getBytes(StandardCharsets.UTF_8), java.util.List.of(StandardCharsets.UTF_8), false, "/ai/embed/", new RequestEstimator.Asked()), "a hold is never empty");
        byte[] twoCompletions = "{\"prompt\":\"abcd\",\"max_tokens\":5000,\"n\":2}".getBytes(StandardCharsets.UTF_8);
        assertEquals(2_004, filter.estimateOf(twoCompletions, java.util.List.of(StandardCharsets.UTF_8), false, "/ai/chat", new RequestEstimator.Asked()), "the cap bounds each completion");
    }

    @Test
    void bytesAreTextUnlessMuchOfThemDoesNotDecodeOrIsControlCharacters() {
        byte[] stray = "caf\u00e9 au lait, s'il vous pla\u00eet".getBytes(StandardCharsets.ISO_8859_1);
        assertEquals("caf\ufffd au lait, s'il vous pla\ufffdt", BodyText.text(stray, StandardCharsets.UTF_8).toString(),
                "a few bytes that do not decode are replaced, as a Reader replaces them");
        byte[] binary = new byte[4096];
        new java.util.Random(7).nextBytes(binary);
        for (int i = 0; i < binary.length; i++) {
            binary[i] = (byte) (binary[i] == 0 ? 1 : binary[i]);
        }
        assertNull(BodyText.text(binary, StandardCharsets.UTF_8),
                "random bytes, even without a NUL, are not text, in UTF-8 nor byte by byte");
        assertEquals("a text\u0000 with one NUL", BodyText.text("a text\u0000 with one NUL".getBytes(StandardCharsets.UTF_8),
                StandardCharsets.UTF_8).toString(), "one NUL does not make a text binary");
        assertNull(BodyText.text("\u0001\u0002\u0003 x".getBytes(StandardCharsets.UTF_8), StandardCharsets.UTF_8),
                "mostly control characters");
        String russian = "\u043a\u043e\u043c\u0438\u0442\u0435\u0442 \u0440\u0430\u0441\u0441\u043c\u043e\u0442\u0440\u0435\u043b";
        assertEquals(russian.length(), BodyText.text(russian.getBytes(java.nio.charset.Charset.forName("windows-1251")),
                StandardCharsets.UTF_8).length(), "a single-byte text reads byte by byte, as getReader() reads an unlabelled body");
        byte[] utf16 = ("\uFEFF" + russian).getBytes(StandardCharsets.UTF_16LE);
        assertEquals(russian, BodyText.text(utf16, StandardCharsets.UTF_8).toString(), "a byte order mark names the charset");
        String latin = "the committee reviewed the quarterly results";
        assertEquals(latin, BodyText.text(latin.getBytes(StandardCharsets.UTF_16LE), StandardCharsets.UTF_8).toString(),
                "UTF-16 without a mark, told by its zero bytes");
        String japanese = "\u59d4\u54e1\u4f1a\u306f\u56db\u534a\u671f\u306e\u7d50\u679c\u3092\u691c\u8a0e\u3057\u305f";
        byte[] sjis = japanese.getBytes(java.nio.charset.Charset.forName("Shift_JIS"));
        assertEquals(sjis.length, BodyText.text(sjis, StandardCharsets.UTF_8).length(),
                "a double-byte text reads byte by byte, its C1 characters no noise there");
        byte[] startsWithZero = binary.clone();
        startsWithZero[0] = 0;
        assertNull(BodyText.text(startsWithZero, StandardCharsets.UTF_8), "a zero first byte alone does not make UTF-16");
    }


    @Test
    void aListOfPromptsIsABatchEachCompletedNTimes() {
        // legacy completions complete each prompt of the list on its own, n times each
        assertEquals(3, estimate("{\"max_tokens\":10,\"prompt\":[\"a\",\"b\",\"c\"]}").completions());
        assertEquals(6, estimate("{\"n\":2,\"max_tokens\":10,\"prompt\":[[1,2],[3],[4]]}").completions());
        assertEquals(1, estimate("{\"prompt\":[9906,1917]}").completions(), "one pre-tokenised prompt");
        assertEquals(1, estimate("{\"input\":[\"a\",\"b\"],\"prompt\":\"c\"}").completions());
        assertEquals(1, estimate("{\"messages\":[{\"prompt\":[\"a\",\"b\"]}]}").completions(), "top level only");
    }

    @Test
    void aJsonArrayOfRequestsIsEstimatedElementByElement() {
        java.util.List<RequestEstimator.Estimate> each = estimator.estimateEach(
                "[{\"max_tokens\":8000,\"input\":\"ab\"},{\"n\":2,\"max_tokens\":5,\"input\":\"c\"}]"
                        .getBytes(StandardCharsets.UTF_8));
        assertEquals(2, each.size());
        assertEquals(new RequestEstimator.Estimate(2, 8000, 1), each.get(0));
        assertEquals(new RequestEstimator.Estimate(1, 5, 2), each.get(1));
        for (String notAList : new String[] {"{\"input\":\"a\"}", "[]", "[\"a\",\"b\"]", "[{\"input\":\"a\"},1]",
                "[{\"input\":\"a\"}"}) {
            assertNull(estimator.estimateEach(notAList.getBytes(StandardCharsets.UTF_8)), notAList);
        }
        assertEquals(java.util.List.of(new RequestEstimator.Estimate(1, -1, 1)),
                estimator.estimateEach("[{\"input\":\"a\"}] tail".getBytes(StandardCharsets.UTF_8)),
                "Jackson binds the array and never reads what follows it");
    }

    @Test
    void noLengthLimitOfTheParserDropsTheBudget() {
        String budget = "\"n\":8,\"max_tokens\":16000,\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]";
        String longInteger = "1" + "0".repeat(5_000);
        for (String body : new String[] {
                "{" + budget + ",\"tools\":[{\"parameters\":{\"maximum\":" + longInteger + "}}]}",
                "{" + budget + ",\"" + " ".repeat(60_000) + "\":1}",
                "{" + budget + ",\"x\":" + longInteger + ".5e-3}"}) {
            RequestEstimator.Estimate e = estimate(body);
            assertEquals(16_000, e.outputBudget());
            assertEquals(8, e.completions());
        }
        String zeros = "0".repeat(3_000);
        assertEquals(16_000, estimate("{\"max_tokens\":" + "16000." + zeros + "}").outputBudget());
        assertEquals(16_001, estimate("{\"max_tokens\":" + "16000." + zeros + "1}").outputBudget(), "rounded up");
        assertEquals(16_000, estimate("{\"max_tokens\":\"" + zeros + "16000\"}").outputBudget(), "leading zeros");
        assertEquals(16_000, estimate("{\"max_tokens\":16" + zeros + "e-2997}").outputBudget());
        assertEquals(Long.MAX_VALUE, estimate("{\"max_tokens\":" + longInteger + "}").outputBudget());
        assertEquals(Long.MAX_VALUE, estimate("{\"max_tokens\":\"" + longInteger + "\"}").outputBudget());
        assertEquals(Long.MAX_VALUE, estimate("{\"max_tokens\":-" + longInteger + "}").outputBudget(), "no limit");
        assertEquals(1, estimate("{\"n\":-" + longInteger + "}").completions());
        assertEquals(1, estimate("{\"n\":0." + zeros + "1}").completions(), "a fraction of one is one");
        assertEquals(0, estimate("{\"max_tokens\":0." + zeros + "}").outputBudget(), "zero: the default budget");
        assertEquals(0, RequestEstimator.count(RequestEstimator.reduced("0." + zeros)));
        assertEquals(Long.MAX_VALUE, RequestEstimator.count(RequestEstimator.reduced("1e9" + zeros)));
        assertEquals(1, RequestEstimator.count(RequestEstimator.reduced("1e-9" + zeros)));
        assertEquals(120, RequestEstimator.count(RequestEstimator.reduced("0.00012E6")));
        assertEquals(1_000_000_000, RequestEstimator.count(RequestEstimator.reduced("1e" + zeros + "9")), "leading zeros of the exponent");
    }

    @Test
    void aGeminiVideoIsHeldAtTheFrameRateItsPartAsks() {
        // 10 s of silent video: 10 x 263 sampled once a second; at 9 frames a second Gemini bills 90 x 258
        String video = java.util.Base64.getEncoder().encodeToString(AudioDurationTest.concat(AudioDurationTest.ftyp("isom"),
                AudioDurationTest.box("moov", AudioDurationTest.box("mvhd", new byte[100]),
                        AudioDurationTest.track("vide", 1_000, 10, 1_000)), AudioDurationTest.box("mdat", new byte[1_000])));
        long above = 90 * 258 - 10 * 263;
        String after = """
                {"contents":[{"parts":[{"inlineData":{"mimeType":"video/mp4","data":"%s"},"videoMetadata":{"fps":%s}},
                  {"text":"what happens"}]}]}""";
        String before = """
                {"contents":[{"parts":[{"video_metadata":{"start_offset":"1s","fps":%2$s},"inline_data":{"mime_type":"video/mp4","data":"%1$s"}},
                  {"text":"what happens"}]}]}""";
        for (String body : List.of(after, before)) {
            long once = estimate(body.formatted(video, "1")).inputTokens();
            assertEquals(once + above, estimate(body.formatted(video, "9")).inputTokens(), body);
            assertEquals(estimate(body.formatted(video, "\"1\"")).inputTokens() + above,
                    estimate(body.formatted(video, "\"9\"")).inputTokens(), "as a JSON text: " + body);
            assertEquals(once, estimate(body.formatted(video, "0")).inputTokens(), "a lower rate keeps the hold: " + body);
        }
        // the rate is the video's own part's: another part's does not price it
        String elsewhere = """
                {"contents":[{"parts":[{"inlineData":{"mimeType":"video/mp4","data":"%s"}},
                  {"text":"what happens","videoMetadata":{"fps":%s}}]}]}""";
        assertEquals(estimate(elsewhere.formatted(video, "1")).inputTokens(),
                estimate(elsewhere.formatted(video, "9")).inputTokens());
    }

    @Test
    void mediaItemsAreCountedOnceEach() {
        String png = EMPTY_PNG;
        assertEquals(3, estimate("""
                {"contents":[{"role":"user","parts":[{"text":"what is this"},
                  {"inlineData":{"mimeType":"image/png","data":"%1$s"}},
                  {"inline_data":{"mime_type":"image/png","data":"%1$s"}},
                  {"fileData":{"mimeType":"video/mp4","fileUri":"gs://b/v.mp4"}}]}]}""".formatted(png)).mediaItems());
        assertEquals(2, estimate("""
                {"messages":[{"role":"user","content":[{"type":"text","text":"hi"},
                  {"type":"image_url","image_url":{"url":"data:image/png;base64,%s","detail":"high"}},
                  {"type":"image_url","image_url":{"url":"https://x/cat.png"}}]}]}""".formatted(png)).mediaItems());
        assertEquals(2, estimate("""
                {"messages":[{"role":"user","content":[
                  {"type":"document","source":{"type":"text","media_type":"text/plain","data":"a doc"}},
                  {"type":"document","source":{"type":"base64","media_type":"application/pdf","data":"%s"}},
                  {"type":"image","source":{"type":"url","url":"https://x/cat.png"}}]}]}""".formatted(png)).mediaItems(),
                "a text document is text; a PDF and an image are media");
        assertEquals(2, estimate("""
                {"input":[{"role":"user","content":[{"type":"input_image","image_url":"https://x/a.png"},
                  {"type":"input_audio","input_audio":{"data":"%s","format":"wav"}}]}]}""".formatted(png)).mediaItems());
        assertEquals(1, estimate("{\"image\":{\"data\":\"%s\"},\"note\":\"ab\"}".formatted(png)).mediaItems());
        assertEquals(2, estimate("{\"prompt\":\"x\",\"image_url\":[\"https://a\",\"https://b\"]}").mediaItems());
        assertEquals(0, estimate("""
                {"messages":[{"role":"user","content":"data: 1, 2, 3"}],
                 "tools":[{"type":"function","function":{"name":"f","parameters":{"type":"object",
                   "properties":{"image":{"type":"string","description":"data:image/png;base64,abc"}}}}}]}""").mediaItems(),
                "text that starts with data: and a tool's schema are not media");
    }

    @Test
    void aBatchOfRequestsHasEachRequestsEstimate() {
        RequestEstimator.Estimate anthropic = estimate("""
                {"requests":[{"custom_id":"a","params":{"max_tokens":8000,"messages":[{"role":"user","content":"ab"}]}},
                  {"custom_id":"b","params":{"max_tokens":50,"n":2,"messages":[{"role":"user","content":"c"}]}}]}""");
        assertEquals(java.util.List.of(new RequestEstimator.Estimate(2 + F, 8000, 1), new RequestEstimator.Estimate(1 + F, 50, 2)),
                anthropic.requests());
        assertEquals(java.util.List.of(new RequestEstimator.Estimate(1, 70, 1)), estimate("""
                {"custom_id":"r1","method":"POST","url":"/v1/chat/completions","body":{"max_tokens":70,"input":"x"}}""")
                .requests(), "a batch file's line");
        assertEquals(java.util.List.of(), estimate("{\"body\":{\"max_tokens\":70}}").requests(), "no custom_id: no line");
        RequestEstimator.Estimate gemini = estimate("""
                {"batch":{"display_name":"b","input_config":{"requests":{"requests":[
                  {"request":{"contents":[{"parts":[{"text":"ab"}]}],"generationConfig":{"maxOutputTokens":900}},
                   "metadata":{"key":"k1"}}]}}}}""");
        assertEquals(java.util.List.of(new RequestEstimator.Estimate(2 + F, 900, 1)), gemini.requests());
        RequestEstimator.Estimate lines = estimate("""
                {"custom_id":"1","method":"POST","url":"/v1/chat/completions","body":{"max_tokens":10,"input":"a"}}
                {"custom_id":"2","method":"POST","url":"/v1/chat/completions","body":{"max_tokens":20,"input":"b"}}
                """);
        assertEquals(2, lines.requests().size(), "JSON lines: one request a line");
        assertEquals(20, lines.requests().get(1).requests().get(0).outputBudget());
        assertEquals(java.util.List.of(), estimate("{\"prompt\":\"a\"} {\"oops\"").requests(), "not JSON lines");
        assertEquals(java.util.List.of(), estimate("""
                {"messages":[{"role":"user","content":[{"type":"text","text":"hi"}]}],
                 "metadata":{"requests":[{"body":"a string"}]}}""").requests(), "a request list needs request objects");
    }

    @Test
    void theFilterPricesMediaItemsAndSumsABatchsRequests() {
        QuotaFilter filter = QuotaFilter.builder(new io.tokenquota.memory.InMemoryQuotaStore()).protect("/ai/")
                .subjectResolver(r -> "x").estimator(CharSequence::length)
                .fallbackEstimate(500).defaultOutputBudget(50).outputBudgetCap(1_000).mediaItemTokens(100).build();
        RequestEstimator.Asked none = new RequestEstimator.Asked();
        String png = EMPTY_PNG;
        byte[] images = """
                {"contents":[{"parts":[{"text":"ab"},{"inlineData":{"mimeType":"image/png","data":"%1$s"}},
                  {"inlineData":{"mimeType":"image/png","data":"%1$s"}}]}]}""".formatted(png).getBytes(StandardCharsets.UTF_8);
        assertEquals(2 + F + 2 * 100 + 50, filter.estimateOf(images, java.util.List.of(StandardCharsets.UTF_8), false, "/ai/chat", none));
        byte[] batch = """
                {"requests":[{"custom_id":"a","params":{"max_tokens":800,"messages":[{"role":"user","content":"ab"}]}},
                  {"custom_id":"b","params":{"max_tokens":900,"messages":[{"role":"user","content":"c"}]}}]}"""
                .getBytes(StandardCharsets.UTF_8);
        assertEquals(2 + 800 + 1 + 900 + 2 * F, filter.estimateOf(batch, java.util.List.of(StandardCharsets.UTF_8), false, "/ai/chat", none));
        QuotaFilter noMedia = QuotaFilter.builder(new io.tokenquota.memory.InMemoryQuotaStore()).protect("/ai/")
                .subjectResolver(r -> "x").estimator(CharSequence::length).defaultOutputBudget(50).mediaItemTokens(0).build();
        assertEquals(2 + F + 50, noMedia.estimateOf(images, java.util.List.of(StandardCharsets.UTF_8), false, "/ai/chat", none));
    }

    @Test
    void aTopLevelInputObjectHoldsTheRequestsOwnSettings() {
        // a RunPod vLLM worker: input.sampling_params is the request's, as a top-level one would be
        RequestEstimator.Estimate e = estimate("""
                {"input":{"messages":[{"role":"user","content":"abc"}],
                  "sampling_params":{"max_tokens":8000,"n":2,"temperature":0.8}}}""");
        assertEquals(8000, e.outputBudget());
        assertEquals(2, e.completions());
        assertTrue(e.inputTokens() >= 3, "its text still counts");
        // a budget nested deeper in it is held as any nested budget (refused above the cap: not rewritten)
        assertEquals(30000, estimate("""
                {"input":{"openai_route":"/v1/chat/completions","openai_input":{"messages":[],"max_tokens":30000}}}""")
                .outputBudget());
        // its conversation and text stay what was said, never settings
        assertEquals(-1, estimate("""
                {"input":{"messages":[{"role":"user","content":{"max_tokens":9000}}],"prompt":{"max_tokens":9000}}}""")
                .outputBudget());
        // a null settings object in it leaves the endpoint its default, as at the top level
        assertTrue(estimate("{\"input\":{\"sampling_params\":null,\"max_tokens\":10}}").orDefault());
    }

    @Test
    void aCompletionCountBesideANestedBudgetMultipliesItsRequest() {
        RequestEstimator.Estimate azure = estimate("""
                {"input_data":{"input_string":["a"],"parameters":{"max_new_tokens":4000,"num_return_sequences":"4"}}}""");
        assertEquals(4000, azure.outputBudget());
        assertEquals(4, azure.completions());
        assertEquals(1, estimate("{\"app\":{\"n\":5}}").completions(), "alone, a count asks for nothing");
        assertEquals(3, estimate("""
                {"dataframe_records":[{"prompt":"a","max_tokens":10,"n":2},{"prompt":"b","max_tokens":20}]}""")
                .completions(), "each record, times its own n");
    }

    @Test
    void aBodyOnlyGsonReadsIsReadAsGsonReadsIt() {
        // a curl body whose quotes the shell stripped, a Ruby Hash#to_s, ; separators, Gson's )]}' prefix
        assertEquals(8000, estimate("{model: gpt-4o, messages: [{role: user, content: hello}], max_tokens: 8000}")
                .outputBudget());
        assertEquals(8000, estimate("{\"model\" => \"gpt-4o\", \"max_tokens\" => 8000, \"n\" => 2}").outputBudget());
        assertEquals(2, estimate("{\"model\" = \"gpt-4o\"; \"max_tokens\" = 8000; \"n\" = 2}").completions());
        assertEquals(8000, estimate(")]}'\n{max_tokens: 8000, prompt: hi}").outputBudget());
        assertEquals(8000, estimate("{max_tokens: 08000, prompt: hi}").outputBudget(), "Gson's nextInt reads 08000");
        RequestEstimator.Estimate twice = estimate("{max_tokens: 10, max_tokens: null, prompt: hi}");
        assertTrue(twice.orDefault(), "a repeated name is kept: the endpoint's own default stands too");
        assertTrue(estimate("{model: gpt-4o, prompt: \"" + "x".repeat(40) + "\"}").inputTokens() >= 40,
                "at least the body's own characters");
        assertNull(estimate("hello => world"), "plain text stays text");
        assertNull(estimate("{max_tokens: 8000, prompt: two words}"), "what Gson refuses too");
    }
    @Test
    void numbersOfAnApplicationsDataCountTheirDigitsAndASeparatorButNotTheRequestsSettings() {
        // "ab", then 12.5 and 7 as the model reads them serialised: 4 + 1 and 1 + 1
        assertEquals(9, estimate("{\"question\":\"ab\",\"readings\":[12.5,7]}").inputTokens());
        assertEquals(9, estimate("{\"question\":\"ab\",\"readings\":{\"x\":12.5,\"y\":7}}").inputTokens());
        // a setting at the top, in a settings object, or a sampling bias by token id: no text
        assertEquals(3, estimate("{\"input\":\"abc\",\"temperature\":0.7,\"generationConfig\":{\"topK\":40},"
                + "\"logit_bias\":{\"50256\":-100}}").inputTokens());
    }

    @Test
    void aLabelOrMemberNameWrittenInWordsAndLongerThanLabelsCounts() {
        String words = "Quarterly report of the steering committee on the data platform migration";
        String url = "https://files.example.com/" + "a".repeat(80);
        assertEquals(words.length() + 1 + F, estimate("{\"messages\":[{\"role\":\"user\",\"name\":\"" + words
                + "\",\"content\":\"x\"}]}").inputTokens());
        assertEquals(words.length() + 1, estimate("{\"user\":\"" + words + "\",\"system\":\"x\"}").inputTokens());
        // a message's name counts whatever it holds: the model reads it with the message
        assertEquals(1 + F + url.length(), estimate("{\"messages\":[{\"role\":\"user\",\"name\":\"" + url
                + "\",\"content\":\"x\"}]}").inputTokens());
        // an application's strings sent as keys: the key is text, its value too
        assertEquals(words.length() + 2, estimate("{\"strings\":{\"" + words + "\":\"ab\"}}").inputTokens());
    }

    @Test
    void aTextDocumentsDataCountsAsWrittenEvenInBase64sAlphabet() {
        String joined = "Minutes_of_the_steering_committee_meeting_held_on_the_third_of_March_".repeat(2);
        RequestEstimator.Estimate e = estimate("{\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"document\","
                + "\"source\":{\"type\":\"text\",\"media_type\":\"text/plain\",\"data\":\"" + joined + "\"}}]}]}");
        assertTrue(e.inputTokens() >= joined.length(), "estimated " + e.inputTokens());
        // the same characters as a base64 source: a media item, not text
        RequestEstimator.Estimate media = estimate("{\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"document\","
                + "\"source\":{\"type\":\"base64\",\"media_type\":\"application/pdf\",\"data\":\"" + joined + "\"}}]}]}");
        assertTrue(media.inputTokens() < joined.length(), "estimated " + media.inputTokens());
    }
    @Test
    void anApplicationsOwnNamesAreTextItsReferencesAndVectorsAreNot() {
        // a catalogue's product names and types, short as they are; its ids and URLs stay references
        assertEquals(2 + 3 + 4, estimate("{\"question\":\"ab\",\"products\":[{\"name\":\"Pen\",\"type\":\"tool\","
                + "\"id\":\"sku-1\",\"url\":\"https://x/p\"}]}").inputTokens());
        // a key with a blank is text (natural keys of a translation file), an identifier is not
        assertEquals(11 + 2, estimate("{\"strings\":{\"Hello world\":\"ab\",\"greeting\":\"\"}}").inputTokens());
        // a query's embedding vector is searched with, not read: an embedding's length of full-precision fractions
        String vector = "[" + "0.01234567,".repeat(255) + "-0.50000001]";
        assertEquals(2, estimate("{\"question\":\"ab\",\"embedding\":" + vector + "}").inputTokens());
        // the same length of readings, or of returns rounded to four decimals, is read
        String readings = "[" + "18.25,".repeat(255) + "19.5]";
        assertEquals(2 + 255 * 6 + 5, estimate("{\"question\":\"ab\",\"readings\":" + readings + "}").inputTokens());
        String returns = "[" + "0.0123,".repeat(255) + "-0.5]";
        assertEquals(2 + 255 * 7 + 5, estimate("{\"question\":\"ab\",\"returns\":" + returns + "}").inputTokens());
        // Chinese is written without blanks: a key or a long label in it is text too
        String clause = "第1条，本协议项下的任何争议应提交仲裁。".repeat(4);
        assertEquals(clause.length() + 2, estimate("{\"glossary\":{\"" + clause + "\":\"ab\"}}").inputTokens());
        assertEquals(clause.length(), estimate("{\"name\":\"" + clause + "\"}").inputTokens());
    }

    @Test
    void aTextDocumentWrittenInBase64CountsAsWrittenNotAsDecoded() {
        String encoded = java.util.Base64.getEncoder().encodeToString("Follow these instructions. ".repeat(4)
                .getBytes(StandardCharsets.UTF_8));
        RequestEstimator.Estimate e = estimate("{\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"document\","
                + "\"source\":{\"type\":\"text\",\"media_type\":\"text/plain\",\"data\":\"" + encoded + "\"}}]}]}");
        assertEquals(encoded.length() + F, e.inputTokens());
    }
    @Test
    void aYamlOrXmlBodyNamesItsBudgetAsAKeyOrAnElement() {
        assertEquals(16_000, RequestEstimator.structuredTextBudget("text: Summarise this.\nmax_tokens: 16000\n"));
        assertEquals(16_000, RequestEstimator.structuredTextBudget("options:\n  \"max_completion_tokens\": '16000'\n"));
        assertEquals(9_000, RequestEstimator.structuredTextBudget(
                "<request><text>Summarise.</text><max_tokens>8000</max_tokens><maxTokens>9000</maxTokens></request>"));
        // prose that mentions a budget names none
        assertEquals(-1, RequestEstimator.structuredTextBudget("Why does max_tokens: 16000 cut my answer short?"));
        assertEquals(-1, RequestEstimator.structuredTextBudget("<max_tokens>16000</max_length>"));
    }

    @Test
    void aPathNamesItsModelOnlyInTheFormOfAnApiThatPutsItThere() {
        // round 410: Workers AI, Replicate (a model or a deployment) and Databricks name the model in the path only
        assertEquals(List.of("@cf/meta/llama-3.1-70b-instruct"),
                RequestEstimator.pathModels("/client/v4/accounts/a1/ai/run/@cf/meta/llama-3.1-70b-instruct"));
        assertEquals(List.of("meta/meta-llama-3-70b-instruct"),
                RequestEstimator.pathModels("/v1/models/meta/meta-llama-3-70b-instruct/predictions"));
        assertEquals(List.of("acme/llama-70b"), RequestEstimator.pathModels("/v1/deployments/acme/llama-70b/predictions/"));
        // round 413: Workers AI through Cloudflare AI Gateway
        assertEquals(List.of("@cf/meta/llama-3.1-70b-instruct"),
                RequestEstimator.pathModels("/v1/a1/my-gateway/workers-ai/@cf/meta/llama-3.1-70b-instruct"));
        assertEquals(List.of("databricks-meta-llama-3-3-70b-instruct"),
                RequestEstimator.pathModels("/serving-endpoints/databricks-meta-llama-3-3-70b-instruct/invocations"));
        // an application's own routes that merely hold /models/, /run/ or /predictions name none: the dearest
        // candidate is charged, so a false one could only raise the charge
        for (String route : List.of("/api/models/list", "/api/models/meta/llama", "/v1/models/llama/predictions",
                "/api/models/meta/llama/predictions/42", "/jobs/run/nightly", "/accounts/a1/ai/run/nightly",
                "/v1/models", "/serving-endpoints/chat/completions", "/serving-endpoints/x/invocations/y",
                "/v1/a1/gw/workers-ai/v1/chat/completions")) {
            assertEquals(List.of(), RequestEstimator.pathModels(route), route);
        }
    }

    @Test
    void replicatePredictionsNameTheirModelInVersionOnlyAsOwnerAndName() {
        // round 413: POST /v1/predictions names an official model as owner/name, with or without a version id
        String hex = "a".repeat(64);
        RequestEstimator predictions = estimator.at("/v1/predictions/");
        for (String version : List.of("meta/meta-llama-3-70b-instruct", "meta/meta-llama-3-70b-instruct:" + hex)) {
            assertEquals(List.of("meta/meta-llama-3-70b-instruct"), predictions.estimate(
                    ("{\"version\":\"" + version + "\",\"input\":{\"prompt\":\"x\"}}").getBytes(StandardCharsets.UTF_8))
                    .models(), version);
        }
        // a bare version id, an application's version, or version on another route names none
        for (String version : List.of(hex, "2", "v1.2", "meta/llama:latest")) {
            assertEquals(List.of(), predictions.estimate(("{\"version\":\"" + version + "\"}")
                    .getBytes(StandardCharsets.UTF_8)).models(), version);
        }
        assertEquals(List.of(), estimator.at("/api/chat").estimate("{\"version\":\"meta/meta-llama-3-70b-instruct\"}"
                .getBytes(StandardCharsets.UTF_8)).models());
    }
}
