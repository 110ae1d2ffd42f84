package io.tokenquota.servlet.breakit85;

import io.tokenquota.servlet.testing.ContainerKind;

class TomcatRound85BreakItTest extends AbstractRound85 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.TOMCAT;
    }
}
