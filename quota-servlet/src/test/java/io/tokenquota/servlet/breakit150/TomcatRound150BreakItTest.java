package io.tokenquota.servlet.breakit150;

import io.tokenquota.servlet.testing.ContainerKind;

class TomcatRound150BreakItTest extends AbstractRound150 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.TOMCAT;
    }
}
