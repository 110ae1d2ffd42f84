package io.tokenquota.servlet;

import jakarta.servlet.ServletException;
import jakarta.servlet.http.HttpServlet;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import jakarta.servlet.http.Part;
import java.io.IOException;
import java.nio.charset.StandardCharsets;

/** A multipart upload endpoint (audio transcription style): lists its parts as the container parsed them. */
final class UploadServlet extends HttpServlet {
    private static final long serialVersionUID = 1L;

    @Override
    protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException, ServletException {
        StringBuilder out = new StringBuilder();
        for (Part part : req.getParts()) {
            out.append(part.getName()).append('=').append(part.getSize())
                    .append(part.getSubmittedFileName() == null ? "" : " file").append(';');
        }
        resp.setContentType("text/plain;charset=UTF-8");
        resp.getOutputStream().write(out.toString().getBytes(StandardCharsets.UTF_8));
    }
}
