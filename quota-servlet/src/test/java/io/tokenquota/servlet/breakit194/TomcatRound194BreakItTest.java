package io.tokenquota.servlet.breakit194;

import io.tokenquota.servlet.testing.ContainerKind;

class TomcatRound194BreakItTest extends AbstractRound194 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.TOMCAT;
    }
}
