package io.tokenquota.servlet.breakit227;

import io.tokenquota.servlet.testing.ContainerKind;

class TomcatRound227BreakItTest extends AbstractRound227 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.TOMCAT;
    }
}
