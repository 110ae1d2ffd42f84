package io.tokenquota.servlet.breakit159;

import io.tokenquota.servlet.testing.ContainerKind;

class TomcatRound159BreakItTest extends AbstractRound159 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.TOMCAT;
    }
}
