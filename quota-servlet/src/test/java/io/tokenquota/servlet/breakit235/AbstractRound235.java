package io.tokenquota.servlet.breakit235;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.tokenquota.servlet.QuotaFilter;
import io.tokenquota.servlet.testing.Deployment;
import io.tokenquota.servlet.testing.H2FilterRound;
import io.tokenquota.servlet.testing.ModelCalls;
import io.tokenquota.servlet.testing.TestHttp;
import jakarta.servlet.http.HttpServlet;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.awt.image.BufferedImage;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintWriter;
import java.net.http.HttpResponse;
import java.util.Base64;
import java.util.UUID;
import javax.imageio.ImageIO;
import org.junit.jupiter.api.Test;

/**
 * Round 235 of issue 11: an Azure OpenAI relay. Azure OpenAI names the model in the path
 * ({@code POST /openai/deployments/{deployment}/chat/completions?api-version=…}); the body carries no
 * {@code model} (Azure's own SDKs send none; the deployment decides it), and a deployment is usually
 * named after its model ({@code gpt-4o-mini}, the portal's default name). Azure streams chat completions
 * without usage unless the client asks for it ({@code stream_options.include_usage}), so such a stream is
 * charged its estimate. gpt-4o-mini bills an image at 2,833 + 5,667 a 512-pixel tile (OpenAI's and
 * Azure's vision pricing): a 512×512 image costs 8,500 input tokens. The filter prices images at
 * gpt-4o-mini's rate only when the body's top-level {@code model} names it.
 */
abstract class AbstractRound235 extends H2FilterRound {
    final ModelCalls calls = new ModelCalls();

    static String subject() {
        return "u235-" + UUID.randomUUID().toString().substring(0, 12);
    }

    @Override
    protected Deployment deploy(QuotaFilter filter) {
        return Deployment.create()
                .filter("quota", filter, "/*")
                .servlet("azure", new AzureRelay(), "/ai/openai/deployments/*")
                .servlet("openai", new AzureRelay(), "/ai/v1/*");
    }

    /** Relays the chat completion to the deployment and streams its chunks as Azure sends them (no usage asked). */
    class AzureRelay extends HttpServlet {
        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            req.getInputStream().readAllBytes();
            calls.count(req.getHeader("x-user-id"));
            resp.setContentType("text/event-stream");
            PrintWriter w = resp.getWriter();
            // Azure's first chunk: the prompt filter results, no choices
            w.write("data: {\"choices\":[],\"created\":0,\"id\":\"\",\"model\":\"\",\"object\":\"\",\"prompt_filter_results\":"
                    + "[{\"prompt_index\":0,\"content_filter_results\":{}}]}\n\n");
            String[] words = "The image shows a plain white square with nothing drawn on it.".split(" ");
            for (String word : words) {
                w.write("data: {\"choices\":[{\"delta\":{\"content\":\"" + word + " \"},\"finish_reason\":null,\"index\":0}],"
                        + "\"created\":1735689600,\"id\":\"chatcmpl-A1\",\"model\":\"gpt-4o-mini-2024-07-18\","
                        + "\"object\":\"chat.completion.chunk\"}\n\n");
                w.flush();
            }
            w.write("data: {\"choices\":[{\"delta\":{},\"finish_reason\":\"stop\",\"index\":0}],\"created\":1735689600,"
                    + "\"id\":\"chatcmpl-A1\",\"model\":\"gpt-4o-mini-2024-07-18\",\"object\":\"chat.completion.chunk\"}\n\n");
            w.write("data: [DONE]\n\n");
            w.flush();
        }
    }

    static String png512() {
        try {
            BufferedImage image = new BufferedImage(512, 512, BufferedImage.TYPE_INT_RGB);
            ByteArrayOutputStream out = new ByteArrayOutputStream();
            ImageIO.write(image, "png", out);
            return Base64.getEncoder().encodeToString(out.toByteArray());
        } catch (IOException e) {
            throw new IllegalStateException(e);
        }
    }

    static String chat(String modelField) {
        return "{" + modelField + "\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"What is in this"
                + " image?\"},{\"type\":\"image_url\",\"image_url\":{\"url\":\"data:image/png;base64," + png512()
                + "\",\"detail\":\"high\"}}]}],\"max_tokens\":300,\"stream\":true}";
    }

    /** gpt-4o-mini: 2,833 + 5,667 for the one 512-pixel tile of a 512×512 image. */
    static final long IMAGE_ON_GPT_4O_MINI = 8_500;

    /**
     * The attack: the same streamed call through the Azure path of the gpt-4o-mini deployment (the
     * body names no model, as Azure's SDKs send it). The deployment billed at least 8,500 input tokens
     * for the image; the stream carries no usage, so the estimate is the charge.
     */
    @Test
    void anImageToAnAzureGpt4oMiniDeploymentIsChargedItsRate() {
        String s = subject();
        HttpResponse<String> r = TestHttp.postJson(
                container.uri("/ai/openai/deployments/gpt-4o-mini/chat/completions?api-version=2024-10-21"), s, chat(""));
        assertEquals(200, r.statusCode(), r.body());
        assertEquals(1, calls.of(s));
        long used = settled(s).used();
        assertTrue(used >= IMAGE_ON_GPT_4O_MINI, "a 512x512 image on gpt-4o-mini costs 8,500 input tokens, charged " + used
                + ": " + ledger(s));
    }

    /** Control: the same call with the model in the body (OpenAI's path) is charged the image at gpt-4o-mini's rate. */
    @Test
    void theSameImageNamingTheModelInTheBodyIsCharged() {
        String s = subject();
        HttpResponse<String> r = TestHttp.postJson(container.uri("/ai/v1/chat/completions"), s,
                chat("\"model\":\"gpt-4o-mini\","));
        assertEquals(200, r.statusCode(), r.body());
        long used = settled(s).used();
        assertTrue(used >= IMAGE_ON_GPT_4O_MINI, "charged " + used + ": " + ledger(s));
    }
}
