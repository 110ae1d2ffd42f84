package io.tokenquota.examples.faults;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpHeaders;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.Map;
import java.util.concurrent.CompletableFuture;

/**
 * The tests' HTTP client: every request has a deadline, so a hanging server fails the test with
 * {@link java.net.http.HttpTimeoutException} instead of hanging the build. Thread-safe.
 */
final class Http {
    /** A response as the tests read it. */
    record Response(int status, HttpHeaders headers, String body) {
        Map<String, Object> json() {
            return Json.object(body);
        }

        String contentType() {
            return headers.firstValue("content-type").orElse("");
        }

        @Override
        public String toString() {
            return status + " " + contentType() + " " + Json.abbreviate(body);
        }
    }

    private final HttpClient client;
    private final Duration timeout;

    Http(Duration timeout) {
        this.timeout = timeout;
        this.client = HttpClient.newBuilder()
                .version(HttpClient.Version.HTTP_1_1)
                .connectTimeout(Duration.ofSeconds(5))
                .build();
    }

    Response get(URI uri, String... headerPairs) {
        return send(HttpRequest.newBuilder(uri).GET(), headerPairs);
    }

    Response postJson(URI uri, String json, String... headerPairs) {
        return post(uri, json.getBytes(StandardCharsets.UTF_8), "application/json", headerPairs);
    }

    Response post(URI uri, byte[] body, String contentType, String... headerPairs) {
        return send(postBuilder(uri, body, contentType), headerPairs);
    }

    Response put(URI uri, byte[] body, String contentType, String... headerPairs) {
        HttpRequest.Builder builder = HttpRequest.newBuilder(uri).PUT(HttpRequest.BodyPublishers.ofByteArray(body))
                .header("Content-Type", contentType);
        return send(builder, headerPairs);
    }

    CompletableFuture<Response> postJsonAsync(URI uri, String json, Duration requestTimeout, String... headerPairs) {
        HttpRequest.Builder builder = postBuilder(uri, json.getBytes(StandardCharsets.UTF_8), "application/json");
        HttpRequest request = withHeaders(builder, headerPairs).timeout(requestTimeout).build();
        return client.sendAsync(request, HttpResponse.BodyHandlers.ofString(StandardCharsets.UTF_8))
                .thenApply(r -> new Response(r.statusCode(), r.headers(), r.body()));
    }

    private static HttpRequest.Builder postBuilder(URI uri, byte[] body, String contentType) {
        HttpRequest.Builder builder = HttpRequest.newBuilder(uri).POST(HttpRequest.BodyPublishers.ofByteArray(body));
        if (contentType != null) {
            builder.header("Content-Type", contentType);
        }
        return builder;
    }

    private Response send(HttpRequest.Builder builder, String... headerPairs) {
        HttpRequest request = withHeaders(builder, headerPairs).timeout(timeout).build();
        try {
            HttpResponse<String> r = client.send(request, HttpResponse.BodyHandlers.ofString(StandardCharsets.UTF_8));
            return new Response(r.statusCode(), r.headers(), r.body());
        } catch (IOException e) {
            throw new UncheckedIOException(request.method() + " " + request.uri() + ": " + e, e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted", e);
        }
    }

    private static HttpRequest.Builder withHeaders(HttpRequest.Builder builder, String... headerPairs) {
        if (headerPairs.length % 2 != 0) {
            throw new IllegalArgumentException("header names and values come in pairs");
        }
        for (int i = 0; i < headerPairs.length; i += 2) {
            // header(), not setHeader(): a name given twice is sent twice (duplicate-header tests)
            builder.header(headerPairs[i], headerPairs[i + 1]);
        }
        return builder;
    }
}
