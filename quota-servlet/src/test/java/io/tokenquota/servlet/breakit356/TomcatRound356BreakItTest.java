package io.tokenquota.servlet.breakit356;

import io.tokenquota.servlet.testing.ContainerKind;

class TomcatRound356BreakItTest extends AbstractRound356 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.TOMCAT;
    }
}
