package io.tokenquota.servlet.breakit268;

import io.tokenquota.servlet.testing.ContainerKind;

class TomcatRound268BreakItTest extends AbstractRound268 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.TOMCAT;
    }
}
