package io.tokenquota.servlet.breakit178;

import io.tokenquota.servlet.testing.ContainerKind;

class TomcatRound178BreakItTest extends AbstractRound178 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.TOMCAT;
    }
}
