package io.tokenquota.servlet.breakit107;

import io.tokenquota.servlet.testing.ContainerKind;

class TomcatRound107BreakItTest extends AbstractRound107 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.TOMCAT;
    }
}
