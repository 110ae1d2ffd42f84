package io.tokenquota.servlet.breakit289;

import io.tokenquota.servlet.testing.ContainerKind;

class TomcatRound289BreakItTest extends AbstractRound289 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.TOMCAT;
    }
}
