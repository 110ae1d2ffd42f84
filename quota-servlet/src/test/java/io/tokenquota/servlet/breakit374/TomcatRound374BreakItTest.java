package io.tokenquota.servlet.breakit374;

import io.tokenquota.servlet.testing.ContainerKind;

class TomcatRound374BreakItTest extends AbstractRound374 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.TOMCAT;
    }
}
