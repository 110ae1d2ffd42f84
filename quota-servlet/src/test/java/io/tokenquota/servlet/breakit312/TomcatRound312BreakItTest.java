package io.tokenquota.servlet.breakit312;

import io.tokenquota.servlet.testing.ContainerKind;

class TomcatRound312BreakItTest extends AbstractRound312 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.TOMCAT;
    }
}
