package io.tokenquota.servlet.breakit463;

import io.tokenquota.servlet.testing.ContainerKind;

class TomcatRound463ControlsTest extends AbstractRound463Controls {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.TOMCAT;
    }
}
