package io.tokenquota.servlet;

import java.util.Locale;
import java.util.Map;

/**
 * Splits a provider's usage counters into the four disjoint kinds {@link io.tokenquota.ModelWeights}
 * weighs: {@code {input, cachedInput, output, reasoning}}. Where a provider counts a part inside a
 * whole (OpenAI's cached tokens inside the prompt, its reasoning tokens inside the completion,
 * Gemini's cached content inside the prompt), the part is taken out of the whole, never counted
 * twice, and clamped to it (a report of more cached tokens than prompt tokens counts them all as
 * cached, none twice). A total the provider reports above the sum of its parts (tokens of a kind the
 * parts do not name) is counted as output, the kind tables weigh highest, so the weighted charge is
 * never below what the parts alone would give. Stateless.
 */
final class UsageKinds {
    private UsageKinds() {
    }

    /** OpenAI chat ({@code prompt_tokens}...) or Responses ({@code input_tokens}...), also Groq's. */
    static long[] openAi(Map<String, Long> u) {
        boolean chat = u.containsKey("prompt_tokens") || u.containsKey("completion_tokens");
        long prompt = get(u, chat ? "prompt_tokens" : "input_tokens");
        long completion = get(u, chat ? "completion_tokens" : "output_tokens");
        // DeepSeek counts its cache hits only as prompt_cache_hit_tokens (within prompt_tokens)
        String cachedName = !chat ? "input_tokens_details.cached_tokens"
                : u.containsKey("prompt_tokens_details.cached_tokens") ? "prompt_tokens_details.cached_tokens"
                : "prompt_cache_hit_tokens";
        long cached = Math.min(prompt, get(u, cachedName));
        long reasoning = Math.min(completion, get(u, chat ? "completion_tokens_details.reasoning_tokens"
                : "output_tokens_details.reasoning_tokens"));
        // Perplexity's citation and reasoning tokens, counted beside prompt and completion
        return withTotal(new long[] {add(add(prompt - cached, get(u, "citation_tokens")), UsageSniffer.liteLlmCacheWrite(u)),
            cached, completion - reasoning,
            add(reasoning, UsageSniffer.perplexity(u) ? get(u, "reasoning_tokens") : 0)}, u.get("total_tokens"));
    }

    /**
     * Anthropic: cache writes are input read at full price; cache reads are cached input. The passes
     * {@code usage.iterations} reports beside the top-level counts (a compaction's summary, an advisor
     * model's call: {@link JsonDocumentScanner#ITERATION_COUNTERS}) count as the top level's do.
     */
    static long[] anthropic(Map<String, Long> u) {
        String more = JsonDocumentScanner.ITERATION_COUNTERS;
        return new long[] {add(add(get(u, "input_tokens"), get(u, "cache_creation_input_tokens")),
                add(get(u, more + "input_tokens"), get(u, more + "cache_creation_input_tokens"))),
            add(get(u, "cache_read_input_tokens"), get(u, more + "cache_read_input_tokens")),
            add(get(u, "output_tokens"), get(u, more + "output_tokens")), 0};
    }

    /** The tokens of an Anthropic usage, every pass's ({@link #anthropic}); {@code null} when it counts none. */
    static Long anthropicTotal(Map<String, Long> u) {
        String more = JsonDocumentScanner.ITERATION_COUNTERS;
        return UsageSniffer.sum(u.get("input_tokens"), u.get("output_tokens"), u.get("cache_creation_input_tokens"),
                u.get("cache_read_input_tokens"), u.get(more + "input_tokens"), u.get(more + "output_tokens"),
                u.get(more + "cache_creation_input_tokens"), u.get(more + "cache_read_input_tokens"));
    }

    /**
     * Gemini: {@code promptTokenCount} includes {@code cachedContentTokenCount}; tool-use prompt tokens
     * are input; {@code thoughtsTokenCount} is reasoning (also spelt in snake_case).
     */
    static long[] gemini(Map<String, Long> u) {
        long prompt = gem(u, "promptTokenCount");
        long cached = Math.min(prompt, gem(u, "cachedContentTokenCount"));
        long input = add(prompt - cached, gem(u, "toolUsePromptTokenCount"));
        Long total = u.containsKey("totalTokenCount") ? u.get("totalTokenCount") : u.get("total_token_count");
        return withTotal(new long[] {input, cached, gem(u, "candidatesTokenCount"), gem(u, "thoughtsTokenCount")}, total);
    }

    /** Bedrock Converse: cache writes are input, cache reads cached input. */
    static long[] bedrock(Map<String, Long> u) {
        return withTotal(new long[] {add(get(u, "inputTokens"), get(u, "cacheWriteInputTokens")),
            get(u, "cacheReadInputTokens"), get(u, "outputTokens"), 0}, u.get("totalTokens"));
    }

    /**
     * Agno's {@code RunMetrics} (a run's {@code metrics}): each adapter copies its provider's counts; {@code providers}
     * are those the run names ({@link JsonDocumentScanner.AgnoRun#providers}). Anthropic's
     * ({@code models/anthropic/claude.py} {@code _get_metrics}, which Claude on Bedrock, Azure Foundry and Vertex AI
     * inherit) and Bedrock Converse's ({@code models/aws/bedrock.py}) count the cache beside {@code input_tokens}
     * and leave it out of {@code total_tokens}: read and written are added, when the run names one of
     * {@link #AGNO_CACHE_APART}, or the counts show it (only those adapters count cache writes, and cache reads within
     * {@code input_tokens} never exceed it, round 412). Every other adapter's {@code cache_read_tokens} are within
     * {@code input_tokens} (OpenAI's, Gemini's, LiteLLM's...). Gemini's ({@code models/google/gemini.py}, since 2.5.4) counts
     * {@code output_tokens = candidates_token_count}, the thoughts only at {@code reasoning_tokens} and
     * {@code total_tokens} without them, which Google bills as output: added as reasoning when the run names
     * {@link #AGNO_THOUGHTS_APART}, or when they are more than {@code output_tokens}, which then cannot hold them
     * (round 415: 3,200 input, 850 output and 7,400 reasoning tokens were charged 4,050 for 11,450). OpenAI's adapter
     * ({@code models/openai/chat.py}) and the others count the reasoning within {@code output_tokens}.
     */
    static long[] agno(Map<String, Long> u, java.util.Set<String> providers) {
        long input = get(u, "input_tokens");
        long read = get(u, "cache_read_tokens");
        long written = get(u, "cache_write_tokens");
        long output = get(u, "output_tokens");
        long reasoning = get(u, "reasoning_tokens");
        long thoughts = providers.contains(AGNO_THOUGHTS_APART) || reasoning > output ? reasoning : 0;
        long[] kinds = providers.stream().anyMatch(AGNO_CACHE_APART::contains) || written > 0 || read > input
                ? new long[] {add(input, written), read, output, thoughts}
                : new long[] {input - read, read, output, thoughts};
        return withTotal(kinds, u.get("total_tokens"));
    }

    /** The Agno providers whose adapters count the prompt cache beside {@code input_tokens} ({@link #agno}). */
    private static final java.util.Set<String> AGNO_CACHE_APART = java.util.Set.of("Anthropic", "AwsBedrock",
            "AzureFoundry", "VertexAI");
    /** The Agno provider whose adapters count the thoughts beside {@code output_tokens} ({@link #agno}). */
    private static final String AGNO_THOUGHTS_APART = "Google";

    /** Cohere: the tokens read and written, or the billed ones when those are more (as the sniffer charges). */
    static long[] cohere(Map<String, Long> u) {
        long tokens = add(get(u, "tokens.input_tokens"), get(u, "tokens.output_tokens"));
        // an embedding's images are billed as input beside its text
        long images = get(u, "billed_units.image_tokens");
        long billed = add(add(get(u, "billed_units.input_tokens"), get(u, "billed_units.output_tokens")), images);
        return billed > tokens ? new long[] {add(get(u, "billed_units.input_tokens"), images), 0,
                get(u, "billed_units.output_tokens"), 0}
                : new long[] {get(u, "tokens.input_tokens"), 0, get(u, "tokens.output_tokens"), 0};
    }

    /** Bedrock InvokeModel's invocation metrics, and its token-count headers: cache writes are input. */
    static long[] bedrockInvocation(Long input, Long output, Long cacheRead, Long cacheWrite) {
        return new long[] {add(orZero(input), orZero(cacheWrite)), orZero(cacheRead), orZero(output), 0};
    }

    private static long orZero(Long value) {
        return value == null ? 0 : value;
    }

    /** Input and output counters at the top of the answer (Ollama, llama.cpp, Bedrock InvokeModel). */
    static long[] inputOutput(Map<String, Long> u, String input, String output) {
        return new long[] {get(u, input), 0, get(u, output), 0};
    }

    /** {@code kinds} with what {@code total} counts above their sum added as output. */
    static long[] withTotal(long[] kinds, Long total) {
        long sum = total(kinds);
        if (total != null && total > sum) {
            kinds[2] = add(kinds[2], total - sum);
        }
        return kinds;
    }

    private static long gem(Map<String, Long> u, String name) {
        Long value = u.get(name);
        if (value == null) {
            value = u.get(name.replaceAll("([A-Z])", "_$1").toLowerCase(Locale.ROOT));
        }
        return value == null ? 0 : value;
    }

    private static long get(Map<String, Long> u, String name) {
        Long value = u.get(name);
        return value == null ? 0 : value;
    }

    /** Saturating: a count past 64 bits is past any charge the ledger takes anyway. */
    /** The tokens of all kinds added up. */
    static long total(long[] kinds) {
        return add(add(kinds[0], kinds[1]), add(kinds[2], kinds[3]));
    }

    static long add(long a, long b) {
        long sum = a + b;
        return sum < 0 ? Long.MAX_VALUE : sum;
    }
}
