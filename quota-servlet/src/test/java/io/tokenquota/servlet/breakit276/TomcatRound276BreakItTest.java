package io.tokenquota.servlet.breakit276;

import io.tokenquota.servlet.testing.ContainerKind;

class TomcatRound276BreakItTest extends AbstractRound276 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.TOMCAT;
    }
}
