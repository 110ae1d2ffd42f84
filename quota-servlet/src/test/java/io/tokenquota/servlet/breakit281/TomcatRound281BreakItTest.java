package io.tokenquota.servlet.breakit281;

import io.tokenquota.servlet.testing.ContainerKind;

class TomcatRound281BreakItTest extends AbstractRound281 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.TOMCAT;
    }
}
