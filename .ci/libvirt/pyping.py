#!/usr/bin/python3
"""The reference client of docs/BENCHMARKS.md ("libvirt"): python-libvirt's qemuAgentCommand
in a loop on one connection, sequential guest-ping. Prints one JSON line with the figures.
usage: pyping.py DOMAIN COUNT WARMUP"""
import json
import sys
import time

import libvirt
import libvirt_qemu

name, count, warmup = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
conn = libvirt.open("qemu:///system")
dom = conn.lookupByName(name)
ping = '{"execute":"guest-ping"}'
for _ in range(warmup):
    libvirt_qemu.qemuAgentCommand(dom, ping, 5, 0)
samples = []
start = time.perf_counter()
for _ in range(count):
    t0 = time.perf_counter_ns()
    libvirt_qemu.qemuAgentCommand(dom, ping, 5, 0)
    samples.append(time.perf_counter_ns() - t0)
elapsed = time.perf_counter() - start
samples.sort()
def pct(p):
    return samples[min(len(samples) - 1, int(len(samples) * p))] / 1e6
print(json.dumps({"client": "python-libvirt qemuAgentCommand", "count": count,
                  "p50": pct(0.50), "p90": pct(0.90), "p99": pct(0.99),
                  "max": samples[-1] / 1e6, "ops": count / elapsed}))
conn.close()
