#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""PowerFlex (ScaleIO) gateway emulator for attachd's tests, plus SDC emulation.

Follows /work/shared/reference/scaleio.md §6 ("[EMU]"): login with Basic user:password
answers a quoted token; later calls authenticate with Basic <any>:<token> (API 3.x) or
Bearer <token> (API 4.x); tokens expire (TTL and idle, seconds here); systems, SDCs,
volumes; addMappedSdc / removeMappedSdc / setMappedSdcLimits with the real error shapes
and codes (79, 80, 81/4037, 84/4039, 297); a non-hex id is "... must be a hexadecimal
number".

SDC emulation for the SDC whose GUID is --local-sdc-guid (this host), and with --sdc loop
also for SDCs added with /emu/sdc {"local": true} (two agents in one VM acting as two hosts):
  --sdc loop   on map: truncate -s SIZE STATE/emc-vol-<sys>-<vol> (never shrinks, data kept
               across unmap/map), hard-link it as STATE/sdc-<sdcId>/emc-vol-<sys>-<vol> and
               `losetup --find --show` that (-r for ReadOnly); on unmap `losetup -d`. A
               test-only udev rule makes /dev/disk/by-id/emc-vol-<sys>-<vol> from the loop
               device's backing file name (tests/emulator/99-fake-scini.rules). A loop device
               still open on unmap (its host did not detach: a takeover) cannot go; the SDC
               withdraws it all the same: its backing link is renamed away, so udev drops its
               by-id name (the kernel lets go of the loop device at its last close). Its host
               can still do I/O through what it holds open: the emulation does not fence.
  --sdc fake   no root, no udev: under --fake-root R make R/dev/sciniX, the link
               R/dev/disk/by-id/emc-vol-<sys>-<vol> -> ../../sciniX and R/sys/class/block/
               sciniX/{dev,size}; removed on unmap (point attachd's dev/sysfs roots at R).
  --sdc none   mappings only.
Devices appear --device-delay seconds after the map (the MDM pushes it to the SDC).

Volume lifecycle (what attachd-broker uses): POST /api/types/Volume/instances
{"volumeSizeInKb","storagePoolId","name","volumeType"} rounds the size up to 8 GiB, as
PowerFlex does, and answers {"id"}; names are unique and at most 31 characters;
Volume::<id>/action/setVolumeSize {"sizeInGB"} grows (multiples of 8, never shrinks; the
devices of the SDCs it is mapped to grow before the answer: the backing file is extended and
each loop device re-reads its size, `losetup -c`, or the fake sysfs size is rewritten);
Volume::<id>/action/removeVolume {"removeMode":"ONLY_ME"} refuses while the volume is
mapped; protection domains and storage pools (pd1/sp1, pd1/sp2) answer queryIdByKey.

Control endpoints (no auth, for tests; JSON bodies):
  POST /emu/sdc      {"id","guid","ip","name","state":"Connected"|"Disconnected","approved",
                      "local": bool (an SDC on this machine: see --sdc loop)}
  POST /emu/volume   {"id","name","sizeInKb"}
  POST /emu/map      {"volumeId","sdcId","accessMode"}  map directly (no rules, no device)
  POST /emu/expire-tokens                        every live token becomes invalid
  POST /emu/fault    {"slow": seconds, "status": 503 | 0, "html": bool, "nodevice": bool,
                      "slow_after": seconds, "fail_unmap": errorCode | 0,
                      "map_after_unmap": sdcId | ""}
                     (nodevice: maps succeed but this host's SDC never shows the device;
                     slow_after: a POST's action is done at once, its answer is held back;
                     fail_unmap: removeMappedSdc of one SDC answers 500 with that code and
                     changes nothing; map_after_unmap: right after the next removeMappedSdc
                     of one SDC, that SDC maps the volume, as a third host racing a
                     takeover would, once)
  GET  /emu/state    everything, plus counters {"logins","unauthorized","requests"}
State (systems, SDCs, volumes, mappings, devices) is saved in STATE/state.json and reloaded
at start, so a test can kill the gateway ("unavailable") and start it again; tokens die
with the process, as they do with a real gateway restart.
"""

import argparse
import base64
import binascii
import json
import os
import re
import secrets
import shutil
import ssl
import subprocess
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

SYSTEM_ID = "14dbbf5617523654"
PD_ID = "7e5d1a2300000000"
POOLS = {"e65f9c2700000000": "sp1", "e65f9c2800000000": "sp2"}
GIB8_KB = 8 * 1024 * 1024
HEX16 = re.compile(r"^[0-9a-fA-F]{16}$")


class GwError(Exception):
    def __init__(self, status, code, message):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


class State:
    def __init__(self, args):
        self.args = args
        self.lock = threading.RLock()
        self.path = os.path.join(args.state_dir, "state.json")
        self.tokens = {}  # token -> {"created", "used"}
        self.counters = {"logins": 0, "unauthorized": 0, "requests": 0}
        self.fault = {"slow": 0, "status": 0, "html": False, "nodevice": False, "slow_after": 0,
                      "fail_unmap": 0, "map_after_unmap": ""}
        self.data = {
            "system": {"id": SYSTEM_ID, "name": "mocksystem", "version": self.version(),
                       "restrictedSdcMode": "None"},
            "sdcs": {},
            "volumes": {},
            # "<volume id>@<sdc id>" -> {"kind": "loop"|"fake", "dev": "loop3"|"scinia"}
            "devices": {},
            "local_sdcs": [],  # more SDCs on this machine (--sdc loop), /emu/sdc "local"
        }
        if os.path.exists(self.path):
            with open(self.path) as f:
                self.data = json.load(f)
        self.data.setdefault("pds", {PD_ID: {"id": PD_ID, "name": "pd1"}})
        self.data.setdefault("local_sdcs", [])
        self.data.setdefault("pools", {i: {"id": i, "name": n, "protectionDomainId": PD_ID}
                                       for i, n in POOLS.items()})
        if args.local_sdc_guid and not any(
                s["sdcGuid"].upper() == args.local_sdc_guid.upper()
                for s in self.data["sdcs"].values()):
            self.add_sdc({"id": args.local_sdc_id, "guid": args.local_sdc_guid,
                          "ip": "127.0.0.1", "name": "this-host"})

    def version(self):
        return "4.0" if self.args.api == 4 else "3.6"

    def save(self):
        tmp = self.path + ".tmp"
        with open(tmp, "w") as f:
            json.dump(self.data, f, indent=1)
        os.replace(tmp, self.path)

    # ---- control ----
    def add_sdc(self, b):
        sid = b.get("id") or secrets.token_hex(8)
        with self.lock:
            self.data["sdcs"][sid.lower()] = {
                "id": sid.lower(), "sdcGuid": b["guid"].upper(), "sdcIp": b.get("ip", "10.0.0.9"),
                "sdcIps": [b.get("ip", "10.0.0.9")], "name": b.get("name"),
                "mdmConnectionState": b.get("state", "Connected"),
                "sdcApproved": b.get("approved", True), "systemId": SYSTEM_ID,
                "hostType": "SdcHost", "osType": "Linux"}
            if b.get("local") and sid.lower() not in self.data["local_sdcs"]:
                self.data["local_sdcs"].append(sid.lower())
            self.save()
        return sid.lower()

    def add_volume(self, b):
        vid = (b.get("id") or secrets.token_hex(8)).lower()
        with self.lock:
            self.data["volumes"][vid] = {
                "id": vid, "name": b.get("name", "vol-" + vid[:6])[:31],
                "sizeInKb": int(b.get("sizeInKb", 8 * 1024 * 1024)),
                "storagePoolId": "e65f9c2700000000", "vtreeId": vid,
                "mappingToAllSdcsEnabled": False, "mappings": []}
            self.save()
        return vid

    def create_volume(self, b):
        with self.lock:
            name = str(b.get("name", ""))
            pool = str(b.get("storagePoolId", "")).lower()
            if pool not in self.data["pools"]:
                raise GwError(500, 0, "Could not find the Storage Pool")
            if not name or len(name) > 31:
                raise GwError(500, 0, "Volume name must be 1-31 characters")
            if any(v["name"] == name for v in self.data["volumes"].values()):
                raise GwError(500, 6, "Volume name already in use. Please use a different name.")
            try:
                kb = int(str(b.get("volumeSizeInKb")))
            except ValueError:
                raise GwError(500, 0, "volumeSizeInKb must be a number")
            if kb <= 0:
                raise GwError(500, 0, "Volume size must be positive")
            kb = -(-kb // GIB8_KB) * GIB8_KB  # PowerFlex: 8 GiB granularity, rounded up
            vtype = b.get("volumeType", "ThinProvisioned")
            if vtype not in ("ThinProvisioned", "ThickProvisioned"):
                raise GwError(500, 0, "Invalid volumeType")
            vid = secrets.token_hex(8)
            self.data["volumes"][vid] = {
                "id": vid, "name": name, "sizeInKb": kb, "storagePoolId": pool,
                "vtreeId": vid, "volumeType": vtype, "mappingToAllSdcsEnabled": False,
                "mappings": []}
            self.save()
            return vid

    def resize(self, vid, b):
        with self.lock:
            v = self.volume(vid)
            try:
                gb = int(str(b.get("sizeInGB")))
            except ValueError:
                raise GwError(500, 0, "sizeInGB must be a number")
            if gb <= 0 or gb % 8:
                raise GwError(500, 0, "Size must be a multiple of 8 GB")
            if gb * 1024 * 1024 < v["sizeInKb"]:
                raise GwError(500, 0, "Volume size cannot be decreased")
            v["sizeInKb"] = gb * 1024 * 1024
            self.save()
            self.device_grow(v["id"], v["sizeInKb"])

    def remove(self, vid, b):
        with self.lock:
            v = self.volume(vid)
            if b.get("removeMode") not in ("ONLY_ME", "INCLUDING_DESCENDANTS",
                                           "DESCENDANTS_ONLY", "WHOLE_VTREE"):
                raise GwError(500, 0, "Invalid removeMode")
            if v["mappings"] or v["mappingToAllSdcsEnabled"]:
                raise GwError(500, 0, "The volume is mapped to an SDC and cannot be removed")
            del self.data["volumes"][v["id"]]
            name = "emc-vol-%s-%s" % (SYSTEM_ID, v["id"])
            for f in [os.path.join(self.args.state_dir, name)] + [
                    os.path.join(self.args.state_dir, d, name)
                    for d in os.listdir(self.args.state_dir) if d.startswith("sdc-")]:
                if os.path.exists(f):
                    os.unlink(f)
            self.save()

    # ---- auth ----
    def login(self, user, password):
        with self.lock:
            self.counters["logins"] += 1
            if user != self.args.user or password != self.args.password:
                return None
            tok = base64.urlsafe_b64encode(secrets.token_bytes(30)).decode().rstrip("=")
            now = time.monotonic()
            self.tokens[tok] = {"created": now, "used": now}
            return tok

    def check_token(self, tok):
        with self.lock:
            t = self.tokens.get(tok)
            now = time.monotonic()
            if not t or now - t["created"] > self.args.token_ttl or \
                    now - t["used"] > self.args.token_idle:
                self.tokens.pop(tok, None)
                self.counters["unauthorized"] += 1
                return False
            t["used"] = now
            return True

    # ---- model ----
    def volume(self, vid):
        if not HEX16.match(vid):
            raise GwError(500, 0, "Failed to parse the id %s: it must be a hexadecimal number" % vid)
        v = self.data["volumes"].get(vid.lower())
        if not v:
            raise GwError(500, 79, "Could not find the volume")
        return v

    def volume_json(self, v):
        info = []
        for m in v["mappings"]:
            s = self.data["sdcs"].get(m["sdcId"], {})
            info.append({"sdcId": m["sdcId"], "sdcIp": s.get("sdcIp"), "sdcName": s.get("name"),
                         "limitIops": m["limitIops"], "limitBwInMbps": m["limitBwInMbps"],
                         "accessMode": m["accessMode"], "isDirectBufferMapping": False,
                         "hostType": "SdcHost"})
        return {"id": v["id"], "name": v["name"], "sizeInKb": v["sizeInKb"],
                "storagePoolId": v["storagePoolId"], "vtreeId": v["vtreeId"],
                "volumeType": v.get("volumeType", "ThinProvisioned"), "ancestorVolumeId": None,
                "mappingToAllSdcsEnabled": v["mappingToAllSdcsEnabled"],
                "accessModeLimit": "ReadWrite", "mappedSdcInfo": info or None,
                "links": [{"rel": "self", "href": "/api/instances/Volume::" + v["id"]}]}

    def sdc_json(self, s):
        d = dict(s)
        d["links"] = [{"rel": "/api/Sdc/relationship/Volume",
                       "href": "/api/instances/Sdc::%s/relationships/Volume" % s["id"]}]
        return d

    def resolve_sdc(self, body):
        if "sdcId" in body:
            sid = str(body["sdcId"]).lower()
            if not HEX16.match(sid):
                raise GwError(500, 0, "Failed to parse the id %s: it must be a hexadecimal number" % sid)
            if sid in self.data["sdcs"]:
                return sid
        elif "guid" in body:
            for s in self.data["sdcs"].values():
                if s["sdcGuid"].upper() == str(body["guid"]).upper():
                    return s["id"]
        raise GwError(500, 80, "Could not find the SDC")

    def code(self, c3, c4):
        return c4 if self.args.api == 4 else c3

    def is_local(self, sid):
        """An SDC on this machine: the emulation shows it the volumes mapped to it."""
        g = self.args.local_sdc_guid
        if g and self.data["sdcs"].get(sid, {}).get("sdcGuid", "").upper() == g.upper():
            return True
        # More than one local SDC needs per-SDC devices: loop devices only.
        return self.args.sdc == "loop" and sid in self.data["local_sdcs"]

    def map(self, vid, body):
        with self.lock:
            v = self.volume(vid)
            if "allSdcs" in body:
                v["mappingToAllSdcsEnabled"] = True
                self.save()
                return
            sid = self.resolve_sdc(body)
            if any(m["sdcId"] == sid for m in v["mappings"]):
                raise GwError(500, self.code(81, 4037), "The volume is already mapped to this SDC")
            multi = str(body.get("allowMultipleMappings", "FALSE")).lower() == "true"
            if v["mappings"] and not multi:
                raise GwError(500, 297, "This volume is already mapped and may not be mapped "
                                        "to additional SDCs.")
            mode = body.get("accessMode", "ReadWrite")
            v["mappings"].append({"sdcId": sid, "accessMode": mode, "limitIops": 0,
                                  "limitBwInMbps": 0, "multi": multi})
            self.save()
            if self.is_local(sid) and not self.fault.get("nodevice"):
                self.schedule(self.device_add, v["id"], sid, v["sizeInKb"], mode == "ReadOnly")

    def unmap(self, vid, body):
        with self.lock:
            v = self.volume(vid)
            if "allSdcs" in body:
                gone = [m["sdcId"] for m in v["mappings"]]
                v["mappings"] = []
                v["mappingToAllSdcsEnabled"] = False
            else:
                sid = self.resolve_sdc(body)
                if not any(m["sdcId"] == sid for m in v["mappings"]):
                    raise GwError(500, self.code(84, 4039), "The volume is not mapped to SDC")
                if self.fault.get("fail_unmap"):
                    raise GwError(500, int(self.fault["fail_unmap"]),
                                  "Failed to unmap the volume from the SDC (emulated fault)")
                v["mappings"] = [m for m in v["mappings"] if m["sdcId"] != sid]
                gone = [sid]
                racer = self.fault.get("map_after_unmap")
                if racer:
                    self.fault["map_after_unmap"] = ""
                    v["mappings"].append({"sdcId": racer.lower(), "accessMode": "ReadWrite",
                                          "limitIops": 0, "limitBwInMbps": 0, "multi": False})
            self.save()
            for s in gone:
                if not self.is_local(s):
                    continue
                if self.device_is_open(v["id"], s):
                    # Withdrawn before the answer: whoever maps it next (a takeover on this
                    # same machine) must not find the old holder's disk under the name.
                    self.device_del(v["id"], s)
                else:
                    self.schedule(self.device_del, v["id"], s)

    def limits(self, vid, body):
        with self.lock:
            v = self.volume(vid)
            sid = self.resolve_sdc(body)
            m = next((m for m in v["mappings"] if m["sdcId"] == sid), None)
            if not m:
                raise GwError(500, self.code(84, 4039), "The volume is not mapped to SDC")
            iops = int(body.get("iopsLimit", "0"))
            bw = int(body.get("bandwidthLimitInKbps", "0"))
            if (iops != 0 and iops <= 10) or bw % 1024:
                raise GwError(500, 0, "Invalid limits")
            m["limitIops"], m["limitBwInMbps"] = iops, bw // 1024
            self.save()

    # ---- SDC side ----
    def schedule(self, fn, *a):
        def run():
            time.sleep(self.args.device_delay)
            with self.lock:
                try:
                    fn(*a)
                except Exception as e:  # noqa: BLE001 - report, keep serving
                    print("pfgw: SDC emulation: %s" % e, file=sys.stderr, flush=True)
        threading.Thread(target=run, daemon=True).start()

    def device_add(self, vid, sid, size_kb, readonly):
        name = "emc-vol-%s-%s" % (SYSTEM_ID, vid)
        key = vid + "@" + sid
        # Resized between the map and now: the device shows the size of the volume today.
        size_kb = max(size_kb, self.data["volumes"].get(vid, {}).get("sizeInKb", 0))
        if self.args.sdc == "loop":
            f = os.path.join(self.args.state_dir, name)
            if not os.path.exists(f) or os.path.getsize(f) < size_kb * 1024:
                subprocess.run(["truncate", "-s", str(size_kb * 1024), f], check=True)
            # One link per SDC to the one data file: an SDC's device can be withdrawn
            # (renamed away) without touching the other SDCs' (see device_del).
            d = os.path.join(self.args.state_dir, "sdc-" + sid)
            os.makedirs(d, exist_ok=True)
            lf = os.path.join(d, name)
            if os.path.lexists(lf):
                os.unlink(lf)
            os.link(f, lf)
            cmd = ["losetup", "--find", "--show"] + (["-r"] if readonly else []) + [lf]
            dev = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout.strip()
            self.data["devices"][key] = {"kind": "loop", "dev": os.path.basename(dev),
                                         "file": lf}
        elif self.args.sdc == "fake":
            root = self.args.fake_root
            used = {d["dev"] for d in self.data["devices"].values()}
            n = next(i for i in range(26) if "scini" + chr(97 + i) not in used)
            dev = "scini" + chr(97 + n)
            os.makedirs(os.path.join(root, "dev/disk/by-id"), exist_ok=True)
            open(os.path.join(root, "dev", dev), "a").close()
            sysd = os.path.join(root, "sys/class/block", dev)
            os.makedirs(sysd, exist_ok=True)
            with open(os.path.join(sysd, "dev"), "w") as f:
                f.write("252:%d\n" % (n * 16))
            with open(os.path.join(sysd, "size"), "w") as f:
                f.write("%d\n" % (size_kb * 2))
            link = os.path.join(root, "dev/disk/by-id", name)
            if os.path.lexists(link):
                os.unlink(link)
            os.symlink("../../" + dev, link)
            self.data["devices"][key] = {"kind": "fake", "dev": dev}
        self.save()

    def device_grow(self, vid, size_kb):
        """The volume grew: every SDC showing it sees the new size, before the answer (the
        real SDC learns it from the MDM by itself, no rescan asked)."""
        name = "emc-vol-%s-%s" % (SYSTEM_ID, vid)
        f = os.path.join(self.args.state_dir, name)
        if self.args.sdc == "loop" and os.path.exists(f) and os.path.getsize(f) < size_kb * 1024:
            # Each SDC's link is a hard link to this file: one truncate grows them all.
            subprocess.run(["truncate", "-s", str(size_kb * 1024), f], check=True)
        for key, d in self.data["devices"].items():
            if not key.startswith(vid + "@"):
                continue
            if d["kind"] == "loop":
                subprocess.run(["losetup", "-c", "/dev/" + d["dev"]], check=True,
                               capture_output=True)
            elif d["kind"] == "fake":
                with open(os.path.join(self.args.fake_root, "sys/class/block", d["dev"],
                                       "size"), "w") as sf:
                    sf.write("%d\n" % (size_kb * 2))

    def device_is_open(self, vid, sid):
        """A loop device something is built on (a dm map over it: its host still uses it)."""
        d = self.data["devices"].get(vid + "@" + sid)
        if not d or d["kind"] != "loop":
            return False
        try:
            return bool(os.listdir("/sys/block/%s/holders" % d["dev"]))
        except OSError:
            return False

    def device_del(self, vid, sid):
        d = self.data["devices"].pop(vid + "@" + sid, None)
        if not d:
            return
        if d["kind"] == "loop":
            subprocess.run(["losetup", "-d", "/dev/" + d["dev"]], check=False)
            lf = d.get("file")
            if lf and os.path.exists("/sys/block/%s/loop/backing_file" % d["dev"]):
                # Still open (its host holds it: a takeover): the kernel only marks it
                # autoclear. Withdraw it from that host as the SDC would: rename its link
                # so the backing file no longer matches the udev rule, and let udev drop
                # the by-id name.
                gone = os.path.join(os.path.dirname(lf), "withdrawn-%s-%s" % (vid, d["dev"]))
                os.replace(lf, gone)
                os.unlink(gone)
                subprocess.run(["udevadm", "trigger", "--action=change", "--settle",
                                "/sys/block/" + d["dev"]], check=False, capture_output=True)
            elif lf and os.path.lexists(lf):
                os.unlink(lf)
        elif d["kind"] == "fake":
            root = self.args.fake_root
            name = "emc-vol-%s-%s" % (SYSTEM_ID, vid)
            for p in (os.path.join(root, "dev/disk/by-id", name), os.path.join(root, "dev", d["dev"])):
                if os.path.lexists(p):
                    os.unlink(p)
            shutil.rmtree(os.path.join(root, "sys/class/block", d["dev"]), ignore_errors=True)
        self.save()

    def snapshot(self):
        with self.lock:
            d = json.loads(json.dumps(self.data))
            d["counters"] = dict(self.counters)
            d["live_tokens"] = len(self.tokens)
            d["fault"] = dict(self.fault)
            return d


def make_handler(st):
    class H(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "pfgw-emulator"

        def log_message(self, fmt, *a):  # method, path and status only: never headers
            if st.args.verbose:
                sys.stderr.write("pfgw: %s\n" % (fmt % a))

        def send(self, status, obj=None, raw=None, ctype="application/json"):
            body = raw if raw is not None else (b"" if obj is None else json.dumps(obj).encode())
            if getattr(self, "_slow_after", 0):
                # The action is done (under the state lock); the answer waits outside it.
                self._deferred = (status, body, ctype)
                return
            self.write(status, body, ctype)

        def write(self, status, body, ctype):
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def err(self, status, code, message):
            self.send(status, {"message": message, "httpStatusCode": status, "errorCode": code})

        def body(self):
            raw = self._raw
            if not raw:
                return {}
            try:
                b = json.loads(raw)
            except ValueError:
                raise GwError(400, 0, "Request body is not valid JSON")
            if not isinstance(b, dict):
                raise GwError(400, 0, "Request body must be a JSON object")
            return b

        def auth(self):
            """(kind, user, secret) from the Authorization header."""
            h = self.headers.get("Authorization", "")
            if h.startswith("Basic "):
                try:
                    u, _, p = base64.b64decode(h[6:]).decode().partition(":")
                except (binascii.Error, UnicodeDecodeError):
                    return None, None, None
                return "basic", u, p
            if h.startswith("Bearer "):
                return "bearer", None, h[7:]
            return None, None, None

        def do_GET(self):
            self.handle_any("GET")

        def do_POST(self):
            self.handle_any("POST")

        def handle_any(self, method):
            path = urllib.parse.urlsplit(self.path).path
            # Consume the body first: an early error answer must not leave it in the stream
            # of a keep-alive connection.
            n = int(self.headers.get("Content-Length") or 0)
            self._raw = self.rfile.read(n) if n else b""
            self._slow_after = 0
            self._deferred = None
            try:
                if path.startswith("/emu/"):
                    return self.control(method, path)
                with st.lock:
                    st.counters["requests"] += 1
                    fault = dict(st.fault)
                if fault["slow"]:
                    time.sleep(fault["slow"])
                if method == "POST" and path != "/api/login":
                    self._slow_after = fault.get("slow_after", 0)
                if fault["status"]:
                    if fault["html"]:
                        return self.send(fault["status"], raw=b"<html><body>Service Unavailable"
                                         b"</body></html>", ctype="text/html")
                    return self.err(fault["status"], 0, "Service Unavailable")
                self.api(method, path)
                if getattr(self, "_deferred", None):
                    time.sleep(self._slow_after)
                    self.write(*self._deferred)
            except GwError as e:
                self._slow_after = 0
                self.err(e.status, e.code, e.message)
            except (BrokenPipeError, ConnectionResetError):
                pass

        def control(self, method, path):
            b = self.body() if method == "POST" else {}
            if method == "GET" and path == "/emu/state":
                return self.send(200, st.snapshot())
            if method == "POST" and path == "/emu/sdc":
                return self.send(200, {"id": st.add_sdc(b)})
            if method == "POST" and path == "/emu/volume":
                return self.send(200, {"id": st.add_volume(b)})
            if method == "POST" and path == "/emu/map":
                with st.lock:
                    v = st.volume(b["volumeId"])
                    sid = b["sdcId"].lower()
                    if not any(m["sdcId"] == sid for m in v["mappings"]):
                        v["mappings"].append({"sdcId": sid,
                                              "accessMode": b.get("accessMode", "ReadWrite"),
                                              "limitIops": 0, "limitBwInMbps": 0,
                                              "multi": False})
                    st.save()
                return self.send(200, {})
            if method == "POST" and path == "/emu/expire-tokens":
                with st.lock:
                    st.tokens.clear()
                return self.send(200, {})
            if method == "POST" and path == "/emu/fault":
                with st.lock:
                    st.fault = {"slow": float(b.get("slow", 0)), "status": int(b.get("status", 0)),
                                "html": bool(b.get("html", False)),
                                "nodevice": bool(b.get("nodevice", False)),
                                "slow_after": float(b.get("slow_after", 0)),
                                "fail_unmap": int(b.get("fail_unmap", 0)),
                                "map_after_unmap": str(b.get("map_after_unmap", ""))}
                return self.send(200, st.fault)
            raise GwError(404, 0, "no such control endpoint")

        def api(self, method, path):
            kind, user, secret = self.auth()
            if path == "/api/login" and method == "GET":
                tok = st.login(user, secret) if kind == "basic" else None
                if not tok:
                    raise GwError(401, 0, "Unauthorized")
                return self.send(200, tok)
            # A client learns the API version (hence Basic vs Bearer) from /api/version, so
            # that one answers either form of a live token.
            want = ("basic", "bearer") if path == "/api/version" else \
                ("bearer",) if st.args.api == 4 else ("basic",)
            if kind not in want or not st.check_token(secret):
                raise GwError(401, 0, "Unauthorized")
            if path == "/api/logout":
                with st.lock:
                    st.tokens.pop(secret, None)
                return self.send(200, None)
            b = self.body() if method == "POST" else {}
            with st.lock:
                return self.route(method, path, b)

        def route(self, method, path, b):
            d = st.data
            if method == "GET":
                if path == "/api/version":
                    return self.send(200, st.version())
                if path == "/api/types/System/instances":
                    return self.send(200, [self.system()])
                m = re.fullmatch(r"/api/instances/System::([^/]+)(/relationships/Sdc)?", path)
                if m:
                    if m.group(1).lower() != SYSTEM_ID:
                        raise GwError(500, 0, "Could not find the System")
                    if m.group(2):
                        return self.send(200, [st.sdc_json(s) for s in d["sdcs"].values()])
                    return self.send(200, self.system())
                if path == "/api/types/Sdc/instances":
                    return self.send(200, [st.sdc_json(s) for s in d["sdcs"].values()])
                m = re.fullmatch(r"/api/instances/Sdc::([^/]+)(/relationships/Volume)?", path)
                if m:
                    s = d["sdcs"].get(m.group(1).lower())
                    if not s:
                        raise GwError(500, 80, "Could not find the SDC")
                    if m.group(2):
                        return self.send(200, [st.volume_json(v) for v in d["volumes"].values()
                                               if any(x["sdcId"] == s["id"] for x in v["mappings"])])
                    return self.send(200, st.sdc_json(s))
                m = re.fullmatch(r"/api/instances/Volume::([^/]+)", path)
                if m:
                    return self.send(200, st.volume_json(st.volume(m.group(1))))
                if path == "/api/types/StoragePool/instances":
                    return self.send(200, list(d["pools"].values()))
                m = re.fullmatch(r"/api/types/Volume/instances/getByName::(.+)", path)
                if m:
                    name = urllib.parse.unquote(urllib.parse.unquote(m.group(1)))
                    return self.send(200, self.by_name(name))
            if method == "POST":
                if path == "/api/types/Volume/instances":
                    return self.send(200, {"id": st.create_volume(b)})
                if path == "/api/types/ProtectionDomain/instances/action/queryIdByKey":
                    for p in d["pds"].values():
                        if p["name"] == b.get("name"):
                            return self.send(200, p["id"])
                    raise GwError(500, 0, "Could not find the Protection Domain")
                if path == "/api/types/StoragePool/instances/action/queryIdByKey":
                    for p in d["pools"].values():
                        if p["name"] == b.get("name") and \
                                p["protectionDomainId"] == b.get("protectionDomainId"):
                            return self.send(200, p["id"])
                    raise GwError(500, 0, "Could not find the Storage Pool")
                if path == "/api/types/Volume/instances/action/queryIdByKey":
                    return self.send(200, self.by_name(b.get("name", "")))
                if path == "/api/types/Sdc/instances/action/queryIdByKey":
                    for s in d["sdcs"].values():
                        if b.get("ip") in s["sdcIps"]:
                            return self.send(200, s["id"])
                    raise GwError(500, 80, "Could not find the SDC")
                m = re.fullmatch(r"/api/instances/Volume::([^/]+)/action/(\w+)", path)
                if m:
                    vid, action = m.groups()
                    fn = {"addMappedSdc": st.map, "removeMappedSdc": st.unmap,
                          "setMappedSdcLimits": st.limits, "setVolumeSize": st.resize,
                          "removeVolume": st.remove}.get(action)
                    if fn:
                        fn(vid, b)
                        return self.send(200, None)
            raise GwError(404, 0, "The requested resource is not available")

        def system(self):
            s = st.data["system"]
            return {"id": s["id"], "name": s["name"],
                    "systemVersionName": "DellEMC ScaleIO Version: R2_6.0.133",
                    "restrictedSdcMode": s["restrictedSdcMode"],
                    "mdmCluster": {"clusterState": "ClusteredNormal", "clusterMode": "ThreeNodes"}}

        def by_name(self, name):
            for v in st.data["volumes"].values():
                if v["name"] == name:
                    return v["id"]
            raise GwError(500, 79, "Could not find the volume")

    return H


def make_cert(d):
    cert, key = os.path.join(d, "gw.crt"), os.path.join(d, "gw.key")
    if not os.path.exists(cert):
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                        "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost",
                        "-keyout", key, "-out", cert], check=True, capture_output=True)
    return cert, key


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--listen", default="127.0.0.1:0", help="HOST:PORT (port 0: any free port)")
    p.add_argument("--port-file", help="write the port here once listening")
    p.add_argument("--state-dir", required=True)
    p.add_argument("--tls", action="store_true", help="HTTPS with a self-signed cert (STATE/gw.crt)")
    p.add_argument("--api", type=int, choices=(3, 4), default=3)
    p.add_argument("--user", default="admin")
    p.add_argument("--password-file", required=True)
    p.add_argument("--token-ttl", type=float, default=8 * 3600)
    p.add_argument("--token-idle", type=float, default=600)
    p.add_argument("--local-sdc-guid", default="")
    p.add_argument("--local-sdc-id", default="d0f055a700000000")
    p.add_argument("--sdc", choices=("none", "loop", "fake"), default="none")
    p.add_argument("--fake-root", default="")
    p.add_argument("--device-delay", type=float, default=0.2)
    p.add_argument("--verbose", action="store_true")
    a = p.parse_args()
    with open(a.password_file) as f:
        a.password = f.read().rstrip("\r\n")
    os.makedirs(a.state_dir, exist_ok=True)
    st = State(a)
    host, _, port = a.listen.rpartition(":")
    srv = ThreadingHTTPServer((host, int(port)), make_handler(st))
    srv.daemon_threads = True
    if a.tls:
        cert, key = make_cert(a.state_dir)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(cert, key)
        srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
    if a.port_file:
        with open(a.port_file + ".tmp", "w") as f:
            f.write("%d\n" % srv.server_address[1])
        os.replace(a.port_file + ".tmp", a.port_file)
    try:
        srv.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
