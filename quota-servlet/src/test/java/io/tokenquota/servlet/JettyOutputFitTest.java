package io.tokenquota.servlet;

import io.tokenquota.servlet.testing.ContainerKind;

class JettyOutputFitTest extends OutputFitSuite {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.JETTY;
    }
}
