package io.tokenquota.servlet.breakit479;

import io.tokenquota.servlet.testing.ContainerKind;

class TomcatRound479BreakItTest extends AbstractRound479 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.TOMCAT;
    }
}
