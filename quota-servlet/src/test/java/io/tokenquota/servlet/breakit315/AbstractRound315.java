package io.tokenquota.servlet.breakit315;

import static org.junit.jupiter.api.Assertions.assertEquals;

import io.tokenquota.servlet.testing.BackgroundResponses;
import io.tokenquota.servlet.testing.CannedProvider;
import io.tokenquota.servlet.testing.CannedProviderRound;
import io.tokenquota.servlet.testing.ResponsesApi;
import java.util.UUID;
import org.junit.jupiter.api.Test;

/**
 * Round 315 of issue 11: the self-hosted servers and providers least covered by rounds 1-314, each in the
 * answer shape its own documentation or source gives.
 *
 * <ul>
 *   <li>LM Studio's native v1 REST API ({@code POST /api/v1/chat}, LM Studio 0.4.0; lmstudio-ai/docs
 *       {@code 1_developer/2_rest/chat.md} and {@code streaming-events.md}): the call's counts are in
 *       {@code stats} ({@code input_tokens}, which "includes formatting, tool definitions, and prior messages
 *       in the thread", and {@code total_output_tokens}), and a stream ends with {@code event: chat.end}
 *       whose {@code result} is that same body. Not read: the call is charged its estimate.</li>
 *   <li>Hugging Face TGI's {@code /generate_stream} (huggingface/text-generation-inference
 *       {@code router/src/lib.rs} {@code StreamDetails}, {@code router/src/server.rs}): the last event's
 *       {@code details} carries {@code input_length} beside {@code generated_tokens}, the very figure TGI's own
 *       {@code /v1/completions} stream reports as {@code usage.prompt_tokens}. The filter reads only
 *       {@code generated_tokens} and adds the request's estimated input instead.</li>
 *   <li>xAI's deferred chat completions (docs.x.ai, "Deferred Chat Completions"): {@code "deferred": true}
 *       answers {@code {"request_id": …}}; {@code GET /v1/chat/deferred-completion/{request_id}} answers
 *       {@code 202 Accepted} "with an empty response body" until the result is ready, then the chat
 *       completion with its usage, once. The polls run no model; the result's usage is the one call's.</li>
 * </ul>
 *
 * <p>Every relay here is the {@link CannedProvider}: the application passes the provider's bytes on as they
 * came (status, content type, body).
 */
abstract class AbstractRound315 extends CannedProviderRound {
    static final long INPUT = 9_000;
    static final long OUTPUT = 700;
    static final long USAGE = INPUT + OUTPUT;

    /** Only the calls that reach a model count: chats, generations, Responses created (not polls). */
    AbstractRound315() {
        super(path -> !path.contains("/deferred-completion/") && !path.matches(".*/responses/resp_[^/]+"));
    }

    // ---------------------------------------------------------------------------------------------------
    // LM Studio's native v1 REST API

    /**
     * A turn of a stored LM Studio thread (chat.md: {@code thread_id} appends to an existing thread, whose
     * prior messages the model reads again): a short new input, no {@code max_output_tokens}.
     */
    static final String LMSTUDIO_ASK = "{\"model\":\"openai/gpt-oss-20b\",\"input\":\"Now list the clauses that change the notice period.\","
            + "\"thread_id\":\"thread_46665e1bd0ca7f261ef77344c7ee4b8b969e66c417fbf443\"}";

    /** The response body of chat.md ({@code model_instance_id}, {@code output}, {@code stats}, {@code thread_id}). */
    static String lmStudioResult() {
        return "{\"model_instance_id\":\"openai/gpt-oss-20b\",\"output\":[{\"type\":\"reasoning\",\"content\":\"Need to list the clauses.\"},"
                + "{\"type\":\"message\",\"content\":\"Clauses 4.2 and 7.1 change the notice period.\"}],"
                + "\"stats\":{\"input_tokens\":" + INPUT + ",\"total_output_tokens\":" + OUTPUT + ",\"reasoning_output_tokens\":24,"
                + "\"tokens_per_second\":41.097718386623356,\"time_to_first_token_seconds\":1.367},"
                + "\"thread_id\":\"thread_46665e1bd0ca7f261ef77344c7ee4b8b969e66c417fbf443\"}";
    }

    /** streaming-events.md: named events, chat.start first and chat.end (its {@code result} the whole body) last. */
    static String lmStudioStream() {
        return "event: chat.start\ndata: {\"type\":\"chat.start\",\"model_instance_id\":\"openai/gpt-oss-20b\"}\n\n"
                + "event: prompt_processing.start\ndata: {\"type\":\"prompt_processing.start\"}\n\n"
                + "event: prompt_processing.end\ndata: {\"type\":\"prompt_processing.end\"}\n\n"
                + "event: reasoning.start\ndata: {\"type\":\"reasoning.start\"}\n\n"
                + "event: reasoning.delta\ndata: {\"type\":\"reasoning.delta\",\"content\":\"Need to list the clauses.\"}\n\n"
                + "event: reasoning.end\ndata: {\"type\":\"reasoning.end\"}\n\n"
                + "event: message.start\ndata: {\"type\":\"message.start\"}\n\n"
                + "event: message.delta\ndata: {\"type\":\"message.delta\",\"content\":\"Clauses 4.2 and 7.1 change the notice period.\"}\n\n"
                + "event: message.end\ndata: {\"type\":\"message.end\"}\n\n"
                + "event: chat.end\ndata: {\"type\":\"chat.end\",\"result\":" + lmStudioResult() + "}\n\n";
    }

    /**
     * The finding: LM Studio's native chat answer counts 9,000 tokens read (the thread) and 700 written in its
     * {@code stats}; the filter does not read them and charges the request's estimate (about 1,000).
     */
    @Test
    void anLmStudioNativeChatIsChargedTheStatsItReports() {
        String s = subject();
        provider.answer(s, "POST", "/ai/lmstudio/api/v1/chat", lmStudioResult());
        long used = post(s, "/ai/lmstudio/api/v1/chat", LMSTUDIO_ASK);
        assertEquals(1, calls.of(s));
        assertEquals(USAGE, used, "LM Studio /api/v1/chat stats: input_tokens 9,000 + total_output_tokens 700; " + ledger(s));
    }

    /** The finding, streamed: {@code chat.end}'s {@code result.stats}. */
    @Test
    void anLmStudioNativeChatStreamIsChargedTheStatsOfItsChatEnd() {
        String s = subject();
        provider.answerRaw(s, "POST", "/ai/lmstudio/api/v1/chat", 200, "text/event-stream", lmStudioStream());
        long used = post(s, "/ai/lmstudio/api/v1/chat", LMSTUDIO_ASK.replace("{\"model\"", "{\"stream\":true,\"model\""));
        assertEquals(1, calls.of(s));
        assertEquals(USAGE, used, "LM Studio chat.end result.stats: 9,000 + 700; " + ledger(s));
    }

    /**
     * Control: the same server's OpenAI-compatible endpoint (lmstudio-ai/docs
     * {@code 3_openai-compat/chat-completions.md}), the same call with its {@code usage}: charged 9,700.
     */
    @Test
    void theSameCallThroughLmStudiosOpenAiCompatibleEndpointIsChargedItsUsage() {
        String s = subject();
        provider.answer(s, "POST", "/ai/lmstudio/v1/chat/completions", "{\"id\":\"chatcmpl-lm1\",\"object\":\"chat.completion\","
                + "\"created\":1,\"model\":\"openai/gpt-oss-20b\",\"choices\":[{\"index\":0,\"logprobs\":null,\"finish_reason\":\"stop\","
                + "\"message\":{\"role\":\"assistant\",\"content\":\"Clauses 4.2 and 7.1 change the notice period.\"}}],"
                + "\"usage\":{\"prompt_tokens\":" + INPUT + ",\"completion_tokens\":" + OUTPUT + ",\"total_tokens\":" + USAGE + "},"
                + "\"stats\":{},\"system_fingerprint\":\"openai/gpt-oss-20b\"}");
        long used = post(s, "/ai/lmstudio/v1/chat/completions", "{\"model\":\"openai/gpt-oss-20b\","
                + "\"messages\":[{\"role\":\"user\",\"content\":\"Now list the clauses that change the notice period.\"}]}");
        assertEquals(USAGE, used, ledger(s));
    }

    // ---------------------------------------------------------------------------------------------------
    // Hugging Face TGI's /generate_stream

    /** A relay's question; the relay adds the retrieved contract to the prompt it sends TGI (9,000 tokens). */
    static final String TGI_ASK = "{\"inputs\":\"What does clause 7 of the contract say about notice?\","
            + "\"parameters\":{\"max_new_tokens\":1000,\"details\":true}}";

    /**
     * TGI's {@code generate_stream} events as axum writes them ({@code data:} and the JSON of
     * {@code StreamResponse}: {@code index}, {@code token}, {@code generated_text}, {@code details}); the last
     * one's {@code StreamDetails} has {@code finish_reason}, {@code generated_tokens}, {@code seed},
     * {@code input_length}.
     */
    static String tgiStream() {
        return "data:{\"index\":1,\"token\":{\"id\":5165,\"text\":\"Clause\",\"logprob\":-0.12,\"special\":false},"
                + "\"generated_text\":null,\"details\":null}\n\n"
                + "data:{\"index\":2,\"token\":{\"id\":1022,\"text\":\" 7\",\"logprob\":-0.05,\"special\":false},"
                + "\"generated_text\":null,\"details\":null}\n\n"
                + "data:{\"index\":3,\"token\":{\"id\":2,\"text\":\"</s>\",\"logprob\":-0.01,\"special\":true},"
                + "\"generated_text\":\"Clause 7\",\"details\":{\"finish_reason\":\"eos_token\",\"generated_tokens\":" + OUTPUT
                + ",\"seed\":null,\"input_length\":" + INPUT + "}}\n\n";
    }

    /**
     * The finding: TGI says it read 9,000 tokens ({@code input_length}) and wrote 700; the filter charges the
     * 700 plus the request's estimated input, and at least the estimate (about 1,000).
     */
    @Test
    void aTgiStreamIsChargedTheInputLengthItReports() {
        String s = subject();
        provider.answerRaw(s, "POST", "/ai/tgi/generate_stream", 200, "text/event-stream", tgiStream());
        long used = post(s, "/ai/tgi/generate_stream", TGI_ASK);
        assertEquals(1, calls.of(s));
        assertEquals(USAGE, used, "TGI details: input_length 9,000 + generated_tokens 700; " + ledger(s));
    }

    /**
     * Control: the same generation through TGI's own OpenAI-compatible {@code /v1/completions} stream, whose
     * last chunk ({@code CompletionFinal}, server.rs) reports {@code prompt_tokens = details.input_length}.
     */
    @Test
    void theSameGenerationThroughTgisCompletionsStreamIsChargedItsUsage() {
        String s = subject();
        provider.answerRaw(s, "POST", "/ai/tgi/v1/completions", 200, "text/event-stream",
                "data:{\"object\":\"text_completion\",\"id\":\"\",\"created\":1,\"model\":\"mistralai/Mistral-7B-Instruct-v0.2\","
                        + "\"system_fingerprint\":\"3.3.6-native\",\"choices\":[{\"index\":1,\"text\":\"Clause\",\"logprobs\":null,"
                        + "\"finish_reason\":null}]}\n\n"
                        + "data:{\"object\":\"text_completion\",\"id\":\"\",\"created\":1,\"model\":\"mistralai/Mistral-7B-Instruct-v0.2\","
                        + "\"system_fingerprint\":\"3.3.6-native\",\"choices\":[{\"index\":2,\"text\":\" 7\",\"logprobs\":null,"
                        + "\"finish_reason\":\"eos_token\"}],\"usage\":{\"prompt_tokens\":" + INPUT + ",\"completion_tokens\":" + OUTPUT
                        + ",\"total_tokens\":" + USAGE + "}}\n\n"
                        + "data: [DONE]\n\n");
        long used = post(s, "/ai/tgi/v1/completions", "{\"model\":\"tgi\",\"prompt\":\"What does clause 7 of the contract say about notice?\","
                + "\"max_tokens\":1000,\"stream\":true}");
        assertEquals(USAGE, used, ledger(s));
    }

    // ---------------------------------------------------------------------------------------------------
    // xAI's deferred chat completions

    static final String XAI_ASK = "{\"model\":\"grok-4\",\"messages\":[{\"role\":\"user\",\"content\":\"Review the contract's notice clauses.\"}],"
            + "\"max_tokens\":1000,\"deferred\":true}";

    /** The deferred result: an xAI chat completion (docs.x.ai chat completions' response) with its usage. */
    static String xaiResult(String requestId) {
        return "{\"id\":\"" + requestId + "\",\"object\":\"chat.completion\",\"created\":1,\"model\":\"grok-4\",\"choices\":[{\"index\":0,"
                + "\"message\":{\"role\":\"assistant\",\"content\":\"Clauses 4.2 and 7.1.\",\"refusal\":null},\"finish_reason\":\"stop\"}],"
                + "\"usage\":{\"prompt_tokens\":" + INPUT + ",\"completion_tokens\":" + OUTPUT + ",\"total_tokens\":" + USAGE + ","
                + "\"prompt_tokens_details\":{\"text_tokens\":" + INPUT + ",\"audio_tokens\":0,\"image_tokens\":0,\"cached_tokens\":0},"
                + "\"completion_tokens_details\":{\"reasoning_tokens\":0,\"audio_tokens\":0,\"accepted_prediction_tokens\":0,"
                + "\"rejected_prediction_tokens\":0},\"num_sources_used\":0},\"system_fingerprint\":\"fp_1\"}";
    }

    /**
     * The finding: one deferred xAI call, polled once before it is ready (202, empty body) and read once
     * when it is. The poll runs no model, and the call is one call of 9,700 tokens: the filter charges the
     * creation its estimate, the empty 202 poll a GET's estimate, and the result its whole usage again.
     */
    @Test
    void aDeferredXaiCompletionIsChargedItsUsageOnceAndItsPendingPollNothing() {
        String s = subject();
        String requestId = UUID.randomUUID().toString();
        String poll = "/ai/xai/v1/chat/deferred-completion/" + requestId;
        provider.answer(s, "POST", "/ai/xai/v1/chat/completions", "{\"request_id\":\"" + requestId + "\"}");
        long created = post(s, "/ai/xai/v1/chat/completions", XAI_ASK);
        provider.answerRaw(s, "GET", poll, 202, null, null);
        long afterPoll = get(s, poll, 202);
        provider.answer(s, "GET", poll, xaiResult(requestId));
        long afterResult = get(s, poll, 200);
        assertEquals(1, calls.of(s));
        assertEquals(USAGE, afterResult, "creation " + created + ", after the pending poll " + afterPoll
                + ", after the result " + afterResult + " (one call of 9,700); " + ledger(s));
    }

    /**
     * Control: OpenAI's background Response, created queued, polled in progress and read completed, is charged
     * its usage once (9,700), its poll nothing.
     */
    @Test
    void anOpenAiBackgroundResponsePolledAndReadIsChargedItsUsageOnce() {
        String s = subject();
        String rid = "resp_" + UUID.randomUUID().toString().replace("-", "");
        String read = "/ai/openai/v1/responses/" + rid;
        provider.answer(s, "POST", "/ai/openai/v1/responses", BackgroundResponses.queued(rid));
        long created = post(s, "/ai/openai/v1/responses", "{\"model\":\"o3-pro\",\"input\":\"Review the contract's notice clauses.\","
                + "\"background\":true,\"max_output_tokens\":2000}");
        provider.answer(s, "GET", read, ResponsesApi.o3Pro(rid, "in_progress", true, 2000, "null", null));
        long afterPoll = get(s, read, 200);
        provider.answer(s, "GET", read, BackgroundResponses.completed(rid, BackgroundResponses.usage(USAGE - 6000)));
        long afterResult = get(s, read, 200);
        assertEquals(1, calls.of(s));
        assertEquals(created, afterPoll, "the poll of an in-progress Response; " + ledger(s));
        assertEquals(USAGE, afterResult, "creation " + created + ", after the result " + afterResult + "; " + ledger(s));
    }
}
