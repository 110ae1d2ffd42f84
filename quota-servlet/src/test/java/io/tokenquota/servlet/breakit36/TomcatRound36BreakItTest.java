package io.tokenquota.servlet.breakit36;

import io.tokenquota.servlet.testing.ContainerKind;

class TomcatRound36BreakItTest extends AbstractRound36 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.TOMCAT;
    }
}
