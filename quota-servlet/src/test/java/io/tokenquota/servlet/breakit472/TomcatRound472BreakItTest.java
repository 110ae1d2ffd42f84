package io.tokenquota.servlet.breakit472;

import io.tokenquota.servlet.testing.ContainerKind;

class TomcatRound472BreakItTest extends AbstractRound472 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.TOMCAT;
    }
}
