package io.tokenquota.servlet.breakit439;

import io.tokenquota.servlet.testing.ContainerKind;

class TomcatRound439BreakItTest extends AbstractRound439 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.TOMCAT;
    }
}
