package io.tokenquota.servlet.weights;

import io.tokenquota.servlet.testing.ContainerKind;

class JettyModelWeightsTest extends AbstractModelWeightsSuite {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.JETTY;
    }
}
