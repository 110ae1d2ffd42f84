package io.tokenquota.servlet.breakit380;

import io.tokenquota.servlet.testing.ContainerKind;

class TomcatRound380BreakItTest extends AbstractRound380 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.TOMCAT;
    }
}
