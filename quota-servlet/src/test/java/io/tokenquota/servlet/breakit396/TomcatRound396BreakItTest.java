package io.tokenquota.servlet.breakit396;

import io.tokenquota.servlet.testing.ContainerKind;

class TomcatRound396BreakItTest extends AbstractRound396 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.TOMCAT;
    }
}
