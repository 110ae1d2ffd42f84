package io.tokenquota.servlet.breakit565;

import io.tokenquota.servlet.testing.ContainerKind;

class TomcatRound565BreakItTest extends AbstractRound565 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.TOMCAT;
    }
}
