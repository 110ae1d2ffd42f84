package io.tokenquota.servlet.breakit525;

import io.tokenquota.servlet.testing.ContainerKind;

class TomcatRound525BreakItTest extends AbstractRound525 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.TOMCAT;
    }
}
