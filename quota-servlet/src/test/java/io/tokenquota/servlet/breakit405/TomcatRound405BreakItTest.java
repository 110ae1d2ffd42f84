package io.tokenquota.servlet.breakit405;

import io.tokenquota.servlet.testing.ContainerKind;

class TomcatRound405BreakItTest extends AbstractRound405 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.TOMCAT;
    }
}
