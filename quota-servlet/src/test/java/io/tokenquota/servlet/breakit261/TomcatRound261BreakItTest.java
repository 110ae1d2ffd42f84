package io.tokenquota.servlet.breakit261;

import io.tokenquota.servlet.testing.ContainerKind;

class TomcatRound261BreakItTest extends AbstractRound261 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.TOMCAT;
    }
}
