package io.tokenquota.servlet.breakit406;

import io.tokenquota.servlet.testing.ContainerKind;

class TomcatRound406BreakItTest extends AbstractRound406 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.TOMCAT;
    }
}
