package io.tokenquota.servlet.breakit244;

import io.tokenquota.servlet.testing.ContainerKind;

class TomcatRound244BreakItTest extends AbstractRound244 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.TOMCAT;
    }
}
