package io.tokenquota.servlet.breakit236;

import io.tokenquota.servlet.testing.ContainerKind;

class TomcatRound236BreakItTest extends AbstractRound236 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.TOMCAT;
    }
}
