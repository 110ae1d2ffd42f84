package io.tokenquota.servlet.breakit274;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.tokenquota.servlet.testing.ShapedAnswerRound;
import io.tokenquota.servlet.testing.TestHttp;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;
import java.io.PrintWriter;
import java.net.http.HttpResponse;
import java.util.ArrayList;
import java.util.List;
import java.util.UUID;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Round 274 of issue 11: two providers the filter reads the usage of, whose text it does not read.
 * Rounds 270 to 273 charge a whole answer without usage its text "where its provider puts it", and a
 * stream without its final usage the text its deltas carried, provider by provider. Two of the formats
 * the README names among those whose usage it charges were left out of both lists:
 * <ul>
 *   <li><b>Cloudflare Workers AI</b> (its REST API, {@code POST /client/v4/accounts/{id}/ai/run/@cf/...}).
 *       A text-generation model's output is {@code {"response": string, "usage": {...}, "tool_calls": [...]}}
 *       with only {@code response} required (the models' output schemas, e.g.
 *       developers.cloudflare.com/workers-ai/models/llama-4-scout-17b-16e-instruct, "required":["response"]):
 *       models that report no usage answer {@code {"result":{"response":"…"},"success":true,"errors":[],"messages":[]}},
 *       the envelope round 32 reads {@code result.usage} from (clients parse exactly that: "CF returns
 *       {"result":{"response":"..."},"success":true}"). Streamed ({@code "stream": true}) it sends one event per
 *       token, {@code data: {"response":"tok","p":"…"}} ({@code p} is Cloudflare's padding against
 *       token-length side channels; the Vercel AI SDK's {@code CloudflareStream} parser reads
 *       {@code {response: string, p: string | null}}), then {@code data: [DONE]}; a model that reports usage
 *       sends it in a last {@code {"response":"","usage":{…}}} event before {@code [DONE]}.</li>
 *   <li><b>Cohere's v1 chat stream</b> ({@code POST /v1/chat} with {@code "stream": true}; also Command R
 *       on Bedrock's InvokeModelWithResponseStream): JSON lines {@code stream-start},
 *       {@code {"is_finished":false,"event_type":"text-generation","text":"…"}} per piece, and a
 *       {@code stream-end} whose {@code response.meta} carries the usage (round 166's fixture; Cohere's
 *       "Chat (v1) streaming" reference, {@code StreamedChatResponse} in cohere-java).</li>
 * </ul>
 * A relay of either whose answer carries no usage (a model that reports none, an upstream cut before its
 * last event, a client that read the whole text and left) was charged its hold, 1,011 tokens, for a
 * 4,400-token answer: about four answers for the price of one. The Ollama stream cut the same way (its
 * {@code "done": false} chunks) and the same streams with their usage are the controls.
 */
abstract class AbstractRound274 extends ShapedAnswerRound {
    static String subject() {
        return "u274-" + UUID.randomUUID().toString().substring(0, 12);
    }

    /** TEXT in pieces of {@code size} characters, as a stream's per-token events carry it. */
    static List<String> pieces(int size) {
        List<String> out = new ArrayList<>();
        for (int i = 0; i < TEXT.length(); i += size) {
            out.add(TEXT.substring(i, Math.min(TEXT.length(), i + size)));
        }
        return out;
    }

    /** The usage the streams that report one report: the text's 4,400 tokens or so and the prompt's 20. */
    static final long PROMPT = 20;
    static final long COMPLETION = 4_400;

    @Override
    protected String body(String shape) {
        return switch (shape) {
            case "cloudflare-whole" -> "{\"result\":{\"response\":" + q(TEXT) + ",\"tool_calls\":[]},"
                    + "\"success\":true,\"errors\":[],\"messages\":[]}";
            default -> throw new IllegalArgumentException(shape);
        };
    }

    @Override
    protected boolean answered(String shape, HttpServletResponse resp) throws IOException {
        switch (shape) {
            case "cloudflare-stream", "cut-cloudflare", "cloudflare-stream-usage" -> {
                resp.setContentType("text/event-stream");
                PrintWriter w = resp.getWriter();
                for (String p : pieces(24)) {
                    w.write("data: {\"response\":" + q(p) + ",\"p\":\"abcdefghijklmnopqrstuvwxyz0123456789ab\"}\n\n");
                }
                if (shape.equals("cloudflare-stream-usage")) {
                    w.write("data: {\"response\":\"\",\"usage\":{\"prompt_tokens\":" + PROMPT + ",\"completion_tokens\":"
                            + COMPLETION + ",\"total_tokens\":" + (PROMPT + COMPLETION) + "}}\n\n");
                }
                if (!shape.startsWith("cut-")) {
                    w.write("data: [DONE]\n\n");
                }
                w.flush();
                return true;
            }
            case "cut-cohere1", "cohere1-stream-usage" -> {
                resp.setContentType("application/stream+json");
                PrintWriter w = resp.getWriter();
                w.write("{\"is_finished\":false,\"event_type\":\"stream-start\",\"generation_id\":\"g-274\"}\n");
                for (String p : pieces(24)) {
                    w.write("{\"is_finished\":false,\"event_type\":\"text-generation\",\"text\":" + q(p) + "}\n");
                }
                if (shape.equals("cohere1-stream-usage")) {
                    String counts = "{\"input_tokens\":" + PROMPT + ",\"output_tokens\":" + COMPLETION + "}";
                    w.write("{\"is_finished\":true,\"event_type\":\"stream-end\",\"response\":{\"response_id\":\"r-274\","
                            + "\"text\":" + q(TEXT) + ",\"generation_id\":\"g-274\",\"chat_history\":[],"
                            + "\"finish_reason\":\"COMPLETE\",\"meta\":{\"api_version\":{\"version\":\"1\"},"
                            + "\"billed_units\":" + counts + ",\"tokens\":" + counts + "}},\"finish_reason\":\"COMPLETE\"}\n");
                }
                w.flush();
                return true;
            }
            case "cut-ollama" -> {
                resp.setContentType("application/x-ndjson");
                PrintWriter w = resp.getWriter();
                for (String p : pieces(24)) {
                    w.write("{\"model\":\"llama3.2\",\"created_at\":\"2025-01-01T00:00:00Z\",\"message\":{\"role\":\"assistant\","
                            + "\"content\":" + q(p) + "},\"done\":false}\n");
                }
                w.flush();
                return true;
            }
            default -> {
                return false;
            }
        }
    }

    /** What the application's client sends: a chat naming no output budget (Workers AI's default is the model's own). */
    static final String ASK = "{\"messages\":[{\"role\":\"user\",\"content\":\"Write the committee's quarterly report.\"}],"
            + "\"stream\":true}";

    private long call(String shape, String s) {
        HttpResponse<String> r = TestHttp.postJson(container.uri("/ai/" + shape), s, ASK);
        assertEquals(200, r.statusCode(), r.body());
        assertEquals(1, calls.of(s));
        return settled(s).used();
    }

    private void chargedItsText(String shape) {
        String s = subject();
        long used = call(shape, s);
        assertTrue(used >= 4_000, shape + ": an answer of about 4,400 tokens without usage charged " + used + ": " + ledger(s));
    }

    /**
     * The attack, whole: a Workers AI model that reports no usage answers 4,400 tokens under
     * {@code result.response}; the filter charged the hold (1,011).
     */
    @Test
    void aWorkersAiAnswerWithoutUsageIsChargedItsText() {
        chargedItsText("cloudflare-whole");
    }

    /**
     * The attack, streamed: Workers AI's per-token events, read to {@code [DONE]} by a model that reports no
     * usage, or cut before the usage event (the upstream broke; the relay ends its own stream there).
     */
    @ParameterizedTest
    @ValueSource(strings = {"cloudflare-stream", "cut-cloudflare"})
    void aWorkersAiStreamWithoutItsUsageIsChargedItsText(String shape) {
        chargedItsText(shape);
    }

    /** The attack on Cohere v1: its {@code text-generation} events, the stream cut before {@code stream-end}. */
    @Test
    void aCohereV1StreamCutBeforeItsStreamEndIsChargedItsText() {
        chargedItsText("cut-cohere1");
    }

    /** Control: Ollama's {@code "done": false} chunks cut the same way are charged their text. */
    @Test
    void anOllamaStreamCutTheSameWayIsChargedItsText() {
        chargedItsText("cut-ollama");
    }

    /** Controls: the same streams with their usage are charged exactly that usage. */
    @ParameterizedTest
    @ValueSource(strings = {"cloudflare-stream-usage", "cohere1-stream-usage"})
    void theSameStreamsWithTheirUsageAreChargedIt(String shape) {
        String s = subject();
        assertEquals(PROMPT + COMPLETION, call(shape, s), shape + ": " + ledger(s));
    }
}
