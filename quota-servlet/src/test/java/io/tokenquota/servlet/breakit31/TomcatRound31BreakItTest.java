package io.tokenquota.servlet.breakit31;

import io.tokenquota.servlet.testing.ContainerKind;

class TomcatRound31BreakItTest extends AbstractRound31 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.TOMCAT;
    }
}
