package io.tokenquota.servlet.breakit191;

import io.tokenquota.servlet.testing.ContainerKind;

class TomcatRound191BreakItTest extends AbstractRound191 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.TOMCAT;
    }
}
