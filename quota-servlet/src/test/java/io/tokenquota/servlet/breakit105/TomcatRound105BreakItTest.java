package io.tokenquota.servlet.breakit105;

import io.tokenquota.servlet.testing.ContainerKind;

class TomcatRound105BreakItTest extends AbstractRound105 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.TOMCAT;
    }
}
