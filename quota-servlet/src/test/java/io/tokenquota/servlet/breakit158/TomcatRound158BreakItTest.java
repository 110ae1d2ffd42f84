package io.tokenquota.servlet.breakit158;

import io.tokenquota.servlet.testing.ContainerKind;

class TomcatRound158BreakItTest extends AbstractRound158 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.TOMCAT;
    }
}
