package io.tokenquota.servlet.breakit373;

import static org.junit.jupiter.api.Assertions.assertEquals;

import io.tokenquota.servlet.testing.ShapedAnswerRound;
import io.tokenquota.servlet.testing.TestHttp;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;
import java.io.PrintWriter;
import java.net.http.HttpResponse;
import java.util.UUID;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Round 373 of issue 11 ("no model call goes unpaid"): providers no earlier round relayed, each in the shape
 * its own reference or SDK gives, behind the filter; each answer reports 9,000 input and 700 output tokens,
 * so each call must be charged exactly 9,700.
 *
 * <p>Shapes and sources:
 * <ul>
 * <li>Reka's native Chat API ({@code POST /v1/chat}): reka-ai/reka-sdk-python, {@code src/reka/chat/client.py}
 *     ({@code create}, {@code create_stream}: the stream is read with {@code httpx_sse} as plain {@code data:}
 *     events, each one a {@code ChunkChatResponse}), {@code types/chat_response.py}, {@code types/message_response.py}
 *     ({@code responses[].message}, {@code finish_reason}), {@code types/chunk_chat_response.py} ({@code id},
 *     {@code model}, {@code responses[].chunk}, and a required {@code usage} in every chunk),
 *     {@code types/usage.py} ({@code input_tokens}, {@code output_tokens}: an Anthropic-like pair without an
 *     Anthropic event type).</li>
 * <li>SambaNova Cloud's OpenAI-compatible chat completion: its {@code usage} carries float timing fields beside the
 *     counts ({@code acceptance_rate}, {@code *_per_sec}, {@code start_time}/{@code end_time} epoch floats,
 *     {@code is_last_response}), as SambaNova's API reference ("Chat completions") shows.</li>
 * <li>Cerebras Inference chat completion (inference-docs.cerebras.ai, "Chat Completions"): OpenAI's shape plus a
 *     top-level {@code time_info} whose {@code created} is an integer epoch.</li>
 * <li>Voyage AI multimodal embeddings (docs.voyageai.com, "Multimodal Embeddings API", response:
 *     {@code usage.text_tokens}, {@code usage.image_pixels}, {@code usage.total_tokens}): the total counts the
 *     images' tokens, the pixels are not tokens.</li>
 * </ul>
 * None broke: every shape is charged its reported usage in both containers (controls only).
 */
abstract class AbstractRound373 extends ShapedAnswerRound {
    static String subject() {
        return "u373-" + UUID.randomUUID().toString().substring(0, 12);
    }

    static final String ANSWER = "The fifth prime number is 11.";

    @Override
    protected String body(String shape) {
        return switch (shape) {
            case "reka-chat" -> "{\"id\":\"r1\",\"model\":\"reka-core-20240501\",\"responses\":[{\"finish_reason\":\"stop\","
                    + "\"message\":{\"content\":\"" + ANSWER + "\",\"role\":\"assistant\"}}],"
                    + "\"usage\":{\"input_tokens\":9000,\"output_tokens\":700}}";
            case "sambanova-chat" -> "{\"id\":\"s1\",\"object\":\"chat.completion\",\"created\":1730923404,\"model\":\"Meta-Llama-3.1-8B-Instruct\","
                    + "\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\",\"content\":\"" + ANSWER + "\"},\"finish_reason\":\"stop\",\"logprobs\":null}],"
                    + "\"usage\":{\"acceptance_rate\":4.5,\"completion_tokens\":700,\"completion_tokens_after_first_per_sec\":291.6,"
                    + "\"completion_tokens_per_sec\":203.4,\"end_time\":1730923405.0586398,\"is_last_response\":true,"
                    + "\"prompt_tokens\":9000,\"start_time\":1730923404.7947261,\"time_to_first_token\":0.0712,"
                    + "\"total_latency\":0.236,\"total_tokens\":9700,\"total_tokens_per_sec\":415.1},\"system_fingerprint\":\"fastcoe\"}";
            case "cerebras-chat" -> "{\"id\":\"c1\",\"object\":\"chat.completion\",\"created\":1730923404,\"model\":\"llama3.1-8b\","
                    + "\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\",\"content\":\"" + ANSWER + "\"},\"finish_reason\":\"stop\"}],"
                    + "\"usage\":{\"prompt_tokens\":9000,\"completion_tokens\":700,\"total_tokens\":9700,\"prompt_tokens_details\":{\"cached_tokens\":0}},"
                    + "\"system_fingerprint\":\"fp_1\",\"time_info\":{\"queue_time\":0.0001,\"prompt_time\":0.002,\"completion_time\":0.1,"
                    + "\"total_time\":0.11,\"created\":1730923404}}";
            case "voyage-multimodal" -> "{\"object\":\"list\",\"data\":[{\"object\":\"embedding\",\"embedding\":[0.01,-0.02,0.03],"
                    + "\"index\":0}],\"model\":\"voyage-multimodal-3\",\"usage\":{\"text_tokens\":9000,\"image_pixels\":2000000,"
                    + "\"total_tokens\":9700}}";
            default -> throw new IllegalArgumentException(shape);
        };
    }

    @Override
    protected boolean answered(String shape, HttpServletResponse resp) throws IOException {
        if (!shape.startsWith("reka-stream")) {
            return false;
        }
        resp.setContentType("text/event-stream");
        PrintWriter w = resp.getWriter();
        String[] words = ANSWER.split(" ");
        for (int i = 0; i < words.length; i++) {
            long out = i == words.length - 1 ? 700 : (i + 1) * 10;
            String fin = i == words.length - 1 ? "\"stop\"" : "null";
            w.write("data: {\"id\":\"r1\",\"model\":\"reka-core-20240501\",\"responses\":[{\"chunk\":{\"content\":"
                    + q((i == 0 ? "" : " ") + words[i]) + ",\"role\":\"assistant\"},\"finish_reason\":" + fin + "}],"
                    + "\"usage\":{\"input_tokens\":9000,\"output_tokens\":" + out + "}}\n\n");
            w.flush();
        }
        return true;
    }

    static final String ASK = "{\"model\":\"reka-core-20240501\",\"max_tokens\":1000,\"stream\":false,"
            + "\"messages\":[{\"role\":\"user\",\"content\":\"What is the fifth prime number?\"}]}";

    private long used(String shape) {
        String s = subject();
        HttpResponse<String> r = TestHttp.postJson(container.uri("/ai/" + shape), s, ASK);
        assertEquals(200, r.statusCode(), r.body());
        assertEquals(1, calls.of(s));
        return settled(s).used();
    }

    /**
     * Controls: Reka's native answer and its stream (cumulative {@code usage} in every chunk, the last one
     * 9,000 + 700), SambaNova's float-laden usage, Cerebras's {@code time_info}, Voyage's multimodal usage with
     * its pixel count: each charged exactly its 9,700 reported tokens, never the pixels or timestamps.
     */
    @ParameterizedTest
    @ValueSource(strings = {"reka-chat", "reka-stream", "sambanova-chat", "cerebras-chat", "voyage-multimodal"})
    void eachProviderShapeIsChargedExactlyItsReportedUsage(String shape) {
        assertEquals(9_700, used(shape), shape);
    }
}
