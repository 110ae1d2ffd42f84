package io.tokenquota.servlet.breakit305;

import io.tokenquota.servlet.testing.ContainerKind;

class TomcatRound305BreakItTest extends AbstractRound305 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.TOMCAT;
    }
}
