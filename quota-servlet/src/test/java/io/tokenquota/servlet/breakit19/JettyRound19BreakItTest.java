package io.tokenquota.servlet.breakit19;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.tokenquota.servlet.testing.ContainerKind;
import java.io.IOException;
import org.junit.jupiter.api.Test;

class JettyRound19BreakItTest extends AbstractRound19 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.JETTY;
    }

    /**
     * Jetty's ForwardedRequestCustomizer (Spring Boot's forward-headers-strategy=native) reads RFC 7239
     * {@code Forwarded} with quoted-string unescaping: {@code for="127.0.0\.1"} makes getRemoteAddr()
     * 127.0.0.1. The resolver's own check of the headers does not unescape, does not find 127.0.0.1 in
     * them, and so believes x-user-id from a client at 127.0.0.2: the victim pays. The control (the
     * unescaped {@code for=127.0.0.1}) is refused with 401.
     */
    @Test
    void escapedForwardedForDoesNotMakeAnUntrustedClientTheVictim() throws IOException {
        String control = subject();
        String c = rawFrom("127.0.0.2", "/fwd/chat", "x-user-id: " + control, "Forwarded: for=127.0.0.1");
        assertTrue(c.startsWith("HTTP/1.1 401"), "control: " + c);
        assertEquals(0, calls(control));

        String victim = subject();
        String r = rawFrom("127.0.0.2", "/fwd/chat", "x-user-id: " + victim, "Forwarded: for=\"127.0.0\\.1\"");
        assertEquals(0, calls(victim), "a client at 127.0.0.2 (not a trusted proxy) was served as " + victim
                + " and the victim was charged " + settled(victim).used() + ": " + r);
        assertTrue(r.startsWith("HTTP/1.1 401"), r);
    }
}
