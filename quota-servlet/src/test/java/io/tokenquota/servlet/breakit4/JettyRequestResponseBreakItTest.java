package io.tokenquota.servlet.breakit4;

import io.tokenquota.servlet.testing.ContainerKind;

final class JettyRequestResponseBreakItTest extends AbstractRequestResponseBreakIt {
    @Override
    ContainerKind kind() {
        return ContainerKind.JETTY;
    }
}
