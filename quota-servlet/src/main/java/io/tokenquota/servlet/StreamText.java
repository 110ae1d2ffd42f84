package io.tokenquota.servlet;

import io.tokenquota.TokenEstimator;
import java.util.ArrayDeque;
import java.util.Set;

/**
 * The new text a model wrote, as a stream carries it: what an answer cut before its usage (the client
 * hung up, the relay cancelled its provider call) cost in output. Only each format's own delta fields
 * count, since streams also carry text that is no new output: OpenAI Responses' {@code *.done} events
 * and a LangGraph {@code messages/partial} event repeat what the deltas wrote, a LangGraph
 * {@code values} event echoes the conversation. The deltas read:
 * <ul>
 *   <li>OpenAI Chat Completions chunks (and every server compatible with them): {@code choices[].delta}'s
 *       {@code content}, {@code reasoning_content}, {@code reasoning}, {@code refusal} and its tool calls'
 *       {@code function.arguments}; a text completion's {@code choices[].text};</li>
 *   <li>OpenAI Responses: the {@code delta} of an event typed {@code response.….delta} (text, reasoning,
 *       refusal, tool arguments), but {@code response.audio.delta}'s (audio, measured as audio);</li>
 *   <li>Anthropic: {@code content_block_delta}'s {@code delta.text}, {@code delta.thinking},
 *       {@code delta.partial_json};</li>
 *   <li>Gemini: {@code candidates[].content.parts[].text};</li>
 *   <li>Ollama: a chunk's {@code message.content}, {@code message.thinking}, {@code response},
 *       {@code thinking}, in the chunks that say {@code "done": false}; llama.cpp's {@code content} in
 *       those that say {@code "stop": false};</li>
 *   <li>the Vercel AI SDK: a data stream's text and reasoning parts (a JSON string alone, read by
 *       {@link #root}), a UI message stream's {@code text-delta} and {@code reasoning-delta}
 *       {@code delta};</li>
 *   <li>Cohere v2's {@code content-delta} {@code delta.message.content.text}; a relayed Bedrock
 *       ConverseStream's {@code contentBlockDelta.delta.text}; Hugging Face TGI's {@code token.text};
 *       LangChain's {@code astream_events} {@code on_chat_model_stream} {@code data.chunk.content};
 *       Spring AI's streamed {@code result.output.text}.</li>
 * </ul>
 * The JSON scanner keeps a string's first {@link JsonDocumentScanner#KEPT_STRING_BYTES} bytes: a longer
 * one is estimated by its kept part, scaled to its whole length. Not thread-safe.
 */
final class StreamText {
    /** The field names a delta's text is in: the cheap test before a path is built. */
    static final Set<String> FIELDS = Set.of("content", "reasoning_content", "reasoning", "refusal", "arguments",
            "text", "thinking", "partial_json", "delta", "response");

    /** Deltas in every document that has them. */
    private static final Set<String> ANY = Set.of("choices[].delta.content", "choices[].delta.reasoning_content",
            "choices[].delta.reasoning", "choices[].delta.refusal", "choices[].delta.tool_calls[].function.arguments",
            "choices[].text", "candidates[].content.parts[].text", "contentBlockDelta.delta.text", "token.text",
            "result.output.text");
    /** Deltas of a document whose {@code type} says so. */
    private static final Set<String> ANTHROPIC = Set.of("delta.text", "delta.thinking", "delta.partial_json");
    private static final String COHERE = "delta.message.content.text";
    private static final String TYPED = "delta";
    /** Deltas of a document that says it is not the last ({@code "done": false}, {@code "stop": false}). */
    private static final Set<String> OLLAMA = Set.of("message.content", "message.thinking", "response", "thinking");
    private static final String LLAMA_CPP = "content";
    private static final String LANGCHAIN_CHUNK = "data.chunk.content";

    private final TokenEstimator estimator;
    /** Strings the scanner passed to the parser and the parser read, counted alike. */
    private int opened;
    private int parsed;
    /** {ordinal, kept bytes, dropped bytes} of each string whose contents were cut, in order. */
    private final ArrayDeque<long[]> cut = new ArrayDeque<>();

    // the current document's candidates, by the rule that counts them
    private long any;
    private long anthropic;
    private long cohere;
    private long typed;
    private long ollama;
    private long llamaCpp;
    private long langChain;
    private String unfinished;
    private long root;

    StreamText(TokenEstimator estimator) {
        this.estimator = estimator;
    }

    /** The scanner passed a string's opening quote to the parser. */
    void opened() {
        opened++;
    }

    /** The string opened last was cut: {@code kept} of its bytes went to the parser, {@code dropped} did not. */
    void elided(int kept, long dropped) {
        cut.addLast(new long[] {opened, kept, dropped});
    }

    /** The parser read a string (a field name or a value): the next one the scanner opened. */
    void parsed() {
        parsed++;
        while (!cut.isEmpty() && cut.peekFirst()[0] < parsed) {
            cut.removeFirst();
        }
    }

    /** A root-level string value. */
    void root(String value) {
        root = plus(root, tokens(value));
    }

    long takeRoot() {
        long r = root;
        root = 0;
        return r;
    }

    /** The document says it is not its stream's last ({@code done} or {@code stop} false). */
    void unfinished(String field) {
        unfinished = field;
    }

    /** A string value at {@code path} (dotted field names, arrays as {@code []}) of the current document. */
    void string(String path, String value) {
        if (ANY.contains(path)) {
            any = plus(any, tokens(value));
        } else if (ANTHROPIC.contains(path)) {
            anthropic = plus(anthropic, tokens(value));
        } else if (COHERE.equals(path)) {
            cohere = plus(cohere, tokens(value));
        } else if (TYPED.equals(path)) {
            typed = plus(typed, tokens(value));
        } else if (OLLAMA.contains(path)) {
            ollama = plus(ollama, tokens(value));
        } else if (LLAMA_CPP.equals(path)) {
            llamaCpp = plus(llamaCpp, tokens(value));
        } else if (LANGCHAIN_CHUNK.equals(path)) {
            langChain = plus(langChain, tokens(value));
        }
    }

    /** The tokens of the current document's deltas, by its top-level {@code type} and {@code event}. */
    long documentTokens(String type, String event) {
        long sum = any;
        if ("content_block_delta".equals(type)) {
            sum = plus(sum, anthropic);
        }
        if ("content-delta".equals(type)) {
            sum = plus(sum, cohere);
        }
        if (type != null && (type.startsWith("response.") && type.endsWith(".delta") && !"response.audio.delta".equals(type)
                || "text-delta".equals(type) || "reasoning-delta".equals(type))) {
            sum = plus(sum, typed);
        }
        if ("done".equals(unfinished)) {
            sum = plus(sum, ollama);
        }
        if ("stop".equals(unfinished)) {
            sum = plus(sum, llamaCpp);
        }
        if ("on_chat_model_stream".equals(event)) {
            sum = plus(sum, langChain);
        }
        return sum;
    }

    /** A new document starts. */
    void nextDocument() {
        any = 0;
        anthropic = 0;
        cohere = 0;
        typed = 0;
        ollama = 0;
        llamaCpp = 0;
        langChain = 0;
        unfinished = null;
    }

    /** The string just parsed, as the estimator counts it, its cut contents by the rate of its kept part. */
    private long tokens(String value) {
        long tokens = Math.max(0, estimator.estimate(value));
        long[] c = cut.peekFirst();
        if (c != null && c[0] == parsed && c[1] > 0) {
            double whole = (double) tokens * (c[1] + c[2]) / c[1];
            tokens = whole >= Long.MAX_VALUE ? Long.MAX_VALUE : (long) Math.ceil(whole);
        }
        return tokens;
    }

    static long plus(long a, long b) {
        long sum = a + b;
        return sum < 0 ? Long.MAX_VALUE : sum;
    }
}
