package io.tokenquota.servlet.breakit95;

import io.tokenquota.servlet.testing.ContainerKind;

class TomcatRound95BreakItTest extends AbstractRound95 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.TOMCAT;
    }
}
