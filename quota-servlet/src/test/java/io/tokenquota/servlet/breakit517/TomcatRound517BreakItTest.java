package io.tokenquota.servlet.breakit517;

import io.tokenquota.servlet.testing.ContainerKind;

class TomcatRound517BreakItTest extends AbstractRound517 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.TOMCAT;
    }
}
