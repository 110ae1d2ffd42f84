package io.tokenquota.servlet.breakit267;

import io.tokenquota.servlet.testing.ContainerKind;

class TomcatRound267BreakItTest extends AbstractRound267 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.TOMCAT;
    }
}
