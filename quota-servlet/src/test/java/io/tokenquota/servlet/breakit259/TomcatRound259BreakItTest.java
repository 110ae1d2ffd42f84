package io.tokenquota.servlet.breakit259;

import io.tokenquota.servlet.testing.ContainerKind;

class TomcatRound259BreakItTest extends AbstractRound259 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.TOMCAT;
    }
}
