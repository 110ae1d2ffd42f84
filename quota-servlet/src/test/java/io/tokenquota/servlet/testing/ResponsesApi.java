package io.tokenquota.servlet.testing;

import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.TimeUnit;

/** OpenAI Responses API answers as the break-it rounds' mock models write them. */
public final class ResponsesApi {
    private ResponsesApi() {
    }

    /**
     * A {@code response} object of {@code model} in {@code status}, with {@code fields} (JSON members,
     * each followed by a comma, or empty) before its model, one output message of {@code text} (none
     * when null) and {@code usage} (JSON, or {@code null} while in progress).
     */
    public static String response(String id, String status, String fields, String model, String usage, String text) {
        return "{\"id\":\"" + id + "\",\"object\":\"response\",\"created_at\":1700000000,\"status\":\"" + status
                + "\"," + fields + "\"model\":\"" + model + "\",\"output\":[" + (text == null ? ""
                : "{\"type\":\"message\",\"id\":\"msg_" + id + "\",\"status\":\"completed\",\"role\":\"assistant\","
                + "\"content\":[{\"type\":\"output_text\",\"text\":\"" + text + "\",\"annotations\":[]}]}")
                + "],\"parallel_tool_calls\":true,\"tool_choice\":\"auto\",\"tools\":[],\"usage\":" + usage + "}";
    }

    /** An assistant's output message of {@code text}, as a Responses object and a conversation's items list it. */
    public static String message(String id, String text) {
        return "{\"type\":\"message\",\"id\":\"" + id + "\",\"status\":\"completed\",\"role\":\"assistant\","
                + "\"content\":[{\"type\":\"output_text\",\"text\":\"" + text + "\",\"annotations\":[]}]}";
    }

    /**
     * A Responses object of o3-pro at high reasoning effort, as OpenAI writes it: {@code background}
     * mode or not, {@code maxOutput} ({@code null} when negative), its reasoning item then
     * {@code message} (no output when null), and {@code usage} (JSON, or {@code null} while queued).
     */
    public static String o3Pro(String rid, String status, boolean background, long maxOutput, String usage, String message) {
        return "{\"id\":\"" + rid + "\",\"object\":\"response\",\"created_at\":1750000000,\"status\":\"" + status
                + "\",\"background\":" + background + ",\"error\":null,\"incomplete_details\":null,\"instructions\":null,"
                + "\"max_output_tokens\":" + (maxOutput < 0 ? "null" : Long.toString(maxOutput))
                + ",\"model\":\"o3-pro-2025-06-10\",\"output\":[" + (message == null ? ""
                : "{\"type\":\"reasoning\",\"id\":\"rs_" + rid + "\",\"summary\":[]}," + message)
                + "],\"parallel_tool_calls\":true,"
                + "\"reasoning\":{\"effort\":\"high\",\"summary\":null},\"store\":true,\"tool_choice\":\"auto\","
                + "\"tools\":[],\"usage\":" + usage + "}";
    }

    /**
     * A long streamed answer: {@code response.created} with {@code inProgress}, a "word " delta every
     * 20 ms for 10 s, then {@code response.completed} with {@code completed}. Stops at the first write
     * that fails, as a relay whose client hung up does.
     */
    public static void streamWords(HttpServletResponse resp, String id, String inProgress, String completed)
            throws IOException {
        resp.setContentType("text/event-stream");
        OutputStream out = resp.getOutputStream();
        try {
            event(out, "response.created", "{\"type\":\"response.created\",\"sequence_number\":0,\"response\":"
                    + inProgress + "}");
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
            int seq = 1;
            while (System.nanoTime() < deadline) {
                event(out, "response.output_text.delta", "{\"type\":\"response.output_text.delta\",\"sequence_number\":"
                        + seq++ + ",\"item_id\":\"msg_" + id + "\",\"output_index\":0,\"content_index\":0,"
                        + "\"delta\":\"word \",\"logprobs\":[]}");
                Thread.sleep(20);
            }
            event(out, "response.completed", "{\"type\":\"response.completed\",\"sequence_number\":" + seq
                    + ",\"response\":" + completed + "}");
        } catch (IOException gone) {
            // the client hung up: the relay stops here
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    /** One named server-sent event, flushed. */
    public static void event(OutputStream out, String name, String data) throws IOException {
        out.write(("event: " + name + "\ndata: " + data + "\n\n").getBytes(StandardCharsets.UTF_8));
        out.flush();
    }
}
