package io.tokenquota.examples;

import jakarta.servlet.http.HttpServlet;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.util.Map;

/**
 * Serves the dashboard: one HTML page, its stylesheet and script, straight from the classpath (no
 * front-end build step). The page holds no data; its script asks {@link DashboardDataServlet} with the
 * admin token the user types in. Thread-safe (the resources are read once).
 */
final class DashboardServlet extends HttpServlet {
    private static final long serialVersionUID = 1L;
    private static final String BASE = "/io/tokenquota/examples/dashboard/";
    // the page runs only its own script and talks only to its own origin
    private static final String CSP = "default-src 'self'; img-src 'self' data:; style-src 'self'; "
            + "script-src 'self'; connect-src 'self'; frame-ancestors 'none'";

    private final Map<String, Asset> assets = Map.of(
            "", load("index.html", "text/html;charset=UTF-8"),
            "/", load("index.html", "text/html;charset=UTF-8"),
            "/dashboard.css", load("dashboard.css", "text/css;charset=UTF-8"),
            "/dashboard.js", load("dashboard.js", "text/javascript;charset=UTF-8"));

    @Override
    protected void doGet(HttpServletRequest req, HttpServletResponse resp) throws IOException {
        String path = req.getPathInfo() == null ? "" : req.getPathInfo();
        Asset asset = assets.get(path);
        if (asset == null) {
            resp.sendError(404);
            return;
        }
        resp.setStatus(200);
        resp.setContentType(asset.contentType);
        resp.setHeader("Content-Security-Policy", CSP);
        resp.setHeader("X-Content-Type-Options", "nosniff");
        resp.setHeader("Cache-Control", "no-cache");
        resp.setContentLength(asset.bytes.length);
        resp.getOutputStream().write(asset.bytes);
    }

    private static Asset load(String name, String contentType) {
        try (InputStream in = DashboardServlet.class.getResourceAsStream(BASE + name)) {
            if (in == null) {
                throw new IllegalStateException("dashboard resource missing from the jar: " + name);
            }
            return new Asset(in.readAllBytes(), contentType);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private record Asset(byte[] bytes, String contentType) {
    }
}
