package io.tokenquota.servlet.breakit86;

import io.tokenquota.servlet.testing.ContainerKind;

class TomcatRound86BreakItTest extends AbstractRound86 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.TOMCAT;
    }
}
