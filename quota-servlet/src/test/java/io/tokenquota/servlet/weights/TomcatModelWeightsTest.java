package io.tokenquota.servlet.weights;

import io.tokenquota.servlet.testing.ContainerKind;

class TomcatModelWeightsTest extends AbstractModelWeightsSuite {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.TOMCAT;
    }
}
