package io.tokenquota.servlet.breakit165;

import io.tokenquota.servlet.testing.ContainerKind;

class TomcatRound165BreakItTest extends AbstractRound165 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.TOMCAT;
    }
}
