package io.tokenquota.servlet.breakit203;

import io.tokenquota.servlet.testing.ContainerKind;

class TomcatRound203BreakItTest extends AbstractRound203 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.TOMCAT;
    }
}
