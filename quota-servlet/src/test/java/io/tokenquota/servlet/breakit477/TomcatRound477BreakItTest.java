package io.tokenquota.servlet.breakit477;

import io.tokenquota.servlet.testing.ContainerKind;

class TomcatRound477BreakItTest extends AbstractRound477 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.TOMCAT;
    }
}
