package io.tokenquota.servlet.testing;

/**
 * The long o4-mini chat completion of the money rounds (299, 306, 313, 316): a developer and a user message asking
 * for a database migration plan, answered whole with a 12,000-token report.
 *
 * <p>The answer is OpenAI's chat completions' {@code chat.completion} with {@code usage}
 * (platform.openai.com/docs/api-reference/chat/object; {@code completion_tokens_details.reasoning_tokens} as
 * o-series models report it): {@value #PROMPT} + {@value #COMPLETION} tokens, the completion o-series reasoning
 * plus the text. Served by a {@link HeldChatModel}, a call of a subject the test holds waits in the model until
 * the test releases it (a long reasoning call).
 *
 * <p>The call names no output budget ({@link #callWithoutBudget()}): {@code model} and {@code messages} only, as
 * the API reference's "Create chat completion" example (platform.openai.com/docs/api-reference/chat/create, where
 * {@code max_completion_tokens} is optional) and as the official SDKs send a {@code ChatCompletionCreateParams}
 * built with {@code model} and {@code addUserMessage} alone (openai-java's README example); or it names one
 * ({@link #callWithBudget(long)}: {@code max_completion_tokens}, the name o-series models take).
 */
public final class LongReasoningCall {
    public static final long PROMPT = 420;
    /** A long answer: 11,580 completion tokens (o-series reasoning plus the text). */
    public static final long COMPLETION = 11_580;
    /** The call's usage as the answer reports it: 12,000 tokens. */
    public static final long CALL = PROMPT + COMPLETION;

    private static final String MESSAGES = "{\"model\":\"o4-mini\",\"messages\":[{\"role\":\"developer\","
            + "\"content\":\"You are a senior database engineer.\"},{\"role\":\"user\",\"content\":\"Plan the migration"
            + " of our 40-table MySQL 5.7 schema to PostgreSQL 16, step by step, with the risks of each step.\"}]";

    private LongReasoningCall() {}

    /** The answer, {@code "id": id} (each round its own, as {@code chatcmpl-299}). */
    public static String completion(String id) {
        return "{\"id\":\"" + id + "\",\"object\":\"chat.completion\",\"created\":1764583200,"
                + "\"model\":\"o4-mini-2025-04-16\",\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\","
                + "\"content\":\"Here is the migration plan, step by step.\",\"refusal\":null,\"annotations\":[]},"
                + "\"finish_reason\":\"stop\"}],\"usage\":{\"prompt_tokens\":" + PROMPT
                + ",\"completion_tokens\":" + COMPLETION + ",\"total_tokens\":" + CALL
                + ",\"prompt_tokens_details\":{\"cached_tokens\":0,\"audio_tokens\":0},\"completion_tokens_details\":"
                + "{\"reasoning_tokens\":10240,\"audio_tokens\":0,\"accepted_prediction_tokens\":0,"
                + "\"rejected_prediction_tokens\":0}},\"service_tier\":\"default\",\"system_fingerprint\":null}";
    }

    /** The call naming no output budget. */
    public static String callWithoutBudget() {
        return MESSAGES + "}";
    }

    /** The call with {@code max_completion_tokens} {@code max}. */
    public static String callWithBudget(long max) {
        return MESSAGES + ",\"max_completion_tokens\":" + max + "}";
    }
}
