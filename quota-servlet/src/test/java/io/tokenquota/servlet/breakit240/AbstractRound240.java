package io.tokenquota.servlet.breakit240;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.tokenquota.servlet.QuotaFilter;
import io.tokenquota.servlet.testing.Deployment;
import io.tokenquota.servlet.testing.H2FilterRound;
import io.tokenquota.servlet.testing.Pictures;
import io.tokenquota.servlet.testing.TestHttp;
import jakarta.servlet.http.HttpServlet;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.Test;

/**
 * Round 240 of issue 11: a hostile client with a 20,000-token allowance whose goal is 100,000 tokens of
 * model output. The lever: an application's own image endpoint ({@code POST /ai/images}, a Spring
 * controller taking {@code prompt}, {@code size} and {@code quality}, calling gpt-image-1 with the model
 * chosen on the server, and returning the image as {@code image/png}: {@code ResponseEntity<byte[]>}).
 * gpt-image-1 bills the image as output tokens (OpenAI's table: 6,240 for a high-quality 1024x1536
 * image). The answer is the PNG: no usage. The filter knows image output only from a body naming a
 * {@code gpt-image} model or a path ending in {@code /images/generations} or {@code /images/edits}, so
 * here it holds and charges the default estimate (input plus the default output budget).
 */
abstract class AbstractRound240 extends H2FilterRound {
    static String subject() {
        return "u240-" + UUID.randomUUID().toString().substring(0, 12);
    }

    /** What the provider billed per subject (output tokens of the images it drew, plus prompt tokens). */
    final Map<String, AtomicLong> billed = new ConcurrentHashMap<>();

    long billedTo(String s) {
        AtomicLong a = billed.get(s);
        return a == null ? 0 : a.get();
    }

    @Override
    protected Deployment deploy(QuotaFilter filter) {
        return Deployment.create()
                .filter("quota", filter, "/*")
                .servlet("images", new Images(), "/ai/images", "/ai/v1/images/generations")
                .onStartup(filter::registerByServletName);
    }

    /**
     * The application's image endpoint: reads {@code prompt}, {@code size}, {@code quality}, has
     * gpt-image-1 draw it (the model is the server's choice), decodes the {@code b64_json} and returns
     * the PNG, as a "generate a picture" button's endpoint does.
     */
    class Images extends HttpServlet {
        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            String body = new String(req.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
            String size = Pictures.field(body, "size", "1024x1536");
            String quality = Pictures.field(body, "quality", "high");
            String prompt = Pictures.field(body, "prompt", "");
            long tokens = Pictures.imageTokens(size, quality) + Math.max(1, prompt.length() / 4);
            billed.computeIfAbsent(req.getHeader("x-user-id"), k -> new AtomicLong()).addAndGet(tokens);
            String[] wh = size.split("x");
            byte[] image = Pictures.png(Integer.parseInt(wh[0]), Integer.parseInt(wh[1]), 400_000);
            resp.setContentType("image/png");
            resp.setContentLength(image.length);
            resp.getOutputStream().write(image);
        }
    }

    static final String BODY = "{\"prompt\":\"A detailed botanical poster of twelve ferns, labelled\","
            + "\"size\":\"1024x1536\",\"quality\":\"high\"}";

    HttpResponse<byte[]> draw(String path, String s) {
        HttpRequest req = TestHttp.requestAs(container.uri(path), s, "Content-Type", "application/json")
                .POST(HttpRequest.BodyPublishers.ofString(BODY)).build();
        try {
            return TestHttp.client().send(req, HttpResponse.BodyHandlers.ofByteArray());
        } catch (IOException e) {
            throw new java.io.UncheckedIOException(e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException(e);
        }
    }

    /**
     * The attack, one call: a high-quality 1024x1536 image drawn at the application's own path. The
     * provider billed 6,240 output tokens (plus the prompt); the call must be charged at least that.
     */
    @Test
    void anImageDrawnAtTheApplicationsOwnPathIsChargedItsOutput() {
        String s = subject();
        HttpResponse<byte[]> r = draw("/ai/images", s);
        assertEquals(200, r.statusCode());
        assertTrue(r.body().length > 400_000, "the client got the image");
        long used = settled(s).used();
        assertTrue(used >= billedTo(s), "a gpt-image-1 image billed " + billedTo(s) + " tokens was charged " + used
                + ": " + ledger(s));
    }

    /** Control: the same request and answer at an OpenAI-shaped path is charged the image's output. */
    @Test
    void theSameImageAtAnOpenAiShapedPathIsCharged() {
        String s = subject();
        HttpResponse<byte[]> r = draw("/ai/v1/images/generations", s);
        assertEquals(200, r.statusCode());
        long used = settled(s).used();
        assertTrue(used >= billedTo(s), "billed " + billedTo(s) + ", charged " + used + ": " + ledger(s));
    }

    /**
     * The month: the client draws until the filter refuses. With 20,000 tokens it must not get more
     * than 20,000 tokens of billed output (a last call may pass the allowance: charged, as overage).
     */
    @Test
    void aMonthOfImagesCostsWhatTheyBilled() {
        String s = subject();
        int images = 0;
        for (int i = 0; i < 30; i++) {
            HttpResponse<byte[]> r = draw("/ai/images", s);
            if (r.statusCode() == 429) {
                break;
            }
            assertEquals(200, r.statusCode());
            images++;
        }
        long used = settled(s).used();
        assertTrue(used >= billedTo(s), images + " images billed " + billedTo(s) + " tokens on a " + ALLOWANCE
                + "-token allowance were charged " + used);
    }
}
