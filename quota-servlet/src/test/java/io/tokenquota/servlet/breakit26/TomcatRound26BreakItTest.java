package io.tokenquota.servlet.breakit26;

import io.tokenquota.servlet.testing.ContainerKind;

class TomcatRound26BreakItTest extends AbstractRound26 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.TOMCAT;
    }
}
