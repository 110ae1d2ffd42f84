package io.tokenquota.servlet;

import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonToken;
import com.fasterxml.jackson.core.async.ByteArrayFeeder;
import io.tokenquota.TokenEstimator;
import java.io.IOException;
import java.util.HashMap;
import java.util.Map;
import java.util.Set;
import java.util.function.Consumer;

/**
 * Scans JSON fed in arbitrary chunks for the usage objects providers put at fixed places, and hands
 * each complete root-level object to a callback as a {@link Document}: its top-level {@code type}
 * string, the integer counters of the objects at the {@link #USAGE_PATHS} (and of the objects directly
 * inside them, as {@code tokens.input_tokens}), the {@link #ROOT_COUNTERS} of the document itself,
 * and whether it says the answer ended. Objects anywhere else (tool arguments, echoed JSON in a
 * model's answer) are never looked into.
 *
 * <p>jackson's non-blocking parser keeps a whole string value in memory until it ends, and one
 * {@code b64_json} image is megabytes. Only structure matters here, so string contents past
 * {@link #KEPT_STRING_BYTES} are dropped before the parser sees them, cut where the rest stays valid
 * JSON and UTF-8 (never inside an escape or a multi-byte character). Not thread-safe.
 */
final class JsonDocumentScanner {
    static final int KEPT_STRING_BYTES = 256;
    /**
     * Usage sits at most three levels deep, but for a Bedrock agent's trace event (five:
     * {@link #AGENT_TRACE_USAGE}) and a Gemini batch's results listed inline (nine, in a
     * list of batches: {@link #INLINE_RESULT}); what a model nests deeper (tool arguments) is dropped
     * before the parser, down to an empty {@code {}} or {@code []}, so no nesting a model can produce
     * makes the parse fail before the usage that follows it.
     */
    static final int KEPT_DEPTH = 10;
    private static final int SLICE = 8192;
    /** Gemini's {@code countTokens} answer: a count, no usage ({@code input_tokens} is Anthropic's and OpenAI's). */
    static final String COUNT_TOTAL = "totalTokens";
    /** Bedrock's {@code CountTokens} answer. */
    static final String COUNT_INPUT = "inputTokens";
    /** vLLM's {@code /tokenize} answer. */
    static final String COUNT_TOKENS = "count";
    /**
     * Vertex AI's {@code :computeTokens} answer: its tokens listed, no number. A top-level array of
     * this name is recorded among the root counters, as the number of token ids its elements list
     * ({@code tokenIds}: {@link #listedToken}), so the answer is known to carry a count and of what size.
     */
    static final String COUNT_LISTED = "tokensInfo";
    /**
     * llama.cpp server's {@code /tokenize} answer: a top-level {@code tokens} array (ids, or with
     * {@code with_pieces} objects of {@code id} and {@code piece}), recorded as the number of its elements.
     * Kept apart from LMDeploy's {@code tokens} (a number, its output).
     */
    static final String COUNT_TOKEN_LIST = "tokens[]";
    /**
     * Hugging Face TGI's {@code /tokenize} answer: a root-level array of its tokens, each an object of
     * {@code id}, {@code text}, {@code start} and {@code stop}. Each such element is recorded (as 0: its
     * presence) under this name, so that the answer is known to carry a count.
     */
    static final String COUNT_TOKEN_ARRAY = "[].token";
    /** LMDeploy's api_server ({@code /v1/chat/interactive}): the output, the prompt and the session's history. */
    static final String LMDEPLOY_OUTPUT = "tokens";
    /**
     * A count's list of tokens: vLLM's and llama.cpp's {@code /tokenize} at the root, each content's list in
     * Vertex's {@code computeTokens}. The same name as {@link #LMDEPLOY_OUTPUT}, a figure there and a list here.
     */
    static final String TOKENS = "tokens";
    static final String LMDEPLOY_INPUT = "input_tokens";
    static final String LMDEPLOY_HISTORY = "history_tokens";
    /**
     * LM Studio's native v1 chat ({@code POST /api/v1/chat}; lmstudio-ai/docs {@code 2_rest/chat.md} and
     * {@code streaming-events.md}): its answer counts the call in {@code stats}, {@code input_tokens} (the
     * thread's prior messages too) and {@code total_output_tokens} (reasoning inside), and its stream's last
     * event, {@code chat.end}, carries that answer whole as {@code result}. {@code stats} is a name any
     * application may use (latencies, counts of its own), so an object there is kept only with both
     * counters, and {@code result.stats} only in a document whose top-level {@code type} is
     * {@code chat.end} ({@link #lmStudioStats}): no other {@code stats} makes a document carry usage.
     */
    static final String LMSTUDIO_STATS = "stats";
    static final String LMSTUDIO_END_STATS = "result.stats";
    static final String LMSTUDIO_INPUT = "input_tokens";
    static final String LMSTUDIO_OUTPUT = "total_output_tokens";
    private static final String LMSTUDIO_END = "chat.end";
    /**
     * Cloudflare Workers AI's REST API answers in Cloudflare's API envelope, {@code {"result": {"response": …,
     * "usage": {…}}, "success": true, "errors": [], "messages": []}}: its {@code result.usage} is kept only in a
     * document whose top-level {@code success} is a boolean (it comes after {@code result}), never in another
     * document's {@code result} (round 354: a tool's fetched JSON a LangGraph state held there, {@link #ownPlaces}).
     */
    static final String CLOUDFLARE_USAGE = "result.usage";
    /**
     * A Mastra agent's stream ({@code agent.stream()}'s {@code fullStream}, as Mastra's server writes it at
     * {@code POST /api/agents/:agentId/stream}, {@code data: <chunk>}): each chunk {@code {type, runId, from,
     * payload}} (and an optional {@code metadata}), {@code step-finish}'s {@code payload.output.usage} one model
     * call's (AI SDK v5 {@code LanguageModelUsage}: {@code inputTokens}, {@code outputTokens}, {@code totalTokens}),
     * {@code finish}'s the run's total. Kept only in a document of exactly those top-level fields, with a
     * {@code runId} string, a {@code from} that is one of {@link #MASTRA_FROM} and one of those two {@code type}s
     * ({@link #mastraChunk}): an application's {@code payload} may hold anything (round 388: a two-call run of
     * 13,050 tokens relayed so was charged its hold, 1,016).
     */
    static final String MASTRA_USAGE = "payload.output.usage";
    private static final Set<String> MASTRA_FIELDS = Set.of("type", "runId", "from", "payload", "metadata");
    /** Mastra's {@code ChunkFrom}. */
    private static final Set<String> MASTRA_FROM = Set.of("AGENT", "USER", "SYSTEM", "WORKFLOW", "NETWORK");
    private static final Set<String> MASTRA_USAGE_TYPES = Set.of("step-finish", "finish");
    /**
     * Mastra's tool and workflow-step streaming (mastra-ai/mastra {@code packages/core/src/tools/stream.ts},
     * {@code ToolStream._write}): what a tool's or a step's {@code writer} is given arrives in the run's stream as
     * {@code {type: "tool-output" | "workflow-step-output", runId, from: "USER", payload: {output: <it>, …}}}, and an
     * agent's {@code fullStream} piped into it ({@code stream.fullStream.pipeTo(writer)}) arrives so chunk by chunk.
     * Such a chunk whose {@code payload.output} is itself a Mastra chunk ({@link #mastraChunk}) is read as that chunk
     * ({@link #wraps}), under its own {@code runId}: the inner agent's usage and text count as its run's, beside the
     * outer run's, whose {@code finish} totals its own steps only (round 394: an agent piped through a tool was
     * charged the outer run's 4,680 of 12,180). Anything else a writer is given (a tool's
     * {@code writer.write({usage: …})}) stays unread.
     */
    private static final Set<String> MASTRA_WRAPPERS = Set.of("tool-output", "workflow-step-output");
    /** {@link #innerField} of a Mastra chunk's {@code payload.output} ({@link #MASTRA_WRAPPERS}). */
    private static final String MASTRA_WRAPPED = "payload.output";
    /**
     * LlamaIndex's {@code ChatResponse} returned whole (llama-index-core's {@code message}, {@code raw},
     * {@code delta}, {@code logprobs}, {@code additional_kwargs}; a FastAPI route writes it as pydantic dumps it):
     * {@code raw} is the provider's whole answer, and llama-index-llms-openai puts the call's
     * {@code prompt_tokens}, {@code completion_tokens} and {@code total_tokens} in {@code additional_kwargs}. Kept
     * only in a document of no other top-level fields, with objects at {@code message}, {@code raw} and
     * {@code additional_kwargs} ({@link #chatResponse}): {@code raw.usage} when {@code raw} is a whole chat
     * completion ({@code "object": "chat.completion"} with {@code choices}), else {@code additional_kwargs} with
     * the three counters (round 388: a call of 10,800 tokens answered so was charged its hold, 1,016).
     */
    static final String LLAMAINDEX_RAW_USAGE = "raw.usage";
    static final String LLAMAINDEX_COUNTS = "additional_kwargs";
    private static final Set<String> CHAT_RESPONSE_FIELDS = Set.of("message", "raw", "delta", "logprobs",
            LLAMAINDEX_COUNTS);
    /** The top-level fields a {@code ChatResponse} holds objects at, each a bit of {@link #chatResponseObjects}. */
    private static final java.util.List<String> CHAT_RESPONSE_OBJECTS = java.util.List.of("message", "raw",
            LLAMAINDEX_COUNTS);
    /** {@code _get_response_token_counts}' counters. */
    private static final Set<String> LLAMAINDEX_COUNTERS = Set.of("prompt_tokens", "completion_tokens", "total_tokens");
    /**
     * A Letta agent's stream ({@code POST /v1/agents/{agent_id}/messages/stream}) ends with
     * {@code BaseAgent.get_finish_chunks_for_stream} ({@code letta/agents/base_agent.py}): the stop reason, then the
     * run's {@code LettaUsageStatistics} ({@code letta/schemas/usage.py}) as a root-level document,
     * {@code {"message_type": "usage_statistics", "completion_tokens", "prompt_tokens", "total_tokens", "step_count",
     * …}}, the steps' calls summed (a whole {@code LettaResponse} has it at {@code usage}). Its root counters
     * ({@link #LETTA_FIELDS}) are kept, under this name, only in a document whose top-level {@code message_type} is
     * {@code usage_statistics} (it may come after them) with all three of {@link #LETTA_COUNTERS} ({@link #ownPlaces}):
     * no other document's root {@code prompt_tokens} is read (round 412: a turn of 9,950 tokens streamed so was
     * charged its hold, 1,017).
     */
    static final String LETTA_USAGE = "message_type:usage_statistics";
    private static final Set<String> LETTA_COUNTERS = Set.of("prompt_tokens", "completion_tokens", "total_tokens");
    /** {@link #LETTA_COUNTERS} and its {@code reasoning_tokens}, which the sniffer weighs against the completion. */
    private static final Set<String> LETTA_FIELDS = Set.of("prompt_tokens", "completion_tokens", "total_tokens",
            "reasoning_tokens");
    private static final String LETTA_USAGE_TYPE = "usage_statistics";
    /**
     * Amazon Bedrock Agents' {@code InvokeAgent} answer with its trace on ({@code enableTrace}): AWS's event stream of
     * {@code chunk} events (the agent's answer text) and {@code trace} events, each a {@code TracePart}
     * ({@link #TRACE_PART_FIELDS}) whose {@code trace} is one step of the agent's turn. Every model call the agent
     * makes is reported once, by the {@code modelInvocationOutput} of its step's trace (pre-processing,
     * orchestration, post-processing, a supervisor's routing classifier: {@link #AGENT_TRACE_PLACES}), whose
     * {@code metadata.usage} counts that call's {@code inputTokens} and {@code outputTokens} (API reference
     * "Trace", "Metadata": its usage is the model invocation's). Collected under this name at exactly those places,
     * and kept only in a document shaped as a {@code TracePart} ({@link #agentTracePart}): the trace's
     * {@code rationale} and {@code observation} (an action group's or a knowledge base's output, the final response)
     * hold what the model wrote or the client's own code returned, and a {@code usage} there is never read; a
     * custom orchestration's trace, a guardrail's and a failure's report no model call's usage. Round 470: a turn of
     * two model calls, 7,460 tokens by its trace, relayed so was charged its hold, 1,016.
     */
    static final String AGENT_TRACE_USAGE = "trace.modelInvocationOutput.metadata.usage";
    private static final Set<String> AGENT_TRACE_PLACES = Set.of(
            "trace.preProcessingTrace.modelInvocationOutput.metadata.usage",
            "trace.orchestrationTrace.modelInvocationOutput.metadata.usage",
            "trace.postProcessingTrace.modelInvocationOutput.metadata.usage",
            "trace.routingClassifierTrace.modelInvocationOutput.metadata.usage");
    /** The depth of the objects at {@link #AGENT_TRACE_PLACES}. */
    private static final int AGENT_TRACE_DEPTH = 6;
    /**
     * A {@code TracePart}'s members (API reference "TracePart"), and the {@code p} AWS pads an event's payload with;
     * a supervisor's collaborators' steps come as trace events of their own, named by {@code collaboratorName}.
     */
    private static final Set<String> TRACE_PART_FIELDS = Set.of("agentAliasId", "agentId", "agentVersion",
            "callerChain", "collaboratorName", "eventTime", "sessionId", "trace", "p");
    /**
     * An Agno run ({@code agno-agi/agno}) found in a document ({@link Document#agnoRuns}): its {@code run_id}, the
     * providers it names (its {@code model_provider}, and each {@code provider} of its {@code metrics.details}
     * entries, {@code ModelMetrics}) and its {@code RunMetrics} ({@code libs/agno/agno/metrics.py}), every model call
     * of the run summed ({@code accumulate_model_metrics}). AgentOS answers {@code POST /agents/{agent_id}/runs}
     * with {@code stream=false} with {@code RunOutput.to_dict()} ({@code libs/agno/agno/run/agent.py}), and streamed
     * ends with its {@code RunCompletedEvent} ({@code event: RunCompleted}); both carry the run's metrics at the
     * top-level {@code metrics}; its {@code messages}' own {@code metrics} repeat those calls and are never read.
     * That {@code metrics} is kept only in a document shaped as one of the two ({@link #agnoRun}): a top-level
     * {@code run_id} string and {@code content_type}, and a {@code status} of {@link #AGNO_RUN_STATUSES}
     * ({@code RunStatus}, {@code libs/agno/agno/run/base.py}) or an {@code event} of {@link #AGNO_RUN_COMPLETED}
     * (round 412: a run of 12,350 tokens answered whole was charged its hold, 1,040). A team's run
     * ({@code POST /teams/{team_id}/runs}: {@code TeamRunOutput.to_dict()}, {@code run/team.py}, or streamed its
     * {@code TeamRunCompleted} event, {@code utils/events.py} {@code create_team_run_completed_event}; a top-level
     * {@code team_id}) counts only the leader's own calls at its {@code metrics}: each member's run is in its
     * {@code member_responses}, a nested team's members in that member's ({@code team/_session.py}
     * {@code _accumulate_member_metrics}), each kept too, under its own {@code run_id} ({@link #agnoMember}; round
     * 415: a team run of 13,230 tokens was charged its leader's 2,280).
     */
    record AgnoRun(String runId, Set<String> providers, Map<String, Long> metrics) { }
    private static final Set<String> AGNO_RUN_STATUSES = Set.of("PENDING", "RUNNING", "COMPLETED", "PAUSED",
            "CANCELLED", "ERROR", "REGENERATED");
    /** An agent's run's last event, and a team's ({@code TeamRunEvent.run_completed}). */
    private static final Set<String> AGNO_RUN_COMPLETED = Set.of("RunCompleted", "TeamRunCompleted");
    /** A team run's list of its members' runs ({@link #agnoMember}), and what collects one's {@code metrics}. */
    private static final String AGNO_MEMBERS = "member_responses";
    private static final String AGNO_MEMBER_METRICS = "member_responses[].metrics";
    /** The providers kept per run ({@link AgnoRun#providers}): a run names one or a few models. */
    private static final int MAX_AGNO_PROVIDERS = 16;
    /** A Claude Code {@code stream_event}'s wrapped {@code message_start} usage and {@code message_delta} usage. */
    static final String CLAUDE_STREAM_START = "event.message.usage";
    static final String CLAUDE_STREAM_DELTA = "event.usage";
    /** The {@code type} of Claude Code's wrapper of a Messages API event ({@link #CLAUDE_STREAM_START}). */
    static final String CLAUDE_STREAM_EVENT = "stream_event";
    /**
     * A Claude Code (Agent SDK) {@code result} line's {@code modelUsage}: one entry per model the run called
     * ({@code inputTokens}, {@code outputTokens}, {@code cacheReadInputTokens}, {@code cacheCreationInputTokens}),
     * collected under this path added up over the models (rounds 523, 524), kept for a {@code result} alone.
     */
    static final String CLAUDE_MODEL_USAGE = "modelUsage";
    /**
     * Where providers put their usage object, as the field names from the root (objects only, no
     * arrays): OpenAI, Anthropic, Bedrock Converse and Cohere v2 {@code usage}; Gemini
     * {@code usageMetadata} (and its snake_case spelling, as Python clients serialise it); Anthropic's
     * {@code message_start} {@code message.usage}; OpenAI Responses events' {@code response.usage};
     * Groq's stream {@code x_groq.usage}; a relayed Bedrock ConverseStream's {@code metadata.usage};
     * LangChain4j's {@code ChatResponse} ({@code metadata.tokenUsage}) and {@code Response}
     * ({@code tokenUsage}), also in snake_case ({@code metadata.token_usage}, {@code token_usage}, which is also
     * CrewAI's {@code CrewOutput}'s); Cohere v2's {@code message-end} {@code delta.usage}; Cohere v1's {@code meta} and its
     * {@code stream-end} {@code response.meta}; Cloudflare Workers AI's {@code result.usage} ({@link #CLOUDFLARE_USAGE}); a
     * Replicate prediction's {@code metrics} (an Agno run's, {@link AgnoRun}); Bedrock InvokeModel's stream
     * {@code amazon-bedrock-invocationMetrics}; Hugging Face TGI's {@code details}; a line of an OpenAI
     * batch output file ({@code response.body.usage}) or of Anthropic's batch results
     * ({@code result.message.usage}); an application's own envelope around a relayed answer
     * ({@code {"code": 0, "data": {…}}}: {@code data.usage}); LangChain's {@code astream_events}
     * ({@code data.chunk.usage_metadata} of a chat model's stream event,
     * {@code data.output.usage_metadata} of its end event); Dify's {@code node_finished}
     * {@code data.execution_metadata}; Tencent Hunyuan's {@code Usage} and {@code Response.Usage}; LM Studio's
     * native chat's {@code stats} and its {@code chat.end} event's {@code result.stats} ({@link #LMSTUDIO_STATS});
     * a Mastra agent stream's {@code payload.output.usage} ({@link #MASTRA_USAGE}); LlamaIndex's {@code ChatResponse}'s
     * {@code raw.usage} and {@code additional_kwargs} ({@link #LLAMAINDEX_RAW_USAGE})
     * (LangServe's {@code output} is read apart: {@link #LANGSERVE_OUTPUT}). Which of them counts for a
     * document (the {@code data.*} ones only under the top-level {@code event} that names them, since an
     * application's {@code data} may be a model's own JSON), and how far it is believed, is decided by
     * {@link UsageSniffer}.
     */
    static final Set<String> USAGE_PATHS = Set.of("usage", "usageMetadata", "usage_metadata", "message.usage",
            // an AutoGen agent's message (BaseChatMessage.models_usage: RequestUsage's prompt and completion tokens)
            "models_usage",
            "response.usage", "x_groq.usage", "metadata.usage", "metadata.tokenUsage", "tokenUsage", "metadata.token_usage", "token_usage",
            "delta.usage", "meta",
            "response.meta",
            CLOUDFLARE_USAGE, "metrics", "amazon-bedrock-invocationMetrics", "details", "response.body.usage",
            "result.message.usage", "data.usage", "Usage", "Response.Usage",
            "choices[].usage", "data.chunk.usage_metadata", "data.output.usage_metadata", "data.execution_metadata",
            "metaInfo", "chatResponse.metadata.tokenUsage", "response.usageMetadata",
            // a Gemini Interactions stream's last event carries its interaction whole (round 284)
            "interaction.usage",
            // Claude Code's (the Agent SDK's) stream-json with partial messages wraps each Messages API event as
            // {"type": "stream_event", "event": …}: its message_start's message.usage, its message_delta's usage
            // (round 519), kept for that wrapper alone (ownPlaces)
            CLAUDE_STREAM_START, CLAUDE_STREAM_DELTA,
            // LM Studio's native chat, whole and in its chat.end event ({@link #LMSTUDIO_STATS})
            LMSTUDIO_STATS, LMSTUDIO_END_STATS,
            // Mastra's agent stream and LlamaIndex's ChatResponse, each only in its exact shape (round 388)
            MASTRA_USAGE, LLAMAINDEX_RAW_USAGE, LLAMAINDEX_COUNTS);
    /**
     * Dify's workflow run counts its tokens directly in its {@code data} ({@code workflow_finished}'s, or
     * a blocking run's answer): {@code data.total_tokens}, collected under the path {@code "data"}
     * (no other field of {@code data} is; its {@code outputs} are the model's).
     */
    static final String RUN_DATA = "data";
    static final String RUN_TOTAL = "total_tokens";
    /**
     * Counters that self-hosted servers write at the top of their answer rather than in a usage
     * object: Ollama ({@code prompt_eval_count}, {@code eval_count}, or in camelCase as a Java client
     * writes them: {@link #ROOT_ALIASES}), llama.cpp's native endpoints
     * ({@code tokens_evaluated}, {@code tokens_predicted}), Meta models on Bedrock's InvokeModel
     * ({@code prompt_token_count}, {@code generation_token_count}), Titan on Bedrock's InvokeModel
     * ({@code inputTextTokenCount}, and {@code tokenCount} in each of its {@code results}), IBM
     * watsonx.ai ({@code input_token_count} and {@code generated_token_count} in each of its
     * {@code results}, or {@code totalOutputTextTokenCount} in its stream's chunks), LMDeploy's interactive API ({@code tokens}, {@code input_tokens},
     * {@code history_tokens}), a token count's {@code totalTokens}, {@code inputTokens} or {@code count}. Collected under the path {@code ""}; the counters of the top-level
     * {@code results} list's objects are summed over them, as {@code results.<name>}.
     */
    static final Set<String> ROOT_COUNTERS = Set.of("prompt_eval_count", "eval_count", "tokens_evaluated",
            "tokens_predicted", "prompt_token_count", "generation_token_count", "inputTextTokenCount",
            "totalOutputTextTokenCount", LMDEPLOY_OUTPUT, LMDEPLOY_INPUT, LMDEPLOY_HISTORY, COUNT_TOTAL, COUNT_INPUT,
            COUNT_TOKENS, "promptEvalCount", "evalCount");
    /**
     * Ollama's counters as a Java client writes them: ollama4j's {@code OllamaResult} (Lombok getters,
     * returned whole by a Spring controller) and hand-written records name them in camelCase. Read as
     * Ollama's own names.
     */
    private static final Map<String, String> ROOT_ALIASES = Map.of("promptEvalCount", "prompt_eval_count",
            "evalCount", "eval_count");
    static final String TITAN_RESULTS = "results.tokenCount";
    static final String WATSONX_INPUT = "results.input_token_count";
    static final String WATSONX_OUTPUT = "results.generated_token_count";
    private static final java.util.Map<String, String> RESULTS_COUNTERS = java.util.Map.of("tokenCount", TITAN_RESULTS,
            "input_token_count", WATSONX_INPUT, "generated_token_count", WATSONX_OUTPUT);
    /**
     * Field names are tracked this deep: usage paths are at most three objects down, counters one more;
     * LangServe's messages ({@link #LANGSERVE_OUTPUT}) as deep as anything is kept ({@link #KEPT_DEPTH}).
     */
    private static final int TRACKED_DEPTH = KEPT_DEPTH + 1;
    /**
     * LangServe's answer ({@code add_routes}): {@code {"output": …, "metadata": …}}, the output being
     * whatever the chain returned. A chat model's message ({@code /invoke}), a list of them
     * ({@code /batch}: {@code output[]}), a map of them ({@code RunnableParallel}: {@code output.<key>}),
     * or any of these deeper ({@code RunnablePassthrough.assign}'s {@code output[].answer}, a LangGraph
     * graph's state {@code output.messages[]}) carries its call's {@code usage_metadata}; a chain ending
     * in a parser returns the model's own JSON there, which may hold a {@code usage_metadata} the model
     * wrote. So a {@code usage_metadata} is read only from an object there shaped as LangServe serialises
     * a LangChain AI message ({@link #MESSAGE_TYPES} and a {@code content} field), collected into
     * {@link Document#messages}. A graph's state echoes the conversation the client sent, earlier answers
     * included: an AI message whose {@code id} is one the request sent ({@link RequestMessageIds}) is that
     * history and does not count; every other one does (LangChain and LangGraph give each message a run
     * writes a fresh id, and a message without one counts), whatever human messages stand between them
     * (a reflection graph's critiques are human messages the run wrote).
     */
    static final String LANGSERVE_OUTPUT = "output";
    static final String MESSAGE_USAGE = "usage_metadata";
    /** {@code type} values of a serialised LangChain AI message: {@code AIMessage}'s, {@code AIMessageChunk}'s. */
    static final Set<String> MESSAGE_TYPES = Set.of("ai", "AIMessage", "AIMessageChunk");
    private static final String MESSAGE_CONTENT = "content";
    /** What {@link #collecting} is while a message's {@code usage_metadata} is read (no usage path). */
    private static final String COLLECTING_MESSAGE = "output…usage_metadata";
    /**
     * AutoGen Studio's team run ({@code autogenstudio serve}'s {@code GET /predict/{task}}): {@code {"message": …,
     * "status": true, "data": {"task_result": {"messages": […], "stop_reason": …}, "usage": "", …}}}, each agent
     * message ({@code BaseChatMessage}) with the {@code models_usage} of the model call that wrote it. Only an
     * element of that list is read, and of it only its own {@code id} and {@code models_usage} (round 302): a
     * {@code usage} in a message's {@code content} (a tool call's arguments, a model's JSON) is never looked into.
     * So is AgentChat's {@code TaskResult} itself ({@code agent.run()}'s, {@code team.run()}'s) returned whole by a
     * route, {@code {"messages": […], "stop_reason": …}}, but only in a root document of exactly those two fields,
     * {@code stop_reason} a string or null, and of its messages only those with {@code source}, {@code models_usage}
     * and {@code type} ({@link #TASK_MESSAGE_FIELDS}); which fields a document has is known at its end (round 406:
     * a two-call run of 1,214 + 38 and 1,322 + 611 returned so was charged its hold, 1,014; LangGraph's
     * {@code /runs/wait} state, {@code {"messages": […]}}, is the thread's history and stays unread).
     */
    static final String TEAM_MESSAGES = "data.task_result.messages[]";
    private static final String COLLECTING_TEAM = TEAM_MESSAGES + ".models_usage";
    /** The fields an AgentChat message has (each a bit of {@link #taskMessageFields}), its usage among them. */
    private static final java.util.List<String> TASK_MESSAGE_FIELDS = java.util.List.of("source", "models_usage", "type");

    /**
     * One root-level JSON object's findings.
     *
     * @param usages counters by usage path ({@code ""} for the {@link #ROOT_COUNTERS})
     * @param ended the document ends the answer: a Gemini candidate with a {@code finishReason}, a Spring
     *              AI {@code result.metadata.finishReason}, or a
     *              {@code promptFeedback.blockReason}, llama.cpp's {@code "stop": true}, Ollama's
     *              {@code "done": true}
     * @param call   which of several calls in one answer the document reports: a batch file line's
     *               {@code custom_id} with the id the provider gave the call (the line's own {@code id},
     *               OpenAI's; the result message's {@code id}, Anthropic's: a file may repeat a custom_id
     *               its client gave twice), or the document's top-level {@code index} (llama.cpp's answer
     *               to a list of prompts, an array or a stream); {@code null} when it names none
     * @param callIdentified whether {@code call} holds an id the provider gave the call, the same only
     *               for the same call: a {@code custom_id} or an {@code index} is the client's, and the
     *               next answer may use it again
     * @param error  the document is shaped as an error: Anthropic's {@code "type": "error"}, OpenAI's
     *               top-level {@code error} object (a model's own JSON can be shaped so: the event's
     *               name tells a provider's error, {@code UsageSniffer#providerError})
     * @param responseId the id of a stored OpenAI Response the document is ({@code id}) or wraps
     *                   ({@code response.id} of a stream's event): {@code resp_…}; {@code null} when none
     * @param choices    the document's top-level {@code choices} list holds a choice (an OpenAI chunk that
     *                   carries part of the answer, not only usage)
     * @param event      the document's top-level {@code event} string (LangChain's {@code astream_events},
     *                   Dify's events), or {@code null}
     * @param workflowRun the document has a top-level {@code workflow_run_id} (a Dify workflow run's event
     *                    or answer)
     * @param element    the document's position in a root-level array ({@code [message chunk, metadata]}
     *                   of LangGraph's {@code messages-tuple} events), counting every element; -1 when the
     *                   document is not an array's element
     * @param id         the document's top-level {@code id} string (a LangChain message's), or {@code null}
     * @param runId      the document's top-level {@code run_id} string (the run of a LangChain
     *                   {@code astream_events} event), or {@code null}
     * @param messages   the LangChain messages LangServe's {@code output} holds ({@link #LANGSERVE_OUTPUT}:
     *                   the output, each element of it, each value of it), or anywhere in a LangGraph
     *                   state event ({@link #messagesAnywhere}), in order, with their {@code usage_metadata}
     *                   counters; only objects shaped as a message count
     * @param textTokens the estimated tokens of the new model text the document carries as a stream's
     *                   delta ({@link StreamText}); 0 unless the scanner {@linkplain #countText counts text}
     * @param object     the document's top-level {@code object} string (what an OpenAI answer says it is:
     *                   {@code file}, {@code upload}, {@code upload.part}...), or {@code null}
     * @param fileId     the {@code id} of the file the document is ({@code "object": "file"} or
     *                   {@code "container.file"}, Anthropic's
     *                   {@code "type": "file"}: the answer to an upload) or holds ({@code file.id}: a
     *                   completed multi-part upload; Gemini's {@code file.name}), or {@code null}
     * @param streamCall the id the provider gave the model call a stream's event belongs to: an OpenAI
     *                   Responses event's {@code response.id}, Anthropic's {@code message_start}
     *                   {@code message.id}, a chat completion chunk's {@code id}, Gemini's
     *                   {@code responseId}, a Google ADK event's {@code id} (beside its
     *                   {@code invocationId}; {@code ""} for a {@code "partial": true} one, which belongs
     *                   to the call its final event closes), a whole chat completion's or Anthropic
     *                   message's {@code id}, Cohere's {@code message-start} {@code id};
     *                   {@link #NEXT_CALL} for a document that names none but begins a call once the one
     *                   before ended; {@code null} when it names none
     * @param status     the document's top-level {@code status} string (a stored Response's or an
     *                   Assistants run's: {@code queued}, {@code in_progress}, {@code completed}...), or
     *                   {@code null}
     * @param foreground whether the document says {@code "background": false} at its top level (an OpenAI
     *                   Response the model wrote within its creating request's answer)
     * @param catalogueFields the {@link ProviderObjects#catalogueField} flags of its top-level fields
     * @param finishedChoices the choices of its top-level {@code choices} that have a {@code finish_reason}
     *                   (the chunk that ends them: Mistral's, DeepSeek's and Groq's carry the call's usage too),
     *                   as bits by {@code index} ({@link #choiceBit})
     * @param begunChoices the choices of its top-level {@code choices} whose {@code delta} names the
     *                   {@code role}, as a choice's first chunk does, as bits by {@code index}
     * @param deltas     a choice of its top-level {@code choices} has a {@code delta} object: a streamed
     *                   chunk, whatever its {@code object} says (Perplexity labels its chunks
     *                   {@code chat.completion})
     * @param geminiChunk {@code streamCall} is Gemini's {@code responseId}: its chunks' counts run until
     *                   the chunk that finishes a candidate ({@code ended})
     * @param reportId   the id of the call its usage is reported for: the top-level {@code id}, else the
     *                   {@code metadata.id} of a Spring AI {@code ChatResponse} (the provider's id of its call),
     *                   else a Pydantic AI {@code ModelResponse}'s {@code provider_response_id} ({@link #reportId}),
     *                   else what the call measured of itself ({@link #measured})
     * @param interactionId the stored Gemini interaction a stream's event belongs to, or {@code null}
     * @param conversationId the conversation the answer extended or started (Mistral's
     *                   {@code conversation_id}), or {@code null}
     * @param teamMessages the agent messages of an AutoGen Studio team run ({@link #TEAM_MESSAGES}) or of an
     *                   AgentChat {@code TaskResult} returned whole, each with its {@code id} and its
     *                   {@code models_usage}'s counters, in order
     * @param requestId  the document's top-level {@code request_id} string (what xAI answers a deferred chat
     *                   completion's creation with, the id its result is polled by), or {@code null}
     * @param taskStatus the document's top-level {@code task_status} string (Z.ai's asynchronous chat completion,
     *                   its creation's answer and its reads: {@code PROCESSING}, {@code SUCCESS}, {@code FAIL}), or
     *                   {@code null}
     * @param rpc        what a JSON-RPC 2.0 document ({@code "jsonrpc": "2.0"} at its top) says of itself as a
     *                   response ({@link JsonRpc.Reply}), or {@code null} for any other document
     * @param name       the document's top-level {@code name} string (a Google resource's: a context cache
     *                   created, {@code cachedContents/…}), or {@code null}
     * @param prose      a digest (64-bit FNV-1a) of the document's strings that hold whitespace, in order: the
     *                   text a model wrote, not ids, statuses, timestamps or URLs (as far as kept of each);
     *                   with the usage, what tells one finished result of a job from another run's (round 329)
     * @param outputBlocked the document is an error whose {@code error.message} says the provider blocked output
     *                   the model was writing (Anthropic's 400 {@link #OUTPUT_BLOCKED}): the model was called
     * @param mastraRun  the {@code runId} of a Mastra stream's chunk ({@link #mastraChunk}), {@code null} for any other
     *                   document: the run its usage is reported for
     * @param agnoRuns   the Agno runs the document reports ({@link AgnoRun}): a run's, and a team's leader's and its
     *                   members' runs
     * @param rootNames  the names of the root object's fields when the scanner {@linkplain #noteRootNames notes them}
     *                   (at most {@link #MOST_ROOT_NAMES}, then {@link #MORE_ROOT_NAMES} too), {@code null} when it does not
     * @param counted    what the document carries as a token count's answer ({@link CountContent}) when the scanner
     *                   {@linkplain #noteRootNames notes its root names}, {@code null} when it does not
     * @param loneText   the tokens of text that count only if the document is the answer's only one
     *                   ({@link StreamText#loneDocumentTokens}), not in {@code textTokens}
     * @param session    the top-level {@code session_id} of a Claude Code (Agent SDK) assistant, stream_event or
     *                   result line: the run its usage is reported for, or {@code null}
     * @param parentToolUse the top-level {@code parent_tool_use_id} of a Claude Code stream_event: the Task tool call
     *                   whose subagent the wrapped event is of, {@code null} for the main thread's
     * @param compactBoundary the document is a Claude Code {@code compact_boundary} line ({@code type} "system"): the
     *                   CLI summarised the conversation, a model call no assistant line shows (round 545)
     * @param compactPreTokens a {@code compact_boundary} line's {@code compact_metadata.pre_tokens}: the size of the
     *                   conversation the summarising call read (round 549); 0 for any other document, or when absent
     */
    record Document(String type, Map<String, Map<String, Long>> usages, boolean ended, String model, String call,
                    boolean callIdentified, boolean error, String responseId, boolean choices, String event,
                    boolean workflowRun, int element, String id, String runId, java.util.List<Message> messages,
                    long textTokens, String object, String fileId, String streamCall, String status,
                    boolean foreground, int catalogueFields, long finishedChoices, long begunChoices,
                    boolean deltas, boolean geminiChunk, String reportId, long[] pictures,
                    java.util.List<InlineResult> inlined, java.util.List<InlineResult> listedRuns, String interactionId,
                    String conversationId, java.util.List<Message> teamMessages, String requestId,
                    String taskStatus, JsonRpc.Reply rpc, String name, long prose, boolean outputBlocked,
                    String mastraRun, java.util.List<AgnoRun> agnoRuns, Set<String> rootNames, CountContent counted,
                    long loneText, String session, String parentToolUse, boolean compactBoundary,
                    long compactPreTokens) {
        Document(String type, Map<String, Map<String, Long>> usages, boolean ended) {
            this(type, usages, ended, null, null, false, false, null, false, null, false, -1, null, null,
                    java.util.List.of(), 0, null, null, null, null, false, 0, 0L, 0L, false, false, null, null,
                    java.util.List.of(), java.util.List.of(), null, null, java.util.List.of(), null, null, null, null, 0L, false,
                    null, java.util.List.of(), null, null, 0L, null, null, false, 0L);
        }

        Document {
            messages = java.util.List.copyOf(messages);
            teamMessages = java.util.List.copyOf(teamMessages);
            agnoRuns = java.util.List.copyOf(agnoRuns);
        }

        Map<String, Long> usage(String path) {
            return usages.get(path);
        }

        /** A choice of its top-level {@code choices} has a {@code finish_reason}. */
        boolean choiceFinished() {
            return finishedChoices != 0;
        }

        /**
         * A chat completion's streamed chunk: so labelled, or a {@code chat.completion} whose choices carry a
         * {@code delta} (Perplexity's chunks, each with its running usage), never a whole answer.
         */
        boolean chatChunk() {
            return "chat.completion.chunk".equals(object) || "chat.completion".equals(object) && deltas;
        }
    }

    /**
     * A choice's bit by its {@code index} (0 when it names none, as a single choice may not): 0 to 62 each
     * their own, any other index the last bit.
     */
    static long choiceBit(long index) {
        return 1L << (index >= 0 && index < 63 ? index : 63);
    }

    /** A LangChain AI message found in a document: its {@code id} ({@code null} when none) and its usage's counters. */
    record Message(String id, Map<String, Long> usage) { }

    /**
     * One result of a finished Gemini batch read with its results inline ({@link #INLINE_RESULT}): the call
     * it names (its {@code responseId}, the provider's, or its place: which batch, which result) and its
     * {@code usageMetadata}'s counters.
     */
    record InlineResult(String call, boolean identified, Map<String, Long> usage, boolean ended) {
        InlineResult(String call, boolean identified, Map<String, Long> usage) {
            this(call, identified, usage, true);
        }
    }

    /**
     * Where a finished Gemini batch read back holds each result's {@code GenerateContentResponse}: under
     * its {@code response} (the API's operation) or its {@code metadata.output} (where the SDKs read it),
     * alone ({@code GET batches/{id}}) or in a list of batches ({@code GET batches}: {@code operations},
     * {@code batches}). Each result's {@code responseId} and {@code usageMetadata} make one call
     * ({@link Document#inlined}); its copies, under both, the same one.
     */
    private static final java.util.regex.Pattern INLINE_ELEMENT = java.util.regex.Pattern.compile(
            "(?:(?:operations|batches)\\[\\]\\.)?(?:response|metadata\\.output)\\.inlinedResponses\\.inlinedResponses\\[\\]");
    private static final java.util.regex.Pattern INLINE_RESULT = java.util.regex.Pattern.compile(
            INLINE_ELEMENT.pattern() + "\\.response");
    private static final String COLLECTING_INLINE = "inlinedResponses…usageMetadata";
    /**
     * An OpenAI eval run's usage: a top-level list of each model's counts ({@code per_model_usage}),
     * collected under this path added up.
     */
    static final String PER_MODEL_USAGE = "per_model_usage";
    /** An eval run's {@link #PER_MODEL_USAGE} in a list of runs ({@code data}), kept with the run's id. */
    private static final String COLLECTING_LISTED = "data[].per_model_usage";
    private static final String EVAL_RUN = "eval.run";

    private final Consumer<Document> sink;
    private JsonParser parser;
    /**
     * Agent frameworks' events that wrap a provider's event whole, by their {@code type} and the field the
     * wrapped one is in: the OpenAI Agents SDK's Python {@code {"data": <Responses event>, "type":
     * "raw_response_event"}} and JS {@code {"type": "raw_model_stream_event", "data": {"type": "model",
     * "event": <Responses event>}}} (round 239: a run of 10,850 tokens relayed so was charged 1,015). Such a
     * document is read as the event it wraps: its usage, ids and text deltas where a bare one has them.
     */
    private static final Map<String, String> WRAPPERS = Map.of("raw_response_event", "data",
            "raw_model_stream_event", "data");
    /** Inside a wrapper's event ({@link #wrappedEvent}) only: the JS SDK's raw provider event. */
    private static final Map<String, String> NESTED_WRAPPERS = Map.of("model", "event");
    /**
     * Strands Agents' {@code ModelStreamChunkEvent}, {@code {"event": <chunk>}}, as Bedrock AgentCore writes an
     * agent's stream ({@code data: <json>}): a wrapper without a {@code type}, the field and the ConverseStream
     * events it wraps. Read as the event it wraps only in that exact shape ({@link #wraps}): a root object whose only
     * field is {@code event}, holding one of these keys alone; an application's own {@code event} may hold anything
     * (round 387: a two-call run of 14,050 tokens relayed so was charged its hold, 1,011).
     */
    private static final String STRANDS_WRAPPER = "event";
    /**
     * A Bedrock agent's trace event as AWS's SDKs hand it over (the {@code ResponseStream} union: boto3's and the
     * JavaScript SDK's readers give each event as {@code {"trace": TracePart}}, {@code {"chunk": PayloadPart}}), as a
     * relay writes it on as a JSON line. Read as the {@code TracePart} it wraps only in that exact shape
     * ({@link #wraps}): a root object whose only field is {@code trace}, holding a {@code TracePart} that reports a
     * model call ({@link #AGENT_TRACE_USAGE}); nowhere below the root, where a model's own text may be (round 479: a
     * turn of two model calls, 7,460 tokens by its trace, relayed so was charged its hold, 1,035).
     */
    private static final String AGENT_TRACE_WRAPPER = "trace";
    /**
     * The fields of the current root object, counted; those of its {@link #STRANDS_WRAPPER} object, and whether the
     * last of them is one of the {@link InvokeModelEvents#CONVERSE_EVENTS}.
     */
    private int rootFields;
    private int wrappedFields;
    private boolean converseEvent;
    /**
     * Whether the root object's field names are noted ({@link #noteRootNames}), and those of the current document:
     * what a token count's answer is told by (UsageSniffer#countShape), which holds its endpoint's fields and no
     * other. Bounded, whatever the answer: a few names kept, and a mark that there were more.
     */
    private boolean notingRootNames;
    private Set<String> rootNames;
    /**
     * What a token count's answer carries beside its count, while root names are noted (a counting path's answer;
     * {@link CountContent}): running sums over the current document, nothing kept. The characters of its text
     * ({@link #countValue}, {@link #countName}); the strings of vLLM's {@code token_strs}, -1 while it lists none;
     * whether something stands where a tokenizer lists its tokens that is not one.
     */
    private long countText;
    private long tokenStrings = -1;
    private boolean countOdd;
    /** The largest offset into the text sent that a TGI token gives ({@code start}, {@code stop}), -1 while none. */
    private long countOffset = -1;
    /** The bytes of llama.cpp's piece being read as a list of bytes (a piece that is no UTF-8 text on its own). */
    private int pieceBytes;
    /**
     * The names each object being read has given so far, by depth, while root names are noted ({@link #countName}):
     * the answer scanner takes duplicate names as the relays it reads do, and a name repeated carries what it holds
     * each time (round 482). At most {@link #MOST_COUNT_NAMES} an object.
     */
    private Set<String>[] countNamesAt;
    /**
     * Bytes of the answer never reached the parser (a string past {@link #KEPT_STRING_BYTES}, a value nested past
     * {@link #KEPT_DEPTH}) while root names are noted: no count's answer holds such, its strings being a token's few
     * characters, its values a few levels deep. Kept for every later document: the bytes are filtered ahead of the
     * documents the parser ends, so the one that held them is that one or a later one.
     */
    private boolean countCut;
    static final int MOST_ROOT_NAMES = 8;
    /** Stands for the root names past {@link #MOST_ROOT_NAMES}: no answer's field is named so. */
    static final String MORE_ROOT_NAMES = "\u2026more";
    /**
     * The longest text a token listed may carry, in characters: a token is a piece of a vocabulary, a few characters
     * (a word, part of one, a byte), the longest being runs of one character (indentation, a rule of {@code -} or
     * {@code =}) of some dozens; a model's prose cut into pieces is text no token carries (round 472).
     */
    static final int MOST_PIECE_CHARS = 128;
    /** vLLM's {@code /tokenize} answer: each token's string, when asked for ({@code return_token_strs}). */
    static final String TOKEN_STRINGS = "token_strs";
    /**
     * The names a token count's answer documents below its root (its root names are its endpoint's, CountShape's):
     * Gemini's {@code promptTokensDetails} and {@code cacheTokensDetails} ({@code modality}, {@code tokenCount}),
     * Anthropic's {@code context_management} ({@code original_input_tokens}), Vertex's {@code tokensInfo}
     * ({@code tokens}, {@code tokenIds}, {@code role}), llama.cpp's tokens ({@code id}, {@code piece}). Any other
     * name below the root is text the answer carries.
     */
    private static final Set<String> COUNT_NAMES = Set.of("modality", "tokenCount", "original_input_tokens",
            TOKENS, "tokenIds", "role", "id", "piece");
    /**
     * The fields a picture a model drew is answered in as base64: OpenAI's image API's {@code b64_json},
     * Spring AI's {@code Image} as Jackson writes it ({@code b64Json}).
     */
    private static final java.util.Set<String> PICTURE_FIELDS = java.util.Set.of("b64_json", "b64Json");
    /** The pictures of the current document, by {@link ImageOutput#shape}; {@code null} when none. */
    private long[] pictures;
    /** This scanner reads an event inside another's document. */
    private boolean wrappedEvent;
    /** The scanner of the object a root field may wrap an event in, while it lasts; its field; its document. */
    private JsonDocumentScanner inner;
    private String innerField;
    private Document innerDocument;
    private ByteArrayFeeder feeder;
    /** Kept bytes of a chunk that also had bytes to drop; allocated by the first such chunk. */
    private byte[] slice;
    private boolean failed;

    // string elision
    private boolean inString;
    private boolean afterBackslash;
    private int hexLeft;
    private int kept;
    private boolean eliding;
    /** Bytes of the current string dropped so far (its contents past {@link #KEPT_STRING_BYTES}). */
    private long dropped;
    private int structDepth;

    // structure of the current root document
    private int depth;
    private boolean inRootArray;
    /** Whether the container at each depth is an object, and the field name last read at each depth. */
    private final boolean[] objectAt = new boolean[TRACKED_DEPTH + 1];
    private final String[] fieldAt = new String[TRACKED_DEPTH + 1];
    private String type;
    private boolean ended;
    /** The model the document names where its provider puts it ({@link #isModelField}); null when none. */
    private String model;
    /** What {@link Document#call} is made of: the document's top-level custom_id, id and index. */
    private String customId;
    /**
     * A line of Gemini's batch results file: its {@code key} (the client's, as a {@code custom_id} is) and
     * its response's {@code responseId} (the provider's), with the usage at {@link #GEMINI_BATCH_LINE}.
     */
    private String batchKey;
    private String batchResponseId;
    static final String GEMINI_BATCH_LINE = "response.usageMetadata";
    private String lineId;
    /** The document's top-level {@code object} string (what an OpenAI answer says it is), and its {@code file.id}. */
    private String object;
    private String nestedFileId;
    /** The document's top-level {@code run_id}. */
    private String runId;
    private String index;
    /** The usage path being collected, the depth of its object, and the name of an object inside it. */
    private String collecting;
    private int collectDepth;
    private String nested;
    /**
     * Anthropic's {@code usage.iterations}: each server-side pass of one call (a compaction's summary,
     * an advisor model's call, the answering model's own {@code message} passes), its counts and type.
     */
    private static final String ITERATIONS = "iterations";
    /**
     * Hugging Face TGI's {@code /generate} with {@code best_of}: {@code details} describes the best sequence and
     * {@code details.best_of_sequences[]} every other one the model generated (TGI's {@code BestOfSequence},
     * router/src/lib.rs), each with its {@code generated_tokens}, added up under this name (round 320: the other
     * sequences were free).
     */
    static final String BEST_OF_GENERATED = "best_of_sequences.generated_tokens";
    /**
     * Alibaba Cloud Model Studio's application API (DashScope, {@code POST /api/v1/apps/{APP_ID}/completion}; Model
     * Studio docs, "DashScope API reference for applications"): its {@code usage} counts per model the application
     * called, {@code {"models": [{"model_id", "input_tokens", "output_tokens"}]}}, added up as the usage's own
     * {@code input_tokens} and {@code output_tokens} (round 504: unread, an application's stream relayed as JSON
     * lines was charged the sum of its text's prefixes). Each of its stream's events carries the counts so far, as
     * DashScope's model streams do, so the last report is the call's.
     */
    private static final String APP_MODELS = "models";
    private static final Set<String> APP_MODEL_COUNTERS = Set.of("input_tokens", "output_tokens");
    /**
     * The prefix of the counters of the passes the top-level counts leave out ({@link #PASSES_BESIDE}),
     * added up: {@code iterations.input_tokens}...
     */
    static final String ITERATION_COUNTERS = ITERATIONS + ".";
    /**
     * The passes of {@link #ITERATIONS} that Anthropic bills beside the top-level counts: a threshold
     * compaction's summary, an advisor model's call (round 292).
     */
    private static final Set<String> PASSES_BESIDE = Set.of("compaction", "advisor_message");
    /** The counts and type of the pass of {@link #ITERATIONS} being read, or {@code null}. */
    private Map<String, Long> iteration;
    private String iterationType;
    private Map<String, Long> counters;
    private Map<String, Map<String, Long>> usages = new HashMap<>();
    /**
     * The message candidates under LangServe's output (every object in it), by depth (2: the output
     * itself): whether one is open there, its {@code type} is an AI message's, it has a {@code content}
     * field, its {@code id} (the last string named), and its {@code usage_metadata}'s counters
     * ({@code null} until read).
     */
    private final boolean[] messageOpen = new boolean[TRACKED_DEPTH + 1];
    private final boolean[] messageTyped = new boolean[TRACKED_DEPTH + 1];
    private final boolean[] messageContent = new boolean[TRACKED_DEPTH + 1];
    private final String[] messageId = new String[TRACKED_DEPTH + 1];
    @SuppressWarnings("unchecked")
    private final Map<String, Long>[] messageUsage = new Map[TRACKED_DEPTH + 1];
    /** Whether a message id is one the request sent back: its message is history, echoed ({@link RequestMessageIds}). */
    private final java.util.function.Predicate<String> sentBack;
    /** The messages found in the current document ({@link Document#messages}). */
    private java.util.List<Message> messages = new java.util.ArrayList<>();
    /**
     * The inline results of a Gemini batch ({@link #INLINE_RESULT}); the one being read (its id and usage);
     * which batch of a list it is in, and its place among that batch's results.
     */
    private java.util.List<InlineResult> inlined = new java.util.ArrayList<>();
    private String inlineId;
    private Map<String, Long> inlineUsage;
    private int inlineBatch;
    private int inlinePlace;
    /**
     * The eval runs a list of them ({@code GET …/evals/{id}/runs}: {@code data}) holds with their usage,
     * each named by its {@code id}; the element being read: its id, object and usage.
     */
    private java.util.List<InlineResult> listedRuns = new java.util.ArrayList<>();
    private String listedId;
    private String listedObject;
    private Map<String, Long> listedUsage;
    /** The {@link #TEAM_MESSAGES} read ({@link Document#teamMessages}); the element being read: its id and usage. */
    private java.util.List<Message> teamMessages = new java.util.ArrayList<>();
    private String teamId;
    private Map<String, Long> teamUsage;
    /**
     * The messages of a root {@code messages} list read so far, kept until the document is known to be a
     * {@code TaskResult} ({@link #ownPlaces}); the {@link #TASK_MESSAGE_FIELDS} the element being read has; whether
     * the root {@code stop_reason} is a string or null.
     */
    private final java.util.List<Message> taskMessages = new java.util.ArrayList<>();
    private int taskMessageFields;
    private boolean stopReason;
    /** Messages are looked for anywhere in the documents, not only under {@link #LANGSERVE_OUTPUT}. */
    private boolean messagesAnywhere;

    /**
     * Looks for LangChain messages anywhere in the documents: a LangGraph server's state events
     * ({@code updates}: each node's new messages; {@code values}: the whole state), whose messages sit
     * under the graph's own keys ({@code {"agent": {"messages": […]}}}, {@code {"messages": […]}}); the
     * documents carry no usage but those messages' ({@link #ownPlaces}).
     */
    void messagesAnywhere() {
        messagesAnywhere = true;
    }

    /**
     * Notes the names of each document's root fields ({@link Document#rootNames}): the request went to a token-counting
     * path, whose answer is a count only when it holds that endpoint's fields and no other.
     */
    void noteRootNames() {
        notingRootNames = true;
    }

    private void rootName(String name) {
        if (rootNames == null) {
            rootNames = new java.util.HashSet<>();
        }
        if (rootNames.size() < MOST_ROOT_NAMES || rootNames.contains(name)) {
            rootNames.add(name);
        } else {
            rootNames.add(MORE_ROOT_NAMES);
        }
    }

    JsonDocumentScanner(Consumer<Document> sink) {
        this(sink, id -> false);
    }

    /**
     * A scanner of an event a framework's own event wraps ({@link #WRAPPERS}), fed the tokens of the
     * wrapping document's {@code parser} while that event's object lasts.
     */
    private JsonDocumentScanner(Consumer<Document> sink, JsonParser parser, StreamText text) {
        this.sink = sink;
        this.sentBack = id -> false;
        this.parser = parser;
        this.text = text;
        this.wrappedEvent = true;
    }

    /** A scanner whose answer's AI messages with an id {@code sentBack} names are the request's history. */
    JsonDocumentScanner(Consumer<Document> sink, java.util.function.Predicate<String> sentBack) {
        this.sink = sink;
        this.sentBack = sentBack;
        try {
            parser = Json.RESPONSE_SCAN.createNonBlockingByteArrayParser();
            feeder = (ByteArrayFeeder) parser.getNonBlockingInputFeeder();
        } catch (IOException e) {
            failed = true;
        }
    }

    /** The model's text counted in this input's documents; {@code null} when text is not counted. */
    private StreamText text;

    /**
     * Estimates the new model text each document carries as a stream's delta ({@link Document#textTokens},
     * and {@link #rootText} for a root-level string), with {@code estimator}.
     */
    void countText(TokenEstimator estimator, boolean whole, StreamText.Seen seen) {
        text = new StreamText(estimator, whole, seen);
        rest = new StringRest(estimator);
    }

    /** The text of the current string past its kept part, counted as it passes; {@code null} unless text is counted. */
    private StringRest rest;
    /**
     * The text of the current string after the request's prompt, where the string repeats a prompt that runs past
     * its kept part ({@link #promptPassed}); allocated by the first such.
     */
    private StringRest afterPrompt;
    private boolean promptPassed;

    /**
     * Tells {@link #text} which of the answer's strings begin with the request's prompt ({@link PromptEcho}), which
     * the text rules count without it; {@code null}: the request sent none. After {@link #countText}.
     */
    void promptSent(PromptEcho prompt) {
        echoed = text == null ? null : prompt;
        echo = echoed == null ? null : prompt.reader();
    }

    /** The request's prompt ({@link #promptSent}) and the reader of the current string's text against it. */
    private PromptEcho echoed;
    private PromptEcho.Reader echo;

    /**
     * The tokens of the root-level strings read since the last call (a data stream's text part is a
     * JSON string alone), and forgets them; 0 unless text is counted.
     */
    long rootText() {
        return text == null ? 0 : text.takeRoot();
    }

    /**
     * Whether the bytes fed so far end inside a root-level value (an object or an array open, or a string),
     * by the brackets and quotes themselves, before the parser has read them: after a document's end, white
     * space alone keeps this {@code false}.
     */
    boolean inValue() {
        return structDepth > 0 || inString;
    }

    /**
     * The tokens of the text in the document the input broke off inside, when it reported no usage
     * ({@link #end}) and was JSON up to there; 0 otherwise, or unless text is counted.
     */
    long cutText() {
        return cutText;
    }

    /** {@link Document#loneText} of the document the input broke off inside, as {@link #cutText} is its text. */
    long cutLoneText() {
        return cutLoneText;
    }

    private long cutText;
    private long cutLoneText;

    /** Whether the input turned out not to be JSON (nothing more will be found). */
    boolean failed() {
        return failed;
    }

    void feed(byte[] bytes, int off, int len) {
        if (failed) {
            return;
        }
        int end = off + len;
        int i = off;
        while (i < end && keep(bytes[i])) {
            i++;
        }
        // the usual chunk (short strings, shallow nesting) is kept whole: the parser reads it in place
        if (i > off) {
            parse(bytes, off, i);
        }
        if (i == end || failed) {
            return;
        }
        // past the first dropped byte the kept ones are gathered, so that input alternating between kept
        // and dropped bytes cannot multiply the parser calls
        if (slice == null) {
            slice = new byte[SLICE];
        }
        int n = 0;
        for (i++; i < end && !failed; i++) {
            if (keep(bytes[i])) {
                slice[n++] = bytes[i];
                if (n == SLICE) {
                    parse(slice, 0, n);
                    n = 0;
                }
            }
        }
        if (n > 0 && !failed) {
            parse(slice, 0, n);
        }
    }

    /**
     * End of input. A document cut short (a truncated body, broken JSON after the usage) still
     * reports the usage objects that were complete before the break.
     */
    void end() {
        // the end of input inside a document fails the parser: whether what came before was JSON is told first
        boolean json = !failed;
        if (!failed && inString && depth > 0 && text != null && usages.isEmpty() && messages.isEmpty()
                && teamMessages.isEmpty()) {
            closeCutString();
        }
        if (!failed) {
            feeder.endOfInput();
            drain();
        }
        ownPlaces();
        if (depth > 0 && (!usages.isEmpty() || !messages.isEmpty() || !teamMessages.isEmpty())) {
            sink.accept(document());
        } else if (depth > 0 && text != null && json) {
            // cut short before any usage (round 336): not a document to judge the answer by, but the model
            // wrote the text it carried, as a whole answer's without usage counts
            cutText = text.documentTokens(type != null ? type : eventType, event, mastraChunk(), agentChunk());
            cutLoneText = text.loneDocumentTokens(type != null ? type : eventType);
        }
        nextDocument();
        java.util.Arrays.fill(messageOpen, false);
        depth = 0;
    }

    /**
     * Closes the string the input broke off inside, as if its closing quote had come (an escape begun is ended
     * first), so that the text rules count what was read of it as they count a whole string: its kept part and
     * the text of the bytes dropped after it ({@link StringRest}). Round 402: a chat completion whose answer was one
     * 120,000-character {@code content}, cut at 12,288 of its 120,251 bytes (its relay stopped with its client), was
     * counted no text and charged its hold, 1,014, though 1,894 tokens of its text had gone out. Only when the
     * document is judged by its text ({@link #end}): a cut model name or id is never handed out in a document with
     * usage.
     */
    private void closeCutString() {
        byte[] close = new byte[(afterBackslash ? 1 : 0) + hexLeft + 1];
        java.util.Arrays.fill(close, 0, close.length - 1, afterBackslash ? (byte) '"' : (byte) '0');
        close[close.length - 1] = '"';
        feed(close, 0, close.length);
    }

    /** Forgets what the document just handed out said: the next one starts afresh. */
    private void nextDocument() {
        iteration = null;
        pictures = null;
        inner = null;
        innerDocument = null;
        rootFields = 0;
        rootNames = null;
        countText = 0;
        tokenStrings = -1;
        countOdd = false;
        countOffset = -1;
        pieceBytes = 0;
        wrappedFields = 0;
        converseEvent = false;
        modelResponseParts = false;
        modelResponseKind = false;
        providerResponseId = null;
        mastraFields = true;
        mastraRun = null;
        mastraFrom = false;
        sessionId = null;
        parentToolUse = null;
        subtype = null;
        compactPreTokens = 0;
        tracePartFields = true;
        traceAgent = false;
        chatResponseFields = true;
        chatResponseObjects = 0;
        rawCompletion = false;
        rawChoices = false;
        messageType = null;
        lettaCounts = new HashMap<>();
        agnoContentType = false;
        agnoTeam = false;
        agnoMembers = new java.util.ArrayList<>();
        agnoRuns = new java.util.ArrayList<>();
        tokenFields = 0;
        usages = new HashMap<>();
        messages = new java.util.ArrayList<>();
        inlined = new java.util.ArrayList<>();
        inlineId = null;
        inlineUsage = null;
        inlineBatch = 0;
        inlinePlace = 0;
        listedRuns = new java.util.ArrayList<>();
        listedId = null;
        listedObject = null;
        listedUsage = null;
        teamMessages = new java.util.ArrayList<>();
        teamId = null;
        teamUsage = null;
        taskMessages.clear();
        taskMessageFields = 0;
        stopReason = false;
        if (text != null) {
            text.nextDocument();
        }
        type = null;
        event = null;
        eventType = null;
        workflowRun = false;
        ended = false;
        errorObject = false;
        choiceSeen = false;
        finishedChoices = 0;
        begunChoices = 0;
        deltas = false;
        model = null;
        customId = null;
        batchKey = null;
        batchResponseId = null;
        lineId = null;
        object = null;
        nestedFileId = null;
        runId = null;
        wrappedId = null;
        interactionId = null;
        conversationId = null;
        resourceName = null;
        prose = PROSE_START;
        requestId = null;
        taskStatus = null;
        outputBlocked = false;
        rpcVersion = false;
        rpcId = null;
        rpcExtra = false;
        rpcResult = false;
        rpcError = false;
        rpcResultFields = null;
        rpcResultOverflow = false;
        rpcResultMember = null;
        usageNamed = false;
        a2aKind = null;
        a2aId = null;
        a2aTaskId = null;
        a2aState = null;
        a2aUsages = new java.util.ArrayList<>();
        a2aPlace = null;
        a2aElement = -1;
        a2aArtifactIds = new HashMap<>();
        a2aArtifactId = null;
        a2aMessageId = null;
        a2aEventId = null;
        a2aEventIds = new HashMap<>();
        a2aMoreChunks = false;
        envelopeId = null;
        streamEventMessageId = null;
        metadataId = null;
        measured = null;
        geminiResponse = null;
        invocation = false;
        partial = false;
        callStart = false;
        notDone = false;
        status = null;
        foreground = false;
        cloudflareEnvelope = false;
        catalogueFields = 0;
        resultMessageId = null;
        index = null;
    }

    /**
     * Whether a byte goes to the parser: everything but string contents past the kept prefix and
     * the contents of values nested deeper than {@link #KEPT_DEPTH}.
     */
    private boolean keep(byte b) {
        boolean keep = keepMeasured(b);
        if (!keep && notingRootNames) {
            // a count's answer never needs a byte dropped (countCut)
            countCut = true;
        }
        return keep;
    }

    /** {@link #keep}, the answer's text told what a container nested past {@link #KEPT_DEPTH} drops. */
    private boolean keepMeasured(byte b) {
        if (text == null) {
            return keepByte(b);
        }
        int before = structDepth;
        boolean string = inString;
        boolean keep = keepByte(b);
        if (!string && (b == '{' || b == '[') && before == KEPT_DEPTH) {
            // a container whose contents are dropped: its brackets go to the parser, its bytes are counted
            text.deepOpened();
            deepBytes = 0;
        } else if (!string && (b == '}' || b == ']') && before == KEPT_DEPTH + 1) {
            text.deepClosed(deepBytes);
        } else if (!keep && before > KEPT_DEPTH) {
            deepBytes++;
        }
        return keep;
    }

    /** Bytes dropped inside the current container nested past {@link #KEPT_DEPTH}. */
    private long deepBytes;

    private boolean keepByte(byte b) {
        if (!inString) {
            switch (b) {
                case '"' -> {
                    inString = true;
                    kept = 0;
                    eliding = false;
                    promptPassed = false;
                    if (text != null && structDepth <= KEPT_DEPTH) {
                        text.opened();
                        if (echo != null) {
                            echo.start();
                        }
                    }
                    return structDepth <= KEPT_DEPTH;
                }
                case '{', '[' -> {
                    structDepth++;
                    return structDepth <= KEPT_DEPTH + 1;
                }
                case '}', ']' -> {
                    boolean keptBracket = structDepth <= KEPT_DEPTH + 1;
                    structDepth--;
                    return keptBracket;
                }
                default -> {
                    return structDepth <= KEPT_DEPTH;
                }
            }
        }
        if (structDepth > KEPT_DEPTH) {
            // a string inside a dropped value: follow it to its end, keep none of it
            if (afterBackslash) {
                afterBackslash = false;
            } else if (b == '\\') {
                afterBackslash = true;
            } else if (b == '"') {
                inString = false;
            }
            return false;
        }
        // the byte that ends the request's prompt, where a string repeats it: what follows is the model's
        boolean promptEnds = echo != null && (afterBackslash || hexLeft > 0 || b != '"') && echo.accept(b);
        boolean boundary = !afterBackslash && hexLeft == 0 && (b & 0xC0) != 0x80;
        if (afterBackslash) {
            afterBackslash = false;
            if (b == 'u') {
                hexLeft = 4;
            }
        } else if (hexLeft > 0) {
            hexLeft--;
        } else if (b == '\\') {
            afterBackslash = true;
        } else if (b == '"') {
            inString = false;
            if (eliding && text != null) {
                long restTokens = rest.tokens();
                text.elided(kept, dropped, restTokens, promptPassed ? afterPrompt.tokens() : restTokens);
            }
            if (echo != null && echo.end()) {
                text.beginsWithPrompt(echo.length(), echoed.length);
            }
            return true;
        }
        if (!eliding && boundary && kept >= KEPT_STRING_BYTES) {
            eliding = true;
            dropped = 0;
            if (rest != null) {
                rest.start();
            }
        }
        if (eliding) {
            dropped++;
            if (rest != null) {
                rest.accept(b, boundary);
                if (promptPassed) {
                    afterPrompt.accept(b, boundary);
                } else if (promptEnds) {
                    // the prompt ran past the kept part: what follows it is the model's, counted apart (round 511)
                    if (afterPrompt == null) {
                        afterPrompt = new StringRest(text.estimator());
                    }
                    afterPrompt.start();
                    promptPassed = true;
                }
            }
            return false;
        }
        kept++;
        return true;
    }

    private void parse(byte[] bytes, int start, int end) {
        try {
            feeder.feedInput(bytes, start, end);
        } catch (IOException e) {
            failed = true;
            return;
        }
        drain();
    }

    private void drain() {
        try {
            JsonToken t;
            while ((t = parser.nextToken()) != null && t != JsonToken.NOT_AVAILABLE) {
                accept(t);
            }
        } catch (IOException | RuntimeException e) {
            failed = true;
        }
    }

    private void accept(JsonToken t) throws IOException {
        read(t);
        // after this document's own reading (a string's cut is known by then: StreamText#another)
        if (inner != null) {
            inner.accept(t);
            if (inner.depth == 0) {
                inner = null;
            }
        }
    }

    private void read(JsonToken t) throws IOException {
        if (rpcResultMember != null && t != JsonToken.FIELD_NAME) {
            // the value of a member of a JSON-RPC result: how it is written
            if (rpcResultFields != null && (rpcResultFields.size() < JsonRpc.MOST_RESULT_FIELDS
                    || rpcResultFields.containsKey(rpcResultMember))) {
                rpcResultFields.put(rpcResultMember, switch (t) {
                    case START_OBJECT -> 'o';
                    case START_ARRAY -> 'a';
                    case VALUE_STRING -> 's';
                    case VALUE_NUMBER_INT, VALUE_NUMBER_FLOAT -> 'n';
                    case VALUE_TRUE, VALUE_FALSE -> 'b';
                    default -> 'z';
                });
            } else {
                rpcResultOverflow = true;
            }
            rpcResultMember = null;
        }
        if ((t == JsonToken.VALUE_STRING || t == JsonToken.VALUE_NULL) && depth == 1 && objectAt[1]
                && "stop_reason".equals(fieldAt[1])) {
            // a TaskResult's: why the run stopped, or null (TEAM_MESSAGES)
            stopReason = true;
        }
        if (inRootArray && depth == 0 && t != JsonToken.END_ARRAY) {
            // an element of the root array starts (an object, an array or a scalar)
            element++;
        }
        if (t.isScalarValue() || t.isStructStart()) {
            listedToken();
            if (notingRootNames) {
                countValue(t);
            }
        }
        switch (t) {
            case START_OBJECT, START_ARRAY -> {
                if (depth == 0 && t == JsonToken.START_ARRAY && !inRootArray) {
                    // a stream of documents sent as one JSON array (Gemini's streamGenerateContent
                    // without alt=sse): each element is a root document of its own
                    inRootArray = true;
                    element = -1;
                    return;
                }
                depth++;
                boolean object = t == JsonToken.START_OBJECT;
                if (text != null && depth >= 2 && depth <= TRACKED_DEPTH && objectAt[depth - 1]
                        && StreamText.SUBTREE_FIELDS.contains(fieldAt[depth - 1])) {
                    // tool arguments given as an object, not a string (a flow's document as an object or a list)
                    text.opened(depth, objectPath());
                }
                if (depth == 2 && object && objectAt[1] && "error".equals(fieldAt[1])) {
                    errorObject = true;
                }
                if (depth == 3 && object && objectAt[1] && !objectAt[2] && "choices".equals(fieldAt[1])) {
                    choiceSeen = true;
                    choiceIndex = 0;
                    choiceEnds = false;
                    choiceBegins = false;
                }
                if (depth == 4 && object && "delta".equals(fieldAt[3]) && inChoices()) {
                    deltas = true;
                }
                if (depth == 2 && object && objectAt[1] && CHAT_RESPONSE_OBJECTS.contains(fieldAt[1])) {
                    chatResponseObjects |= 1 << CHAT_RESPONSE_OBJECTS.indexOf(fieldAt[1]);
                } else if (depth == 3 && !object && objectAt[1] && objectAt[2] && "raw".equals(fieldAt[1])
                        && "choices".equals(fieldAt[2])) {
                    rawChoices = true;
                }
                if (depth == 2 && object && objectAt[1] && "messageStart".equals(fieldAt[1])) {
                    callStart = true;
                }
                if (depth == 2 && !object && objectAt[1] && COUNT_LISTED.equals(fieldAt[1])) {
                    usages.computeIfAbsent("", k -> new HashMap<>()).put(COUNT_LISTED, 0L);
                }
                if (depth == 2 && !object && objectAt[1] && TOKENS.equals(fieldAt[1])) {
                    usages.computeIfAbsent("", k -> new HashMap<>()).put(COUNT_TOKEN_LIST, 0L);
                }
                String wrapped = !object || innerDocument != null || inner != null || inRootArray || messagesAnywhere
                        ? null
                        : depth == 2 && objectAt[1] && ((wrappedEvent ? NESTED_WRAPPERS : WRAPPERS).containsValue(fieldAt[1])
                        || !wrappedEvent && rootFields == 1 && (STRANDS_WRAPPER.equals(fieldAt[1])
                        || AGENT_TRACE_WRAPPER.equals(fieldAt[1]))) ? fieldAt[1]
                        : depth == 3 && mastraFields && objectAt[1] && objectAt[2] && "payload".equals(fieldAt[1])
                        && "output".equals(fieldAt[2]) ? MASTRA_WRAPPED : null;
                if (wrapped != null) {
                    // the object may be an event a framework wrapped: read as a document of its own too, kept
                    // if the wrapper's type says so (it may come after) or it is Strands' or Mastra's in its exact
                    // shape (wraps); a LangGraph state's keys wrap no event (ownPlaces)
                    innerField = wrapped;
                    inner = new JsonDocumentScanner(d -> innerDocument = d, parser, text == null ? null : text.another());
                }
                if (!object && depth >= 2 && depth <= TRACKED_DEPTH && objectAt[depth - 1]
                        && "inlinedResponses".equals(fieldAt[depth - 1])) {
                    // a batch's results, or their copy: places count from the first
                    inlinePlace = 0;
                }
                if (depth <= TRACKED_DEPTH) {
                    objectAt[depth] = object;
                    fieldAt[depth] = null;
                    if (notingRootNames && object) {
                        countNames(depth).clear();
                    }
                }
                if (depth == 2 && objectAt[1] && "result".equals(fieldAt[1])) {
                    // a JSON-RPC result: its members are noted (an object), or it is none of a shape
                    rpcResultFields = object ? new HashMap<>() : null;
                }
                if (depth == 3 && !object && objectAt[1] && objectAt[2] && "result".equals(fieldAt[1])
                        && "artifacts".equals(fieldAt[2])) {
                    a2aElement = -1;
                } else if (depth == 4 && object && objectAt[1] && objectAt[2] && !objectAt[3] && "result".equals(fieldAt[1])
                        && "artifacts".equals(fieldAt[2])) {
                    // the next artifact of an A2A task
                    a2aElement++;
                }
                if (object && depth <= TRACKED_DEPTH && (depth == 1 || agnoMember(depth))) {
                    // an object that may be an Agno run (AgnoRun)
                    agnoRunIds[depth] = null;
                    agnoProviders[depth] = null;
                    agnoMetrics[depth] = null;
                }
                if (object && messageCandidate()) {
                    messageOpen[depth] = true;
                    messageTyped[depth] = false;
                    messageContent[depth] = false;
                    messageId[depth] = null;
                    messageUsage[depth] = null;
                }
                if (collecting != null) {
                    if (object && depth == collectDepth + 1) {
                        // Cohere's usage.tokens and usage.billed_units: counted as "tokens.input_tokens"
                        nested = fieldAt[collectDepth];
                    } else if (object && depth == collectDepth + 2 && !objectAt[collectDepth + 1]
                            && ITERATIONS.equals(fieldAt[collectDepth])) {
                        // one pass of Anthropic's usage.iterations
                        iteration = new HashMap<>();
                        iterationType = null;
                    }
                } else if (object && depth >= 3 && depth <= TRACKED_DEPTH && messageOpen[depth - 1]
                        && MESSAGE_USAGE.equals(fieldAt[depth - 1])) {
                    // a candidate message's usage: kept with it until it is known to be shaped as one
                    collecting = COLLECTING_MESSAGE;
                    collectDepth = depth;
                    nested = null;
                    counters = new HashMap<>();
                } else if (object && depth >= 3 && depth <= TRACKED_DEPTH && objectAt[depth - 1]
                        && "usageMetadata".equals(fieldAt[depth - 1]) && INLINE_RESULT.matcher(objectPath(depth - 1)).matches()) {
                    collecting = COLLECTING_INLINE;
                    collectDepth = depth;
                    nested = null;
                    counters = new HashMap<>();
                } else if (object && depth == 5 && listed() && !objectAt[4] && PER_MODEL_USAGE.equals(fieldAt[3])) {
                    collecting = COLLECTING_LISTED;
                    collectDepth = depth;
                    nested = null;
                    counters = new HashMap<>();
                } else if (object && depth > 1 && depth == teamDepth() + 1 && "models_usage".equals(fieldAt[depth - 1])) {
                    collecting = COLLECTING_TEAM;
                    collectDepth = depth;
                    nested = null;
                    counters = new HashMap<>();
                } else if (object && depth == 3 && objectAt[1] && objectAt[2] && CLAUDE_MODEL_USAGE.equals(fieldAt[1])) {
                    // one model's entry of Claude Code's result modelUsage, keyed by the model's name
                    collecting = CLAUDE_MODEL_USAGE;
                    collectDepth = depth;
                    nested = null;
                    counters = new HashMap<>();
                } else if (object && depth == 3 && objectAt[1] && !objectAt[2] && PER_MODEL_USAGE.equals(fieldAt[1])) {
                    collecting = PER_MODEL_USAGE;
                    collectDepth = depth;
                    nested = null;
                    counters = new HashMap<>();
                } else if (object && depth >= 4 && depth <= 6 && objectAt[depth - 1]
                        && "adk_usage_metadata".equals(fieldAt[depth - 1]) && A2A_USAGE.contains(objectPath())) {
                    collecting = COLLECTING_A2A;
                    a2aPlace = objectPath();
                    collectDepth = depth;
                    nested = null;
                    counters = new HashMap<>();
                } else if (object && depth <= TRACKED_DEPTH && objectAt[depth - 1] && "metrics".equals(fieldAt[depth - 1])
                        && agnoMember(depth - 1)) {
                    // an Agno team's member's run's metrics (AgnoRun)
                    collecting = AGNO_MEMBER_METRICS;
                    collectDepth = depth;
                    nested = null;
                    counters = new HashMap<>();
                } else if (object && depth == AGENT_TRACE_DEPTH && AGENT_TRACE_PLACES.contains(objectPath())) {
                    // one model call of a Bedrock agent's turn, kept if the document is a TracePart (ownPlaces)
                    collecting = AGENT_TRACE_USAGE;
                    collectDepth = depth;
                    nested = null;
                    counters = new HashMap<>();
                } else if (object && depth > 1 && depth <= 4) {
                    String path = objectPath();
                    if (path != null && USAGE_PATHS.contains(path)) {
                        collecting = path;
                        collectDepth = depth;
                        nested = null;
                        counters = new HashMap<>();
                    }
                }
            }
            case END_OBJECT, END_ARRAY -> {
                if (depth == 0 && inRootArray) {
                    inRootArray = false;
                    return;
                }
                if (collecting != null) {
                    if (depth == collectDepth && COLLECTING_MESSAGE.equals(collecting)) {
                        messageUsage[depth - 1] = counters;
                        collecting = null;
                    } else if (depth == collectDepth && COLLECTING_INLINE.equals(collecting)) {
                        inlineUsage = counters;
                        collecting = null;
                    } else if (depth == collectDepth && COLLECTING_TEAM.equals(collecting)) {
                        teamUsage = counters;
                        collecting = null;
                    } else if (depth == collectDepth && COLLECTING_A2A.equals(collecting)) {
                        a2aUsages.add(new A2aUsage(a2aPlace, A2A_TASK_USAGE.equals(a2aPlace) ? a2aElement : -1, counters));
                        collecting = null;
                    } else if (depth == collectDepth && COLLECTING_LISTED.equals(collecting)) {
                        listedUsage = listedUsage == null ? counters : added(listedUsage, counters);
                        collecting = null;
                    } else if (depth == collectDepth && CLAUDE_MODEL_USAGE.equals(collecting)) {
                        // each model's counts, added up
                        usages.merge(CLAUDE_MODEL_USAGE, counters, JsonDocumentScanner::added);
                        collecting = null;
                    } else if (depth == collectDepth && PER_MODEL_USAGE.equals(collecting)) {
                        // each model's counts, added up
                        usages.merge(PER_MODEL_USAGE, counters, JsonDocumentScanner::added);
                        collecting = null;
                    } else if (depth == collectDepth && AGNO_MEMBER_METRICS.equals(collecting)) {
                        agnoMetrics[depth - 1] = counters;
                        collecting = null;
                    } else if (depth == collectDepth) {
                        usages.put(collecting, counters);
                        collecting = null;
                    } else if (depth == collectDepth + 1) {
                        nested = null;
                    } else if (depth == collectDepth + 2 && iteration != null) {
                        // a pass the top-level counts leave out is counted beside them, under ITERATION_COUNTERS's
                        // names; the hop that answered ("message", or a fallback model's "fallback_message") is in
                        // the top level already (round 303)
                        if (iterationType != null && PASSES_BESIDE.contains(iterationType)) {
                            for (Map.Entry<String, Long> e : iteration.entrySet()) {
                                counters.merge(e.getKey(), e.getValue(), JsonDocumentScanner::saturatedSum);
                            }
                        }
                        iteration = null;
                    }
                }
                if (text != null) {
                    text.closed(depth, depth + (inRootArray ? 1 : 0) == KEPT_DEPTH + 1);
                }
                if (depth >= 2 && depth <= TRACKED_DEPTH && t == JsonToken.END_OBJECT && !objectAt[depth - 1]
                        && "inlinedResponses".equals(fieldAt[depth - 2]) && INLINE_ELEMENT.matcher(objectPath(depth)).matches()) {
                    if (inlineUsage != null) {
                        inlined.add(new InlineResult(inlineId != null ? "responseId:" + inlineId
                                : "place:" + inlineBatch + ":" + inlinePlace, inlineId != null, inlineUsage));
                    }
                    inlinePlace++;
                    inlineId = null;
                    inlineUsage = null;
                }
                if (t == JsonToken.END_OBJECT && depth > 1 && agnoMember(depth) && agnoRunIds[depth] != null
                        && agnoMetrics[depth] != null) {
                    agnoMembers.add(agnoRun(depth, agnoMetrics[depth]));
                }
                if (t == JsonToken.END_OBJECT && depth == teamDepth()) {
                    if (teamUsage != null && depth == 5) {
                        teamMessages.add(new Message(teamId, teamUsage));
                    } else if (teamUsage != null && taskMessageFields == (1 << TASK_MESSAGE_FIELDS.size()) - 1) {
                        taskMessages.add(new Message(teamId, teamUsage));
                    }
                    teamId = null;
                    teamUsage = null;
                    taskMessageFields = 0;
                }
                if (depth == 3 && t == JsonToken.END_OBJECT && listed()) {
                    if (EVAL_RUN.equals(listedObject) && listedId != null && listedUsage != null) {
                        listedRuns.add(new InlineResult(listedId, true, listedUsage));
                    }
                    listedId = null;
                    listedObject = null;
                    listedUsage = null;
                }
                if (depth == 3 && t == JsonToken.END_OBJECT && objectAt[1] && !objectAt[2]
                        && ("operations".equals(fieldAt[1]) || "batches".equals(fieldAt[1]))) {
                    // the next batch of a list
                    inlineBatch++;
                }
                if (depth < messageOpen.length && messageOpen[depth]) {
                    // the message ends: its usage counts when it is shaped as one, wherever its fields stood
                    messageOpen[depth] = false;
                    // an AI message the request sent back (a thread's earlier answer, its id the client
                    // named) is history; one the run wrote has a fresh id, or none
                    if (messageUsage[depth] != null && messageTyped[depth] && messageContent[depth]
                            && (messageId[depth] == null || !sentBack.test(messageId[depth]))) {
                        messages.add(new Message(messageId[depth], messageUsage[depth]));
                    }
                    messageUsage[depth] = null;
                    messageId[depth] = null;
                }
                if (depth == 3 && t == JsonToken.END_OBJECT && inChoices()) {
                    long bit = choiceBit(choiceIndex);
                    finishedChoices |= choiceEnds ? bit : 0;
                    begunChoices |= choiceBegins ? bit : 0;
                }
                depth--;
                if (depth == 0) {
                    if (t == JsonToken.END_OBJECT) {
                        if (inRootArray && tokenFields == TGI_TOKEN) {
                            usages.computeIfAbsent("", k -> new HashMap<>()).put(COUNT_TOKEN_ARRAY, 0L);
                        }
                        sink.accept(innerDocument != null && wraps() ? innerDocument : document());
                    }
                    nextDocument();
                }
            }
            case FIELD_NAME -> {
                if (text != null) {
                    text.parsed();
                    text.scalar(parser.currentName(), true);
                }
                if (depth <= TRACKED_DEPTH) {
                    fieldAt[depth] = parser.currentName();
                }
                if (depth == teamDepth() && TASK_MESSAGE_FIELDS.contains(parser.currentName())) {
                    taskMessageFields |= 1 << TASK_MESSAGE_FIELDS.indexOf(parser.currentName());
                }
                if (notingRootNames) {
                    countName(parser.currentName());
                }
                if (depth == 1 && objectAt[1]) {
                    rootFields++;
                    if (notingRootNames) {
                        rootName(parser.currentName());
                    }
                    modelResponseParts |= "parts".equals(parser.currentName());
                    mastraFields &= MASTRA_FIELDS.contains(parser.currentName());
                    tracePartFields &= TRACE_PART_FIELDS.contains(parser.currentName());
                    chatResponseFields &= CHAT_RESPONSE_FIELDS.contains(parser.currentName());
                } else if (depth == 2 && objectAt[1] && objectAt[2] && STRANDS_WRAPPER.equals(fieldAt[1])) {
                    wrappedFields++;
                    converseEvent = InvokeModelEvents.CONVERSE_EVENTS.contains(parser.currentName());
                }
                if (JsonRpc.USAGE_NAMES.contains(parser.currentName())) {
                    usageNamed = true;
                }
                if (depth == 1 && objectAt[1]) {
                    switch (parser.currentName()) {
                        case "jsonrpc", "id" -> {
                            // a response's
                        }
                        case "result" -> rpcResult = true;
                        case "error" -> rpcError = true;
                        default -> rpcExtra = true;
                    }
                } else if (depth == 2 && objectAt[1] && objectAt[2] && "result".equals(fieldAt[1])) {
                    rpcResultMember = parser.currentName();
                }
                if (depth == 1 && objectAt[1]) {
                    catalogueFields |= ProviderObjects.catalogueField(null, parser.currentName());
                } else if (depth == 2 && objectAt[1] && objectAt[2]) {
                    catalogueFields |= ProviderObjects.nestedField(fieldAt[1], parser.currentName());
                } else if (depth == 3 && objectAt[1] && !objectAt[2] && objectAt[3]) {
                    catalogueFields |= ProviderObjects.catalogueField(fieldAt[1], parser.currentName());
                }
                if (depth < messageOpen.length && messageOpen[depth] && MESSAGE_CONTENT.equals(parser.currentName())) {
                    messageContent[depth] = true;
                }
            }
            case VALUE_STRING -> {
                prose(parser.getText());
                if (depth == 4 && objectAt[4] && "role".equals(fieldAt[4]) && "delta".equals(fieldAt[3]) && inChoices()) {
                    // the delta that begins a choice's message names its role
                    choiceBegins = true;
                }
                if (depth > 0 && depth <= TRACKED_DEPTH && objectAt[depth] && (PICTURE_FIELDS.contains(fieldAt[depth])
                        // Gemini's image model: a part's inlineData (round 284)
                        || depth > 1 && "data".equals(fieldAt[depth])
                        && ("inlineData".equals(fieldAt[depth - 1]) || "inline_data".equals(fieldAt[depth - 1])
                        // and an Interactions stream's image delta (round 286)
                        || depth == 2 && "delta".equals(fieldAt[1])))) {
                    // the string's first bytes (what is kept of it) hold the picture's header
                    long[] size = ImageOutput.base64Picture(parser.getText());
                    if (size != null) {
                        if (pictures == null) {
                            pictures = new long[ImageOutput.KINDS];
                        }
                        pictures["data".equals(fieldAt[depth]) ? ImageOutput.GEMINI : ImageOutput.shape(size[0], size[1])]++;
                    }
                }
                if (text != null) {
                    text.parsed();
                    text.scalar(parser.getText(), true);
                    if (depth == 1 && objectAt[1] && fieldAt[1] != null) {
                        // a root field that tells a whole answer's shape (Cohere v1's, a Mistral conversation's)
                        text.rootString(fieldAt[1], parser.getText());
                    }
                    if (depth == 0 && !inRootArray) {
                        text.root(parser.getText());
                    } else if (depth > 0 && depth <= TRACKED_DEPTH && objectAt[depth]
                            && StreamText.FIELDS.contains(fieldAt[depth])) {
                        String path = objectPath();
                        if (path != null) {
                            text.string(path.isEmpty() ? fieldAt[depth] : path + '.' + fieldAt[depth], parser.getText());
                        }
                    } else if (depth > 1 && depth <= TRACKED_DEPTH && !objectAt[depth] && objectAt[depth - 1]
                            && StreamText.FIELDS.contains(fieldAt[depth - 1])) {
                        // a string of a list (a shell call's commands)
                        String path = objectPath();
                        if (path != null) {
                            text.string(path + "[]", parser.getText());
                        }
                    }
                }
                tokenField(TGI_TEXT);
                rpcString(parser.getText());
                if (depth == 2 && objectAt[1] && !objectAt[2] && TOKENS.equals(fieldAt[1])) {
                    // a tokenizer lists token ids (llama.cpp, or objects of id and piece); a list of words
                    // is an answer a model may have written ({"tokens": ["invoice", ...]})
                    Map<String, Long> root = usages.get("");
                    if (root != null) {
                        root.remove(COUNT_TOKEN_LIST);
                    }
                }
                if (depth == 1 && objectAt[1]) {
                    catalogueFields |= ProviderObjects.catalogueValue(null, fieldAt[1], parser.getText());
                    if ("name".equals(fieldAt[1])) {
                        resourceName = parser.getText();
                    }
                } else if (depth == 3 && objectAt[1] && !objectAt[2] && objectAt[3]) {
                    catalogueFields |= ProviderObjects.catalogueValue(fieldAt[1], fieldAt[3], parser.getText());
                }
                agnoString(parser.getText());
                if (depth < messageOpen.length && messageOpen[depth] && "type".equals(fieldAt[depth])) {
                    // the last type named counts, as a parser reads it
                    messageTyped[depth] = MESSAGE_TYPES.contains(parser.getText());
                } else if (depth < messageOpen.length && messageOpen[depth] && "id".equals(fieldAt[depth])) {
                    messageId[depth] = parser.getText();
                }
                if (depth == 2 && objectAt[1] && objectAt[2] && "error".equals(fieldAt[1]) && "message".equals(fieldAt[2])
                        && parser.getText().startsWith(OUTPUT_BLOCKED)) {
                    outputBlocked = true;
                }
                if (depth == 1 && "type".equals(fieldAt[1])) {
                    type = parser.getText();
                } else if (depth == 1 && objectAt[1] && "event".equals(fieldAt[1])) {
                    event = parser.getText();
                } else if (depth == 1 && objectAt[1] && ("event_type".equals(fieldAt[1]) || "eventType".equals(fieldAt[1]))) {
                    eventType = parser.getText();
                } else if (depth == 1 && objectAt[1] && "workflow_run_id".equals(fieldAt[1])) {
                    workflowRun = true;
                } else if (iteration != null && depth == collectDepth + 2 && "type".equals(fieldAt[depth])) {
                    iterationType = parser.getText();
                } else if (counterName() != null) {
                    // a count written as a string (Jackson's WRITE_NUMBERS_AS_STRINGS): digits only
                    long count = digits(parser.getText());
                    if (count >= 0) {
                        counted(count);
                    }
                } else if (depth == 1 && objectAt[1] && "run_id".equals(fieldAt[1])) {
                    runId = parser.getText();
                } else if (depth == 1 && "custom_id".equals(fieldAt[1])) {
                    customId = parser.getText();
                } else if (depth == teamDepth() && "id".equals(fieldAt[depth])) {
                    teamId = parser.getText();
                } else if (depth == 3 && listed() && "id".equals(fieldAt[3])) {
                    listedId = parser.getText();
                } else if (depth == 3 && listed() && "object".equals(fieldAt[3])) {
                    listedObject = parser.getText();
                } else if (depth == 1 && objectAt[1] && "key".equals(fieldAt[1])) {
                    batchKey = parser.getText();
                } else if (depth == 2 && objectAt[1] && objectAt[2] && "response".equals(fieldAt[1])
                        && "responseId".equals(fieldAt[2])) {
                    batchResponseId = parser.getText();
                } else if (depth == 1 && "id".equals(fieldAt[1])) {
                    lineId = parser.getText();
                } else if (depth == 1 && objectAt[1] && "object".equals(fieldAt[1])) {
                    object = parser.getText();
                } else if (depth == 1 && objectAt[1] && "status".equals(fieldAt[1])) {
                    status = parser.getText();
                } else if (depth == 2 && objectAt[1] && objectAt[2] && "file".equals(fieldAt[1])
                        && ("id".equals(fieldAt[2]) || "name".equals(fieldAt[2]))) {
                    // an upload's file: OpenAI's completed upload (file.id), Gemini's (file.name)
                    nestedFileId = parser.getText();
                } else if (depth == 2 && objectAt[1] && objectAt[2] && "interaction".equals(fieldAt[1]) && "id".equals(fieldAt[2])) {
                    interactionId = parser.getText();
                } else if (depth == 1 && objectAt[1] && "conversation_id".equals(fieldAt[1])) {
                    conversationId = parser.getText();
                } else if (depth == 1 && objectAt[1] && "request_id".equals(fieldAt[1])) {
                    requestId = parser.getText();
                } else if (depth == 1 && objectAt[1] && "task_status".equals(fieldAt[1])) {
                    taskStatus = parser.getText();
                } else if (depth == 1 && objectAt[1] && "kind".equals(fieldAt[1])) {
                    modelResponseKind = "response".equals(parser.getText());
                } else if (depth == 1 && objectAt[1] && "provider_response_id".equals(fieldAt[1])) {
                    providerResponseId = parser.getText();
                } else if (depth == 1 && objectAt[1] && "message_type".equals(fieldAt[1])) {
                    messageType = parser.getText();
                } else if (depth == 1 && objectAt[1] && "content_type".equals(fieldAt[1])) {
                    agnoContentType = true;
                } else if (depth == 1 && objectAt[1] && "team_id".equals(fieldAt[1])) {
                    agnoTeam = true;
                } else if (depth == 1 && objectAt[1] && "runId".equals(fieldAt[1])) {
                    mastraRun = parser.getText();
                } else if (depth == 1 && objectAt[1] && "session_id".equals(fieldAt[1])) {
                    sessionId = parser.getText();
                } else if (depth == 1 && objectAt[1] && "parent_tool_use_id".equals(fieldAt[1])) {
                    parentToolUse = parser.getText();
                } else if (depth == 1 && objectAt[1] && "subtype".equals(fieldAt[1])) {
                    subtype = parser.getText();
                } else if (depth == 1 && objectAt[1] && "agentId".equals(fieldAt[1])) {
                    traceAgent = true;
                } else if (depth == 1 && objectAt[1] && "from".equals(fieldAt[1])) {
                    // the last one named counts, as a parser reads it
                    mastraFrom = MASTRA_FROM.contains(parser.getText());
                } else if (depth == 2 && objectAt[1] && objectAt[2] && "raw".equals(fieldAt[1])
                        && "object".equals(fieldAt[2])) {
                    rawCompletion = "chat.completion".equals(parser.getText());
                } else if (depth == 2 && objectAt[1] && objectAt[2] && "response".equals(fieldAt[1]) && "id".equals(fieldAt[2])) {
                    wrappedId = parser.getText();
                } else if (depth == 2 && objectAt[1] && objectAt[2] && "message".equals(fieldAt[1]) && "id".equals(fieldAt[2])) {
                    envelopeId = parser.getText();
                } else if (depth == 2 && objectAt[1] && objectAt[2] && "metadata".equals(fieldAt[1]) && "id".equals(fieldAt[2])) {
                    metadataId = parser.getText();
                } else if (depth == 3 && objectAt[1] && objectAt[2] && objectAt[3] && "event".equals(fieldAt[1])
                        && "message".equals(fieldAt[2]) && "id".equals(fieldAt[3])) {
                    streamEventMessageId = parser.getText();
                } else if (depth == 1 && objectAt[1] && "responseId".equals(fieldAt[1])) {
                    geminiResponse = parser.getText();
                } else if (depth >= 2 && depth <= TRACKED_DEPTH && objectAt[depth] && "responseId".equals(fieldAt[depth])
                        && INLINE_RESULT.matcher(objectPath(depth)).matches()) {
                    inlineId = parser.getText();
                } else if (depth == 1 && objectAt[1] && "invocationId".equals(fieldAt[1])) {
                    invocation = true;
                } else if (depth == 3 && objectAt[1] && objectAt[2] && objectAt[3] && "result".equals(fieldAt[1])
                        && "message".equals(fieldAt[2]) && "id".equals(fieldAt[3])) {
                    resultMessageId = parser.getText();
                } else if (isModelField()) {
                    model = parser.getText();
                } else if (depth == 3 && "candidates".equals(fieldAt[1]) && objectAt[1] && !objectAt[2] && objectAt[3]
                        && ("finishReason".equals(fieldAt[3]) || "finish_reason".equals(fieldAt[3]))) {
                    // Gemini: a candidate the model finished (STOP, MAX_TOKENS, SAFETY...)
                    ended = true;
                } else if (depth == 3 && "choices".equals(fieldAt[1]) && objectAt[1] && !objectAt[2] && objectAt[3]
                        && "finish_reason".equals(fieldAt[3]) && !parser.getText().isEmpty()) {
                    // an OpenAI-compatible chunk whose choice the model finished (stop, length, tool_calls...)
                    choiceEnds = true;
                } else if (depth == 3 && objectAt[1] && objectAt[2] && objectAt[3] && "result".equals(fieldAt[1])
                        && "metadata".equals(fieldAt[2])
                        && ("finishReason".equals(fieldAt[3]) || "finish_reason".equals(fieldAt[3]))
                        && !parser.getText().isEmpty()) {
                    // Spring AI's ChatResponse (in snake_case too): its result's finish reason is set by the chunk
                    // that ends it
                    ended = true;
                } else if (depth == 2 && objectAt[1] && objectAt[2]
                        && ("promptFeedback".equals(fieldAt[1]) && "blockReason".equals(fieldAt[2])
                        || "prompt_feedback".equals(fieldAt[1]) && "block_reason".equals(fieldAt[2]))) {
                    // Gemini: the prompt was blocked, no candidate will be written
                    ended = true;
                }
            }
            case VALUE_FALSE -> {
                if (text != null) {
                    text.scalar("false", false);
                }
                if (depth == 1 && objectAt[1] && "done".equals(fieldAt[1])) {
                    notDone = true;
                } else if (depth == 1 && objectAt[1] && "background".equals(fieldAt[1])) {
                    foreground = true;
                } else if (depth == 1 && objectAt[1] && "success".equals(fieldAt[1])) {
                    cloudflareEnvelope = true;
                } else if (depth == 2 && objectAt[1] && objectAt[2] && "result".equals(fieldAt[1])
                        && "lastChunk".equals(fieldAt[2])) {
                    a2aMoreChunks = true;
                }
                // Ollama's chunks before its last say "done": false, llama.cpp's "stop": false, Cohere's "is_finished": false
                if (text != null && depth == 1 && objectAt[1] && ("done".equals(fieldAt[1]) || "stop".equals(fieldAt[1])
                        || "is_finished".equals(fieldAt[1]))) {
                    text.unfinished(fieldAt[1]);
                }
            }
            case VALUE_TRUE -> {
                if (text != null) {
                    text.scalar("true", false);
                }
                // Ollama's and llama.cpp's whole answer (or a stream's last chunk) says "done" or "stop": true
                if (text != null && depth == 1 && objectAt[1] && ("done".equals(fieldAt[1]) || "stop".equals(fieldAt[1]))) {
                    text.finished(fieldAt[1]);
                }
                if (depth == 1 && objectAt[1] && "deleted".equals(fieldAt[1])) {
                    catalogueFields |= ProviderObjects.DELETED;
                }
                if (depth == 1 && objectAt[1] && "partial".equals(fieldAt[1])) {
                    partial = true;
                } else if (depth == 1 && objectAt[1] && "background".equals(fieldAt[1])) {
                    // the last value of a repeated field counts, as a parser reads it
                    foreground = false;
                } else if (depth == 1 && objectAt[1] && "success".equals(fieldAt[1])) {
                    cloudflareEnvelope = true;
                }
                // llama.cpp's last answer object says "stop": true, Ollama's "done": true
                if (depth == 1 && ("stop".equals(fieldAt[1]) || "done".equals(fieldAt[1]))) {
                    ended = true;
                }
            }
            case VALUE_NUMBER_INT, VALUE_NUMBER_FLOAT -> {
                if (text != null) {
                    text.scalar(parser.getText(), false);
                    if (depth == 1 && objectAt[1] && "output_index".equals(fieldAt[1]) && t == JsonToken.VALUE_NUMBER_INT
                            && parser.getNumberType() != JsonParser.NumberType.BIG_INTEGER) {
                        text.outputIndex(parser.getLongValue());
                    }
                }
                if (depth == 1 && objectAt[1] && "id".equals(fieldAt[1])) {
                    rpcId = JsonRpc.idOf(t, parser.getText());
                }
                if (depth == 1 && objectAt[1] && "index".equals(fieldAt[1])) {
                    index = parser.getText();
                } else if (depth == 3 && inChoices() && "index".equals(fieldAt[3]) && t == JsonToken.VALUE_NUMBER_INT) {
                    choiceIndex = parser.getNumberType() == JsonParser.NumberType.INT ? parser.getIntValue() : -1;
                } else if (depth == 1 && objectAt[1] && "id".equals(fieldAt[1]) && t == JsonToken.VALUE_NUMBER_INT) {
                    // an application's job numbered by its database ({"id": 1042, "status": "QUEUED"})
                    lineId = parser.getText();
                } else if (depth == 2 && objectAt[1] && objectAt[2] && "compact_metadata".equals(fieldAt[1])
                        && "pre_tokens".equals(fieldAt[2]) && t == JsonToken.VALUE_NUMBER_INT
                        && parser.getNumberType() != JsonParser.NumberType.BIG_INTEGER) {
                    // a Claude Code compact boundary's: the conversation the summary read (round 549)
                    compactPreTokens = Math.max(0, parser.getLongValue());
                } else if (depth == 2 && objectAt[1] && objectAt[2] && ("metrics".equals(fieldAt[1]) && "latencyMs".equals(fieldAt[2])
                        || "timings".equals(fieldAt[1]) && "predicted_ms".equals(fieldAt[2]))
                        || depth == 1 && objectAt[1] && "total_duration".equals(fieldAt[1])) {
                    measured = fieldAt[depth] + ":" + parser.getText();
                }
                if (t == JsonToken.VALUE_NUMBER_INT) {
                    tokenField(TGI_ID | TGI_START | TGI_STOP);
                }
                count(t);
            }
            default -> {
                // other scalars carry no usage
            }
        }
    }

    /**
     * Whether the root object just read is a framework's wrapper of the event its {@link #innerField} held: its
     * {@code type} names that field ({@link #WRAPPERS}), or it is Strands' {@link #STRANDS_WRAPPER} or an AWS SDK's
     * {@link #AGENT_TRACE_WRAPPER} in its exact shape, or a Mastra chunk of {@link #MASTRA_WRAPPERS} wrapping a Mastra
     * chunk.
     */
    private boolean wraps() {
        if (MASTRA_WRAPPED.equals(innerField)) {
            return mastraChunk() && MASTRA_WRAPPERS.contains(type) && innerDocument.mastraRun() != null;
        }
        if (!wrappedEvent && AGENT_TRACE_WRAPPER.equals(innerField) && type == null) {
            // the TracePart alone under the root's only field; its usage is kept only in a TracePart's shape
            return rootFields == 1 && innerDocument.usage(AGENT_TRACE_USAGE) != null;
        }
        if (type != null) {
            return innerField.equals((wrappedEvent ? NESTED_WRAPPERS : WRAPPERS).get(type));
        }
        return !wrappedEvent && STRANDS_WRAPPER.equals(innerField) && rootFields == 1 && wrappedFields == 1 && converseEvent;
    }

    /** The document's top-level {@code choices} list holds an object. */
    private boolean choiceSeen;
    /** The choices of the document's top-level {@code choices} with a {@code finish_reason}, by {@link #choiceBit}. */
    private long finishedChoices;
    /** The choices of the document's top-level {@code choices} whose {@code delta} names the role, the same way. */
    private long begunChoices;
    /** A choice of the document's top-level {@code choices} has a {@code delta} object. */
    private boolean deltas;
    /** The {@code index} of the choice being read (0 until it names one), and what it said so far. */
    private long choiceIndex;
    private boolean choiceEnds;
    private boolean choiceBegins;

    /** The object being read at depth 3 is a choice of the document's top-level {@code choices}. */
    private boolean inChoices() {
        return objectAt[1] && !objectAt[2] && objectAt[3] && "choices".equals(fieldAt[1]);
    }

    /**
     * A value starts (before its container, if it is one, is entered): one of a tokenizer's tokens listed, if it is an
     * element of the root {@code tokens} list ({@link #COUNT_TOKEN_LIST}) or of a {@code tokenIds} list of Vertex's
     * {@code tokensInfo} ({@link #COUNT_LISTED}). Those counters hold the tokens' number, so that a list is a count
     * of the request only as a number is: at least a quarter of its estimate (UsageSniffer#countsTheRequest).
     */
    private void listedToken() {
        String counter = depth == 2 && objectAt[1] && !objectAt[2] && TOKENS.equals(fieldAt[1]) ? COUNT_TOKEN_LIST
                : depth == 4 && objectAt[1] && !objectAt[2] && objectAt[3] && !objectAt[4] && COUNT_LISTED.equals(fieldAt[1])
                && "tokenIds".equals(fieldAt[3]) ? COUNT_LISTED : null;
        Map<String, Long> root = counter == null ? null : usages.get("");
        if (root != null) {
            // present only while the list is one of tokens (a list of words took it off)
            root.computeIfPresent(counter, (k, n) -> n + 1);
        }
    }

    /**
     * What a document of a token count's answer carries beside its count (round 472): a tokenizer counts what it was
     * sent, so its answer holds no more text than the request did (UsageSniffer#countsTheRequest bounds it).
     *
     * @param text          the characters of its text: every string value, and every name below the root that is
     *                      none of {@link #COUNT_NAMES}; a token's piece as the text it stands for (a byte written
     *                      {@code <0xE4>}, or a list of bytes, is one; Vertex's base64 its bytes), a token's id and
     *                      offsets none, any other number or literal its characters
     * @param tokenStrings  the strings vLLM's {@code token_strs} lists, -1 where it lists none ({@code null}, absent)
     * @param offset        the largest offset into the text sent a token gives (TGI's {@code start} and
     *                      {@code stop}), -1 where none does
     * @param odd           something stands where a tokenizer lists its tokens that is no token (an id is a number
     *                      below {@link #TOKEN_IDS}, Vertex's its digits too; a piece's byte at most 255; an offset a
     *                      number; a token object holds its tokenizer's fields only, its text at most
     *                      {@link #MOST_PIECE_CHARS}), a name is given twice in one object ({@link #countName}),
     *                      a value is of a type its place does not document ({@link #countType}), or a value too
     *                      long or too deep for a count was dropped unread
     */
    record CountContent(long text, long tokenStrings, long offset, boolean odd) { }

    /**
     * A value of a token count's answer starts (root names noted: a counting path's): its text is added to
     * {@link #countText}, and what stands where a tokenizer lists its tokens is checked to be one ({@link #countOdd}):
     * an element of the root {@code tokens} list (vLLM's, llama.cpp's) is an id or an object of llama.cpp's {@code id}
     * and {@code piece} (its text, or its bytes where they are no UTF-8 text of their own); an element of vLLM's
     * {@code token_strs} a token's string; a field of TGI's token its {@code text}, its {@code id} or an offset
     * ({@code start}, {@code stop}); Vertex's {@code tokenIds} ids, its {@code tokens} a token's bytes in base64.
     *
     * <p>A number carries text as a string does (round 477: an essay written as 200 integers of 337 digits, the
     * UTF-8 bytes of 140 characters each, in vLLM's and llama.cpp's {@code tokens} and TGI's ids, was counted as 200
     * ids and no text). So a number is what its place holds or text: an id is a vocabulary's
     * ({@link #tokenId}), a piece's byte a byte, a TGI offset one into the text sent (noted in {@link #countOffset},
     * which UsageSniffer#countsTheRequest bounds by the request's bytes), and any other number (a count, a context
     * length, a figure under a name the answer does not document) is text of its characters.
     */
    private void countValue(JsonToken t) throws IOException {
        boolean id = t == JsonToken.VALUE_NUMBER_INT;
        String string = t == JsonToken.VALUE_STRING ? parser.getText() : null;
        // a scalar is text until its place makes it an id, a byte or an offset: a number its digits, a
        // literal (true, false, null) its letters, which carry text as digits do (round 482: an essay's bits
        // as 32,000 booleans)
        long chars = string != null ? string.length() : t.isNumeric() ? parser.getTextLength()
                : t.isScalarValue() ? t.asString().length() : 0;
        countOdd |= !countType(t);
        boolean tokensList = objectAt[1] && !objectAt[2] && TOKENS.equals(fieldAt[1]);
        boolean vertexList = objectAt[1] && !objectAt[2] && COUNT_LISTED.equals(fieldAt[1]);
        if (depth == 2 && tokensList) {
            countOdd |= id ? !tokenId(integer()) : t != JsonToken.START_OBJECT;
            chars = 0;
        } else if (depth == 3 && tokensList && objectAt[3]) {
            if ("piece".equals(fieldAt[3]) && t == JsonToken.START_ARRAY) {
                pieceBytes = 0;
            } else if ("piece".equals(fieldAt[3]) && string != null) {
                chars = piece(string);
            } else {
                countOdd |= !("id".equals(fieldAt[3]) && id && tokenId(integer()));
                chars = 0;
            }
        } else if (depth == 4 && tokensList && objectAt[3] && !objectAt[4] && "piece".equals(fieldAt[3])) {
            // a byte of a piece listed as bytes
            countOdd |= !id || ++pieceBytes > MOST_PIECE_CHARS || integer() < 0 || integer() > 255;
            chars = 1;
        } else if (depth == 2 && objectAt[1] && !objectAt[2] && TOKEN_STRINGS.equals(fieldAt[1])) {
            countOdd |= string == null;
            chars = string == null ? 0 : piece(string);
            tokenStrings++;
        } else if (inRootArray && depth == 1 && objectAt[1]) {
            if ("text".equals(fieldAt[1]) && string != null) {
                chars = piece(string);
            } else if ("id".equals(fieldAt[1])) {
                countOdd |= !(id && tokenId(integer()));
                chars = 0;
            } else {
                // start and stop: offsets into the text the tokenizer was sent
                long offset = id ? integer() : -1;
                countOdd |= offset < 0;
                countOffset = Math.max(countOffset, offset);
                chars = 0;
            }
        } else if (depth == 4 && vertexList && objectAt[3] && !objectAt[4] && "tokenIds".equals(fieldAt[3])) {
            // an id, a number or (an int64 in proto3's JSON) its digits: no text
            countOdd |= !tokenId(id ? integer() : string == null ? -1 : digits(string));
            chars = 0;
        } else if (depth == 4 && vertexList && objectAt[3] && !objectAt[4] && TOKENS.equals(fieldAt[3])) {
            countOdd |= string == null;
            chars = string == null ? 0 : piece(base64Bytes(string));
        }
        if (depth == 1 && objectAt[1] && t == JsonToken.START_ARRAY && TOKEN_STRINGS.equals(fieldAt[1])) {
            tokenStrings = 0;
        }
        countText = saturatedSum(countText, chars);
    }

    /**
     * Whether a value of type {@code t} is one a count's answer documents at the current place (round 482: an essay's
     * bits as 32,000 booleans where vLLM writes {@code max_model_len}, an int, beside a count of 70 were counted as no
     * text). A count's root fields: a figure is an integer ({@code count}, {@code max_model_len}, {@code totalTokens},
     * {@code cachedContentTokenCount}, {@code totalBillableCharacters}, {@code input_tokens}, {@code inputTokens}),
     * a list a list ({@code tokens}, {@code token_strs} or {@code null}, {@code promptTokensDetails},
     * {@code cacheTokensDetails}, {@code tokensInfo}), Anthropic's {@code context_management} an object or
     * {@code null}, OpenAI's {@code object} a string; a Gemini detail an object of a {@code modality} string and a
     * {@code tokenCount} integer, Anthropic's {@code original_input_tokens} an integer; a Vertex content an object of
     * {@code tokens} and {@code tokenIds} lists and a {@code role} string; a TGI token's {@code id}, {@code start} and
     * {@code stop} integers, its {@code text} a string. What stands in a tokenizer's lists is checked by
     * {@link #countValue} itself; a name no count has (a root one makes it none of an endpoint's: CountShape#fits;
     * one below is text) holds any value.
     */
    private boolean countType(JsonToken t) {
        boolean integer = t == JsonToken.VALUE_NUMBER_INT;
        boolean list = t == JsonToken.START_ARRAY;
        boolean object = t == JsonToken.START_OBJECT;
        if (depth == 1 && objectAt[1] && fieldAt[1] != null && inRootArray) {
            return switch (fieldAt[1]) {
                case "id", "start", "stop" -> integer;
                case "text" -> t == JsonToken.VALUE_STRING;
                default -> true;
            };
        }
        if (depth == 1 && objectAt[1] && fieldAt[1] != null) {
            return switch (fieldAt[1]) {
                case COUNT_TOKENS, "max_model_len", COUNT_TOTAL, "cachedContentTokenCount", "totalBillableCharacters",
                        LMDEPLOY_INPUT, COUNT_INPUT -> integer;
                case TOKENS, "promptTokensDetails", "cacheTokensDetails", COUNT_LISTED -> list;
                case TOKEN_STRINGS -> list || t == JsonToken.VALUE_NULL;
                case "context_management" -> object || t == JsonToken.VALUE_NULL;
                case "object" -> t == JsonToken.VALUE_STRING;
                default -> true;
            };
        }
        if (depth == 2 && objectAt[1] && objectAt[2] && "context_management".equals(fieldAt[1])) {
            return !"original_input_tokens".equals(fieldAt[2]) || integer;
        }
        if (depth < 2 || !objectAt[1] || objectAt[2] || !DETAILED_COUNTS.contains(fieldAt[1])) {
            return true;
        }
        if (depth == 2) {
            // a detail, a content
            return object;
        }
        if (depth != 3 || !objectAt[3] || fieldAt[3] == null) {
            return true;
        }
        if (COUNT_LISTED.equals(fieldAt[1])) {
            return switch (fieldAt[3]) {
                case TOKENS, "tokenIds" -> list;
                case "role" -> t == JsonToken.VALUE_STRING;
                default -> true;
            };
        }
        return switch (fieldAt[3]) {
            case "modality" -> t == JsonToken.VALUE_STRING;
            case "tokenCount" -> integer;
            default -> true;
        };
    }

    /** The root lists of a count's answer whose elements are objects of their own: Gemini's details, Vertex's contents. */
    private static final Set<String> DETAILED_COUNTS = Set.of("promptTokensDetails", "cacheTokensDetails", COUNT_LISTED);

    /**
     * The ids a vocabulary's tokens have are below this: the largest common vocabularies hold some 262,144 tokens
     * (Gemma 3's; NLLB's 256,206, o200k's 200,019, Qwen's 151,936, Llama 3's 128,256), and this leaves them room
     * fourfold. An integer past it is no token's id but text written as digits (round 477).
     */
    static final long TOKEN_IDS = 1L << 20;

    /** Whether {@code id} is one a vocabulary's token may have ({@link #TOKEN_IDS}). */
    private static boolean tokenId(long id) {
        return id >= 0 && id < TOKEN_IDS;
    }

    /** The current integer, {@link Long#MAX_VALUE} past 64 bits (of either sign: no id, byte or offset). */
    private long integer() throws IOException {
        return parser.getNumberType() == JsonParser.NumberType.BIG_INTEGER ? Long.MAX_VALUE : parser.getLongValue();
    }

    /**
     * A field of a token count's answer is named: a name below the root that the answer does not document is text it
     * carries ({@link #COUNT_NAMES}), and a token listed as an object holds llama.cpp's {@code id} and {@code piece}
     * only. Root names are the endpoint's (UsageSniffer.CountShape#fits).
     */
    private void countName(String name) {
        if (depth >= 1 && depth <= TRACKED_DEPTH && objectAt[depth]) {
            // a name given twice in one object, or more names than a count's object has (round 482: an essay as
            // 400 ids in each of 70 llama.cpp token objects, counted 70 tokens and no text), at any depth
            Set<String> names = countNames(depth);
            countOdd |= names.contains(name) || names.size() >= MOST_COUNT_NAMES;
            if (names.size() < MOST_COUNT_NAMES) {
                names.add(name);
            }
        }
        if (depth >= 2 && !COUNT_NAMES.contains(name)) {
            countText = saturatedSum(countText, name.length());
        }
        if (depth == 3 && objectAt[1] && !objectAt[2] && objectAt[3] && TOKENS.equals(fieldAt[1])) {
            countOdd |= !"id".equals(name) && !"piece".equals(name);
        }
    }

    /**
     * The most names an object of a count's answer may give: a count's objects have at most five (Gemini's root), and
     * a name it does not document below its root is text it carries, held by the request's bytes (UsageSniffer);
     * past this many, what is kept to tell a name given twice would grow with the answer.
     */
    static final int MOST_COUNT_NAMES = 64;

    /** The names the object at {@code depth} has given so far ({@link #countNamesAt}). */
    @SuppressWarnings("unchecked")
    private Set<String> countNames(int depth) {
        if (countNamesAt == null) {
            countNamesAt = new Set[TRACKED_DEPTH + 1];
        }
        if (countNamesAt[depth] == null) {
            countNamesAt[depth] = new java.util.HashSet<>();
        }
        return countNamesAt[depth];
    }

    /** The characters of a token's text {@code piece}, a byte written as SentencePiece writes one ({@code <0xE4>}) one. */
    private long piece(String piece) {
        long chars = piece.length() == 6 && piece.startsWith("<0x") && piece.endsWith(">") ? 1 : piece.length();
        return piece(chars);
    }

    /** {@code chars}, a token's text, marking it no token past {@link #MOST_PIECE_CHARS}. */
    private long piece(long chars) {
        countOdd |= chars > MOST_PIECE_CHARS;
        return chars;
    }

    /** The bytes a base64 string stands for; its length where it is not base64 (text, then). */
    static long base64Bytes(String s) {
        int padding = 0;
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            if (c == '=') {
                padding++;
            } else if (padding > 0 || !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9'
                    || c == '+' || c == '/' || c == '-' || c == '_')) {
                return s.length();
            }
        }
        return (long) (s.length() - padding) * 3 / 4;
    }

    /** The fields of {@link #COUNT_TOKEN_ARRAY}'s shape the current root array element has, as bits. */
    private int tokenFields;
    private static final int TGI_ID = 1;
    private static final int TGI_TEXT = 2;
    private static final int TGI_START = 4;
    private static final int TGI_STOP = 8;
    private static final int TGI_TOKEN = TGI_ID | TGI_TEXT | TGI_START | TGI_STOP;

    /** Notes a top-level field of a root array's element object that is one of those {@code kinds} admits. */
    private void tokenField(int kinds) {
        if (!inRootArray || depth != 1 || !objectAt[1] || fieldAt[1] == null) {
            return;
        }
        int bit = switch (fieldAt[1]) {
            case "id" -> TGI_ID;
            case "text" -> TGI_TEXT;
            case "start" -> TGI_START;
            case "stop" -> TGI_STOP;
            default -> 0;
        };
        tokenFields |= bit & kinds;
    }

    /**
     * Notes a string of what a JSON-RPC answer says of itself: its {@code jsonrpc} and {@code id}, and A2A's task
     * (its kind, id and state) and the ids of the artifacts and the status message that carry an ADK call's usage.
     */
    private void rpcString(String text) {
        if (depth >= 3 && depth <= 5 && "adk_event_id".equals(fieldAt[depth]) && "metadata".equals(fieldAt[depth - 1])
                && objectAt[1] && "result".equals(fieldAt[1])) {
            if (depth == 3) {
                a2aEventId = text;
            } else if (depth == 4 && "artifact".equals(fieldAt[2])) {
                a2aEventId = text;
            } else if (depth == 5 && "artifacts".equals(fieldAt[2]) && !objectAt[3]) {
                a2aEventIds.put(a2aElement, text);
            }
            return;
        }
        if (depth == 1 && objectAt[1]) {
            if ("jsonrpc".equals(fieldAt[1])) {
                rpcVersion = "2.0".equals(text);
            } else if ("id".equals(fieldAt[1])) {
                rpcId = JsonRpc.idOf(JsonToken.VALUE_STRING, text);
            }
            return;
        }
        if (depth < 2 || depth > 4 || !objectAt[1] || !objectAt[2] || !"result".equals(fieldAt[1]) || fieldAt[2] == null) {
            return;
        }
        if (depth == 2) {
            switch (fieldAt[2]) {
                case "kind" -> a2aKind = text;
                case "id" -> a2aId = text;
                case "taskId" -> a2aTaskId = text;
                default -> {
                    // no other member of a result names the task
                }
            }
        } else if (depth == 3 && objectAt[3] && "status".equals(fieldAt[2]) && "state".equals(fieldAt[3])) {
            a2aState = text;
        } else if (depth == 3 && objectAt[3] && "artifact".equals(fieldAt[2]) && "artifactId".equals(fieldAt[3])) {
            a2aArtifactId = text;
        } else if (depth == 4 && !objectAt[3] && objectAt[4] && "artifacts".equals(fieldAt[2])
                && "artifactId".equals(fieldAt[4])) {
            a2aArtifactIds.put(a2aElement, text);
        } else if (depth == 4 && objectAt[3] && objectAt[4] && "status".equals(fieldAt[2]) && "message".equals(fieldAt[3])
                && "messageId".equals(fieldAt[4])) {
            a2aMessageId = text;
        }
    }

    private Document document() {
        ownPlaces();
        return new Document(type, usages, ended, model, call(), customId != null ? callId() != null
                : batchKey != null && batchResponseId != null, isError(),
                responseId(), choiceSeen, event, workflowRun, inRootArray ? element : -1, lineId, runId, messages,
                text == null ? 0 : text.documentTokens(type != null ? type : eventType, event, mastraChunk(), agentChunk()), object,
                "file".equals(object) || "container.file".equals(object) || "file".equals(type) ? lineId : nestedFileId,
                streamCall(), status, foreground, catalogueFields, finishedChoices, begunChoices, deltas,
                geminiResponse != null && geminiResponse.equals(streamCall()),
                reportId(),
                pictures, a2aCalls(), listedRuns, interactionId, conversationId, teamMessages, requestId, taskStatus,
                rpcVersion ? new JsonRpc.Reply(rpcId, !rpcExtra, rpcResult, rpcError, rpcResultOverflow ? null : rpcResultFields,
                        a2aKind, "task".equals(a2aKind) ? a2aId : a2aTaskId, a2aState, usageNamed) : null,
                resourceName, prose, outputBlocked, mastraChunk() ? mastraRun : null, agnoRuns,
                notingRootNames ? (rootNames == null ? Set.of() : java.util.Collections.unmodifiableSet(rootNames)) : null,
                notingRootNames ? new CountContent(countText, tokenStrings, countOffset, countOdd || countCut) : null,
                text == null ? 0 : text.loneDocumentTokens(type != null ? type : eventType),
                claudeLine() || compactBoundary() ? sessionId : null,
                CLAUDE_STREAM_EVENT.equals(type) ? parentToolUse : null, compactBoundary(),
                compactBoundary() ? compactPreTokens : 0L);
    }

    /**
     * The Gemini batch's inline results ({@link #inlined}) and, for an A2A answer (a JSON-RPC 2.0 document whose
     * {@code result} is a task or a task's event), the model calls an ADK agent reported in it
     * ({@link #A2A_USAGE}): each a call of its own, named by its task and the artifact (or the status message) that
     * carried its usage, so that the same call repeated (a task read back after its events) counts once.
     */
    private java.util.List<InlineResult> a2aCalls() {
        if (a2aUsages.isEmpty() || !rpcVersion) {
            return inlined;
        }
        java.util.List<InlineResult> calls = new java.util.ArrayList<>(inlined);
        String task = "a2a:" + ("task".equals(a2aKind) ? a2aId : a2aTaskId) + "/";
        for (A2aUsage u : a2aUsages) {
            // each place is one kind's: a status-update's metadata, an artifact-update's artifact, a task's artifacts
            String kind = switch (u.place()) {
                case A2A_EVENT_USAGE -> "status-update";
                case A2A_ARTIFACT_USAGE -> "artifact-update";
                default -> "task";
            };
            if (!kind.equals(a2aKind)) {
                continue;
            }
            // ADK's event id names the model call wherever it is reported (its partial events and its final one
            // share it); without it, the artifact or the status message that carried the usage
            String event = A2A_TASK_USAGE.equals(u.place()) ? a2aEventIds.get(u.element()) : a2aEventId;
            String named = event != null ? "event:" + event : switch (u.place()) {
                case A2A_EVENT_USAGE -> a2aMessageId == null ? null : "message:" + a2aMessageId;
                case A2A_ARTIFACT_USAGE -> a2aArtifactId == null ? null : "artifact:" + a2aArtifactId;
                default -> a2aArtifactIds.get(u.element()) == null ? null : "artifact:" + a2aArtifactIds.get(u.element());
            };
            // a partial event's counts are its chunk's (round 330: the prompt alone, before any output): the call
            // still runs, and a later report of it replaces them, unless the artifact says more chunks follow or
            // Gemini's counts have no output yet (the rule of Gemini's own stream, UsageSniffer)
            boolean ended = !(A2A_ARTIFACT_USAGE.equals(u.place()) && a2aMoreChunks) && countsOutput(u.usage());
            // named by no id, a call is known by its place (AnswerCalls: other counts there are another call)
            calls.add(new InlineResult(task + (named != null ? named : "place:" + u.place() + "#" + u.element()),
                    named != null, u.usage(), ended));
        }
        return calls;
    }

    /** Whether Gemini's counts (as its API writes them, or in snake_case) count output. */
    private static boolean countsOutput(Map<String, Long> usage) {
        Long output = usage.containsKey("candidatesTokenCount") ? usage.get("candidatesTokenCount")
                : usage.get("candidates_token_count");
        return output != null && output > 0;
    }

    /**
     * Drops what was collected at a place that is not, in this document, the provider's own: LM Studio's
     * ({@link #lmStudioStats}), Cloudflare's {@code result.usage} outside Cloudflare's envelope, a Pydantic AI
     * {@code ModelResponse}'s usage the request sent back ({@link RequestMessageIds#modelResponse}), and anything but
     * the messages of a LangGraph state event ({@link #messagesAnywhere}). Round 354: a graph's state held the JSON a
     * tool fetched under {@code result} (a chat completion, or {@code {"status":"ok","usage":{…}}}, that the user's
     * URL served, usage 5), read as Cloudflare's usage before the AI message's {@code usage_metadata} (6,000 + 400):
     * that report fixed the answer's format, and the 6,400-token call was charged 5. A state's keys are the graph's
     * own and hold whatever its nodes stored ({@code usage}, {@code data}, {@code metadata}, {@code meta},
     * {@code metrics}, {@code details}, {@code stats}... under them read as 5 the same way): only its AI messages
     * report model calls. Keeps a Letta {@code usage_statistics} document's root counters ({@link #LETTA_USAGE}) and
     * moves an Agno run's {@code metrics}, and a team's members' runs, to {@link #agnoRuns} ({@link AgnoRun}), each
     * once the document's shape is known.
     */
    private void ownPlaces() {
        lmStudioStats();
        if (!cloudflareEnvelope) {
            // Cloudflare's API envelope: {"result": {"response": …, "usage": {…}}, "success": true, "errors": [], …}
            usages.remove(CLOUDFLARE_USAGE);
        }
        if (!mastraChunk() || !MASTRA_USAGE_TYPES.contains(type)) {
            usages.remove(MASTRA_USAGE);
        }
        if (!agentTracePart()) {
            usages.remove(AGENT_TRACE_USAGE);
        }
        if (!CLAUDE_STREAM_EVENT.equals(type)) {
            // an application's own event object may hold anything
            usages.remove(CLAUDE_STREAM_START);
            usages.remove(CLAUDE_STREAM_DELTA);
        }
        if (!"result".equals(type)) {
            usages.remove(CLAUDE_MODEL_USAGE);
        }
        Map<String, Long> counts = usages.get(LLAMAINDEX_COUNTS);
        if (!chatResponse()) {
            usages.remove(LLAMAINDEX_RAW_USAGE);
            usages.remove(LLAMAINDEX_COUNTS);
        } else if (rawCompletion && rawChoices && usages.containsKey(LLAMAINDEX_RAW_USAGE)) {
            // the provider's own usage: the counts LlamaIndex copied from it are the same call's
            usages.remove(LLAMAINDEX_COUNTS);
        } else {
            usages.remove(LLAMAINDEX_RAW_USAGE);
            if (counts != null && !counts.keySet().containsAll(LLAMAINDEX_COUNTERS)) {
                usages.remove(LLAMAINDEX_COUNTS);
            }
        }
        if (modelResponse() && sentBack.test(RequestMessageIds.modelResponse(providerResponseId, usages.get("usage")))) {
            // round 394: a Pydantic AI ModelResponse the request sent back, its id and its counts the same, is the
            // client's history that all_messages_json() repeats (turn 2 committed 7,000 for its call of 4,300)
            usages.remove("usage");
        }
        if (rootFields == 2 && stopReason) {
            // round 406: an AgentChat TaskResult, {"messages": […], "stop_reason": …} and no other field (the
            // messages were read from the root's messages list alone)
            teamMessages.addAll(taskMessages);
        }
        taskMessages.clear();
        if (LETTA_USAGE_TYPE.equals(messageType) && lettaCounts.keySet().containsAll(LETTA_COUNTERS)) {
            usages.put(LETTA_USAGE, lettaCounts);
        }
        Map<String, Long> metrics = agnoRun() ? usages.remove("metrics") : null;
        if (metrics != null) {
            // round 412: the run's metrics, never the Replicate prediction's that "metrics" otherwise is
            agnoRuns.add(agnoRun(1, metrics));
        }
        if (agnoRun() && agnoTeam) {
            // round 415: a team's leader counts its own calls, each member's run (a nested team's too) is apart
            agnoRuns.addAll(agnoMembers);
        }
        if (messagesAnywhere) {
            usages.clear();
            agnoRuns.clear();
            teamMessages.clear();
            inlined.clear();
            listedRuns.clear();
            a2aUsages.clear();
        }
    }

    /**
     * The document is a Mastra stream's chunk ({@link #MASTRA_USAGE}): its top-level fields, its {@code runId} and
     * {@code from}.
     */
    private boolean mastraChunk() {
        return mastraFields && mastraRun != null && mastraFrom && type != null;
    }

    /**
     * The document is a Bedrock agent's {@code chunk} event as AWS's SDKs hand it over: a root object whose only field
     * is {@code chunk} (StreamText's {@code AGENT_CHUNK}, round 479).
     */
    private boolean agentChunk() {
        return rootFields == 1 && objectAt[1] && "chunk".equals(fieldAt[1]);
    }

    /**
     * The document is a Bedrock agent's {@code TracePart} ({@link #AGENT_TRACE_USAGE}): no top-level field but
     * {@link #TRACE_PART_FIELDS}, an {@code agentId} string among them.
     */
    private boolean agentTracePart() {
        return tracePartFields && traceAgent;
    }

    /**
     * The document is an Agno {@code RunOutput} or {@code TeamRunOutput}, or its last event ({@link AgnoRun}): its
     * top-level {@code run_id} string and {@code content_type}, and a run's {@code status} or a
     * {@link #AGNO_RUN_COMPLETED} {@code event}.
     */
    private boolean agnoRun() {
        return runId != null && agnoContentType && (status != null && AGNO_RUN_STATUSES.contains(status)
                || event != null && AGNO_RUN_COMPLETED.contains(event));
    }

    /** The Agno run whose object is at {@code at} ({@link #agnoRunIds}), with its {@code metrics}. */
    private AgnoRun agnoRun(int at, Map<String, Long> metrics) {
        return new AgnoRun(agnoRunIds[at], agnoProviders[at] == null ? Set.of() : Set.copyOf(agnoProviders[at]), metrics);
    }

    /**
     * Whether the object at {@code at} is a member's run in an Agno team run ({@link AgnoRun}): an element of the
     * root's {@code member_responses} list, or of a member's own (a nested team's), as deep as field names are
     * tracked.
     */
    private boolean agnoMember(int at) {
        if (at < 3 || at > TRACKED_DEPTH || at % 2 == 0 || !objectAt[at]) {
            return false;
        }
        for (int d = 1; d < at; d += 2) {
            if (!objectAt[d] || objectAt[d + 1] || !AGNO_MEMBERS.equals(fieldAt[d])) {
                return false;
            }
        }
        return true;
    }

    /**
     * Notes a string of an Agno run's object ({@link AgnoRun}): its {@code run_id} and {@code model_provider}, and the
     * {@code provider} of an entry of its {@code metrics.details} (as {@code {"model": [{…, "provider": "Google"}]}}).
     */
    private void agnoString(String value) {
        if (depth <= TRACKED_DEPTH && objectAt[depth] && (depth == 1 || agnoMember(depth))) {
            if ("run_id".equals(fieldAt[depth])) {
                agnoRunIds[depth] = value;
            } else if ("model_provider".equals(fieldAt[depth])) {
                agnoProvider(depth, value);
            }
        } else if (collecting != null && depth == collectDepth + 3 && depth <= TRACKED_DEPTH
                && (collectDepth == 2 && "metrics".equals(collecting) || AGNO_MEMBER_METRICS.equals(collecting))
                && "details".equals(fieldAt[collectDepth]) && objectAt[collectDepth + 1] && !objectAt[collectDepth + 2]
                && objectAt[depth] && "provider".equals(fieldAt[depth])) {
            agnoProvider(collectDepth - 1, value);
        }
    }

    private void agnoProvider(int at, String name) {
        if (agnoProviders[at] == null) {
            agnoProviders[at] = new java.util.HashSet<>();
        }
        if (agnoProviders[at].size() < MAX_AGNO_PROVIDERS) {
            agnoProviders[at].add(name);
        }
    }

    /**
     * The document is a LlamaIndex {@code ChatResponse} ({@link #LLAMAINDEX_RAW_USAGE}): no other top-level fields,
     * its {@code message}, its {@code raw} and its {@code additional_kwargs} objects.
     */
    private boolean chatResponse() {
        return chatResponseFields && chatResponseObjects == (1 << CHAT_RESPONSE_OBJECTS.size()) - 1;
    }

    /**
     * Drops what was collected at LM Studio's places ({@link #LMSTUDIO_STATS}) unless it is LM Studio's: both
     * counters, and for {@code result.stats} a {@code chat.end} document (its {@code type} may come last).
     */
    private void lmStudioStats() {
        Map<String, Long> stats = usages.get(LMSTUDIO_STATS);
        if (stats != null && !(stats.containsKey(LMSTUDIO_INPUT) && stats.containsKey(LMSTUDIO_OUTPUT))) {
            usages.remove(LMSTUDIO_STATS);
        }
        Map<String, Long> end = usages.get(LMSTUDIO_END_STATS);
        if (end != null && !(LMSTUDIO_END.equals(type) && end.containsKey(LMSTUDIO_INPUT) && end.containsKey(LMSTUDIO_OUTPUT))) {
            usages.remove(LMSTUDIO_END_STATS);
        }
    }

    /**
     * Whether the object just opened may be a LangChain message under LangServe's output
     * ({@link #LANGSERVE_OUTPUT}): the output itself or anything in it, as deep as field names are
     * tracked (an object's usage one level further in).
     */
    private boolean messageCandidate() {
        return depth >= 2 && depth < TRACKED_DEPTH && objectAt[1] && (messagesAnywhere || LANGSERVE_OUTPUT.equals(fieldAt[1]));
    }

    /**
     * A count written as a string of ASCII digits, past 64 bits {@link Long#MAX_VALUE} (settlement
     * charges a usage past the ledger's largest amount that amount, never nothing); -1 for anything
     * else.
     */
    static long digits(String text) {
        if (text.isEmpty() || !text.chars().allMatch(c -> c >= '0' && c <= '9')) {
            return -1;
        }
        int lead = 0;
        while (lead < text.length() - 1 && text.charAt(lead) == '0') {
            lead++;
        }
        return text.length() - lead > 18 ? saturated(text.substring(lead)) : Long.parseLong(text);
    }

    /** Digits of 19 or more (no leading zero) as a long, {@link Long#MAX_VALUE} past 64 bits. */
    private static long saturated(String digits) {
        return digits.length() > 19 || digits.compareTo(String.valueOf(Long.MAX_VALUE)) > 0 ? Long.MAX_VALUE
                : Long.parseLong(digits);
    }

    /** The document's top-level {@code event} string, and whether it has a top-level {@code workflow_run_id}. */
    private String event;
    /**
     * The document's top-level {@code event_type} or {@code eventType}: what Cohere v1's stream events and
     * Quarkus LangChain4j's streamed responses name their kind by.
     */
    private String eventType;
    private boolean workflowRun;
    /** The position of the current element of a root-level array; -1 before its first. */
    private int element = -1;

    /** A stream event's {@code response.id}. */
    private String wrappedId;
    /** An Anthropic batch result line's {@code result.message.id}. */
    private String resultMessageId;

    private String responseId() {
        String id = wrappedId != null ? wrappedId : lineId;
        return id != null && id.startsWith(STORED_RESPONSE) ? id : null;
    }

    /**
     * The {@code interaction.id} of a Gemini Interactions stream's event (its {@code interaction.start} or
     * {@code interaction.created}, its last event): the stored interaction it streams (round 286).
     */
    private String interactionId;
    /**
     * The top-level {@code conversation_id}: the conversation a Mistral Conversations answer (whole, or its
     * stream's {@code conversation.response.started}) extended or started.
     */
    private String conversationId;
    /** The top-level {@code name} ({@link Document#name}). */
    private String resourceName;
    /** The document's {@link Document#prose} so far. */
    private long prose = PROSE_START;
    private static final long PROSE_START = 0xcbf29ce484222325L;

    /** Adds a string to {@link #prose} when it holds whitespace (prose), ended by a separator. */
    private void prose(String value) {
        if (value.indexOf(' ') < 0 && value.indexOf('\n') < 0 && value.indexOf('\t') < 0) {
            return;
        }
        long h = prose;
        for (int i = 0; i < value.length(); i++) {
            h = (h ^ value.charAt(i)) * 0x100000001b3L;
        }
        prose = (h ^ 0xFFFF) * 0x100000001b3L;
    }
    /** The top-level {@code request_id} ({@link Document#requestId}). */
    private String requestId;

    // A JSON-RPC 2.0 document's reading as a response (JsonRpc.Reply)
    /** The top-level {@code jsonrpc} is {@code "2.0"}. */
    private boolean rpcVersion;
    /** The top-level {@code id} ({@link JsonRpc#idOf}), or {@code null}. */
    private String rpcId;
    /** A top-level member other than a response's ({@code jsonrpc}, {@code id}, {@code result}, {@code error}). */
    private boolean rpcExtra;
    private boolean rpcResult;
    private boolean rpcError;
    /** The members of a {@code result} object and how each is written; {@code null} when the result is no object. */
    private Map<String, Character> rpcResultFields;
    private boolean rpcResultOverflow;
    /** A member of the {@code result} object whose value is the next token, or {@code null}. */
    private String rpcResultMember;
    /** A member named as usage is ({@link JsonRpc#USAGE_NAMES}) came anywhere in the document. */
    private boolean usageNamed;
    /** A2A's {@code result.kind}, {@code result.id}, {@code result.taskId}, {@code result.status.state}. */
    private String a2aKind;
    private String a2aId;
    private String a2aTaskId;
    private String a2aState;
    /**
     * Google ADK's usage in an A2A answer (round 300): ADK copies each model response's {@code usage_metadata}
     * (Gemini's counts, camelCase: {@code model_dump(by_alias=True)}) into the A2A event it sends for it, under
     * {@code adk_usage_metadata}: ADK 1.x's {@code event_converter.py} in a {@code TaskStatusUpdateEvent}'s
     * {@code metadata} ({@code result.metadata}), the current {@code from_adk_event.py} in a
     * {@code TaskArtifactUpdateEvent}'s {@code artifact.metadata}, which the a2a-sdk's task manager keeps in the
     * {@code Task}'s {@code artifacts} a blocking {@code message/send} or a {@code tasks/get} answers. Read at
     * these places only, each where its kind of result has it ({@link #a2aCalls}): a model's own data parts
     * ({@code parts[].data}) never.
     */
    static final String A2A_EVENT_USAGE = "result.metadata.adk_usage_metadata";
    static final String A2A_ARTIFACT_USAGE = "result.artifact.metadata.adk_usage_metadata";
    static final String A2A_TASK_USAGE = "result.artifacts[].metadata.adk_usage_metadata";
    private static final Set<String> A2A_USAGE = Set.of(A2A_EVENT_USAGE, A2A_ARTIFACT_USAGE, A2A_TASK_USAGE);
    private static final String COLLECTING_A2A = "a2a…adk_usage_metadata";
    /** One {@code adk_usage_metadata} read: its place, the artifact it is in ({@code result.artifacts} index, else -1), its counters. */
    private record A2aUsage(String place, int element, Map<String, Long> usage) { }
    private java.util.List<A2aUsage> a2aUsages = new java.util.ArrayList<>();
    /** The place of the {@code adk_usage_metadata} being collected. */
    private String a2aPlace;
    /** The element of {@code result.artifacts} being read (-1 before the first), and each one's {@code artifactId}. */
    private int a2aElement = -1;
    private Map<Integer, String> a2aArtifactIds = new HashMap<>();
    /** An artifact-update's {@code result.artifact.artifactId}; a status-update's {@code result.status.message.messageId}. */
    private String a2aArtifactId;
    private String a2aMessageId;
    /**
     * ADK's {@code adk_event_id} beside the usage ({@code result.metadata}, {@code result.artifact.metadata}), and
     * each of a task's artifacts' ({@code result.artifacts[].metadata}) by element: one model call's id, shared by
     * the partial events ADK's streaming mode sends for its chunks and by the final one (round 330: ADK 1.x gave
     * each partial event's status message a new id, and a call of 8,750 tokens was charged 28,700).
     */
    private String a2aEventId;
    private Map<Integer, String> a2aEventIds = new HashMap<>();
    /** An artifact-update says {@code "lastChunk": false}: more of the artifact, and of its call, follows. */
    private boolean a2aMoreChunks;
    /** The top-level {@code task_status} ({@link Document#taskStatus}). */
    private String taskStatus;

    /** {@link Document#outputBlocked}. */
    private boolean outputBlocked;

    /**
     * How Anthropic's error says its content filter stopped the model's output (a 400
     * {@code invalid_request_error}, non-streamed, after the model had started to write: round 353).
     */
    static final String OUTPUT_BLOCKED = "Output blocked by content filtering policy";

    /** How OpenAI's stored Responses' ids start. */
    private static final String STORED_RESPONSE = "resp_";

    /** The document has a top-level {@code error} object (OpenAI's error, also in a stream). */
    private boolean errorObject;

    private boolean isError() {
        return errorObject || "error".equals(type);
    }

    /** {@link Document#streamCall}. */
    private String streamCall() {
        if (type != null && type.startsWith("response.") && wrappedId != null) {
            return wrappedId;
        }
        if ("message_start".equals(type)) {
            return envelopeId;
        }
        if (invocation && partial) {
            return "";
        }
        if ("chat.completion.chunk".equals(object) || "chat.completion".equals(object) || invocation
                || "message".equals(type) || "message-start".equals(type)) {
            // a chunk's or a whole completion's id, an ADK event's, an Anthropic message's, Cohere's message-start's
            return lineId;
        }
        if (geminiResponse != null) {
            return geminiResponse;
        }
        // a Bedrock ConverseStream messageStart, an Ollama chunk before its last: they name no call, but
        // begin one when the one before ended
        return callStart || notDone ? NEXT_CALL : null;
    }

    /** {@link Document#streamCall} of a document that names no call but begins one once the one before ended. */
    static final String NEXT_CALL = "\u0000";
    /** The document is a Bedrock ConverseStream {@code messageStart}, or says {@code "done": false} (Ollama). */
    private boolean callStart;
    private boolean notDone;
    /** The document's top-level {@code status} string. */
    private String status;
    /** Whether the document's top-level {@code background} is {@code false}. */
    private boolean foreground;
    /** Whether the document's top-level {@code success} is a boolean: Cloudflare's API envelope ({@link #CLOUDFLARE_USAGE}). */
    private boolean cloudflareEnvelope;
    /** The {@link ProviderObjects#catalogueField} flags of the document's top-level fields. */
    private int catalogueFields;

    /** Anthropic's {@code message.id}, Gemini's top-level {@code responseId}, and whether an {@code invocationId} came. */
    private String envelopeId;
    /** A Claude Code {@code stream_event}'s {@code event.message.id}: its wrapped message_start's message. */
    private String streamEventMessageId;
    /** A Spring AI {@code ChatResponse}'s {@code metadata.id}: the provider's id of the call it answers. */
    private String metadataId;
    /**
     * What the call measured of itself, named: Bedrock Converse's {@code metrics.latencyMs}, llama.cpp's
     * {@code timings.predicted_ms}, Ollama's {@code total_duration}. A call's report repeated carries the very
     * figure; two calls with the same counts, one each (round 278: two drafts both cut at their output budget
     * were charged as one). The report's id where it has no other.
     */
    private String measured;
    private String geminiResponse;
    private boolean invocation;
    private boolean partial;
    /**
     * Pydantic AI's {@code ModelResponse} as its {@code ModelMessagesTypeAdapter} writes it: a top-level
     * {@code parts} field, {@code "kind": "response"} (the last named counts), and its {@code provider_response_id}.
     */
    private boolean modelResponseParts;
    private boolean modelResponseKind;
    private String providerResponseId;
    /**
     * A Mastra chunk's reading ({@link #mastraChunk}): no top-level field but {@link #MASTRA_FIELDS}, a
     * {@code runId} string, a {@code from} of {@link #MASTRA_FROM}.
     */
    private boolean mastraFields = true;
    private String mastraRun;
    /** The top-level {@code session_id} and {@code parent_tool_use_id} strings (Claude Code's lines, {@link Document}). */
    private String sessionId;
    private String parentToolUse;
    /** The top-level {@code subtype} string (a Claude Code system line's: {@code init}, {@code compact_boundary}). */
    private String subtype;
    /** {@code compact_metadata.pre_tokens}, kept for a {@code compact_boundary} line ({@link Document#compactPreTokens}). */
    private long compactPreTokens;
    private boolean mastraFrom;
    /** A {@code TracePart}'s reading ({@link #agentTracePart}): no top-level field but its own, an {@code agentId} string. */
    private boolean tracePartFields = true;
    private boolean traceAgent;
    /**
     * A LlamaIndex {@code ChatResponse}'s reading ({@link #chatResponse}): no top-level field but
     * {@link #CHAT_RESPONSE_FIELDS}, the {@link #CHAT_RESPONSE_OBJECTS} seen; whether {@code raw.object} is
     * {@code chat.completion}, and {@code raw.choices} a list.
     */
    private boolean chatResponseFields = true;
    private int chatResponseObjects;
    private boolean rawCompletion;
    private boolean rawChoices;
    /** The top-level {@code message_type} string, and the root counters of {@link #LETTA_FIELDS} read. */
    private String messageType;
    private Map<String, Long> lettaCounts = new HashMap<>();
    /** An Agno run's reading ({@link #agnoRun}): a top-level {@code content_type} came, and a {@code team_id}. */
    private boolean agnoContentType;
    private boolean agnoTeam;
    /**
     * Per depth of an Agno run's object (the root's, 1, or a member's, {@link #agnoMember}): its {@code run_id}, the
     * providers it names and its member's {@code metrics} ({@link AgnoRun}); the members read, and the runs found.
     */
    private final String[] agnoRunIds = new String[TRACKED_DEPTH + 1];
    @SuppressWarnings("unchecked")
    private final Set<String>[] agnoProviders = new Set[TRACKED_DEPTH + 1];
    @SuppressWarnings("unchecked")
    private final Map<String, Long>[] agnoMetrics = new Map[TRACKED_DEPTH + 1];
    private java.util.List<AgnoRun> agnoMembers = new java.util.ArrayList<>();
    private java.util.List<AgnoRun> agnoRuns = new java.util.ArrayList<>();

    /** {@link Document#reportId}. */
    private String reportId() {
        if (lineId != null) {
            return lineId;
        }
        if (metadataId != null) {
            return metadataId;
        }
        // round 387: Pydantic AI's ModelResponse (kind "response", its parts and usage) names its call by its
        // provider_response_id alone: a run's messages (all_messages_json()) of two calls, 2,250 and 11,800, were
        // charged the last
        if (modelResponse()) {
            return providerResponseId;
        }
        // round 517: a Claude Code (Agent SDK) stream-json assistant line names its API call by its message.id,
        // which the CLI repeats on each line it splits one message's content over
        if ("assistant".equals(type) && envelopeId != null) {
            return envelopeId;
        }
        // round 519: its wrapped message_start names the same API call by the same id
        if (CLAUDE_STREAM_EVENT.equals(type) && streamEventMessageId != null) {
            return streamEventMessageId;
        }
        return measured;
    }

    /** The document is one of Claude Code's stream-json lines that report usage: an assistant, stream_event or result line. */
    private boolean claudeLine() {
        return "assistant".equals(type) || CLAUDE_STREAM_EVENT.equals(type) || "result".equals(type);
    }

    /**
     * The document is Claude Code's {@code compact_boundary} line: the conversation was summarised by a model call
     * whose usage only the process's next result counts (round 545).
     */
    private boolean compactBoundary() {
        return "system".equals(type) && "compact_boundary".equals(subtype);
    }

    /** The document is a Pydantic AI {@code ModelResponse} with its usage and its {@code provider_response_id}. */
    private boolean modelResponse() {
        return providerResponseId != null && modelResponseKind && modelResponseParts && usages.containsKey("usage");
    }

    private String call() {
        if (customId != null) {
            return "custom_id:" + customId + "#" + (callId() == null ? "" : callId());
        }
        if (batchKey != null && usages.containsKey(GEMINI_BATCH_LINE)) {
            return "key:" + batchKey + "#" + (batchResponseId == null ? "" : batchResponseId);
        }
        return index == null ? null : "index:" + index;
    }

    /** The id the provider gave a batch line's call: OpenAI's line {@code id}, Anthropic's result message's. */
    private String callId() {
        return lineId != null ? lineId : resultMessageId;
    }

    /**
     * Whether the string just read names the answering model: the top-level {@code model} (OpenAI,
     * Anthropic, Ollama, Groq...) or Gemini's {@code modelVersion}, or the {@code model} of the
     * envelope a streamed event wraps (Anthropic's {@code message_start} {@code message.model}, an
     * OpenAI Responses event's {@code response.model}), or of Spring AI's {@code ChatResponse}
     * metadata ({@code metadata.model}, beside its {@code metadata.usage}). Never deeper: a model's own JSON (tool
     * arguments, a JSON-mode answer) sits inside strings or arrays at other places.
     */
    private boolean isModelField() {
        if (depth == 1 && objectAt[1]) {
            return "model".equals(fieldAt[1]) || "modelVersion".equals(fieldAt[1]) || "model_version".equals(fieldAt[1]);
        }
        return depth == 2 && objectAt[1] && objectAt[2] && "model".equals(fieldAt[2])
                && ("message".equals(fieldAt[1]) || "response".equals(fieldAt[1]) || "metadata".equals(fieldAt[1]));
    }

    private void count(JsonToken t) throws IOException {
        String name = counterName();
        if (name == null) {
            return;
        }
        long value;
        if (t == JsonToken.VALUE_NUMBER_INT) {
            // a count past 64 bits is the most a long holds: settlement charges the ledger's largest
            // amount for it, never drops it for the estimate
            value = parser.getNumberType() == JsonParser.NumberType.BIG_INTEGER
                    ? (parser.getText().startsWith("-") ? -1 : Long.MAX_VALUE) : parser.getLongValue();
        } else {
            // 5000.0 is the same count; a fraction is rounded up, never down; past 64 bits saturated
            double d = Math.ceil(parser.getDoubleValue());
            if (Double.isNaN(d)) {
                return;
            }
            value = d >= Long.MAX_VALUE ? Long.MAX_VALUE : (long) d;
        }
        if (value >= 0) {
            counted(value);
        }
    }

    /** Records a count read where {@link #counterName} names it. */
    private void counted(long value) {
        String name = counterName();
        if (name.isEmpty()) {
            usages.computeIfAbsent("", k -> new HashMap<>()).put(ROOT_ALIASES.getOrDefault(fieldAt[1], fieldAt[1]), value);
        } else if (LETTA_USAGE.equals(name) && collecting == null) {
            lettaCounts.put(fieldAt[1], value);
        } else if (RUN_COUNTER.equals(name) && collecting == null) {
            usages.computeIfAbsent(RUN_DATA, k -> new HashMap<>()).put(RUN_TOTAL, value);
        } else if (RESULTS_COUNTERS.containsValue(name) && collecting == null) {
            // a counter of the top-level results list (counterName's answer outside any usage object)
            usages.computeIfAbsent("", k -> new HashMap<>()).merge(name, value, JsonDocumentScanner::saturatedSum);
        } else if (iteration != null && name.startsWith(ITERATION_COUNTERS)) {
            if (iteration.size() < MAX_COUNTERS || iteration.containsKey(name)) {
                iteration.put(name, value);
            }
        } else if (BEST_OF_GENERATED.equals(name) || appModelCounter()) {
            // every sequence's, every model's (APP_MODELS), added up
            counters.merge(name, value, JsonDocumentScanner::saturatedSum);
        } else if (counters.size() < MAX_COUNTERS || counters.containsKey(name)) {
            counters.put(name, value);
        }
    }

    /** The number just read is one of a model's counts in a DashScope application's {@code usage.models[]}. */
    private boolean appModelCounter() {
        return "usage".equals(collecting) && depth == collectDepth + 2 && depth <= TRACKED_DEPTH
                && !objectAt[collectDepth + 1] && objectAt[depth] && APP_MODELS.equals(fieldAt[collectDepth])
                && APP_MODEL_COUNTERS.contains(fieldAt[depth]);
    }

    /**
     * Counters kept per usage object: every provider's fit many times over; an answer naming millions
     * of fields in its usage must not hold them all.
     */
    static final int MAX_COUNTERS = 64;

    /**
     * The dotted field names from the root to the object just opened, an array on the way written
     * {@code []} ({@code choices[].usage}); null when a field name is not known yet.
     */
    private String objectPath() {
        return objectPath(depth);
    }

    /** Whether the object at depth 3 is an element of the top-level {@code data} list. */
    private boolean listed() {
        return depth >= 3 && objectAt[1] && !objectAt[2] && objectAt[3] && "data".equals(fieldAt[1]);
    }

    /**
     * The depth of the agent message being read ({@link #TEAM_MESSAGES}): 5 in an element of AutoGen Studio's
     * {@code data.task_result.messages}, 3 in one of a root {@code messages} list (a {@code TaskResult}'s if the
     * document turns out one, {@link #ownPlaces}); 0 outside one.
     */
    private int teamDepth() {
        if (depth >= 5 && objectAt[1] && objectAt[2] && objectAt[3] && !objectAt[4] && objectAt[5]
                && "data".equals(fieldAt[1]) && "task_result".equals(fieldAt[2]) && "messages".equals(fieldAt[3])) {
            return 5;
        }
        return depth >= 3 && !wrappedEvent && objectAt[1] && !objectAt[2] && objectAt[3] && "messages".equals(fieldAt[1])
                ? 3 : 0;
    }

    /** {@code a} with {@code b}'s counters added, name by name. */
    private static Map<String, Long> added(Map<String, Long> a, Map<String, Long> b) {
        b.forEach((name, count) -> a.merge(name, count, UsageKinds::add));
        return a;
    }

    /** {@link #objectPath()} of the object or array at {@code at}: the fields that lead to it. */
    private String objectPath(int at) {
        StringBuilder path = new StringBuilder();
        for (int d = 1; d < at; d++) {
            if (!objectAt[d]) {
                path.append("[]");
                continue;
            }
            if (fieldAt[d] == null) {
                return null;
            }
            if (d > 1) {
                path.append('.');
            }
            path.append(fieldAt[d]);
        }
        return path.toString();
    }

    /**
     * The name a number just read counts under: {@code ""} for one of the {@link #ROOT_COUNTERS}, its
     * field name in the usage object being collected, {@code nested.name} one object further in;
     * {@code null} for any other number.
     */
    private String counterName() {
        if (collecting != null) {
            if (depth == collectDepth && fieldAt[depth] != null) {
                return fieldAt[depth];
            }
            if (depth == collectDepth + 1 && nested != null && objectAt[depth] && fieldAt[depth] != null) {
                return nested + '.' + fieldAt[depth];
            }
            if (depth == collectDepth + 2 && iteration != null && objectAt[depth] && fieldAt[depth] != null) {
                return ITERATION_COUNTERS + fieldAt[depth];
            }
            if (appModelCounter()) {
                return fieldAt[depth];
            }
            if (depth == collectDepth + 2 && "details".equals(collecting) && !objectAt[collectDepth + 1]
                    && objectAt[depth] && "best_of_sequences".equals(fieldAt[collectDepth])
                    && "generated_tokens".equals(fieldAt[depth])) {
                return BEST_OF_GENERATED;
            }
            return null;
        }
        if (depth == 1 && objectAt[1] && ROOT_COUNTERS.contains(fieldAt[1])) {
            return "";
        }
        if (depth == 1 && objectAt[1] && LETTA_FIELDS.contains(fieldAt[1])) {
            return LETTA_USAGE;
        }
        if (depth == 2 && objectAt[1] && objectAt[2] && RUN_DATA.equals(fieldAt[1]) && RUN_TOTAL.equals(fieldAt[2])) {
            return RUN_COUNTER;
        }
        return depth == 3 && objectAt[1] && "results".equals(fieldAt[1]) && !objectAt[2] && objectAt[3]
                ? RESULTS_COUNTERS.get(fieldAt[3]) : null;
    }

    /** {@link #counterName}'s name for {@link #RUN_TOTAL} in {@link #RUN_DATA}. */
    private static final String RUN_COUNTER = RUN_DATA + "." + RUN_TOTAL;

    private static long saturatedSum(long a, long b) {
        long sum = a + b;
        return sum < 0 ? Long.MAX_VALUE : sum;
    }
}
