package io.tokenquota.servlet.breakit187;

import io.tokenquota.servlet.testing.ContainerKind;

class TomcatRound187BreakItTest extends AbstractRound187 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.TOMCAT;
    }
}
