package io.tokenquota.servlet.breakit377;

import io.tokenquota.servlet.testing.ContainerKind;

class TomcatRound377BreakItTest extends AbstractRound377 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.TOMCAT;
    }
}
