#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""The soak driver, run in the VM by tools/soak/attach-soak.sh (see tools/soak.sh).

Drives attachd exactly like Volman (Create {"Name","Opts"} then Mount {"Name"} per container
start, Unmount per container stop; names <volume_id>_<container>) for CYCLES cycles. A cycle
picks one volume (file, iSCSI or NVMe/TCP, in turn), starts 1-8 containers on it at once,
checks every mountpoint and that a file written by the first container is read by the last,
stops them all at once, and sometimes sends Remove (Volman never does; the certification
suites do, after the last Unmount) or a Remove while mounted (must be refused, change nothing).
LANES lanes run cycles at the same time, each on volumes of its own (so several volumes of
one iSCSI target / one NVMe subsystem attach and detach concurrently on a shared session /
controller).

Every EVERY cycles the lanes drain and a checkpoint records, with nothing mounted: the
agent's open fds, threads, RSS and child processes; the kernel objects (iSCSI sessions and
hosts, SCSI devices, dm devices, loop devices, mounts, NVMe controllers and subsystems,
block devices, iSCSI node and discovery records); attachd's state files, the directories
left under its mount root and the runtime udev rules. Every KILL_EVERY cycles the agent is
killed with SIGKILL while requests are in flight, then restarted on the same state dir; the
lanes whose requests died unmount their containers' names the way Volman would (errors
allowed for the names whose Mount was cut short; a name mounted before the kill must
unmount cleanly after the restart).

Verdict (exit status 1 with one line per finding, naming what grew):
- kernel objects, state files, mount-root entries and udev rules equal the baseline
  (taken after a warm-up cycle on each backend) at every checkpoint, exactly;
- the agent's fds, threads and children are the same at every checkpoint of one lifetime;
- RSS (--rss-tolerance, 1 MiB): within a lifetime VmRSS grows by at most the tolerance
  between its first checkpoint (KILL_EVERY - EVERY cycles in: malloc's per-thread arenas and
  the threads' stacks have met every code path and the highest concurrency by then) and its
  last, i.e. over the second half of the lifetime (50 cycles, ~600 requests, ~50 attaches:
  a leak of 2 KiB per request or 20 KiB per attach shows); and each lifetime's last
  checkpoint (the value just before the kill -9) of RssAnon, the agent's heap and stacks, is
  within the tolerance of the median of those values (what the restart recovers must not
  grow). Across lifetimes only RssAnon is compared: RssFile, the pages of attachd's code and
  libraries it has mapped, is not the agent's to leak (it is bounded by the size of those
  files) and differs from one process to the next with the page cache: a fault maps the
  neighbouring pages that are cached already (fault-around), and the udev workers, iscsiadm,
  mkfs and blkid that share those libraries keep a varying part of them cached.
- failed container starts (a Create or Mount answering an error, e.g. a deadline missed in a
  starved VM) are cleaned up like Volman does and counted; more than --max-errors (default
  1% of the cycles) fails the soak.
"""

import argparse
import glob
import http.client
import json
import os
import random
import signal
import subprocess
import sys
import threading
import time

T0 = time.monotonic()


def log(msg):
    print(f"[{time.monotonic() - T0:8.1f}] {msg}", flush=True)


class Fatal(Exception):
    pass


class MountFailed(Exception):
    """A Create or Mount answered an error (the container does not start): counted (see
    --max-errors), the cycle is cleaned up."""


class Down(Exception):
    """The agent did not answer (killed, restarting): carries the generation asked."""

    def __init__(self, gen, err):
        super().__init__(f"agent generation {gen}: {err}")
        self.gen = gen


## ------------------------------------------------------------------ the agent


class Agent:
    def __init__(self, argv, driver_file, logfile, listen):
        self.argv = argv
        self.driver_file = driver_file
        self.logfile = logfile
        self.host, port = listen.rsplit(":", 1)
        self.port = int(port)
        self.proc = None
        self.gen = 0  # bumped by each start
        self.up = threading.Condition()
        self.is_up = False

    def start(self, timeout=180):
        if os.path.exists(self.driver_file):  # a killed agent leaves its spec file
            os.unlink(self.driver_file)
        with open(self.logfile, "ab") as f:
            f.write(f"=== soak: start {' '.join(self.argv)}\n".encode())
            self.proc = subprocess.Popen(self.argv, stdout=f, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + timeout
        while not os.path.exists(self.driver_file):
            if self.proc.poll() is not None:
                raise Fatal(f"attachd exited (status {self.proc.returncode}) before writing "
                            f"{self.driver_file}; see attachd.log")
            if time.monotonic() > deadline:
                raise Fatal(f"attachd did not write {self.driver_file} within {timeout}s")
            time.sleep(0.05)
        with self.up:
            self.gen += 1
            self.is_up = True
            self.up.notify_all()

    def kill9(self):
        with self.up:
            self.is_up = False
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def stop(self):
        with self.up:
            self.is_up = False
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise Fatal("attachd did not exit within 60 s of SIGTERM (killed)")

    def wait_newer(self, gen, timeout=300):
        with self.up:
            if not self.up.wait_for(lambda: self.is_up and self.gen > gen, timeout=timeout):
                raise Fatal(f"attachd did not come back within {timeout}s after a failed request")

    @property
    def pid(self):
        return self.proc.pid


## ------------------------------------------------------------------ requests

INFLIGHT_LOCK = threading.Lock()
INFLIGHT = {}  # id -> "Call name"
COUNTS = {"requests": 0}


def call(agent, path, body, timeout=150):
    """POST like Volman (no Content-Type), one connection per request; the parsed reply.
    Raises Down when the agent does not answer."""
    gen = agent.gen
    key = object()
    with INFLIGHT_LOCK:
        INFLIGHT[key] = f"{path.split('.')[-1]} {body.get('Name', '')}"
        COUNTS["requests"] += 1
    c = http.client.HTTPConnection(agent.host, agent.port, timeout=timeout)
    try:
        c.request("POST", "/" + path, body=json.dumps(body).encode())
        r = c.getresponse()
        data = r.read()
    except (OSError, http.client.HTTPException) as e:
        raise Down(gen, f"{path}: {e!r}") from None
    finally:
        c.close()
        with INFLIGHT_LOCK:
            del INFLIGHT[key]
    try:
        return json.loads(data)
    except ValueError:
        raise Fatal(f"{path} {body}: reply is not JSON: {data[:300]!r}") from None


## ------------------------------------------------------------------ volumes and cycles


class Volumes:
    def __init__(self, a):
        self.a = a

    def name(self, backend, lane):
        return f"s{backend[0]}{lane}"

    def opts(self, backend, lane):
        if backend == "file":
            return {"backend": "file", "size": self.a.size}
        if backend == "iscsi":
            return {"backend": "iscsi", "portal": "127.0.0.1:3260", "iqn": self.a.iqn, "lun": lane}
        return {"backend": "nvme", "traddr": "127.0.0.1", "trsvcid": "4420",
                "subnqn": self.a.nqn, "nsid": lane + 1}


def run_threads(fn, args_list):
    """fn(*args) for each args in parallel; returns the results (exceptions re-raised,
    a Fatal first, then a Down)."""
    res = [None] * len(args_list)
    errs = []

    def one(i, args):
        try:
            res[i] = fn(*args)
        except BaseException as e:  # noqa: B902 (collected and re-raised below)
            errs.append(e)

    ts = [threading.Thread(target=one, args=(i, args)) for i, args in enumerate(args_list)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    for kind in (Fatal, Down, MountFailed):
        for e in errs:
            if isinstance(e, kind):
                raise e
    if errs:
        raise errs[0]
    return res


class Stats:
    def __init__(self):
        self.lock = threading.Lock()
        self.c = {"cycles": 0, "containers": 0, "remove": 0, "remove_busy": 0,
                  "interrupted": 0, "recover_unmount_ok": 0, "recover_unmount_err": 0}
        self.by_backend = {"file": 0, "iscsi": 0, "nvme": 0}
        self.errors = []

    def note_error(self, msg):
        with self.lock:
            self.errors.append(msg)
        log("error: " + msg)

    def add(self, k, n=1):
        with self.lock:
            self.c[k] += n


def cycle(agent, vols, stats, rng_seed, n, lane, backend):
    rng = random.Random(rng_seed * 1000003 + n)
    vid = vols.name(backend, lane)
    opts = vols.opts(backend, lane)
    k = rng.randint(1, 8)
    names = [f"{vid}_c{n}-{i}" for i in range(k)]
    mounted = {}  # name -> mountpoint (Mount answered Err "")
    unmount_sent = set()
    try:
        def start(name):
            out = call(agent, "VolumeDriver.Create", {"Name": name, "Opts": opts})
            if out.get("Err"):  # the container does not start, as for a failed Mount
                raise MountFailed(f"cycle {n} ({backend}): Create {name}: {out['Err']}")
            out = call(agent, "VolumeDriver.Mount", {"Name": name})
            if out.get("Err"):
                raise MountFailed(f"cycle {n} ({backend}): Mount {name}: {out['Err']}")
            mp = out.get("Mountpoint", "")
            mounted[name] = mp
            if not os.path.ismount(mp):
                raise Fatal(f"cycle {n} ({backend}): Mount {name} answered {mp}, not a mountpoint")
            return mp

        mps = run_threads(start, [(nm,) for nm in names])
        if len(set(mps)) != k:
            raise Fatal(f"cycle {n} ({backend}): {k} containers got mountpoints {mps}")
        # One container writes, the last reads: they share the volume.
        f = os.path.join(mps[0], f"soak-{n}")
        payload = f"cycle {n} lane {lane}\n".encode() * 64
        with open(f, "wb") as fh:
            fh.write(payload)
        with open(os.path.join(mps[-1], f"soak-{n}"), "rb") as fh:
            if fh.read() != payload:
                raise Fatal(f"cycle {n} ({backend}): file written in {mps[0]} reads differently in {mps[-1]}")
        os.unlink(f)
        if rng.random() < 0.1:  # Remove while mounted: refused, nothing changes
            out = call(agent, "VolumeDriver.Remove", {"Name": names[0]})
            if "in use" not in out.get("Err", ""):
                raise Fatal(f"cycle {n} ({backend}): Remove of a mounted volume answered {out}")
            stats.add("remove_busy")

        def stop(name):
            unmount_sent.add(name)
            out = call(agent, "VolumeDriver.Unmount", {"Name": name})
            if out.get("Err"):
                raise Fatal(f"cycle {n} ({backend}): Unmount {name}: {out['Err']}")
            mp = mounted.pop(name)
            if os.path.ismount(mp):
                raise Fatal(f"cycle {n} ({backend}): {mp} still mounted after Unmount {name}")

        run_threads(stop, [(nm,) for nm in names])
        if rng.random() < 0.25:  # Remove after the last Unmount (as the certification does)
            out = call(agent, "VolumeDriver.Remove", {"Name": names[-1]})
            if out.get("Err"):
                raise Fatal(f"cycle {n} ({backend}): Remove {names[-1]} after the last Unmount: {out['Err']}")
            stats.add("remove")
    except (Down, MountFailed) as d:
        # The agent died under us (once it is back), or a container could not start: stop
        # the containers as Volman would. A name that was mounted must unmount cleanly.
        if isinstance(d, Down):
            stats.add("interrupted")
            agent.wait_newer(d.gen)
        else:
            stats.note_error(str(d))
        for name in names:
            must = name in mounted and name not in unmount_sent
            try:
                out = call(agent, "VolumeDriver.Unmount", {"Name": name})
            except Down as e:  # killed during this very cleanup: once more after the restart
                agent.wait_newer(e.gen)
                must = False
                try:
                    out = call(agent, "VolumeDriver.Unmount", {"Name": name})
                except Down as e2:
                    raise Fatal(f"cycle {n} ({backend}): Unmount {name} after the restart: {e2}") from None
            if out.get("Err"):
                if must:
                    raise Fatal(f"cycle {n} ({backend}): {name} was mounted (and not being unmounted) "
                                f"before the failure; its Unmount then failed: {out['Err']}")
                stats.add("recover_unmount_err")
            else:
                stats.add("recover_unmount_ok")
    with stats.lock:
        stats.c["cycles"] += 1
        stats.c["containers"] += k
        stats.by_backend[backend] += 1


## ------------------------------------------------------------------ measurements

KERNEL_COLS = ["sess", "ihost", "scsi", "dm", "loop", "mounts", "nvme", "nvsub", "blk",
               "nodes", "disc", "state", "mntdir", "rules"]


def ls(pattern, pred=None):
    out = []
    for p in glob.glob(pattern):
        if pred is None or pred(p):
            out.append(os.path.basename(p))
    return sorted(out)


def walk(root):
    out = []
    for d, dirs, files in os.walk(root):
        for x in dirs + files:
            out.append(os.path.relpath(os.path.join(d, x), root))
    return sorted(out)


def kernel_objects(a):
    o = {}
    o["sess"] = ls("/sys/class/iscsi_session/session*")
    o["ihost"] = ls("/sys/class/iscsi_host/host*")
    o["scsi"] = ls("/sys/bus/scsi/devices/*:*:*:*")
    o["dm"] = [f"{x}:{open(f'/sys/class/block/{x}/dm/name').read().strip()}"
               for x in ls("/sys/class/block/dm-*")]
    o["loop"] = ls("/sys/class/block/loop*", lambda p: os.path.exists(p + "/loop/backing_file"))
    with open("/proc/self/mountinfo") as f:
        o["mounts"] = sorted(" ".join(l.split()[3:5]) for l in f)
    o["nvme"] = ls("/sys/class/nvme/nvme*")
    o["nvsub"] = ls("/sys/class/nvme-subsystem/*")
    o["blk"] = ls("/sys/class/block/*")
    o["nodes"] = ls("/etc/iscsi/nodes/*/*")
    o["disc"] = ls("/etc/iscsi/send_targets/*")
    o["state"] = walk(a.state_dir)
    o["mntdir"] = walk(a.mount_root)
    o["rules"] = ls("/run/udev/rules.d/*")
    return o


def agent_sample(pid):
    s = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            k, _, v = line.partition(":")
            if k in ("VmRSS", "RssAnon", "RssFile", "Threads"):
                s[k] = int(v.split()[0])
    s["fds"] = len(os.listdir(f"/proc/{pid}/fd"))
    kids = 0
    for p in os.listdir("/proc"):
        if not p.isdigit():
            continue
        try:
            with open(f"/proc/{p}/stat") as f:
                st = f.read()
        except OSError:
            continue
        if int(st.rpartition(")")[2].split()[1]) == pid:
            kids += 1
    return {"fds": s["fds"], "thr": s["Threads"], "rss": s["VmRSS"], "anon": s["RssAnon"],
            "file": s["RssFile"], "kids": kids}


def cpu_seconds():
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    hz = os.sysconf("SC_CLK_TCK")
    return (sum(v) - v[3] - v[4]) / hz  # all but idle and iowait


## ------------------------------------------------------------------ the run


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cycles", type=int, default=1000)
    ap.add_argument("--every", type=int, default=50)
    ap.add_argument("--kill-every", type=int, default=100)
    ap.add_argument("--lanes", type=int, default=4)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--rss-tolerance", type=int, default=1024, help="KiB")
    ap.add_argument("--max-errors", type=int, default=-1,
                    help="failed Mounts allowed (default: 1%% of the cycles)")
    ap.add_argument("--size", default="32M")
    ap.add_argument("--iqn", required=True)
    ap.add_argument("--nqn", required=True)
    ap.add_argument("--state-dir", required=True)
    ap.add_argument("--mount-root", required=True)
    ap.add_argument("--driver-file", required=True)
    ap.add_argument("--listen", default="127.0.0.1:7610")
    ap.add_argument("--log", required=True)
    ap.add_argument("--table", required=True)
    ap.add_argument("attachd", nargs="+")
    a = ap.parse_args()
    seed = a.seed or int(time.time())
    log(f"soak: {a.cycles} cycles, {a.lanes} lanes, checkpoint every {a.every}, "
        f"kill -9 every {a.kill_every}, seed {seed} (SOAK_SEED={seed} repeats it)")

    agent = Agent(a.attachd, a.driver_file, a.log, a.listen)
    vols = Volumes(a)
    stats = Stats()
    backends = ["file", "iscsi", "nvme"]
    rows = []  # dicts: label, cycles, life, pid, agent sample, kernel counts
    objs = {}  # label -> kernel objects
    findings = []
    kills = []
    life = 0

    def row(label, done, sample):
        ko = kernel_objects(a)
        objs[label] = ko
        r = {"label": label, "cycles": done, "life": life, "pid": agent.pid if sample else "-",
             **(sample or {"fds": "-", "thr": "-", "rss": "-", "anon": "-", "file": "-", "kids": "-"}),
             **{c: len(ko[c]) for c in KERNEL_COLS}}
        rows.append(r)
        print_row(r)
        return r

    head = (f"{'checkpoint':<10} {'cycles':>6} {'life':>4} {'pid':>5} {'fds':>4} {'thr':>4} "
            f"{'rss_KiB':>7} {'anon':>6} {'file':>6} {'kids':>4} | " + " ".join(f"{c:>{max(len(c), 3)}}" for c in KERNEL_COLS))

    def fmt(r):
        return (f"{r['label']:<10} {r['cycles']:>6} {r['life']:>4} {r['pid']:>5} {r['fds']:>4} "
                f"{r['thr']:>4} {r['rss']:>7} {r['anon']:>6} {r['file']:>6} {r['kids']:>4} | "
                + " ".join(f"{r[c]:>{max(len(c), 3)}}" for c in KERNEL_COLS))

    def print_row(r):
        log("row: " + fmt(r))

    t_start = time.monotonic()
    cpu0 = cpu_seconds()
    log("columns: " + head)
    row("start", 0, None)
    agent.start()
    life = 1
    # Warm-up: one cycle per backend, so what the agent sets up once and keeps (the iSCSI
    # iface record, the runtime udev rule) is in the baseline.
    for i, b in enumerate(backends):
        cycle(agent, vols, stats, seed, -1 - i, 0, b)
    stats.c["cycles"] = stats.c["containers"] = 0
    stats.by_backend = dict.fromkeys(backends, 0)
    base = row("base", 0, settle_sample(agent, None))
    life_first = {}  # lifetime -> its first checkpoint row (the baseline row is not one)
    life_last = {}

    next_n = [0]
    n_lock = threading.Lock()
    stop_lanes = threading.Event()
    errors = []

    def lane_main(lane, end):
        try:
            while not stop_lanes.is_set():
                with n_lock:
                    n = next_n[0]
                    if n >= end:
                        return
                    next_n[0] += 1
                cycle(agent, vols, stats, seed, n, lane, backends[n % 3])
        except BaseException as e:  # noqa: B902
            errors.append(e)
            stop_lanes.set()

    def killer(at):
        # Wait for requests in flight (Mounts and Unmounts at best), then a random moment.
        rng = random.Random(seed + at)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not stop_lanes.is_set():
            with INFLIGHT_LOCK:
                busy = sum(1 for v in INFLIGHT.values() if v.startswith(("Mount", "Unmount")))
            if busy >= 2:
                break
            time.sleep(0.02)
        time.sleep(rng.uniform(0, 1.5))
        with INFLIGHT_LOCK:
            flying = sorted(INFLIGHT.values())
        pid = agent.pid
        agent.kill9()
        t = time.monotonic()
        log(f"kill -9 of attachd pid {pid} at cycle ~{next_n[0]} with {len(flying)} requests "
            f"in flight: {', '.join(flying) or 'none'}")
        try:
            agent.start()
        except BaseException as e:  # noqa: B902
            errors.append(e)
            stop_lanes.set()
            return
        kills.append({"cycle": at, "pid": pid, "inflight": flying,
                      "restart_s": round(time.monotonic() - t, 2)})
        log(f"attachd restarted (pid {agent.pid}) in {time.monotonic() - t:.1f} s")

    done = 0
    while done < a.cycles and not errors:
        end = min(done + a.every, a.cycles)
        kill_now = done > 0 and done % a.kill_every == 0
        lanes = [threading.Thread(target=lane_main, args=(i, end)) for i in range(a.lanes)]
        for t in lanes:
            t.start()
        kt = None
        if kill_now:
            life += 1
            kt = threading.Thread(target=killer, args=(done,))
            kt.start()
        for t in lanes:
            t.join()
        if kt:
            kt.join()
        if errors:
            break
        done = end
        label = f"cp{len(rows) - 1}"
        r = row(label, done, settle_sample(agent, life_first.get(life), base, a))
        life_first.setdefault(life, r)
        life_last[life] = r
        log(f"{done}/{a.cycles} cycles, {stats.c['containers']} container starts, "
            f"{COUNTS['requests']} requests, {time.monotonic() - t_start:.0f} s")

    if errors:
        e = errors[0]
        findings.append(f"the soak stopped at cycle ~{next_n[0]}: {e}")
    else:
        rc = agent.stop()
        if rc != 0:
            findings.append(f"attachd exited with status {rc} on SIGTERM")
        row("stopped", done, None)
    wall = time.monotonic() - t_start
    cpu = cpu_seconds() - cpu0

    ## verdict
    for r in rows:
        if r["label"] in ("start", "base", "stopped"):
            continue
        for c in KERNEL_COLS:
            if r[c] != base[c]:
                extra = sorted(set(objs[r["label"]][c]) - set(objs["base"][c]))
                gone = sorted(set(objs["base"][c]) - set(objs[r["label"]][c]))
                findings.append(f"{c} at {r['label']} (cycle {r['cycles']}): {r[c]}, baseline {base[c]}"
                                + (f"; new: {', '.join(extra[:8])}" if extra else "")
                                + (f"; gone: {', '.join(gone[:8])}" if gone else ""))
    for lf, first in life_first.items():
        for r in rows:
            if r["life"] != lf or r["label"] in ("start", "base", "stopped") or r is first:
                continue
            for c in ("fds", "thr", "kids"):
                if r[c] > first[c]:
                    findings.append(f"agent {c} in lifetime {lf}: {first[c]} at {first['label']}, "
                                    f"{r[c]} at {r['label']} (cycle {r['cycles']})")
        last = life_last[lf]
        if last["rss"] - first["rss"] > a.rss_tolerance:
            findings.append(f"agent RSS in lifetime {lf} grew {last['rss'] - first['rss']} KiB "
                            f"({first['label']} {first['rss']} -> {last['label']} {last['rss']} KiB; "
                            f"tolerance {a.rss_tolerance} KiB)")
    max_err = a.max_errors if a.max_errors >= 0 else a.cycles // 100
    if len(stats.errors) > max_err:
        findings.append(f"{len(stats.errors)} container starts failed (at most {max_err} allowed); first: "
                        + " | ".join(stats.errors[:3]))
    ends = sorted(life_last[lf]["anon"] for lf in life_last if life_last[lf] is not life_first[lf])
    if ends:
        med = ends[len(ends) // 2]
        for lf in sorted(life_last):
            v = life_last[lf]["anon"]
            if life_last[lf] is not life_first[lf] and v - med > a.rss_tolerance:
                findings.append(f"agent RssAnon (heap and stacks) at the end of lifetime {lf}: {v} KiB, "
                                f"median end of a lifetime {med} KiB (tolerance {a.rss_tolerance} KiB)")

    out = []
    out.append(f"soak: {done} cycles ({', '.join(f'{k} {v}' for k, v in stats.by_backend.items())}), "
               f"{stats.c['containers']} container starts, {COUNTS['requests']} requests, "
               f"{a.lanes} lanes, seed {seed}")
    out.append(f"soak: {len(kills)} kill -9 + restart; cycles interrupted {stats.c['interrupted']}, "
               f"Unmounts after a restart: {stats.c['recover_unmount_ok']} ok, "
               f"{stats.c['recover_unmount_err']} refused (their Mount was cut short); "
               f"Remove after the last Unmount {stats.c['remove']}, refused while mounted "
               f"{stats.c['remove_busy']}")
    out.append(f"soak: failed container starts (Create or Mount) {len(stats.errors)} (cleaned up like Volman does, then "
               f"the next cycle)" + "".join(f"\nsoak:   {e}" for e in stats.errors[:10]))
    for k in kills:
        ops = {}
        for x in k["inflight"]:
            ops[x.split()[0]] = ops.get(x.split()[0], 0) + 1
        out.append(f"soak:   kill at cycle {k['cycle']}: {len(k['inflight'])} in flight "
                   f"({', '.join(f'{v} {o}' for o, v in sorted(ops.items())) or 'none'}), "
                   f"restart {k['restart_s']} s")
    out.append(f"soak: wall {wall:.0f} s ({wall / 60:.1f} min), VM CPU busy {cpu:.0f} CPU-s, "
               f"{wall / max(done, 1):.2f} s per cycle")
    out.append("")
    out.append(head)
    out.extend(fmt(r) for r in rows)
    out.append("")
    out.append("life: agent lifetime (a kill -9 + restart starts the next); fds/thr/rss_KiB/kids: "
               "the agent's open fds, threads, VmRSS, child processes; anon/file: VmRSS's RssAnon "
               "(heap, stacks) and RssFile (code and libraries), KiB; sess/ihost: iSCSI sessions "
               "and hosts; scsi: SCSI devices; dm, loop, mounts (all of the VM's), nvme/nvsub: NVMe "
               "controllers and subsystems; blk: block devices; nodes/disc: iSCSI node and "
               "discovery records; state: files under the state dir; mntdir: entries under the "
               "mount root; rules: /run/udev/rules.d")
    if findings:
        out.append("")
        out.extend("FAIL: soak: " + f for f in findings)
    else:
        out.append(f"soak: PASS: kernel objects back to the baseline at every checkpoint; fds, threads "
                   f"and children flat within each agent lifetime; VmRSS within {a.rss_tolerance} KiB "
                   f"within a lifetime, RssAnon at each lifetime's end within {a.rss_tolerance} KiB of "
                   f"their median")
    text = "\n".join(out) + "\n"
    with open(a.table, "w") as f:
        f.write(text)
    sys.stdout.write("\n" + text)
    sys.stdout.flush()
    return 1 if findings else 0


def settle_sample(agent, first, base=None, a=None, secs=15):
    """The agent's figures at a checkpoint, and the kernel back at the baseline. Request
    threads and connections close asynchronously after the last reply, udev finishes its
    events: wait (bounded) until fds/threads/children are no higher than the lifetime's
    first checkpoint and the kernel counts equal the baseline; return what is there then."""
    deadline = time.monotonic() + secs
    while True:
        s = agent_sample(agent.pid)
        ok = first is None or all(s[c] <= first[c] for c in ("fds", "thr", "kids"))
        if ok and base is not None:
            ko = kernel_objects(a)
            ok = all(len(ko[c]) == base[c] for c in KERNEL_COLS)
        if ok or time.monotonic() > deadline:
            if first is None:  # the first sample of a lifetime: let stragglers end too
                time.sleep(1)
                s = agent_sample(agent.pid)
            return s
        time.sleep(0.2)


if __name__ == "__main__":
    try:
        sys.exit(main())
    except Fatal as e:
        print(f"FAIL: soak: {e}", flush=True)
        sys.exit(1)
