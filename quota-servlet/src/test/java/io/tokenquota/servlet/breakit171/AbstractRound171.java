package io.tokenquota.servlet.breakit171;

import io.tokenquota.ModelWeights;
import io.tokenquota.servlet.testing.RelayedCalls;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * Round 171 of issue 11 ("no model call goes unpaid"): two real model calls made with the same prompt
 * and the same output budget (two drafts to choose from, both cut at the budget) report the very same
 * counts. Each names its own call by its own id. An endpoint returns both calls' answers in one body,
 * whole or streamed, in the providers' own formats. {@code POST /ai/relay/<scenario>} writes the
 * scenario's pieces as they are and counts the model calls it stands for. Every model is charged one
 * unit a token.
 */
abstract class AbstractRound171 extends RelayedCalls {
    @Override
    protected ModelWeights weights() {
        return ONE_UNIT_A_TOKEN;
    }

    /** What the user asks: two drafts of one reply, to choose from. */
    @Override
    protected String task() {
        return "{\"task\":\"Draft two alternative replies to the customer's complaint about the late delivery.\"}";
    }

    // both drafts: the same prompt (3,000 tokens) and both cut at max tokens (800)
    static final long IN = 3_000;
    static final long OUT = 800;
    static final long ONE = IN + OUT;
    static final String DRAFT_A = "Dear Ms. Keller, thank you for your patience. Your parcel left our warehouse late because";
    static final String DRAFT_B = "Hello Ms. Keller, we are sorry that your order arrived four days after the promised date";

    // ---------------------------------------------------------------- OpenAI Responses API, whole

    static String response(String id, String msgId, String text) {
        return "{\"id\":\"" + id + "\",\"object\":\"response\",\"created_at\":1741476542,\"status\":\"incomplete\","
                + "\"error\":null,\"incomplete_details\":{\"reason\":\"max_output_tokens\"},\"instructions\":null,"
                + "\"max_output_tokens\":800,\"model\":\"gpt-4.1-2025-04-14\",\"output\":[{\"type\":\"message\",\"id\":\"" + msgId
                + "\",\"status\":\"incomplete\",\"role\":\"assistant\",\"content\":[{\"type\":\"output_text\",\"text\":\"" + text
                + "\",\"annotations\":[]}]}],\"parallel_tool_calls\":true,\"previous_response_id\":null,\"store\":true,"
                + "\"temperature\":1.0,\"text\":{\"format\":{\"type\":\"text\"}},\"tool_choice\":\"auto\",\"tools\":[],"
                + "\"top_p\":1.0,\"truncation\":\"disabled\",\"usage\":{\"input_tokens\":" + IN
                + ",\"input_tokens_details\":{\"cached_tokens\":0},\"output_tokens\":" + OUT
                + ",\"output_tokens_details\":{\"reasoning_tokens\":0},\"total_tokens\":" + ONE + "},\"user\":null,\"metadata\":{}}";
    }

    // ---------------------------------------------------------------- OpenAI chat completions

    static String usage() {
        return "{\"prompt_tokens\":" + IN + ",\"completion_tokens\":" + OUT + ",\"total_tokens\":" + ONE
                + ",\"prompt_tokens_details\":{\"cached_tokens\":0,\"audio_tokens\":0},\"completion_tokens_details\":"
                + "{\"reasoning_tokens\":0,\"audio_tokens\":0,\"accepted_prediction_tokens\":0,\"rejected_prediction_tokens\":0}}";
    }

    static String chat(String id, String text) {
        return "{\"id\":\"" + id + "\",\"object\":\"chat.completion\",\"created\":1741569952,\"model\":\"gpt-4o-2024-08-06\","
                + "\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\",\"content\":\"" + text + "\",\"refusal\":null,"
                + "\"annotations\":[]},\"logprobs\":null,\"finish_reason\":\"length\"}],\"usage\":" + usage()
                + ",\"service_tier\":\"default\",\"system_fingerprint\":\"fp_f9f4fb6dbf\"}";
    }

    static String chunk(String id, String delta, String finish, boolean withUsage) {
        String choices = withUsage ? "[]" : "[{\"index\":0,\"delta\":{" + (delta == null ? "" : "\"content\":\"" + delta + "\"")
                + "},\"logprobs\":null,\"finish_reason\":" + (finish == null ? "null" : "\"" + finish + "\"") + "}]";
        return "{\"id\":\"" + id + "\",\"object\":\"chat.completion.chunk\",\"created\":1741569952,\"model\":\"gpt-4o-2024-08-06\","
                + "\"service_tier\":\"default\",\"system_fingerprint\":\"fp_f9f4fb6dbf\",\"choices\":" + choices + ",\"usage\":"
                + (withUsage ? usage() : "null") + "}";
    }

    static List<String> chatStream(String id, String text) {
        List<String> out = new ArrayList<>();
        out.add(sse(null, chunk(id, "", null, false).replace("{\"content\":\"\"}", "{\"role\":\"assistant\",\"content\":\"\"}")));
        for (String w : text.split(" ")) {
            out.add(sse(null, chunk(id, w + " ", null, false)));
        }
        out.add(sse(null, chunk(id, null, "length", false)));
        out.add(sse(null, chunk(id, null, null, true)));
        return out;
    }

    // ---------------------------------------------------------------- Anthropic Messages

    static String message(String id, String text) {
        return "{\"id\":\"" + id + "\",\"type\":\"message\",\"role\":\"assistant\",\"model\":\"claude-sonnet-4-20250514\","
                + "\"content\":[{\"type\":\"text\",\"text\":\"" + text + "\"}],\"stop_reason\":\"max_tokens\",\"stop_sequence\":null,"
                + "\"usage\":{\"input_tokens\":" + IN + ",\"cache_creation_input_tokens\":0,\"cache_read_input_tokens\":0,"
                + "\"output_tokens\":" + OUT + ",\"service_tier\":\"standard\"}}";
    }

    static List<String> messageStream(String id, String text) {
        List<String> out = new ArrayList<>();
        out.add(sse("message_start", "{\"type\":\"message_start\",\"message\":{\"id\":\"" + id + "\",\"type\":\"message\","
                + "\"role\":\"assistant\",\"model\":\"claude-sonnet-4-20250514\",\"content\":[],\"stop_reason\":null,"
                + "\"stop_sequence\":null,\"usage\":{\"input_tokens\":" + IN + ",\"cache_creation_input_tokens\":0,"
                + "\"cache_read_input_tokens\":0,\"output_tokens\":1,\"service_tier\":\"standard\"}}}"));
        out.add(sse("content_block_start", "{\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}"));
        for (String w : text.split(" ")) {
            out.add(sse("content_block_delta", "{\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\","
                    + "\"text\":\"" + w + " \"}}"));
        }
        out.add(sse("content_block_stop", "{\"type\":\"content_block_stop\",\"index\":0}"));
        out.add(sse("message_delta", "{\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"max_tokens\",\"stop_sequence\":null},"
                + "\"usage\":{\"output_tokens\":" + OUT + "}}"));
        out.add(sse("message_stop", "{\"type\":\"message_stop\"}"));
        return out;
    }

    // ---------------------------------------------------------------- Cohere v2 chat, whole

    static String cohere(String id, String text) {
        return "{\"id\":\"" + id + "\",\"message\":{\"role\":\"assistant\",\"content\":[{\"type\":\"text\",\"text\":\"" + text
                + "\"}]},\"finish_reason\":\"MAX_TOKENS\",\"usage\":{\"billed_units\":{\"input_tokens\":" + IN + ",\"output_tokens\":"
                + OUT + "},\"tokens\":{\"input_tokens\":" + IN + ",\"output_tokens\":" + OUT + "}}}";
    }

    {
        String respA = response("resp_67ccd2bed1ec8190b14f964abc0542670bb6a6b452d3795b", "msg_67ccd2bf17f0819081ff3bb2cf6508e6", DRAFT_A);
        String respB = response("resp_67ccd2c0a4a48190a7b2b08c1d9e5f3a0c6d3f1e2b4a5c6d", "msg_67ccd2c0f1e08190b5d2c6e7f8a9b0c1", DRAFT_B);
        answer("responses-array", "application/json", List.of("[" + respA + "," + respB + "]"), 2);
        answer("responses-ndjson", "application/x-ndjson", List.of(respA + "\n", respB + "\n"), 2);
        String respB801 = respB.replace("\"output_tokens\":800", "\"output_tokens\":801").replace("\"total_tokens\":3800", "\"total_tokens\":3801");
        answer("responses-array-one-token-apart", "application/json", List.of("[" + respA + "," + respB801 + "]"), 2);
        answer("responses-one", "application/json", List.of(respA), 1);

        answer("chat-array", "application/json", List.of("[" + chat("chatcmpl-B9MHDbslfkBeAs8l4bebGdFOJ6PeG", DRAFT_A) + ","
                + chat("chatcmpl-B9MHEm0xKqW1PxnYQ8yTb3nZ4JrLc", DRAFT_B) + "]"), 2);
        answer("chat-stream-two", "text/event-stream", concat(concat(chatStream("chatcmpl-B9MHDbslfkBeAs8l4bebGdFOJ6PeG", DRAFT_A),
                chatStream("chatcmpl-B9MHEm0xKqW1PxnYQ8yTb3nZ4JrLc", DRAFT_B)), List.of(sse(null, "[DONE]"))), 2);
        answer("anthropic-array", "application/json", List.of("[" + message("msg_01XFDUDYJgAACzvnptvVoYEL", DRAFT_A) + ","
                + message("msg_01Hq3tRxBpRk5GwqQ3y1aN8z", DRAFT_B) + "]"), 2);
        answer("anthropic-stream-two", "text/event-stream", concat(messageStream("msg_01XFDUDYJgAACzvnptvVoYEL", DRAFT_A),
                messageStream("msg_01Hq3tRxBpRk5GwqQ3y1aN8z", DRAFT_B)), 2);
        answer("cohere-array", "application/json", List.of("[" + cohere("c14c80c3-18eb-4519-9460-6c92edd8cfb4", DRAFT_A) + ","
                + cohere("5f2a8b1e-4c3d-4e6f-9a7b-8c9d0e1f2a3b", DRAFT_B) + "]"), 2);
    }

    /** Control: one whole OpenAI Response is charged its usage, 3,800. */
    @Test
    void controlOneResponseIsChargedItsUsage() {
        charged("responses-one", ONE, "one Response 3,000 + 800");
    }

    /**
     * Free call: a "two drafts" endpoint calls OpenAI's Responses API twice with the same prompt and
     * max_output_tokens, both drafts are cut at 800 tokens, and it returns both Responses as a JSON array.
     * They have different ids (resp_…d3795b and resp_…a5c6d), different text, and the same counts. Two
     * calls ran: 7,600 tokens are owed.
     */
    @Test
    void twoResponsesWithTheSameCountsAreTwoCalls() {
        charged("responses-array", 2 * ONE, "two Responses with their own ids, 3,800 each");
    }

    /**
     * Control: the same two Responses, the second draft one token longer (801): both are charged, 7,601.
     * Only equal counts make the second call disappear.
     */
    @Test
    void controlTwoResponsesOneTokenApartAreTwoCalls() {
        charged("responses-array-one-token-apart", 2 * ONE + 1, "two Responses, 3,800 and 3,801");
    }

    /** The same two Responses written one a line (NDJSON), as a batch endpoint streams its results. 7,600 owed. */
    @Test
    void twoResponsesOneALineAreTwoCalls() {
        charged("responses-ndjson", 2 * ONE, "two Responses as NDJSON, 3,800 each");
    }

    /** Two Cohere v2 chat answers, each with its own id, same counts, as a JSON array. 7,600 owed. */
    @Test
    void twoCohereAnswersWithTheSameCountsAreTwoCalls() {
        charged("cohere-array", 2 * ONE, "two Cohere answers with their own ids, 3,800 each");
    }

    /** Control: two chat.completion objects with their own ids and the same counts, as a JSON array. 7,600 owed. */
    @Test
    void controlTwoChatCompletionsAreTwoCalls() {
        charged("chat-array", 2 * ONE, "two chat completions, 3,800 each");
    }

    /** Control: two OpenAI chat streams (include_usage) relayed one after the other, same counts. 7,600 owed. */
    @Test
    void controlTwoChatStreamsAreTwoCalls() {
        charged("chat-stream-two", 2 * ONE, "two chat streams, 3,800 each");
    }

    /** Control: two Anthropic messages with their own ids and the same counts, as a JSON array. 7,600 owed. */
    @Test
    void controlTwoAnthropicMessagesAreTwoCalls() {
        charged("anthropic-array", 2 * ONE, "two Anthropic messages, 3,800 each");
    }

    /** Control: two Anthropic message streams relayed one after the other, same counts. 7,600 owed. */
    @Test
    void controlTwoAnthropicStreamsAreTwoCalls() {
        charged("anthropic-stream-two", 2 * ONE, "two Anthropic streams, 3,800 each");
    }
}
