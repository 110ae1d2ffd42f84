package io.tokenquota.servlet.breakit30;

import io.tokenquota.servlet.testing.ContainerKind;
import org.junit.jupiter.api.Test;

class JettyRound30BreakItTest extends AbstractRound30 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.JETTY;
    }

    @Test
    void aTraceEchoIsNotCharged() {
        assertTraceIsNotCharged();
    }
}
