package io.tokenquota.servlet;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import jakarta.servlet.ServletOutputStream;
import jakarta.servlet.WriteListener;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;
import java.lang.reflect.Proxy;
import java.nio.charset.StandardCharsets;
import org.junit.jupiter.api.Test;

/** What the usage reader sees of the bytes an application writes. */
final class QuotaResponseTest {

    /** A committed JSON response whose client has gone: every write fails. */
    private static HttpServletResponse hungUp() {
        ServletOutputStream broken = new ServletOutputStream() {
            @Override
            public void write(int b) throws IOException {
                throw new IOException("Broken pipe");
            }

            @Override
            public boolean isReady() {
                return true;
            }

            @Override
            public void setWriteListener(WriteListener listener) {
                // not asynchronous
            }
        };
        return (HttpServletResponse) Proxy.newProxyInstance(QuotaResponseTest.class.getClassLoader(),
                new Class<?>[] {HttpServletResponse.class}, (proxy, method, args) -> switch (method.getName()) {
                    case "getOutputStream" -> broken;
                    case "getContentType" -> "application/json";
                    case "isCommitted" -> true;
                    case "getStatus" -> 200;
                    default -> null;
                });
    }

    @Test
    void usageInAWriteThatFailsIsStillRead() throws IOException {
        // the model answered: its usage counts although the client hung up before it was delivered
        UsageSniffer sniffer = new UsageSniffer();
        QuotaResponse response = new QuotaResponse(hungUp(), sniffer, () -> { }, false, () -> true);
        byte[] answer = "{\"choices\":[],\"usage\":{\"total_tokens\":12040}}".getBytes(StandardCharsets.UTF_8);
        ServletOutputStream out = response.getOutputStream();
        assertThrows(IOException.class, () -> out.write(answer, 0, answer.length));
        assertThrows(IOException.class, () -> out.write('\n'));
        sniffer.finish();
        assertTrue(response.clientGone());
        assertEquals(12_040L, sniffer.usage());
    }
}
