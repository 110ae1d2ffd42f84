package io.tokenquota.servlet;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

/**
 * Round 483: a chunk's bytes are an InvokeModel event only when written exactly as a model family Bedrock serves
 * writes its events; anything else a Bedrock agent's model wrote is its answer's text.
 */
class InvokeModelEventsTest {
    private static final String METRICS = "\"amazon-bedrock-invocationMetrics\":{\"inputTokenCount\":10,"
            + "\"outputTokenCount\":5,\"invocationLatency\":900,\"firstByteLatency\":200}";

    @Test
    void eachFamilysEventsAreRecognized() {
        String[] events = {
            "{\"type\":\"message_start\",\"message\":{\"id\":\"m\",\"usage\":{\"input_tokens\":10,\"output_tokens\":1}}}",
            "{\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"Hi\"}}",
            "{\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\"},\"usage\":{\"output_tokens\":5}}",
            "{\"type\":\"message_stop\"," + METRICS + "}",
            "{\"completion\":\" Hi\",\"stop_reason\":null,\"stop\":null}",
            "{\"is_finished\":false,\"event_type\":\"text-generation\",\"text\":\"Hi\"}",
            "{\"is_finished\":true,\"event_type\":\"stream-end\",\"response\":{\"text\":\"Hi\",\"chat_history\":[]},"
                    + "\"finish_reason\":\"COMPLETE\"," + METRICS + "}",
            "{\"generations\":[{\"text\":\"Hi\"}],\"id\":\"x\",\"prompt\":\"p\"}",
            "{\"text\":\"Hi\",\"is_finished\":false}",
            "{\"generation\":\"Hi\",\"prompt_token_count\":10,\"generation_token_count\":1,\"stop_reason\":null}",
            "{\"outputText\":\"Hi\",\"index\":0,\"totalOutputTextTokenCount\":1,\"completionReason\":null,"
                    + "\"inputTextTokenCount\":10}",
            "{\"outputs\":[{\"text\":\"Hi\",\"stop_reason\":\"stop\"}]," + METRICS + "}",
            "{\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"m\","
                    + "\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hi\"}}],\"usage\":null}",
            "{\"choices\":[{\"text\":\"Hi\",\"stop_reason\":null}]}",
            "{\"contentBlockDelta\":{\"delta\":{\"text\":\"Hi\"},\"contentBlockIndex\":0}}",
            "{\"metadata\":{\"usage\":{\"inputTokens\":10,\"outputTokens\":5}}," + METRICS + "}",
        };
        for (String e : events) {
            assertTrue(InvokeModelEvents.recognized(e), e);
        }
    }

    @Test
    void anAgentsOwnJsonIsNoEvent() {
        String[] texts = {
            "{\"usage\":{\"inputTokens\":1,\"outputTokens\":1}}",
            "{\"order\":\"48213\",\"part\":0,\"history\":\"Once upon a time\"}",
            "{\"order\":\"48213\",\"history\":\"Once\"," + METRICS + "}",
            "{" + METRICS + "}",
            // a family's discriminator beside a field of the agent's own
            "{\"type\":\"message_delta\",\"usage\":{\"output_tokens\":1},\"history\":\"Once upon a time\"}",
            "{\"generation\":\"Hi\",\"history\":\"Once upon a time\"}",
            "{\"is_finished\":true,\"event_type\":\"stream-end\",\"history\":\"Once\"}",
            "{\"contentBlockDelta\":{\"delta\":{\"text\":\"Hi\"}},\"metadata\":{}}",
            // an Anthropic message whole is no stream event, nor is an unknown type
            "{\"id\":\"m\",\"type\":\"message\",\"content\":[{\"type\":\"text\",\"text\":\"Hi\"}],\"usage\":{}}",
            "{\"type\":\"usage\",\"usage\":{\"output_tokens\":1}}",
            "{\"type\":\"message_stop\",\"type\":\"message_stop\"}",
            "{}",
            "{\"type\":\"message_stop\"} {\"type\":\"message_stop\"}",
            "[{\"type\":\"message_stop\"}]",
            "Your order has shipped.",
        };
        for (String t : texts) {
            assertFalse(InvokeModelEvents.recognized(t), t);
        }
    }
}
