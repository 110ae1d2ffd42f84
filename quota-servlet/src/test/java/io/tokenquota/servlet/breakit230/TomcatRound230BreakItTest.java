package io.tokenquota.servlet.breakit230;

import io.tokenquota.servlet.testing.ContainerKind;

class TomcatRound230BreakItTest extends AbstractRound230 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.TOMCAT;
    }
}
