package io.tokenquota.servlet.breakit353;

import io.tokenquota.servlet.testing.ContainerKind;

class TomcatRound353BreakItTest extends AbstractRound353 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.TOMCAT;
    }
}
