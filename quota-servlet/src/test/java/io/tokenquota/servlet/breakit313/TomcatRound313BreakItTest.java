package io.tokenquota.servlet.breakit313;

import io.tokenquota.servlet.testing.ContainerKind;

class TomcatRound313BreakItTest extends AbstractRound313 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.TOMCAT;
    }
}
