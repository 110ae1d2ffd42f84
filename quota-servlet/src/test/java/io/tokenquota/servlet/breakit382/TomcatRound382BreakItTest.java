package io.tokenquota.servlet.breakit382;

import io.tokenquota.servlet.testing.ContainerKind;

class TomcatRound382BreakItTest extends AbstractRound382 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.TOMCAT;
    }
}
