package io.tokenquota.servlet.breakit299;

import io.tokenquota.servlet.testing.ContainerKind;

class TomcatRound299BreakItTest extends AbstractRound299 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.TOMCAT;
    }
}
