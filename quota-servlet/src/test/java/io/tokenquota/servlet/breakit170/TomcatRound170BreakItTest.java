package io.tokenquota.servlet.breakit170;

import io.tokenquota.servlet.testing.ContainerKind;

class TomcatRound170BreakItTest extends AbstractRound170 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.TOMCAT;
    }
}
