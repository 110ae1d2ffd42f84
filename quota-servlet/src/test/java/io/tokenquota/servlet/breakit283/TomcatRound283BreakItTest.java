package io.tokenquota.servlet.breakit283;

import io.tokenquota.servlet.testing.ContainerKind;

class TomcatRound283BreakItTest extends AbstractRound283 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.TOMCAT;
    }
}
