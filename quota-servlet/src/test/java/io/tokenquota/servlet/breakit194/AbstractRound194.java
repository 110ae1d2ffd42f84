package io.tokenquota.servlet.breakit194;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.tokenquota.servlet.QuotaFilter;
import io.tokenquota.servlet.testing.CountingModel;
import io.tokenquota.servlet.testing.Deployment;
import io.tokenquota.servlet.testing.H2FilterRound;
import io.tokenquota.servlet.testing.ModelCalls;
import io.tokenquota.servlet.testing.TestHttp;
import java.net.http.HttpResponse;
import java.util.UUID;
import org.junit.jupiter.api.Test;

/**
 * Round 194 of issue 11: prompt caching behind LangChain4j. A RAG endpoint keeps its documents (about
 * 15,000 tokens) in a cached system prompt and calls Claude with LangChain4j's {@code AnthropicChatModel};
 * it returns the framework's {@code ChatResponse} as JSON, as a Spring controller returning it writes it
 * with Jackson (the shape round 99 established and the filter reads: {@code metadata.tokenUsage}). For
 * Anthropic, LangChain4j's {@code tokenUsage} is an {@code AnthropicTokenUsage}
 * ({@code AnthropicMapper.toTokenUsage}): {@code inputTokenCount} is Anthropic's {@code input_tokens}
 * (the uncached part only), {@code totalTokenCount} is input plus output, and the cached prompt is in
 * {@code cacheReadInputTokens} / {@code cacheCreationInputTokens} beside them. The issue (item 5) and
 * the filter's own rule for Anthropic's answer count cache reads and writes: the same counts in
 * Anthropic's own JSON are charged 15,320.
 */
abstract class AbstractRound194 extends H2FilterRound {
    final ModelCalls calls = new ModelCalls();

    static String subject() {
        return "u194-" + UUID.randomUUID().toString().substring(0, 12);
    }

    /** LangChain4j's ChatResponse of a Claude call: 20 uncached input, {@code read} / {@code write} cached, 300 output. */
    static String langChain4j(long read, long write) {
        return "{\"aiMessage\":{\"text\":\"Clause 14.2 lets the supplier terminate on thirty days' notice.\","
                + "\"thinking\":null,\"toolExecutionRequests\":[],\"attributes\":{}},"
                + "\"metadata\":{\"id\":\"msg_01XFDUDYJgAACzvnptvVoYEL\",\"modelName\":\"claude-sonnet-4-5-20250929\","
                + "\"tokenUsage\":{\"inputTokenCount\":20,\"outputTokenCount\":300,\"totalTokenCount\":320,"
                + "\"cacheCreationInputTokens\":" + write + ",\"cacheReadInputTokens\":" + read + "},"
                + "\"finishReason\":\"STOP\"}}";
    }

    /**
     * LangChain4j's ChatResponse of a Claude call on Bedrock ({@code BedrockChatModel}): its tokenUsage is a
     * {@code BedrockTokenUsage}, the cache in {@code cacheReadInputTokens} / {@code cacheWriteInputTokens},
     * {@code totalTokenCount} input plus output.
     */
    static final String LANGCHAIN4J_BEDROCK = "{\"aiMessage\":{\"text\":\"Clause 14.2 lets the supplier terminate on thirty"
            + " days' notice.\",\"thinking\":null,\"toolExecutionRequests\":[],\"attributes\":{}},"
            + "\"metadata\":{\"id\":null,\"modelName\":\"anthropic.claude-sonnet-4-5-20250929-v1:0\","
            + "\"tokenUsage\":{\"inputTokenCount\":20,\"outputTokenCount\":300,\"totalTokenCount\":320,"
            + "\"cacheWriteInputTokens\":0,\"cacheReadInputTokens\":15000},\"finishReason\":\"STOP\"}}";

    /** The same call in Bedrock Converse's own JSON (its totalTokens counts the cache). */
    static final String CONVERSE = "{\"output\":{\"message\":{\"role\":\"assistant\",\"content\":[{\"text\":\"Clause 14.2"
            + " lets the supplier terminate on thirty days' notice.\"}]}},\"stopReason\":\"end_turn\","
            + "\"usage\":{\"inputTokens\":20,\"outputTokens\":300,\"totalTokens\":15320,\"cacheReadInputTokens\":15000,"
            + "\"cacheWriteInputTokens\":0},\"metrics\":{\"latencyMs\":912}}";

    /** The same call in Anthropic's own Messages JSON. */
    static final String ANTHROPIC = "{\"id\":\"msg_01XFDUDYJgAACzvnptvVoYEL\",\"type\":\"message\",\"role\":\"assistant\","
            + "\"model\":\"claude-sonnet-4-5-20250929\",\"content\":[{\"type\":\"text\",\"text\":\"Clause 14.2 lets the supplier"
            + " terminate on thirty days' notice.\"}],\"stop_reason\":\"end_turn\",\"stop_sequence\":null,"
            + "\"usage\":{\"input_tokens\":20,\"cache_creation_input_tokens\":0,\"cache_read_input_tokens\":15000,"
            + "\"output_tokens\":300}}";

    static final String QUESTION = "{\"question\":\"Can the supplier terminate early?\"}";

    @Override
    protected Deployment deploy(QuotaFilter filter) {
        return Deployment.create()
                .filter("quota", filter, "/*")
                .servlet("read", CountingModel.answering(calls, "application/json", langChain4j(15_000, 0)), "/ai/contracts/ask")
                .servlet("write", CountingModel.answering(calls, "application/json", langChain4j(0, 15_000)), "/ai/contracts/first")
                .servlet("bedrock", CountingModel.answering(calls, "application/json", LANGCHAIN4J_BEDROCK), "/ai/contracts/bedrock")
                .servlet("converse", CountingModel.answering(calls, "application/json", CONVERSE),
                        "/ai/bedrock/model/anthropic.claude-sonnet-4-5-20250929-v1:0/converse")
                .servlet("claude", CountingModel.answering(calls, "application/json", ANTHROPIC), "/ai/anthropic/v1/messages")
                .onStartup(filter::registerByServletName);
    }

    private void assertCharged(String path, String body, long billed) {
        String s = subject();
        HttpResponse<String> r = TestHttp.postJson(container.uri(path), s, body);
        assertEquals(200, r.statusCode(), r.body());
        assertEquals(1, calls.of(s), "the model was called once");
        long used = settled(s).used();
        assertTrue(used >= billed, "the call's usage counts " + billed + " tokens (20 input + 15,000 cached + 300 output),"
                + " charged " + used + ": " + ledger(s));
    }

    /** The attack: a question against the cached contract. 15,000 cache reads, charged 320. */
    @Test
    void aLangChain4jClaudeAnswerIsChargedItsCacheReads() {
        assertCharged("/ai/contracts/ask", QUESTION, 15_320);
    }

    /** The same with the call that writes the cache (the first question of a session): 15,000 cache writes. */
    @Test
    void aLangChain4jClaudeAnswerIsChargedItsCacheWrites() {
        assertCharged("/ai/contracts/first", QUESTION, 15_320);
    }

    /** Control: the same counts in Anthropic's own JSON are charged 15,320. */
    @Test
    void controlAnthropicsOwnAnswerIsChargedItsCacheReads() {
        assertCharged("/ai/anthropic/v1/messages", "{\"model\":\"claude-sonnet-4-5\",\"max_tokens\":1024,"
                + "\"messages\":[{\"role\":\"user\",\"content\":\"Can the supplier terminate early?\"}]}", 15_320);
    }

    /** The same through LangChain4j's Bedrock model: 15,000 cache reads in {@code BedrockTokenUsage}, charged 320. */
    @Test
    void aLangChain4jBedrockAnswerIsChargedItsCacheReads() {
        assertCharged("/ai/contracts/bedrock", QUESTION, 15_320);
    }

    /** Control: the same counts in Bedrock Converse's own JSON are charged 15,320. */
    @Test
    void controlConversesOwnAnswerIsChargedItsCacheReads() {
        assertCharged("/ai/bedrock/model/anthropic.claude-sonnet-4-5-20250929-v1:0/converse",
                "{\"messages\":[{\"role\":\"user\",\"content\":[{\"text\":\"Can the supplier terminate early?\"}]}],"
                + "\"inferenceConfig\":{\"maxTokens\":1024}}", 15_320);
    }
}
