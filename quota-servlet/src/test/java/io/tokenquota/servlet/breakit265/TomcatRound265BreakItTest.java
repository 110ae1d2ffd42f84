package io.tokenquota.servlet.breakit265;

import io.tokenquota.servlet.testing.ContainerKind;

class TomcatRound265BreakItTest extends AbstractRound265 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.TOMCAT;
    }
}
