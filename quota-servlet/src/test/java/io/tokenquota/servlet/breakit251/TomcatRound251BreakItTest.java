package io.tokenquota.servlet.breakit251;

import io.tokenquota.servlet.testing.ContainerKind;

class TomcatRound251BreakItTest extends AbstractRound251 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.TOMCAT;
    }
}
