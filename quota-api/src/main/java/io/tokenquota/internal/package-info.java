/**
 * Not API: the rules every store shares (input validation, ledger arithmetic, listener dispatch).
 * The types are public only because quota-jdbi and quota-servlet call them; they may change in any
 * release. Users name the bounds through {@link io.tokenquota.Limits} instead.
 */
package io.tokenquota.internal;
