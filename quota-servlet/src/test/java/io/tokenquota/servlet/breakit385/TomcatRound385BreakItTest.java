package io.tokenquota.servlet.breakit385;

import io.tokenquota.servlet.testing.ContainerKind;

class TomcatRound385BreakItTest extends AbstractRound385 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.TOMCAT;
    }
}
