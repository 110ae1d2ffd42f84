package io.tokenquota.servlet;

import io.tokenquota.TokenEstimator;
import java.util.ArrayDeque;
import java.util.Set;

/**
 * The new text a model wrote, as a stream carries it: what an answer cut before its usage (the client
 * hung up, the relay cancelled its provider call) cost in output; and a whole answer's text where its
 * provider puts it ({@link #CHAT_WHOLE}), for one answered without usage. Only each format's own delta fields
 * count, since streams also carry text that is no new output: OpenAI Responses' {@code *.done} events
 * and a LangGraph {@code messages/partial} event repeat what the deltas wrote, a LangGraph
 * {@code values} event echoes the conversation. The deltas read:
 * <ul>
 *   <li>OpenAI Chat Completions chunks (and every server compatible with them): {@code choices[].delta}'s
 *       {@code content} (a string, or Mistral's list of typed chunks: {@code text}, and a
 *       {@code thinking} chunk's {@code text}s), {@code reasoning_content}, {@code reasoning},
 *       {@code refusal}, its tool calls'
 *       {@code function.arguments}, a legacy {@code function_call.arguments}, and its audio's
 *       {@code transcript} (and its {@code data}, speech: {@link #AUDIO}); a text completion's
 *       {@code choices[].text};</li>
 *   <li>OpenAI Responses: the {@code delta} of an event typed {@code response.….delta} (text, reasoning,
 *       refusal, tool arguments, transcript), {@code response.audio.delta}'s as speech;</li>
 *   <li>Anthropic: {@code content_block_delta}'s {@code delta.text}, {@code delta.thinking},
 *       {@code delta.partial_json};</li>
 *   <li>Gemini: {@code candidates[].content.parts[]}' {@code text}, {@code executableCode.code} and
 *       {@code functionCall.args} (an object: every name and value in it);</li>
 *   <li>Ollama: a chunk's {@code message.content}, {@code message.thinking}, {@code response},
 *       {@code thinking} and {@code message.tool_calls[].function.arguments} (an object), in the chunks
 *       that say {@code "done": false}; llama.cpp's {@code content} in those that say
 *       {@code "stop": false}; Cloudflare Workers AI's {@code response}, in events that say neither;</li>
 *   <li>the Vercel AI SDK: a data stream's text and reasoning parts (a JSON string alone, read by
 *       {@link #root}) and tool call deltas ({@code argsTextDelta}), a UI message stream's
 *       {@code text-delta} and {@code reasoning-delta} {@code delta} and {@code tool-input-delta}
 *       {@code inputTextDelta};</li>
 *   <li>a Mastra agent's stream ({@link JsonDocumentScanner#MASTRA_USAGE}): {@code text-delta}'s and
 *       {@code reasoning-delta}'s {@code payload.text};</li>
 *   <li>an Assistants run's {@code thread.message.delta} {@code delta.content[].text.value};</li>
 *   <li>Mistral's Conversations stream: {@code message.output.delta} {@code content} (a string, a text
 *       chunk or a ThinkChunk's texts), {@code function.call.delta} and {@code tool.execution.delta}
 *       {@code arguments};</li>
 *   <li>Cohere v1's {@code text-generation} {@code text}, {@code tool-calls-chunk} {@code text} and
 *       {@code tool_call_delta.parameters}; Cohere v2's {@code content-delta} {@code delta.message.content.text} and {@code .thinking},
 *       {@code tool-plan-delta} {@code delta.message.tool_plan} and {@code tool-call-delta}
 *       {@code delta.message.tool_calls.function.arguments}; a relayed Bedrock ConverseStream's
 *       {@code contentBlockDelta.delta}'s {@code text}, {@code reasoningContent.text} and
 *       {@code toolUse.input}; Hugging Face TGI's {@code token.text};
 *       LangChain's {@code astream_events} {@code on_chat_model_stream} {@code data.chunk.content};
 *       Spring AI's streamed {@code result.output.text}; Bedrock's knowledge-base, flow and prompt-optimization
 *       answers ({@link #KNOWLEDGE_BASE_OUTPUT}, {@link #FLOW_OUTPUT}, {@link #OPTIMIZED_PROMPT}).</li>
 * </ul>
 * The JSON scanner keeps a string's first {@link JsonDocumentScanner#KEPT_STRING_BYTES} bytes: a longer
 * one counts its kept part and the text of the rest as {@link StringRest} counted it passing, each by its own bytes
 * (round 511). It drops what an object nests deeper
 * than {@link JsonDocumentScanner#KEPT_DEPTH}: inside tool arguments, those bytes count at
 * {@link #BYTES_PER_TOKEN}. Not thread-safe.
 */
final class StreamText {
    /** The field names a delta's text is in: the cheap test before a path is built. */
    static final Set<String> FIELDS = Set.of("content", "reasoning_content", "reasoning", "refusal", "arguments",
            "text", "thinking", "partial_json", "delta", "response", "transcript", "data", "code", "inputTextDelta",
            "argsTextDelta", "value", "input", "tool_plan", "generated_text", "generation", "outputText", "diff",
            "commands", "command", "answer", "chunk", "output", "parameters", "bytes", "completion", "document",
            "translation_text", "summary_text", "message");

    /** InvokeFlow's output node's document ({@code content.document}: any JSON value, a string or an object). */
    private static final String FLOW_OUTPUT = "flowOutputEvent.content.document";
    /** InvokeFlow's multi-turn agent node asking the user for more: its question, what the node's model wrote. */
    private static final String FLOW_QUESTION = "flowMultiTurnInputRequestEvent.content.document";
    /**
     * Bedrock Agent Runtime's OptimizePrompt stream (API reference "OptimizePrompt", round 504: no usage, charged its
     * hold, 2,330 for a 2,620-token rewrite of a 1,311-token prompt): the model's analysis of the prompt
     * ({@code analyzePromptEvent}'s {@code message}) and the prompt it rewrote ({@code optimizedPromptEvent}'s
     * {@code optimizedPrompt.textPrompt.text}), each sent once, as their JSON rendering names them.
     */
    private static final String PROMPT_ANALYSIS = "analyzePromptEvent.message";
    private static final String OPTIMIZED_PROMPT = "optimizedPromptEvent.optimizedPrompt.textPrompt.text";
    /** Deltas in every document that has them. */
    private static final Set<String> ANY = Set.of("choices[].delta.content", "choices[].delta.refusal", "choices[].delta.tool_calls[].function.arguments",
            "choices[].delta.function_call.arguments", "choices[].delta.audio.transcript", "choices[].text",
            "candidates[].content.parts[].text", "candidates[].content.parts[].executableCode.code",
            "choices[].delta.content[].text", "choices[].delta.content[].thinking[].text",
            "contentBlockDelta.delta.text", "contentBlockDelta.delta.reasoningContent.text",
            "contentBlockDelta.delta.toolUse.input", "token.text", "result.output.text", "argsTextDelta",
            "delta.content[].text.value",
            // round 276: Gemini as google-genai's Python types write it (snake_case), Spring AI's tool calls
            "candidates[].content.parts[].executable_code.code", "result.output.toolCalls[].arguments",
            // round 500: a Bedrock flow's output node's document (InvokeFlow's flowOutputEvent, what the flow's
            // prompt node wrote), and a multi-turn agent node's question, as their JSON rendering names them
            // (AnswerDecoding renders the binary stream's events so); each event is new text
            FLOW_OUTPUT, FLOW_QUESTION, PROMPT_ANALYSIS, OPTIMIZED_PROMPT);
    /**
     * A whole answer's text, where its provider puts it, for an answer without usage (round 270: an
     * application's chat completion without {@code usage} was charged its hold, 1,015 for 4,385 tokens of
     * text): a chat completion's {@code choices[].message} (counted unless the document carries deltas:
     * Perplexity's chunks carry the message so far beside them), an Anthropic message's
     * {@code content[]} (a document typed {@code message}), and Hugging Face's {@code generated_text}
     * (unless the document is a TGI stream's event, whose {@code token.text} counted the text already).
     */
    private static final Set<String> CHAT_WHOLE = Set.of("choices[].message.content", "choices[].message.refusal",
            "choices[].message.tool_calls[].function.arguments", "choices[].message.function_call.arguments",
            "choices[].message.content[].text", "choices[].message.content[].thinking[].text",
            "choices[].message.audio.transcript", "choices[].message.tool_calls[].custom.input");
    private static final Set<String> ANTHROPIC_WHOLE = Set.of("content[].text", "content[].thinking");
    /**
     * Other whole answers' text (round 271): Cohere v2's {@code message}, Bedrock Converse's
     * {@code output.message}, Bedrock InvokeModel's Llama {@code generation}, Titan {@code results[].outputText}
     * and Mistral {@code outputs[].text}, LangChain4j's {@code ChatResponse} ({@code aiMessage.text}), an
     * OpenAI Response's {@code output[]}, Vertex's {@code predictions[].content}; and their tool calls'
     * arguments (round 272: a coding agent's whole answer, a tool call writing a file, was charged its hold).
     */
    private static final Set<String> OTHER_WHOLE = Set.of("message.content[].text", "message.tool_plan",
            "output.message.content[].text", "output.message.content[].reasoningContent.reasoningText.text",
            "generation", "results[].outputText", "outputs[].text", "aiMessage.text", "output[].content[].text",
            "output[].summary[].text", "predictions[].content", "output[].arguments", "output[].input", "output[].code",
            "message.tool_calls[].function.arguments", "aiMessage.toolExecutionRequests[].arguments",
            "output[].operation.diff", "output[].action.commands[]", "output[].action.command[]",
            // an OpenAI Response that only refused (round 503): its refusal part is what the model wrote
            "output[].content[].refusal",
            // Cloudflare Workers AI's REST answer (round 274)
            "result.response",
            // round 276: LangChain4j's thinking and its 0.x Response<AiMessage>, Cohere v2's thinking
            "aiMessage.thinking", "content.text",
            "content.toolExecutionRequests[].arguments", "message.content[].thinking");
    /**
     * The text fields of the InvokeModel stream events {@link InvokeModelEvents} recognizes whose text no other set
     * here reads (round 487): Titan Text's chunk's top-level {@code outputText} (its whole answer's is
     * {@code results[].outputText}), Claude Text Completions' {@code completion}, Cohere Command's
     * {@code generations[].text} (its generate stream's {@code {"text", "is_finished": false}} is {@link #ROOT_TEXT}'s).
     * Each chunk carries new text only, and the last repeats none (Cohere's repeats the answer under
     * {@code response}, not read), so a genuine stream's text is its output once. Counted where they are these
     * families' fields: in the chunk documents of an AWS event stream ({@link Seen#invokeModelChunks}), a call's, not
     * a read's. Not in any other answer (round 494): Anthropic's own Text Completions stream under its first API
     * version (2023-01-01) sends the completion so far in every event, so each of its events counted its whole prefix
     * and a 562-token answer in 24 events was charged 7,817. Every family recognized must have its text counted
     * somewhere here, or an agent's answer written as that family's events is charged the usage it wrote
     * ({@code StreamTextTest}).
     */
    private static final Set<String> INVOKE_MODEL_TEXT = Set.of("outputText", "completion", "generations[].text");
    /**
     * A Bedrock knowledge base's answer (round 500: each charged its hold, 1,049 for 5,237 tokens of text; AWS sends
     * no usage with either): {@code RetrieveAndGenerate}'s whole {@code output.text}, and
     * {@code RetrieveAndGenerateStream}'s {@code output} events, each new text, which the AWS event stream's decoding
     * renders as {@code {"output": {"text": …}}} by their {@code :event-type} header. Counted in a document that names
     * no {@code type}, a call's, not a read's, where it is an AWS event stream's event ({@link Seen#awsEvents}) or an
     * answer's one JSON document ({@link #loneDocumentTokens}); never in a sequence of documents that are no AWS
     * events (a text stream's events, JSON lines): DashScope's native stream writes its answer so far as
     * {@code output.text} in every event (its default {@code incremental_output: false}), which added up would count
     * every prefix (round 494's over-count; round 504's, the same stream relayed as JSON lines). The
     * citations beside it ({@code citations[]}, a {@code citation} event) are not read: each repeats a span of the
     * answer ({@code generatedResponsePart.textResponsePart.text}) and the passages the model read
     * ({@code retrievedReferences[].content.text}), its input.
     */
    private static final String KNOWLEDGE_BASE_OUTPUT = "output.text";
    /**
     * The tool calls a Responses stream sends whole, in its {@code response.output_item.done} event, with no
     * deltas before (round 273: an {@code apply_patch_call}'s diff, a {@code shell_call}'s or
     * {@code local_shell_call}'s commands): a stream cut after one carried what the model wrote in it.
     */
    private static final Set<String> ITEM_DONE = Set.of("item.operation.diff", "item.action.commands[]",
            "item.action.command[]");
    /**
     * A chat answer's reasoning, which vLLM writes under both names (the same text twice,
     * vllm-project/vllm#29408): a delta's and a whole message's, each counted once, the larger of the two.
     */
    /**
     * A whole answer's {@code output} in a document that names no {@code type} (round 276): LangServe's
     * {@code /invoke} of a chat model (an AIMessage under {@code output}), a Replicate prediction's (a string,
     * or its tokens' strings). Not in a typed event (round 279: a Vercel UI message stream's
     * {@code tool-output-available} carries what a tool returned, not what the model wrote).
     */
    private static final Set<String> UNTYPED_OUTPUT = Set.of("output.content", "output", "output[]",
            // LangServe's /invoke of an agent (AgentExecutor's {"output": …} under output: round 281)
            "output.output");
    private static final java.util.List<String> REASONING = java.util.List.of("choices[].delta.reasoning",
            "choices[].delta.reasoning_content", "choices[].message.reasoning", "choices[].message.reasoning_content");
    /**
     * Hugging Face's Inference answers' text, in a root list's objects ({@code [{"generated_text": …}]}), counted
     * unless the document is a TGI stream's event: text generation's {@code generated_text} (round 270), and the
     * translation and summarization tasks' {@code translation_text} and {@code summary_text}, which never carry usage
     * (round 503: a translation, as long as its source, was charged its input plus 1,000); and watsonx.ai's
     * {@code results[].generated_text}, whose stream's events each carry new text only, when it comes without its
     * counts (round 503).
     */
    private static final Set<String> GENERATED = Set.of("generated_text", "translation_text", "summary_text",
            "results[].generated_text");
    /**
     * Text generation's answer text among {@link #GENERATED}: Hugging Face's {@code generated_text} holds the prompt
     * ahead of the completion whenever {@code return_full_text} is true (the Inference API's and transformers'
     * default, TGI's when asked), and the prompt is the request's input, counted there already. One that begins
     * with the request's {@code inputs} ({@link PromptEcho}, told by the text itself, whatever the request said of
     * {@code return_full_text}) counts only what follows it (round 506: a 312-token completion after a
     * 4,366-token prompt was charged 9,054 where its hold, 4,866, was owed).
     */
    private static final Set<String> GENERATED_TEXT = Set.of("generated_text", "results[].generated_text");
    /**
     * Mistral's Conversations (Agents) API's whole answer ({@code "object": "conversation.response"}, round 503: one
     * relayed without {@code usage} was charged its hold, 1,007 for 4,366 tokens of text): its {@code outputs[]}
     * entries' {@code content} (a {@code message.output}'s text, or its chunks' {@code text} and a ThinkChunk's
     * texts) and {@code arguments} (a {@code function.call}'s, a built-in connector's {@code tool.execution}), what
     * its stream's deltas carry ({@link #CONTENT_TYPES}, {@link #ARGUMENT_TYPES}). Counted in that document alone:
     * {@code content} is a common name, and Bedrock's Mistral answers {@code outputs[].text} ({@link #OTHER_WHOLE}).
     */
    private static final Set<String> CONVERSATION_OUTPUTS = Set.of("outputs[].content", "outputs[].content[].text",
            "outputs[].content[].thinking[].text", "outputs[].arguments");
    private static final String CONVERSATION_RESPONSE = "conversation.response";
    /**
     * The field that tells Cohere's v1 chat answer sent whole (and Bedrock's Command R, in the same shape), which
     * names no {@code type} or {@code event_type}: its {@link #ROOT_TEXT} is the model's answer (round 503: one
     * relayed without {@code meta} was charged its hold, 1,007 for 4,366 tokens of text). Its {@code chat_history}
     * repeats the answer as its last {@code CHATBOT} turn's {@code message}, which is not read.
     */
    private static final String COHERE_GENERATION = "generation_id";
    /** Speech in every document that has it: base64 of 16-bit 24 kHz mono PCM, what OpenAI streams. */
    private static final String AUDIO = "choices[].delta.audio.data";
    /** Objects whose every name and value is the model's output (tool arguments), and the rule that counts them. */
    private static final java.util.Map<String, Rule> SUBTREES = java.util.Map.ofEntries(
            java.util.Map.entry("candidates[].content.parts[].functionCall.args", Rule.ANY),
            java.util.Map.entry("message.tool_calls[].function.arguments", Rule.OLLAMA),
            // a whole answer's tool call (round 272): an Anthropic message's tool_use input, Bedrock Converse's
            java.util.Map.entry("content[].input", Rule.ANTHROPIC_WHOLE),
            java.util.Map.entry("output.message.content[].toolUse.input", Rule.OTHER_WHOLE),
            java.util.Map.entry("result.tool_calls[].arguments", Rule.OTHER_WHOLE),
            java.util.Map.entry("candidates[].content.parts[].function_call.args", Rule.ANY),
            // the Vercel AI SDK v4 data stream's tool call part (9:), sent whole unless its arguments streamed
            java.util.Map.entry("args", Rule.VERCEL_TOOL),
            // a Gemini Interactions stream's function call delta (round 288)
            java.util.Map.entry("delta.arguments", Rule.INTERACTION),
            // a flow's document that is an object or a list (round 500): every name and value in it
            java.util.Map.entry(FLOW_OUTPUT, Rule.ANY), java.util.Map.entry(FLOW_QUESTION, Rule.ANY),
            // a Mistral conversation's function call whose arguments are an object (round 503)
            java.util.Map.entry("outputs[].arguments", Rule.CONVERSATION));
    /** The names of the fields whose object or list value may be one of {@link #SUBTREES} (tool arguments, a flow's document). */
    static final Set<String> SUBTREE_FIELDS = Set.of("args", "arguments", "input", "document");
    /** What a byte the scanner dropped unread (nested too deep) is taken to cost: four to a token. */
    static final int BYTES_PER_TOKEN = 4;
    private static final String TOOL_INPUT = "inputTextDelta";
    /** Deltas of a document whose {@code type} says so. */
    private static final Set<String> ANTHROPIC = Set.of("delta.text", "delta.thinking", "delta.partial_json");
    /** Gemini Interactions' delta: a text's, a thought summary's ({@code delta.content.text}). */
    private static final Set<String> INTERACTION = Set.of("delta.content.text");
    private static final Set<String> COHERE = Set.of("delta.message.content.text", "delta.message.content.thinking",
            "delta.message.tool_plan", "delta.message.tool_calls.function.arguments");
    /** Cohere v2's event types whose {@link #COHERE} deltas are new output (not a start's or an end's repeat). */
    private static final Set<String> COHERE_DELTAS = Set.of("content-delta", "tool-plan-delta", "tool-call-delta");
    private static final String TYPED = "delta";
    /** Deltas of a document that says it is not the last ({@code "done": false}, {@code "stop": false}). */
    private static final Set<String> OLLAMA = Set.of("message.content", "message.thinking", "thinking");
    /**
     * Ollama's generate chunks' text, counted as {@link #OLLAMA}'s; and Cloudflare Workers AI's, whose stream
     * events ({@code {"response": "tok", "p": "…"}}) and whole answers from a Worker's binding say neither
     * {@code done} nor {@code stop} (round 274: a stream without its usage was charged its hold).
     */
    private static final String GENERATE_RESPONSE = "response";
    /**
     * A document's own {@code text}, in the events whose {@code type} (or {@code event_type}) says it is new
     * output ({@link #TEXT_TYPES}): Cohere v1's chat stream's {@code text-generation}, Koog's
     * {@code StreamFrame.TextDelta} (round 276); and in an event of no type that says {@code "is_finished": false},
     * Cohere's generate stream's (Cohere Command on InvokeModel, round 487); and in a whole answer of no type that
     * names {@link #COHERE_GENERATION}, Cohere v1's chat answer's (round 503).
     */
    private static final String ROOT_TEXT = "text";
    private static final Set<String> TEXT_TYPES = Set.of("text-generation", "ai.koog.prompt.streaming.StreamFrame.TextDelta",
            // Cohere v1's tool plan, streamed before the call's parameters (round 289)
            "tool-calls-chunk");
    /**
     * A document's own {@code content}: llama.cpp's chunks that say {@code "stop": false}; and the events whose
     * {@code type} says it is new output ({@link #CONTENT_TYPES}, round 276): LangChain's
     * {@code AIMessageChunk} (LangServe's {@code /stream}, LangGraph's {@code messages-tuple}), Coze's
     * {@code answer} delta; in a whole answer, LangChain's AI message (LangGraph's {@code messages/partial},
     * whose growth alone counts, see {@link UsageSniffer}) and Koog's assistant message.
     */
    private static final Set<String> ROOT_CONTENT = Set.of("content",
            // a Mistral Conversations delta's content chunk: a reasoning model's ThinkChunk (round 289)
            "content.thinking[].text");
    /**
     * A Mistral Conversations delta's text chunk, counted as {@link #ROOT_CONTENT} as well as LangChain4j's
     * whole {@code Response} ({@link #OTHER_WHOLE}): no document is both an event of those types and a whole answer.
     */
    private static final String CONTENT_CHUNK_TEXT = "content.text";
    private static final Set<String> CONTENT_TYPES = Set.of("AIMessageChunk", "answer",
            // Mistral's Conversations stream (round 288)
            "message.output.delta");
    /**
     * A tool call's streamed arguments: Mistral's Conversations stream's function call delta's and its
     * built-in connectors' (the code interpreter's script: {@code tool.execution.delta}) {@code arguments}
     * (rounds 288, 289), Cohere v1's {@code tool-calls-chunk} {@code tool_call_delta.parameters} (round 289).
     */
    private static final Set<String> ROOT_ARGUMENTS = Set.of("arguments", "tool_call_delta.parameters");
    /** The events whose {@link #ROOT_ARGUMENTS} are new output. */
    private static final Set<String> ARGUMENT_TYPES = Set.of("function.call.delta", "tool.execution.delta",
            "tool-calls-chunk");
    private static final Set<String> WHOLE_CONTENT_TYPES = Set.of("ai", "ai.koog.prompt.message.Message.Assistant");
    /** Quarkus LangChain4j's streamed {@code PartialResponse}'s {@code chunk} (its {@code eventType}). */
    private static final String CHUNK = "chunk";
    /**
     * A Bedrock agent's answer text as AWS's SDKs hand its {@code chunk} event over and a relay writes it on as a JSON
     * line ({@code {"chunk": {"bytes": "<base64>"}}}, the {@code ResponseStream} union's member; round 479): its
     * {@code bytes} decoded are the answer's text, counted as the binary framing's agent chunk is, never read as a
     * document. Counted in a document whose root holds {@code chunk} alone; bytes that are no base64 (a relay that
     * decoded them) are the text itself.
     */
    private static final String AGENT_CHUNK = "chunk.bytes";
    /**
     * Dify's stream: a chat app's {@code message} (or agent's {@code agent_message}) event's {@code answer},
     * a workflow's {@code text_chunk}'s {@code data.text}, by the document's {@code event}.
     */
    private static final String DIFY_ANSWER = "answer";
    private static final String DIFY_TEXT = "data.text";
    private static final String LANGCHAIN_CHUNK = "data.chunk.content";
    /**
     * A Mastra stream chunk's text ({@code TextDeltaPayload}, {@code ReasoningDeltaPayload}), counted in a
     * {@code text-delta} or {@code reasoning-delta} chunk of Mastra's exact shape (round 388).
     */
    private static final String MASTRA_TEXT = "payload.text";

    private final TokenEstimator estimator;
    /** Strings the scanner passed to the parser and the parser read, counted alike. */
    private int opened;
    private int parsed;
    /**
     * {ordinal, kept bytes, dropped bytes, the dropped part's tokens, those of it after the request's prompt} of each
     * string whose contents were cut, in order.
     */
    private final ArrayDeque<long[]> cut = new ArrayDeque<>();

    /** When a document's candidates count: always, or by what its top-level fields say. */
    private enum Rule { ANY, ANTHROPIC, COHERE, ROOT_TEXT, TYPED, TOOL_INPUT, SPEECH, OLLAMA, GENERATE_RESPONSE,
        ROOT_CONTENT, CHUNK, AGENT_CHUNK, DIFY_ANSWER, DIFY_TEXT, VERCEL_TOOL, LANGCHAIN, CHAT_WHOLE, ANTHROPIC_WHOLE, GENERATED,
        OTHER_WHOLE, UNTYPED_OUTPUT, ITEM_DONE, INTERACTION, ROOT_ARGUMENTS, MASTRA, INVOKE_MODEL, KNOWLEDGE_BASE,
        CONVERSATION }

    /** The current document's candidates, by {@link Rule}. */
    private final long[] candidates = new long[Rule.values().length];
    private String unfinished;
    /** The current document carries a chat chunk's delta, or a TGI stream's token. */
    private boolean chatDelta;
    private boolean tokenSeen;
    /** The current document's {@link #REASONING}, by its place in that list. */
    private final long[] reasoning = new long[4];
    /** The document says it is its stream's last, or a whole answer ({@code done} or {@code stop} true). */
    private String finished;
    /**
     * Whether whole answers' text counts ({@link #CHAT_WHOLE}...): not in the answer to a read, which
     * may be stored text read back (a stored completion, a conversation an application keeps).
     */
    private final boolean whole;
    private long root;
    /** The depth of the tool arguments object being counted, and its rule; -1 when none is open. */
    private int subtreeDepth = -1;
    private Rule subtreeRule;
    /** Containers whose contents the scanner dropped (nested too deep): opened and ended, and their bytes. */
    private int deepOpened;
    private int deepEnded;
    private final ArrayDeque<long[]> deep = new ArrayDeque<>();

    StreamText(TokenEstimator estimator, boolean whole, Seen seen) {
        this(estimator, null, whole, seen);
    }

    private StreamText(TokenEstimator estimator, StreamText cuts, boolean whole, Seen seen) {
        this.estimator = estimator;
        this.cuts = cuts;
        this.whole = whole;
        this.seen = seen;
    }

    /**
     * A counter of its own with the same estimator, for an event another document wraps: which strings
     * were cut is this one's to know, and it is asked each string after this one read it (round 243: a
     * wrapped event's long deltas were counted by their first 256 bytes).
     */
    StreamText another() {
        return new StreamText(estimator, this, whole, seen);
    }

    /** The counter whose strings' cuts this one's are ({@link #another}); {@code null} for a document's own. */
    private final StreamText cuts;

    /** The cut of the string just parsed (as {@link #cut} holds it), or {@code null}. */
    private long[] cutOfCurrent() {
        if (cuts != null) {
            return cuts.cutOfCurrent();
        }
        long[] c = cut.peekFirst();
        return c != null && c[0] == parsed ? c : null;
    }

    /** The scanner passed a string's opening quote to the parser. */
    void opened() {
        opened++;
    }

    /**
     * The string opened last was cut: {@code kept} of its bytes went to the parser, {@code dropped} did not, their
     * text {@code restTokens} ({@link StringRest}), {@code afterPromptTokens} of it from the end of the request's
     * prompt on (all of it unless the string repeats a prompt longer than its kept part).
     */
    void elided(int kept, long dropped, long restTokens, long afterPromptTokens) {
        cut.addLast(new long[] {opened, kept, dropped, restTokens, afterPromptTokens});
    }

    /** The estimator this counts with. */
    TokenEstimator estimator() {
        return estimator;
    }

    /** The parser read a string (a field name or a value): the next one the scanner opened. */
    void parsed() {
        parsed++;
        while (!cut.isEmpty() && cut.peekFirst()[0] < parsed) {
            cut.removeFirst();
        }
        while (!prompted.isEmpty() && prompted.peekFirst()[0] < parsed) {
            prompted.removeFirst();
        }
    }

    /**
     * The string closed last begins with the request's prompt ({@link PromptEcho}): its text is {@code length}
     * bytes of UTF-8, the prompt's {@code prompt} of them.
     */
    void beginsWithPrompt(long length, long prompt) {
        prompted.addLast(new long[] {opened, length, prompt});
    }

    /** {ordinal, text bytes, prompt bytes} of each string that begins with the request's prompt, in order. */
    private final ArrayDeque<long[]> prompted = new ArrayDeque<>();

    /** The string just parsed, if it begins with the request's prompt: {ordinal, text bytes, prompt bytes}. */
    private long[] promptOfCurrent() {
        if (cuts != null) {
            return cuts.promptOfCurrent();
        }
        long[] p = prompted.peekFirst();
        return p != null && p[0] == parsed ? p : null;
    }

    /**
     * The tokens of the string just parsed past the request's prompt it begins with ({@code p}, from
     * {@link #promptOfCurrent}): the text of its kept part that follows the prompt, and of a cut string the text of
     * its rest, which the scanner counted from the prompt's end on when the prompt ran past the kept part. Never at
     * the rate of the prompt's bytes, which the client wrote (round 511: a prompt opening with 320 blanks made a
     * 4,366-token completion after it count as the kept part's blanks, charged its hold).
     */
    private long afterPrompt(String value, long[] p) {
        byte[] bytes = value.getBytes(java.nio.charset.StandardCharsets.UTF_8);
        int from = (int) Math.min(bytes.length, p[2]);
        long kept = Math.max(0, estimator.estimate(
                new String(bytes, from, bytes.length - from, java.nio.charset.StandardCharsets.UTF_8)));
        long[] c = cutOfCurrent();
        return c == null ? kept : plus(kept, c[4]);
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

    /** The document says it is not its stream's last ({@code done}, {@code stop} or Cohere's {@code is_finished} false). */
    void unfinished(String field) {
        unfinished = field;
        streamed = true;
    }

    /** An earlier document said it was not its stream's last: the last one may repeat the whole text. */
    private boolean streamed;

    /** The document says it is its stream's last, or a whole answer ({@code done} or {@code stop} true). */
    void finished(String field) {
        finished = field;
    }

    /** A string value at {@code path} (dotted field names, arrays as {@code []}) of the current document. */
    void string(String path, String value) {
        Rule rule = ANY.contains(path) ? Rule.ANY
                : ANTHROPIC.contains(path) ? Rule.ANTHROPIC
                : INTERACTION.contains(path) ? Rule.INTERACTION
                : COHERE.contains(path) ? Rule.COHERE
                : TYPED.equals(path) ? Rule.TYPED
                : TOOL_INPUT.equals(path) ? Rule.TOOL_INPUT
                : OLLAMA.contains(path) ? Rule.OLLAMA
                : GENERATE_RESPONSE.equals(path) ? Rule.GENERATE_RESPONSE
                : ROOT_TEXT.equals(path) ? Rule.ROOT_TEXT
                : ROOT_CONTENT.contains(path) ? Rule.ROOT_CONTENT
                : ROOT_ARGUMENTS.contains(path) ? Rule.ROOT_ARGUMENTS
                : CHUNK.equals(path) ? Rule.CHUNK
                : AGENT_CHUNK.equals(path) ? Rule.AGENT_CHUNK
                : DIFY_ANSWER.equals(path) ? Rule.DIFY_ANSWER
                : DIFY_TEXT.equals(path) ? Rule.DIFY_TEXT
                : LANGCHAIN_CHUNK.equals(path) ? Rule.LANGCHAIN
                : MASTRA_TEXT.equals(path) ? Rule.MASTRA
                : CHAT_WHOLE.contains(path) ? Rule.CHAT_WHOLE
                : ANTHROPIC_WHOLE.contains(path) ? Rule.ANTHROPIC_WHOLE
                : GENERATED.contains(path) ? Rule.GENERATED
                : CONVERSATION_OUTPUTS.contains(path) ? Rule.CONVERSATION
                : OTHER_WHOLE.contains(path) ? Rule.OTHER_WHOLE
                : INVOKE_MODEL_TEXT.contains(path) ? Rule.INVOKE_MODEL
                : KNOWLEDGE_BASE_OUTPUT.equals(path) ? Rule.KNOWLEDGE_BASE
                : UNTYPED_OUTPUT.contains(path) ? Rule.UNTYPED_OUTPUT
                : ITEM_DONE.contains(path) ? Rule.ITEM_DONE : null;
        int reasoned = REASONING.indexOf(path);
        if (reasoned >= 0) {
            reasoning[reasoned] = plus(reasoning[reasoned], tokens(value));
        }
        chatDelta |= path.startsWith("choices[].delta.");
        seen.argsStreamed |= "argsTextDelta".equals(path);
        tokenSeen |= "token.text".equals(path);
        if (rule != null || CONTENT_CHUNK_TEXT.equals(path)) {
            long[] prompt = GENERATED_TEXT.contains(path) ? promptOfCurrent() : null;
            long tokens = rule == Rule.AGENT_CHUNK ? base64Text(value)
                    : prompt != null ? afterPrompt(value, prompt) : tokens(value);
            if (rule != null) {
                add(rule, tokens);
            }
            if (CONTENT_CHUNK_TEXT.equals(path)) {
                add(Rule.ROOT_CONTENT, tokens);
            }
        }
        if (AUDIO.equals(path)) {
            add(Rule.ANY, speech(value));
        } else if (TYPED.equals(path)) {
            add(Rule.SPEECH, speech(value));
        }
    }

    /** An object or array opened at {@code depth}, at {@code path} ({@code null} when unknown). */
    void opened(int depth, String path) {
        if (subtreeDepth < 0 && path != null && SUBTREES.containsKey(path)) {
            subtreeDepth = depth;
            subtreeRule = SUBTREES.get(path);
        }
    }

    /** The object or array at {@code depth} ended; {@code deep}: its contents were dropped unread. */
    void closed(int depth, boolean deepContents) {
        if (deepContents) {
            long dropped = 0;
            deepEnded++;
            while (!deep.isEmpty() && deep.peekFirst()[0] <= deepEnded) {
                long[] d = deep.removeFirst();
                if (d[0] == deepEnded) {
                    dropped = d[1];
                }
            }
            if (subtreeDepth >= 0) {
                add(subtreeRule, (dropped + BYTES_PER_TOKEN - 1) / BYTES_PER_TOKEN);
            }
        }
        if (depth == subtreeDepth) {
            subtreeDepth = -1;
        }
    }

    /** A member name or a scalar's text (a string's, parsed last, or a number's) inside the document. */
    void scalar(String text, boolean string) {
        if (subtreeDepth >= 0) {
            add(subtreeRule, string ? tokens(text) : Math.max(0, estimator.estimate(text)));
        }
    }

    /** The scanner kept the opening bracket of a container whose contents it drops (nested too deep). */
    void deepOpened() {
        deepOpened++;
    }

    /** The container {@link #deepOpened} last closed, {@code dropped} bytes in it dropped. */
    void deepClosed(long dropped) {
        deep.addLast(new long[] {deepOpened, dropped});
    }

    /**
     * The tokens of the current document's deltas, by its top-level {@code type} (or Cohere v1's
     * {@code event_type}) and {@code event}; {@code mastra}: the document is a Mastra stream's chunk;
     * {@code agentChunk}: its root holds {@code chunk} alone ({@link #AGENT_CHUNK}).
     */
    long documentTokens(String type, String event, boolean mastra, boolean agentChunk) {
        long sum = candidates[Rule.ANY.ordinal()];
        if (agentChunk) {
            sum = plus(sum, candidates[Rule.AGENT_CHUNK.ordinal()]);
        }
        if ("content_block_delta".equals(type)) {
            sum = plus(sum, candidates[Rule.ANTHROPIC.ordinal()]);
        }
        // a Gemini Interactions stream's delta event (content.delta, and step.delta of revision 2026-05-20, named
        // by their event_type): its text or thought summary (rounds 284, 286)
        if ("content.delta".equals(type) || "step.delta".equals(type)) {
            sum = plus(sum, plus(candidates[Rule.ANTHROPIC.ordinal()], candidates[Rule.INTERACTION.ordinal()]));
        }
        if (type != null && COHERE_DELTAS.contains(type)) {
            sum = plus(sum, candidates[Rule.COHERE.ordinal()]);
        }
        if ("response.audio.delta".equals(type)) {
            sum = plus(sum, candidates[Rule.SPEECH.ordinal()]);
        } else if (type != null && (type.startsWith("response.") && type.endsWith(".delta")
                || "text-delta".equals(type) || "reasoning-delta".equals(type))) {
            sum = plus(sum, candidates[Rule.TYPED.ordinal()]);
        }
        if ("tool-input-delta".equals(type)) {
            sum = plus(sum, candidates[Rule.TOOL_INPUT.ordinal()]);
        }
        if (mastra && ("text-delta".equals(type) || "reasoning-delta".equals(type))) {
            sum = plus(sum, candidates[Rule.MASTRA.ordinal()]);
        }
        // a stream's last chunk (done or stop true) has no new text, or repeats it: a whole answer's is all of it
        boolean alone = whole && !streamed;
        if ("done".equals(unfinished) || alone && "done".equals(finished)) {
            sum = plus(sum, plus(candidates[Rule.OLLAMA.ordinal()], candidates[Rule.GENERATE_RESPONSE.ordinal()]));
        } else if (whole && unfinished == null && finished == null) {
            sum = plus(sum, candidates[Rule.GENERATE_RESPONSE.ordinal()]);
        }
        // Cohere's generate stream (Cohere Command on InvokeModel) types none of its events: its text events say
        // "is_finished": false (round 487)
        if (type != null && TEXT_TYPES.contains(type) || type == null && ("is_finished".equals(unfinished)
                || whole && cohereWhole && unfinished == null)) {
            sum = plus(sum, candidates[Rule.ROOT_TEXT.ordinal()]);
        }
        if ("stop".equals(unfinished) || alone && "stop".equals(finished)
                || type != null && (CONTENT_TYPES.contains(type) || whole && WHOLE_CONTENT_TYPES.contains(type))) {
            sum = plus(sum, candidates[Rule.ROOT_CONTENT.ordinal()]);
        }
        if (type != null && ARGUMENT_TYPES.contains(type)) {
            sum = plus(sum, candidates[Rule.ROOT_ARGUMENTS.ordinal()]);
        }
        if ("PartialResponse".equals(type)) {
            sum = plus(sum, candidates[Rule.CHUNK.ordinal()]);
        }
        if ("message".equals(event) || "agent_message".equals(event)) {
            sum = plus(sum, candidates[Rule.DIFY_ANSWER.ordinal()]);
        } else if ("text_chunk".equals(event)) {
            sum = plus(sum, candidates[Rule.DIFY_TEXT.ordinal()]);
        }
        if (!seen.argsStreamed) {
            sum = plus(sum, candidates[Rule.VERCEL_TOOL.ordinal()]);
        }
        sum = plus(sum, Math.max(reasoning[0], reasoning[1]));
        if ("response.created".equals(type)) {
            // another call's output items (a relay of several calls): its indexes start at 0 again (round 279)
            seen.deltaOutputs.clear();
        }
        if (type != null && type.startsWith("response.") && type.endsWith(".delta") && outputIndex >= 0
                && candidates[Rule.TYPED.ordinal()] > 0 && seen.deltaOutputs.size() < Seen.MAX_OUTPUTS) {
            seen.deltaOutputs.add(outputIndex);
        }
        // an item whose text came as deltas before (round 276: an apply_patch diff's, a shell command's) counts once
        if ("response.output_item.done".equals(type) && !seen.deltaOutputs.contains(outputIndex)) {
            sum = plus(sum, candidates[Rule.ITEM_DONE.ordinal()]);
        }
        if ("on_chat_model_stream".equals(event)) {
            sum = plus(sum, candidates[Rule.LANGCHAIN.ordinal()]);
        }
        if (type == null && whole && seen.awsEvents) {
            sum = plus(sum, candidates[Rule.KNOWLEDGE_BASE.ordinal()]);
        }
        if (!whole) {
            return sum;
        }
        if (!chatDelta) {
            sum = plus(sum, plus(candidates[Rule.CHAT_WHOLE.ordinal()], Math.max(reasoning[2], reasoning[3])));
        }
        if ("message".equals(type)) {
            sum = plus(sum, candidates[Rule.ANTHROPIC_WHOLE.ordinal()]);
        }
        if (!tokenSeen) {
            sum = plus(sum, candidates[Rule.GENERATED.ordinal()]);
        }
        if (type == null) {
            sum = plus(sum, candidates[Rule.UNTYPED_OUTPUT.ordinal()]);
        }
        if (conversationResponse) {
            sum = plus(sum, candidates[Rule.CONVERSATION.ordinal()]);
        }
        if (seen.invokeModelChunks.getAsBoolean()) {
            sum = plus(sum, candidates[Rule.INVOKE_MODEL.ordinal()]);
        }
        return plus(sum, candidates[Rule.OTHER_WHOLE.ordinal()]);
    }

    /**
     * The current document's {@link #KNOWLEDGE_BASE_OUTPUT} where it is no AWS event (those count in
     * {@link #documentTokens}): text that counts only if the document turns out to be the answer's only one
     * ({@code UsageSniffer} knows how many it read), RetrieveAndGenerate's whole answer, never in a sequence of
     * documents (round 504: DashScope's stream relayed as JSON lines, its answer so far in every line).
     * {@code type} as {@link #documentTokens} takes it.
     */
    long loneDocumentTokens(String type) {
        return type == null && whole && !seen.awsEvents ? candidates[Rule.KNOWLEDGE_BASE.ordinal()] : 0;
    }

    /** The document's top-level {@code output_index} (a Responses stream event's item). */
    void outputIndex(long index) {
        outputIndex = index;
    }

    private long outputIndex = -1;

    /**
     * What one answer's documents told of the text to come, kept across them (an event stream's events are
     * each read by a scanner of their own). Not thread-safe.
     */
    static final class Seen {
        /** The Responses output items whose text came as deltas, by index; at most {@link #MAX_OUTPUTS}. */
        private final java.util.Set<Long> deltaOutputs = new java.util.HashSet<>();
        private static final int MAX_OUTPUTS = 1_024;
        /** A Vercel data stream's tool call arguments came as deltas ({@code argsTextDelta}): its whole tool call part repeats them. */
        private boolean argsStreamed;
        /**
         * Whether the documents read are the chunks of an AWS event stream taken as InvokeModel's events
         * ({@link AnswerDecoding#chunkDocuments}), whose families' text fields ({@link StreamText#INVOKE_MODEL_TEXT}) then count.
         * Asked at each document's end: the decoding has passed that document on by then.
         */
        private java.util.function.BooleanSupplier invokeModelChunks = () -> false;

        /** The answer's documents are an AWS event stream's payloads, its chunks InvokeModel's while {@code chunks} says so. */
        void invokeModelChunks(java.util.function.BooleanSupplier chunks) {
            invokeModelChunks = chunks;
        }

        /** The answer's documents are an AWS event stream's events ({@link #awsEvents}). */
        void awsEvents() {
            awsEvents = true;
        }

        /**
         * The documents are an AWS event stream's events, each one message AWS framed and named by its
         * {@code :event-type} header ({@link AnswerDecoding}); not a text stream's, whose events a model may write.
         */
        private boolean awsEvents;
    }

    private final Seen seen;

    /** A new document starts. */
    void nextDocument() {
        outputIndex = -1;
        java.util.Arrays.fill(candidates, 0);
        unfinished = null;
        chatDelta = false;
        tokenSeen = false;
        java.util.Arrays.fill(reasoning, 0);
        finished = null;
        subtreeDepth = -1;
        cohereWhole = false;
        conversationResponse = false;
    }

    /** A string value of a field at the current document's root: what tells some whole answers' shape. */
    void rootString(String field, String value) {
        if (COHERE_GENERATION.equals(field)) {
            cohereWhole = true;
        } else if ("object".equals(field)) {
            // the last value of a repeated field counts, as a parser reads it
            conversationResponse = CONVERSATION_RESPONSE.equals(value);
        }
    }

    /** The document names a Cohere v1 chat answer's {@link #COHERE_GENERATION} at its root. */
    private boolean cohereWhole;
    /** The document is a Mistral conversation's whole answer ({@link #CONVERSATION_OUTPUTS}). */
    private boolean conversationResponse;

    private void add(Rule rule, long tokens) {
        candidates[rule.ordinal()] = plus(candidates[rule.ordinal()], tokens);
    }

    /** The string just parsed as base64 speech: 16-bit 24 kHz mono PCM, at the rate audio is held. */
    private long speech(String value) {
        long[] c = cutOfCurrent();
        long length = c != null ? c[1] + c[2] : value.length();
        // 48 bytes of such PCM a millisecond; four base64 characters carry three bytes
        return AudioDuration.inputTokens(length * 3 / 4 / 48);
    }

    /** The string just parsed, as the estimator counts it, and the text of its cut contents ({@link StringRest}). */
    private long tokens(String value) {
        long tokens = Math.max(0, estimator.estimate(value));
        long[] c = cutOfCurrent();
        return c == null ? tokens : plus(tokens, c[3]);
    }

    /**
     * The text the base64 string just parsed stands for ({@link #AGENT_CHUNK}), as the estimator counts it, its cut
     * contents by the rate of its kept part; a string that is no base64 counted as the text it is.
     *
     * <p>None when that text is a model family's event ({@link InvokeModelEvents#recognized}, the rule the binary
     * framing's chunks are told by): the same {@code {"chunk":{"bytes":…}}} is what AWS's SDKs yield for a genuine
     * {@code InvokeModelWithResponseStream}, whose bytes are the provider's JSON event, not an agent's text; counted
     * whole, JSON syntax and all, 200 Anthropic {@code content_block_delta} events relayed so counted 4,307 tokens
     * for 247 tokens of prose.
     */
    private long base64Text(String value) {
        String text = decodedBase64(value);
        return InvokeModelEvents.recognized(text) ? 0 : scaled(Math.max(0, estimator.estimate(text)));
    }

    /** The text the base64 string just parsed decodes to; the string itself when it is no base64. */
    private String decodedBase64(String value) {
        boolean cut = cutOfCurrent() != null;
        if (!cut && value.length() % 4 != 0) {
            return value;
        }
        for (int i = 0; i < value.length(); i++) {
            char ch = value.charAt(i);
            if (!(ch >= 'A' && ch <= 'Z' || ch >= 'a' && ch <= 'z' || ch >= '0' && ch <= '9' || ch == '+' || ch == '/'
                    || ch == '=')) {
                return value;
            }
        }
        try {
            byte[] bytes = java.util.Base64.getDecoder().decode(value.substring(0, value.length() - value.length() % 4));
            return new String(bytes, java.nio.charset.StandardCharsets.UTF_8);
        } catch (IllegalArgumentException e) {
            return value;
        }
    }

    /**
     * {@code tokens} of the string just parsed, scaled to its whole length when only part of it was kept: base64's
     * text ({@link #base64Text}), which {@link StringRest} counts as the base64 characters it passes, not decoded.
     */
    private long scaled(long tokens) {
        long[] c = cutOfCurrent();
        if (c != null && c[1] > 0) {
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
