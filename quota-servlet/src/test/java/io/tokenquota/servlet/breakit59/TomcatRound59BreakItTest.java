package io.tokenquota.servlet.breakit59;

import io.tokenquota.servlet.testing.ContainerKind;

class TomcatRound59BreakItTest extends AbstractRound59 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.TOMCAT;
    }
}
