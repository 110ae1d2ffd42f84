package io.tokenquota.servlet.breakit70;

import io.tokenquota.servlet.testing.ContainerKind;

class TomcatRound70BreakItTest extends AbstractRound70 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.TOMCAT;
    }
}
