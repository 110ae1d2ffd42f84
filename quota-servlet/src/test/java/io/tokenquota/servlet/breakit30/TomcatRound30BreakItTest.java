package io.tokenquota.servlet.breakit30;

import io.tokenquota.servlet.testing.ContainerKind;

class TomcatRound30BreakItTest extends AbstractRound30 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.TOMCAT;
    }
}
