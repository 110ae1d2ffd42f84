package io.tokenquota.servlet.breakit307;

import io.tokenquota.servlet.testing.ContainerKind;

class TomcatRound307BreakItTest extends AbstractRound307 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.TOMCAT;
    }
}
