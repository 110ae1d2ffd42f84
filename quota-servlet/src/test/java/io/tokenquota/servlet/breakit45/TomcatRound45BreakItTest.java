package io.tokenquota.servlet.breakit45;

import io.tokenquota.servlet.testing.ContainerKind;

class TomcatRound45BreakItTest extends AbstractRound45 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.TOMCAT;
    }
}
