package io.tokenquota.servlet.testing;

import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;
import java.io.PrintWriter;
import java.util.ArrayList;
import java.util.List;

/**
 * Google's Gemini Interactions API as a relay passes it on (rounds 284, 286, 288): the Interaction resource
 * ({@code id}, {@code object: "interaction"}, {@code status}, {@code outputs[]}, {@code usage}, as google-genai's
 * {@code _interactions/types/interaction.py} and js-genai's {@code Interactions.Interaction} have it) and the
 * pieces its streams are written with.
 */
public final class GeminiInteractions {
    /** The model an interaction names. */
    public static final String FLASH = "\"model\":\"gemini-3-flash-preview\"";

    private GeminiInteractions() {
    }

    /** An interaction's {@code Usage} (google-genai's, js-genai's {@code Interactions.Usage}). */
    public static String usage(long input, long output, long thoughts) {
        return "{\"total_input_tokens\":" + input + ",\"input_tokens_by_modality\":[{\"modality\":\"text\",\"tokens\":" + input
                + "}],\"total_cached_tokens\":0,\"total_output_tokens\":" + output
                + ",\"output_tokens_by_modality\":[{\"modality\":\"text\",\"tokens\":" + output
                + "}],\"total_tool_use_tokens\":0,\"total_thought_tokens\":" + thoughts + ",\"total_tokens\":"
                + (input + output + thoughts) + "}";
    }

    /** The Interaction resource of {@code who} (a {@code "model": …} or {@code "agent": …} member); outputs and usage may be null. */
    public static String interaction(String id, String who, String status, String outputs, String usage) {
        return "{\"id\":\"" + id + "\",\"object\":\"interaction\"," + who + ",\"status\":\"" + status + "\",\"role\":\"model\","
                + "\"created\":\"2026-12-01T10:00:00Z\",\"updated\":\"2026-12-01T10:00:40Z\""
                + (outputs == null ? "" : ",\"outputs\":" + outputs) + (usage == null ? "" : ",\"usage\":" + usage) + "}";
    }

    public static void json(HttpServletResponse resp, String body) throws IOException {
        resp.setContentType("application/json");
        resp.getWriter().write(body);
    }

    /** {@code text} in pieces of 200 characters, as a stream's deltas carry it. */
    public static List<String> pieces(String text) {
        List<String> out = new ArrayList<>();
        for (int i = 0; i < text.length(); i += 200) {
            out.add(text.substring(i, Math.min(text.length(), i + 200)));
        }
        return out;
    }

    /** One server-sent event named {@code name}. */
    public static void event(PrintWriter w, String name, String data) {
        w.write("event: " + name + "\ndata: " + data + "\n\n");
    }
}
