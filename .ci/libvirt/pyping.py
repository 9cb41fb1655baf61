#!/usr/bin/python3
"""The reference client of docs/BENCHMARKS.md ("libvirt"): python-libvirt's qemuAgentCommand
in a loop on one connection, sequential guest-ping.
usage: pyping.py DOMAIN COUNT WARMUP   prints one JSON line with the figures
       pyping.py DOMAIN --serve [--event-loop]
           reads a count per line from stdin, makes that many calls and prints one JSON line
           {"ns": [each call's time]}: the benchmark interleaves these blocks with the
           gateway's. --event-loop first registers libvirt's default event loop and runs it on
           a thread, with keepalive, as the gateway does (libvirt then hands the connection's
           socket to and from that loop around every call)"""
import json
import sys
import threading
import time

import libvirt
import libvirt_qemu

PING = '{"execute":"guest-ping"}'


def block(dom, count):
    samples = []
    for _ in range(count):
        t0 = time.perf_counter_ns()
        libvirt_qemu.qemuAgentCommand(dom, PING, 5, 0)
        samples.append(time.perf_counter_ns() - t0)
    return samples


name = sys.argv[1]
if "--event-loop" in sys.argv:
    libvirt.virEventRegisterDefaultImpl()

    def loop():
        while True:
            libvirt.virEventRunDefaultImpl()

    threading.Thread(target=loop, daemon=True).start()
conn = libvirt.open("qemu:///system")
if "--event-loop" in sys.argv:
    conn.setKeepAlive(5, 3)
dom = conn.lookupByName(name)
if sys.argv[2] == "--serve":
    for line in sys.stdin:
        print(json.dumps({"ns": block(dom, int(line))}), flush=True)
    conn.close()
    sys.exit(0)
count, warmup = int(sys.argv[2]), int(sys.argv[3])
block(dom, warmup)
start = time.perf_counter()
samples = sorted(block(dom, count))
elapsed = time.perf_counter() - start


def pct(p):
    return samples[min(len(samples) - 1, int(len(samples) * p))] / 1e6


print(json.dumps({"client": "python-libvirt qemuAgentCommand", "count": count,
                  "p50": pct(0.50), "p90": pct(0.90), "p99": pct(0.99),
                  "max": samples[-1] / 1e6, "ops": count / elapsed}))
conn.close()
