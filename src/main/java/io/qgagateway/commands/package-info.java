/**
 * What the gateway knows about commands, without any I/O: the {@link
 * io.qgagateway.commands.CommandCatalog} of every agent command and gateway operation, the
 * checks of a request ({@link io.qgagateway.commands.RequestBody}, {@link
 * io.qgagateway.commands.ArgumentValidator}), the {@link io.qgagateway.commands.Policy} and the
 * {@link io.qgagateway.commands.Redactor} for logs.
 *
 * <p>A command handler, on the node that holds the guest's link, does in this order:
 * <pre>{@code
 * CommandSpec spec = catalog.byAddress(suffix).orElseThrow();     // one consumer per exposed spec
 * RequestBody request = RequestBody.parse(catalog, spec, msg.body()); // 400 as ReplyException
 * policy.check(request).ifPresent(e -> { throw e; });              // 403
 * link.execute(request.execute(), request.arguments(), request.timeoutMs(),
 *     request.successResponse());
 * if (request.mutating()) audit(request.guest(), request.spec().name(), caller, outcome);
 * log.debug(Redactor.redact(body));
 * }</pre>
 */
package io.qgagateway.commands;
