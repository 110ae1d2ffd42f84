package io.tokenquota.servlet.breakit9;

import io.tokenquota.servlet.QuotaFilter;
import jakarta.servlet.http.HttpServlet;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;
import java.io.OutputStream;
import java.math.BigInteger;
import java.nio.charset.StandardCharsets;

/** ?attr=max|nan|big|neg|str sets the actual-tokens attribute; ?mode=json|slowsse|throw. Always reports usage 500 in the body. */
final class Round9ModelServlet extends HttpServlet {
    static final String USAGE_JSON = "{\"id\":\"c\",\"object\":\"chat.completion\",\"choices\":[],"
            + "\"usage\":{\"prompt_tokens\":400,\"completion_tokens\":100,\"total_tokens\":500}}";

    @Override
    protected void service(HttpServletRequest req, HttpServletResponse resp) throws IOException {
        req.getInputStream().readAllBytes();
        String attr = req.getParameter("attr");
        if (attr != null) {
            Object v = switch (attr) {
                case "max" -> Long.MAX_VALUE;
                case "over" -> 1_000_000_000_000_001L;
                case "nan" -> Double.NaN;
                case "big" -> BigInteger.ONE.shiftLeft(64).add(BigInteger.ONE);
                case "neg" -> -5L;
                default -> attr;
            };
            req.setAttribute(QuotaFilter.ACTUAL_TOKENS_ATTRIBUTE, v);
        }
        String mode = req.getParameter("mode");
        if ("slowsse".equals(mode)) {
            long ms = Long.parseLong(req.getParameter("ms"));
            resp.setStatus(200);
            resp.setContentType("text/event-stream");
            OutputStream out = resp.getOutputStream();
            out.write("data: {\"choices\":[{\"delta\":{\"content\":\"a\"}}]}\n\n".getBytes(StandardCharsets.UTF_8));
            out.flush();
            try {
                Thread.sleep(ms);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
            out.write(("data: {\"choices\":[],\"usage\":{\"prompt_tokens\":400,\"completion_tokens\":100,\"total_tokens\":500}}\n\n"
                    + "data: [DONE]\n\n").getBytes(StandardCharsets.UTF_8));
            out.flush();
            return;
        }
        resp.setStatus(200);
        resp.setContentType("application/json");
        resp.getOutputStream().write(USAGE_JSON.getBytes(StandardCharsets.UTF_8));
        if ("throw".equals(mode)) {
            resp.flushBuffer();
            throw new IllegalStateException("after the usage");
        }
    }
}
