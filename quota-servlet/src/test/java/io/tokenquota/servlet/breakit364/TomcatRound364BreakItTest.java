package io.tokenquota.servlet.breakit364;

import io.tokenquota.servlet.testing.ContainerKind;

class TomcatRound364BreakItTest extends AbstractRound364 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.TOMCAT;
    }
}
