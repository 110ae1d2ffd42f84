package io.tokenquota.servlet.breakit254;

import io.tokenquota.servlet.testing.ContainerKind;

class TomcatRound254BreakItTest extends AbstractRound254 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.TOMCAT;
    }
}
