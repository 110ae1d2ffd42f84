package io.tokenquota.servlet.breakit29;

import io.tokenquota.servlet.testing.ContainerKind;
import org.junit.jupiter.api.Test;

class JettyRound29BreakItTest extends AbstractRound29 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.JETTY;
    }

    @Test
    void aModelInTheQueryStringOfAMultipartUploadIsTheOneCharged() {
        assertQueryModelOfAMultipartUploadCharged();
    }
}
