/**
 * The libvirt backend: on a libvirt host libvirtd is the one client of every guest-agent channel
 * (QEMU serves one client at a time), so the gateway never opens those sockets and goes through
 * libvirt instead. {@link io.qgagateway.libvirt.LibvirtHost} holds the connection, follows
 * domain and agent lifecycle events and tells the fleet which domains are guests;
 * {@link io.qgagateway.libvirt.LibvirtChannel} is one domain's
 * {@link io.qgagateway.link.AgentChannel}; {@link io.qgagateway.libvirt.Hypervisor} is the seam
 * between them and libvirt's C library ({@link io.qgagateway.libvirt.JnaHypervisor}), so both are
 * tested against a fake.
 */
package io.qgagateway.libvirt;
