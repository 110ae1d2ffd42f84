package io.tokenquota.servlet.breakit;

import io.tokenquota.servlet.testing.ContainerKind;

final class JettyFilterBreakItTest extends AbstractFilterBreakIt {
    @Override
    ContainerKind kind() {
        return ContainerKind.JETTY;
    }
}
