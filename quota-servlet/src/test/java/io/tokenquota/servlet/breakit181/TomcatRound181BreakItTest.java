package io.tokenquota.servlet.breakit181;

import io.tokenquota.servlet.testing.ContainerKind;

class TomcatRound181BreakItTest extends AbstractRound181 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.TOMCAT;
    }
}
