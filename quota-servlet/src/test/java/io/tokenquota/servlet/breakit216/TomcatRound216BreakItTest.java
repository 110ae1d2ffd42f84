package io.tokenquota.servlet.breakit216;

import io.tokenquota.servlet.testing.ContainerKind;

class TomcatRound216BreakItTest extends AbstractRound216 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.TOMCAT;
    }
}
