package io.tokenquota.servlet.breakit539;

import io.tokenquota.servlet.testing.ContainerKind;

class TomcatRound539BreakItTest extends AbstractRound539 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.TOMCAT;
    }
}
