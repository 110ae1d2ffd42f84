package io.tokenquota.servlet.breakit130;

import io.tokenquota.servlet.testing.ContainerKind;

class TomcatRound130BreakItTest extends AbstractRound130 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.TOMCAT;
    }
}
