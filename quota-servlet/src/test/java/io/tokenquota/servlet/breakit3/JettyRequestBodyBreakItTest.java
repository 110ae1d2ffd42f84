package io.tokenquota.servlet.breakit3;

import io.tokenquota.servlet.testing.ContainerKind;

final class JettyRequestBodyBreakItTest extends AbstractRequestBodyBreakIt {
    @Override
    ContainerKind kind() {
        return ContainerKind.JETTY;
    }
}
