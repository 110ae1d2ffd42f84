package io.tokenquota.servlet.breakit273;

import io.tokenquota.servlet.testing.ContainerKind;

class TomcatRound273BreakItTest extends AbstractRound273 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.TOMCAT;
    }
}
