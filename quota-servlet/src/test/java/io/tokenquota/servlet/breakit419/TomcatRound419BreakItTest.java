package io.tokenquota.servlet.breakit419;

import io.tokenquota.servlet.testing.ContainerKind;

class TomcatRound419BreakItTest extends AbstractRound419 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.TOMCAT;
    }
}
