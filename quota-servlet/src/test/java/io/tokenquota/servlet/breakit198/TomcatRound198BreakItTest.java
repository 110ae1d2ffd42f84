package io.tokenquota.servlet.breakit198;

import io.tokenquota.servlet.testing.ContainerKind;

class TomcatRound198BreakItTest extends AbstractRound198 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.TOMCAT;
    }
}
