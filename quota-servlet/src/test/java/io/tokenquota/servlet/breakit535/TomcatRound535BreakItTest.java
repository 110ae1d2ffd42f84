package io.tokenquota.servlet.breakit535;

import io.tokenquota.servlet.testing.ContainerKind;

class TomcatRound535BreakItTest extends AbstractRound535 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.TOMCAT;
    }
}
