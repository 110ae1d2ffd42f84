package io.tokenquota.servlet.breakit225;

import io.tokenquota.servlet.testing.ContainerKind;

class TomcatRound225BreakItTest extends AbstractRound225 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.TOMCAT;
    }
}
