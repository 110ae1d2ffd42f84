package io.tokenquota.servlet.breakit413;

import io.tokenquota.servlet.testing.ContainerKind;

class TomcatRound413BreakItTest extends AbstractRound413 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.TOMCAT;
    }
}
