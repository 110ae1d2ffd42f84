package io.tokenquota.servlet.breakit114;

import io.tokenquota.servlet.testing.ContainerKind;

class TomcatRound114BreakItTest extends AbstractRound114 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.TOMCAT;
    }
}
