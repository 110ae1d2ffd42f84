package io.tokenquota.servlet.breakit319;

import io.tokenquota.servlet.testing.ContainerKind;

class TomcatRound319BreakItTest extends AbstractRound319 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.TOMCAT;
    }
}
