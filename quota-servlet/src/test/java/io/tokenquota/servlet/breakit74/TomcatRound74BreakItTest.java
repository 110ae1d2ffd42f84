package io.tokenquota.servlet.breakit74;

import io.tokenquota.servlet.testing.ContainerKind;

class TomcatRound74BreakItTest extends AbstractRound74 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.TOMCAT;
    }
}
