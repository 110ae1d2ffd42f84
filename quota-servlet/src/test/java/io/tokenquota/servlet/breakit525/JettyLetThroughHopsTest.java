package io.tokenquota.servlet.breakit525;

import io.tokenquota.servlet.testing.ContainerKind;

class JettyLetThroughHopsTest extends AbstractLetThroughHops {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.JETTY;
    }
}
