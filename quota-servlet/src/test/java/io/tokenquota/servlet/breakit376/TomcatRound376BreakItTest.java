package io.tokenquota.servlet.breakit376;

import io.tokenquota.servlet.testing.ContainerKind;

class TomcatRound376BreakItTest extends AbstractRound376 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.TOMCAT;
    }
}
