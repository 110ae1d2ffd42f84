package io.tokenquota.servlet.breakit319;

import static org.junit.jupiter.api.Assertions.assertEquals;

import io.tokenquota.servlet.testing.CannedProvider;
import io.tokenquota.servlet.testing.CannedProviderRound;
import java.util.UUID;
import org.junit.jupiter.api.Test;

/**
 * Round 319 of issue 11: the jobs a provider runs on its own, after round 315 taught the filter xAI's deferred
 * chat completion (docs.x.ai, "Deferred Chat Completions": {@code "deferred": true} answered
 * {@code {"request_id": …}}, {@code GET /v1/chat/deferred-completion/{request_id}} answering {@code 202} with an
 * empty body until the result, a chat completion with its usage, is ready).
 *
 * <p>The relay is a multi-provider gateway (the {@link CannedProvider}: each provider's bytes passed on as they
 * came) with xAI under {@code /ai/xai/v1} and Z.ai (Zhipu BigModel, {@code https://open.bigmodel.cn/api/paas/v4})
 * under {@code /ai/zai/api/paas/v4}. Z.ai's shapes are those of its own SDK (zai-org/z-ai-sdk-python:
 * {@code api_resource/chat/completions.py} sends the client's {@code request_id} in the body of
 * {@code POST /chat/completions}, {@code types/chat/chat_completion.py}'s {@code Completion} answers it back
 * beside {@code id}, {@code choices} and {@code usage}; {@code api_resource/chat/async_completions.py} posts
 * {@code /async/chat/completions}, answered {@code AsyncTaskStatus} {@code {id, request_id, model, task_status}},
 * and reads {@code GET /async-result/{id}}, answered {@code AsyncTaskStatus} until the {@code AsyncCompletion}
 * {@code {id, request_id, model, task_status, choices, usage}} is ready) and of docs.bigmodel.cn
 * ("对话补全异步", "查询异步结果": {@code task_status} {@code PROCESSING}, {@code SUCCESS}, {@code FAIL}).
 */
abstract class AbstractRound319 extends CannedProviderRound {
    /** Only the calls that reach a model count: chat completions created (sync, deferred, async), not reads. */
    AbstractRound319() {
        super(path -> !path.contains("/deferred-completion/") && !path.contains("/async-result/"));
    }

    // ---------------------------------------------------------------------------------------------------
    // An xAI deferred completion's figure taken over by another provider's answer naming the same request_id

    static final long XAI_INPUT = 5_400;
    static final long XAI_OUTPUT = 600;
    static final long XAI_USAGE = XAI_INPUT + XAI_OUTPUT;
    static final long ZAI_INPUT = 5_300;
    static final long ZAI_OUTPUT = 700;
    static final long ZAI_USAGE = ZAI_INPUT + ZAI_OUTPUT;

    /** docs.x.ai, "Deferred Chat Completions": a chat completion request with {@code "deferred": true}. */
    static final String XAI_ASK = "{\"model\":\"grok-4\",\"messages\":[{\"role\":\"user\",\"content\":\"Review the contract's notice clauses.\"}],"
            + "\"max_tokens\":1000,\"deferred\":true}";

    /** The deferred result: an xAI chat completion (docs.x.ai chat completions' response, as round 315 sends it). */
    static String xaiResult(String requestId) {
        return "{\"id\":\"" + requestId + "\",\"object\":\"chat.completion\",\"created\":1,\"model\":\"grok-4\",\"choices\":[{\"index\":0,"
                + "\"message\":{\"role\":\"assistant\",\"content\":\"Clauses 4.2 and 7.1.\",\"refusal\":null},\"finish_reason\":\"stop\"}],"
                + "\"usage\":{\"prompt_tokens\":" + XAI_INPUT + ",\"completion_tokens\":" + XAI_OUTPUT + ",\"total_tokens\":" + XAI_USAGE + ","
                + "\"prompt_tokens_details\":{\"text_tokens\":" + XAI_INPUT + ",\"audio_tokens\":0,\"image_tokens\":0,\"cached_tokens\":0},"
                + "\"completion_tokens_details\":{\"reasoning_tokens\":0,\"audio_tokens\":0,\"accepted_prediction_tokens\":0,"
                + "\"rejected_prediction_tokens\":0},\"num_sources_used\":0},\"system_fingerprint\":\"fp_1\"}";
    }

    /**
     * A Z.ai chat completion request as its SDK writes it ({@code request_id} is the client's: "Request
     * identifier", sent in the body), with {@code "deferred": true} beside it, a field Z.ai does not know and
     * passes over (as an OpenAI-compatible gateway passes a client's extra fields on).
     */
    static String zaiAsk(String requestId) {
        return "{\"model\":\"glm-4-plus\",\"request_id\":\"" + requestId + "\",\"deferred\":true,"
                + "\"messages\":[{\"role\":\"user\",\"content\":\"Summarise the termination clauses.\"}],\"max_tokens\":1000}";
    }

    /** Z.ai's {@code Completion} (chat_completion.py): {@code model, created, choices, request_id, id, usage}. */
    static String zaiResult(String requestId) {
        return "{\"model\":\"glm-4-plus\",\"created\":1735000000,\"choices\":[{\"index\":0,\"finish_reason\":\"stop\","
                + "\"message\":{\"role\":\"assistant\",\"content\":\"Clauses 9.1 to 9.4 govern termination.\"}}],"
                + "\"request_id\":\"" + requestId + "\",\"id\":\"20241224101010a1b2c3d4e5f6\","
                + "\"usage\":{\"prompt_tokens\":" + ZAI_INPUT + ",\"completion_tokens\":" + ZAI_OUTPUT + ",\"total_tokens\":" + ZAI_USAGE + "}}";
    }

    /**
     * Finding: two model calls, xAI's deferred one (6,000 tokens) and a Z.ai chat completion (6,000 tokens),
     * cost 12,000. The Z.ai request names the xAI job's {@code request_id} as its own (Z.ai takes the client's
     * {@code request_id} and answers it back) and says {@code "deferred": true}: the filter takes it for a new
     * deferred creation under that id and starts the job's figure afresh at the Z.ai call's 6,000, so the xAI
     * result is charged only what its 6,000 passes 6,000: nothing. The xAI call costs its creation's estimate.
     */
    @Test
    void aDeferredXaiCompletionIsNotPaidByAnotherProvidersCallAnsweredUnderItsRequestId() {
        String s = subject();
        String requestId = UUID.randomUUID().toString();
        String read = "/ai/xai/v1/chat/deferred-completion/" + requestId;
        provider.answer(s, "POST", "/ai/xai/v1/chat/completions", "{\"request_id\":\"" + requestId + "\"}");
        long created = post(s, "/ai/xai/v1/chat/completions", XAI_ASK);
        provider.answer(s, "POST", "/ai/zai/api/paas/v4/chat/completions", zaiResult(requestId));
        long afterZai = post(s, "/ai/zai/api/paas/v4/chat/completions", zaiAsk(requestId));
        provider.answer(s, "GET", read, xaiResult(requestId));
        long afterResult = get(s, read, 200);
        assertEquals(2, calls.of(s));
        assertEquals(XAI_USAGE + ZAI_USAGE, afterResult, "xAI creation " + created + ", after the Z.ai call " + afterZai
                + ", after the xAI result " + afterResult + " (two calls, 6,000 + 6,000); " + ledger(s));
    }

    /**
     * Control: the same two calls, the Z.ai one under a {@code request_id} of its own (a fresh trace id, as a
     * client gives each call): 12,000.
     */
    @Test
    void aDeferredXaiCompletionBesideAZaiCallUnderItsOwnRequestIdIsChargedBothUsages() {
        String s = subject();
        String requestId = UUID.randomUUID().toString();
        String own = UUID.randomUUID().toString();
        String read = "/ai/xai/v1/chat/deferred-completion/" + requestId;
        provider.answer(s, "POST", "/ai/xai/v1/chat/completions", "{\"request_id\":\"" + requestId + "\"}");
        long created = post(s, "/ai/xai/v1/chat/completions", XAI_ASK);
        provider.answer(s, "POST", "/ai/zai/api/paas/v4/chat/completions", zaiResult(own));
        long afterZai = post(s, "/ai/zai/api/paas/v4/chat/completions", zaiAsk(own));
        provider.answer(s, "GET", read, xaiResult(requestId));
        long afterResult = get(s, read, 200);
        assertEquals(2, calls.of(s));
        assertEquals(XAI_USAGE + ZAI_USAGE, afterResult, "xAI creation " + created + ", after the Z.ai call " + afterZai
                + ", after the xAI result " + afterResult + "; " + ledger(s));
    }

    // ---------------------------------------------------------------------------------------------------
    // Z.ai's asynchronous chat completion: a job the provider runs on its own

    static final long INPUT = 9_000;
    static final long OUTPUT = 700;
    static final long USAGE = INPUT + OUTPUT;

    static final String ZAI_ASYNC_ASK = "{\"model\":\"glm-4-plus\",\"messages\":[{\"role\":\"user\","
            + "\"content\":\"Review the contract's notice clauses.\"}],\"max_tokens\":1000}";

    /** {@code AsyncTaskStatus} (async_chat_completion.py): the creation's answer and a pending read's. */
    static String zaiTaskStatus(String taskId, String requestId, String status) {
        return "{\"id\":\"" + taskId + "\",\"request_id\":\"" + requestId + "\",\"model\":\"glm-4-plus\",\"task_status\":\"" + status + "\"}";
    }

    /** {@code AsyncCompletion} (async_chat_completion.py): the finished task's read, with its usage. */
    static String zaiAsyncResult(String taskId, String requestId) {
        return "{\"id\":\"" + taskId + "\",\"request_id\":\"" + requestId + "\",\"model\":\"glm-4-plus\",\"task_status\":\"SUCCESS\","
                + "\"choices\":[{\"index\":0,\"finish_reason\":\"stop\",\"message\":{\"role\":\"assistant\","
                + "\"content\":\"Clauses 4.2 and 7.1 change the notice period.\"}}],"
                + "\"usage\":{\"prompt_tokens\":" + INPUT + ",\"completion_tokens\":" + OUTPUT + ",\"total_tokens\":" + USAGE + "}}";
    }

    /**
     * Finding: one Z.ai asynchronous chat completion, created, polled once while {@code PROCESSING} and read
     * once {@code SUCCESS}. The model runs once at Z.ai (9,700 tokens); the poll runs none. The filter charges
     * the creation its estimate, the poll a read's estimate, and the result its whole usage again.
     */
    @Test
    void aZaiAsyncChatCompletionIsChargedItsUsageOnceAndItsPendingPollNothing() {
        String s = subject();
        String taskId = "1016-" + Math.abs(UUID.randomUUID().getMostSignificantBits());
        String requestId = UUID.randomUUID().toString();
        String read = "/ai/zai/api/paas/v4/async-result/" + taskId;
        provider.answer(s, "POST", "/ai/zai/api/paas/v4/async/chat/completions", zaiTaskStatus(taskId, requestId, "PROCESSING"));
        long created = post(s, "/ai/zai/api/paas/v4/async/chat/completions", ZAI_ASYNC_ASK);
        provider.answer(s, "GET", read, zaiTaskStatus(taskId, requestId, "PROCESSING"));
        long afterPoll = get(s, read, 200);
        provider.answer(s, "GET", read, zaiAsyncResult(taskId, requestId));
        long afterResult = get(s, read, 200);
        assertEquals(1, calls.of(s));
        assertEquals(USAGE, afterResult, "creation " + created + ", after the PROCESSING poll " + afterPoll
                + ", after the SUCCESS read " + afterResult + " (one call of 9,700); " + ledger(s));
    }

    /** Control: the same call through Z.ai's synchronous chat completions, answered with its usage: 9,700. */
    @Test
    void theSameCallThroughZaisChatCompletionsIsChargedItsUsage() {
        String s = subject();
        String requestId = UUID.randomUUID().toString();
        provider.answer(s, "POST", "/ai/zai/api/paas/v4/chat/completions", "{\"model\":\"glm-4-plus\",\"created\":1735000000,"
                + "\"choices\":[{\"index\":0,\"finish_reason\":\"stop\",\"message\":{\"role\":\"assistant\","
                + "\"content\":\"Clauses 4.2 and 7.1 change the notice period.\"}}],\"request_id\":\"" + requestId + "\","
                + "\"id\":\"20241224101010a1b2c3d4e5f6\",\"usage\":{\"prompt_tokens\":" + INPUT + ",\"completion_tokens\":" + OUTPUT
                + ",\"total_tokens\":" + USAGE + "}}");
        long used = post(s, "/ai/zai/api/paas/v4/chat/completions", ZAI_ASYNC_ASK);
        assertEquals(1, calls.of(s));
        assertEquals(USAGE, used, ledger(s));
    }
}
