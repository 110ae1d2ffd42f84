package io.tokenquota.servlet.breakit104;

import io.tokenquota.servlet.testing.ContainerKind;

class TomcatRound104BreakItTest extends AbstractRound104 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.TOMCAT;
    }
}
