package io.tokenquota.servlet.breakit510;

import io.tokenquota.servlet.testing.ContainerKind;

class TomcatRound510BreakItTest extends AbstractRound510 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.TOMCAT;
    }
}
