package io.tokenquota.servlet.breakit175;

import io.tokenquota.servlet.testing.ContainerKind;

class TomcatRound175RelaysBreakItTest extends AbstractRelays175 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.TOMCAT;
    }
}
