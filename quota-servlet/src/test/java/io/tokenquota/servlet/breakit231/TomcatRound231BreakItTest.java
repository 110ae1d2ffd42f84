package io.tokenquota.servlet.breakit231;

import io.tokenquota.servlet.testing.ContainerKind;

class TomcatRound231BreakItTest extends AbstractRound231 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.TOMCAT;
    }
}
