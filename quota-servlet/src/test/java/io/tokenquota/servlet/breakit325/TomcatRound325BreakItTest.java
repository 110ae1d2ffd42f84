package io.tokenquota.servlet.breakit325;

import io.tokenquota.servlet.testing.ContainerKind;

class TomcatRound325BreakItTest extends AbstractRound325 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.TOMCAT;
    }
}
