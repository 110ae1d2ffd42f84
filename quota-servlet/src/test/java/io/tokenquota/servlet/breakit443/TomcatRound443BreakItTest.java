package io.tokenquota.servlet.breakit443;

import io.tokenquota.servlet.testing.ContainerKind;

class TomcatRound443BreakItTest extends AbstractRound443 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.TOMCAT;
    }
}
