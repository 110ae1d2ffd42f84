package io.tokenquota.servlet.breakit498;

import io.tokenquota.servlet.testing.ContainerKind;

class TomcatRound498BreakItTest extends AbstractRound498 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.TOMCAT;
    }
}
