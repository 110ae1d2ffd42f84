package io.tokenquota.servlet.breakit418;

import io.tokenquota.servlet.testing.ContainerKind;

class TomcatRound418BreakItTest extends AbstractRound418 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.TOMCAT;
    }
}
