package io.tokenquota.servlet.breakit327;

import io.tokenquota.servlet.testing.ContainerKind;

class TomcatRound327BreakItTest extends AbstractRound327 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.TOMCAT;
    }
}
