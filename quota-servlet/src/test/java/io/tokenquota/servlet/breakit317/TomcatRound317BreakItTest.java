package io.tokenquota.servlet.breakit317;

import io.tokenquota.servlet.testing.ContainerKind;

class TomcatRound317BreakItTest extends AbstractRound317 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.TOMCAT;
    }
}
