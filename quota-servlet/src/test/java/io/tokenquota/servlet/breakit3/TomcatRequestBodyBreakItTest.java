package io.tokenquota.servlet.breakit3;

import io.tokenquota.servlet.testing.ContainerKind;

final class TomcatRequestBodyBreakItTest extends AbstractRequestBodyBreakIt {
    @Override
    ContainerKind kind() {
        return ContainerKind.TOMCAT;
    }
}
