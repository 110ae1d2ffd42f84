package io.tokenquota.servlet.testing;

import jakarta.servlet.MultipartConfigElement;
import jakarta.servlet.ServletException;
import jakarta.servlet.http.HttpServlet;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.net.URI;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;

/**
 * OpenAI's audio transcriptions with {@code response_format=text} as the audio break-it rounds mock
 * and call them: an answer without usage, so what a recording is charged is the filter's estimate of
 * the upload alone.
 */
public final class Transcriptions {
    private Transcriptions() {
    }

    /** Uploads of up to 4 MB, as the rounds mount {@link PlainText}. */
    public static MultipartConfigElement upTo4Mb() {
        return new MultipartConfigElement("", 4 << 20, 4 << 20, 0);
    }

    /** The endpoint: reads the {@code file} part, answers the transcript alone. */
    public static class PlainText extends HttpServlet {
        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            try {
                req.getPart("file").getInputStream().readAllBytes();
            } catch (ServletException e) {
                throw new IOException(e);
            }
            resp.setContentType("text/plain;charset=utf-8");
            resp.getOutputStream().write("and then we looked at the quarterly figures again".getBytes(StandardCharsets.UTF_8));
        }
    }

    /**
     * A {@code gpt-4o-transcribe} request's multipart body: {@code model}, {@code response_format=text},
     * then {@code file} under {@code filename} labelled {@code type}.
     */
    public static byte[] form(String boundary, byte[] file, String filename, String type) {
        ByteArrayOutputStream body = new ByteArrayOutputStream();
        body.writeBytes(("--" + boundary + "\r\nContent-Disposition: form-data; name=\"model\"\r\n\r\ngpt-4o-transcribe\r\n"
                + "--" + boundary + "\r\nContent-Disposition: form-data; name=\"response_format\"\r\n\r\ntext\r\n"
                + "--" + boundary + "\r\nContent-Disposition: form-data; name=\"file\"; filename=\"" + filename + "\"\r\n"
                + "Content-Type: " + type + "\r\n\r\n").getBytes(StandardCharsets.UTF_8));
        body.writeBytes(file);
        body.writeBytes(("\r\n--" + boundary + "--\r\n").getBytes(StandardCharsets.UTF_8));
        return body.toByteArray();
    }

    /** Posts {@link #form} to {@code uri} as {@code subject} (its {@code x-user-id}); the answer. */
    public static HttpResponse<String> post(URI uri, String subject, String boundary, byte[] file, String filename,
                                            String type) {
        return TestHttp.post(uri, form(boundary, file, filename, type),
                "x-user-id", subject, "Content-Type", "multipart/form-data; boundary=" + boundary);
    }
}
