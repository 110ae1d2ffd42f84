package io.tokenquota.servlet.testing;

import jakarta.servlet.http.HttpServlet;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;
import java.io.OutputStream;

/**
 * A relay of one whole JSON answer (not streamed), passed on in pieces as its upstream delivers them: at
 * {@code <prefix>/cut/<n>} it writes the answer's first {@code n} bytes, then its client is gone (it waits
 * for the hang-up its {@link HangUps} reports, then cancels its upstream exchange and writes no more); at any
 * other path it writes the whole answer.
 */
public final class CutJsonRelay extends HttpServlet {
    private final byte[] answer;
    private final int piece;
    private final ModelCalls calls;
    private final HangUps hangUps;

    /** A relay of {@code answer} in pieces of {@code piece} bytes, counting its calls in {@code calls}. */
    public CutJsonRelay(byte[] answer, int piece, ModelCalls calls, HangUps hangUps) {
        this.answer = answer;
        this.piece = piece;
        this.calls = calls;
        this.hangUps = hangUps;
    }

    @Override
    protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
        req.getInputStream().readAllBytes();
        String s = req.getHeader("x-user-id");
        calls.count(s);
        String path = req.getPathInfo();
        int end = path.startsWith("/cut/") ? Integer.parseInt(path.substring(5)) : answer.length;
        resp.setContentType("application/json");
        OutputStream out = resp.getOutputStream();
        for (int i = 0; i < end; i += piece) {
            out.write(answer, i, Math.min(piece, end - i));
        }
        out.flush();
        hangUps.await(s);
    }
}
