package io.tokenquota.servlet.breakit468;

import io.tokenquota.servlet.testing.ContainerKind;

class TomcatRound468BreakItTest extends AbstractRound468 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.TOMCAT;
    }
}
