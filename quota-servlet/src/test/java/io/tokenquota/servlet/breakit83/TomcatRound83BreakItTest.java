package io.tokenquota.servlet.breakit83;

import io.tokenquota.servlet.testing.ContainerKind;

class TomcatRound83BreakItTest extends AbstractRound83 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.TOMCAT;
    }
}
