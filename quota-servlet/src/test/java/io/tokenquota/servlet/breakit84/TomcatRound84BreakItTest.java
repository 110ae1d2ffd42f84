package io.tokenquota.servlet.breakit84;

import io.tokenquota.servlet.testing.ContainerKind;

class TomcatRound84BreakItTest extends AbstractRound84 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.TOMCAT;
    }
}
