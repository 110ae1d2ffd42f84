package io.tokenquota.servlet.breakit329;

import io.tokenquota.servlet.testing.ContainerKind;

class TomcatRound329BreakItTest extends AbstractRound329 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.TOMCAT;
    }
}
