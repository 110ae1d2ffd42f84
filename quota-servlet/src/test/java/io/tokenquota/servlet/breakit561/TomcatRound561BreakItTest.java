package io.tokenquota.servlet.breakit561;

import io.tokenquota.servlet.testing.ContainerKind;

class TomcatRound561BreakItTest extends AbstractRound561 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.TOMCAT;
    }
}
