package io.tokenquota.servlet.breakit458;

import io.tokenquota.servlet.testing.ContainerKind;

class TomcatRound458BreakItTest extends AbstractRound458 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.TOMCAT;
    }
}
