package io.tokenquota.servlet.breakit504;

import io.tokenquota.servlet.testing.ContainerKind;

class TomcatRound504BreakItTest extends AbstractRound504 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.TOMCAT;
    }
}
