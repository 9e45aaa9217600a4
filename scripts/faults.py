#!/usr/bin/env python3
"""The fault and abuse scenarios of the README's "Reliability" section, against a real `catimage serve`.

Bounded and loopback only. Starts stand-in generation servers (Python standard library, real PNGs over real HTTP),
trains nothing: give it a router file (`catimage train ... -o router.catimage`). For each scenario it writes a
gateway config into a temporary folder, starts `catimage serve` on it, drives it, samples the gateway's RSS and
open files from /proc while it runs, counts the decision log's rows at the end, stops the gateway and prints a
table (and, with --json, one JSON object per scenario).

  outage       SDXL-Turbo's server fails every other request and SD-Turbo's (the cheapest) hangs past its 2 s
               timeout, 20 req/s of `POST /v1/images/generations` with `model: auto` (a healthy phase first);
               statuses, p50/p99 per phase, fallbacks, timeouts paid, the chosen and served mean cost vs the
               target, the share of first choices per generator.
  overload     `POST /v1/route` at 300 and 400 req/s (open loop), then a burst of 2,000 concurrent requests:
               statuses, p50/p99 of answered and of refused requests, /readyz during the burst.
  connections  N idle connections and 100 slowloris clients (1 byte/s of headers): how many the server closed and
               when, whether /healthz keeps answering (its p99 while they are open), peak RSS and open files.
  connection-cap  (not in the default list) 3,000 idle connections against `max_connections: 1000`: the
               gateway's peak open files, and whether /healthz is answered while at the cap and after.
  bodies       a 100 MB body, an endless chunked body and a Content-Length larger than the body: the status, the
               seconds until the answer and the bytes the server let the client send before closing.

    python3 scripts/faults.py --catimage .build/release/catimage --router router.catimage [--scenarios outage,...]
        [--duration 60] [--idle-connections 5000] [--json]
"""

import argparse
import asyncio
import base64
import json
import os
import random
import resource
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from standins import png  # noqa: E402  (the same real PNGs as the other stand-ins)

GENERATORS = ["SDXL-Turbo", "SD-Turbo", "amused", "TAESD"]
# seconds per image of the healthy stand-ins (shorter than the real ones: the scenarios are about the gateway)
DELAYS = {"SDXL-Turbo": 0.08, "SD-Turbo": 0.04, "amused": 0.07, "TAESD": 0.25}


# --------------------------------------------------------------------------------------------- stand-in backends

class Backend(BaseHTTPRequestHandler):
    """A1111 (`/sdapi/v1/txt2img`) or OpenAI Images (`/v1/images/generations`), one generator per port."""

    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def do_POST(self):
        length = int(self.headers.get("Content-Length") or 0)
        try:
            request = json.loads(self.rfile.read(length) or b"{}")
        except ValueError:
            request = {}
        state = self.server.state
        with state["lock"]:
            state["calls"] += 1
            call = state["calls"]
        mode = state["mode"]
        if mode == "hang":
            time.sleep(state["hang_seconds"])
        elif mode == "fail-half" and call % 2 == 0:
            return self.reply(503, {"error": "stand-in failure"})
        time.sleep(state["delay"])
        image = base64.b64encode(png(128, hash(request.get("prompt", "")) & 0xFFFF)).decode()
        if self.path == "/sdapi/v1/txt2img":
            self.reply(200, {"images": [image], "parameters": request, "info": "{}"})
        else:
            self.reply(200, {"created": int(time.time()), "data": [{"b64_json": image}]})

    def reply(self, status, obj):
        body = json.dumps(obj).encode()
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the gateway gave up on a hanging request: expected


def start_backends(base_port):
    states = {}
    for offset, name in enumerate(GENERATORS):
        server = ThreadingHTTPServer(("127.0.0.1", base_port + offset), Backend)
        server.daemon_threads = True
        server.state = {"mode": "ok", "delay": DELAYS[name], "hang_seconds": 5.0, "calls": 0,
                        "lock": threading.Lock()}
        states[name] = server.state
        threading.Thread(target=server.serve_forever, daemon=True).start()
    return states


# ------------------------------------------------------------------------------------------------------ the gateway

def write_config(folder, router, port, base_port, extra=""):
    backends = []
    for offset, name in enumerate(GENERATORS):
        url = f"http://127.0.0.1:{base_port + offset}"
        if name.startswith("SD"):
            backends.append(f"  {name}:\n    backend: a1111\n    base_url: {url}\n    steps: 1\n"
                            f"    timeout_seconds: 2\n    retries: 1\n")
        else:
            backends.append(f"  {name}:\n    backend: openai-images\n    base_url: {url}/v1\n    model: {name}\n"
                            f"    timeout_seconds: 2\n    retries: 1\n")
    text = (f"listen:\n  host: 127.0.0.1\n  port: {port}\nrouter: {os.path.abspath(router)}\n"
            f"budget:\n  target_mean_cost: 0.45\n  window: 256\n  warmup: 16\n"
            f"log:\n  path: {folder}/decisions.sqlite\n  synchronous: normal\n{extra}"
            f"generators:\n{''.join(backends)}")
    path = os.path.join(folder, "gateway.yaml")
    with open(path, "w") as file:
        file.write(text)
    return path


class Gateway:
    def __init__(self, catimage, config, port):
        self.port = port
        self.log = open(os.path.join(os.path.dirname(config), "serve.log"), "w")
        self.process = subprocess.Popen([catimage, "serve", "--config", config], stdout=self.log,
                                        stderr=subprocess.STDOUT)
        self.samples = []
        self.stopping = threading.Event()
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise SystemExit(f"catimage serve exited with {self.process.returncode}; see {self.log.name}")
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1).read()
                break
            except OSError:
                time.sleep(0.2)
        else:
            raise SystemExit("catimage serve did not answer /healthz within 120 s")
        threading.Thread(target=self.sample, daemon=True).start()

    def sample(self):
        while not self.stopping.wait(0.25):
            try:
                with open(f"/proc/{self.process.pid}/status") as status:
                    rss = next(int(line.split()[1]) for line in status if line.startswith("VmRSS:"))
                files = len(os.listdir(f"/proc/{self.process.pid}/fd"))
                self.samples.append((rss, files))
            except (OSError, StopIteration):
                return

    def peak(self):
        if not self.samples:
            return {"peak_rss_mb": None, "peak_open_files": None}
        return {"peak_rss_mb": round(max(s[0] for s in self.samples) / 1024, 1),
                "start_rss_mb": round(self.samples[0][0] / 1024, 1),
                "peak_open_files": max(s[1] for s in self.samples)}

    def stop(self):
        self.stopping.set()
        self.process.terminate()
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.log.close()


def rows_logged(folder):
    with sqlite3.connect(os.path.join(folder, "decisions.sqlite")) as db:
        return db.execute("SELECT COUNT(*) FROM decisions").fetchone()[0]


# ------------------------------------------------------------------------------------------------------ raw HTTP

async def request(port, method, path, body=b"", timeout=30.0):
    """One request on a new connection: (status, headers, body) or (None, {}, error text)."""
    try:
        reader, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), timeout)
    except (OSError, asyncio.TimeoutError) as error:
        return None, {}, f"connect: {error!r}"
    try:
        head = (f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n").encode()
        writer.write(head + body)
        await writer.drain()
        raw = await asyncio.wait_for(reader.read(-1), timeout)
    except (OSError, asyncio.TimeoutError) as error:
        return None, {}, f"{type(error).__name__}"
    finally:
        writer.close()
    head, _, content = raw.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    try:
        status = int(lines[0].split()[1])
    except (IndexError, ValueError):
        return None, {}, "no status line"
    headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    return status, headers, content


def percentile(values, share):
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def summary(latencies):
    return {"n": len(latencies), "min_s": round(min(latencies), 4) if latencies else None,
            "p50_s": round(percentile(latencies, 0.5), 4) if latencies else None,
            "p99_s": round(percentile(latencies, 0.99), 4) if latencies else None}


async def open_loop(port, path, bodies, rate, duration, tag=None):
    """Requests due at a fixed rate; latency counted from when each was due (queueing shows)."""
    start = time.monotonic() + 0.2
    tasks = []
    count = int(rate * duration)

    async def one(index):
        due = start + index / rate
        await asyncio.sleep(max(0.0, due - time.monotonic()))
        sent = time.monotonic()
        status, headers, content = await request(port, "POST", path, bodies[index % len(bodies)])
        now = time.monotonic()
        return {"status": status, "latency": now - due, "service": now - sent, "headers": headers,
                "body": content, "tag": tag(index) if tag else None}

    for index in range(count):
        tasks.append(asyncio.ensure_future(one(index)))
    return await asyncio.gather(*tasks)


# ------------------------------------------------------------------------------------------------------ scenarios

def prompts(cems, count):
    import csv
    path = os.path.join(cems, "clip_score_with_time_SD-Turbo.csv")
    with open(path, newline="") as file:
        rows = [row["prompt"] for row in csv.DictReader(file)]
    random.Random(7).shuffle(rows)
    return rows[:count]


def outage(options, states, router_costs):
    duration = options.duration
    healthy = max(5.0, duration / 6)
    texts = prompts(options.cems, 4000)
    bodies = [json.dumps({"prompt": p, "model": "auto", "response_format": "b64_json"}).encode() for p in texts]
    rate = 20.0
    switch_at = [None]

    def set_faults():
        states["SDXL-Turbo"]["mode"] = "fail-half"
        states["SD-Turbo"]["mode"] = "hang"
        switch_at[0] = time.monotonic()

    async def run():
        loop = asyncio.get_running_loop()
        loop.call_later(0.2 + healthy, set_faults)
        return await open_loop(options.port, "/v1/images/generations", bodies, rate, healthy + duration)

    results = asyncio.run(run())
    for state in states.values():
        state["mode"] = "ok"
    phases = {"healthy": [], "faults": [], "faults after their first 10 s": []}
    for index, result in enumerate(results):
        phase = "healthy" if index < int(rate * healthy) else "faults"
        phases[phase].append(result)
        if index >= int(rate * (healthy + 10)):
            phases["faults after their first 10 s"].append(result)
    report = {}
    for phase, items in phases.items():
        statuses = {}
        chosen, served, fallbacks, first = [], [], 0, {}
        for item in items:
            statuses[str(item["status"])] = statuses.get(str(item["status"]), 0) + 1
            if item["status"] != 200:
                continue
            try:
                reply = json.loads(item["body"])
            except ValueError:
                continue
            routing = reply.get("catimage", {})
            first[routing.get("chosen_generator")] = first.get(routing.get("chosen_generator"), 0) + 1
            chosen.append(router_costs.get(routing.get("chosen_generator"), 0))
            served.append(router_costs.get(reply.get("generator"), 0))
            fallbacks += reply.get("generator") != routing.get("chosen_generator")
        ok = [i["latency"] for i in items if i["status"] == 200]
        report[phase] = {"requests": len(items), "statuses": statuses, **summary(ok), "fallbacks": fallbacks,
                         "chosen_mean_cost": round(statistics.fmean(chosen), 4) if chosen else None,
                         "served_mean_cost": round(statistics.fmean(served), 4) if served else None,
                         "first_choice_share": {k: round(v / max(1, len(chosen)), 3) for k, v in first.items()}}
    return report


def overload(options, states, router_costs):
    texts = prompts(options.cems, 4000)
    bodies = [json.dumps({"prompt": p}).encode() for p in texts]
    report = {}
    for rate in (300, 400):
        results = asyncio.run(open_loop(options.port, "/v1/route", bodies, rate, options.overload_seconds))
        report[f"{rate}/s"] = describe(results)

    async def burst():
        async def ready_probe():
            await asyncio.sleep(0.3)
            status, _, _ = await request(options.port, "GET", "/readyz", timeout=10)
            return status
        probe = asyncio.ensure_future(ready_probe())
        started = time.monotonic()

        async def one(index):
            sent = time.monotonic()
            status, headers, content = await request(options.port, "POST", "/v1/route", bodies[index], timeout=60)
            now = time.monotonic()
            return {"status": status, "latency": now - started, "service": now - sent, "headers": headers,
                    "body": content}
        results = await asyncio.gather(*(one(i) for i in range(2000)))
        return results, await probe

    results, ready = asyncio.run(burst())
    report["burst of 2000"] = describe(results)
    report["burst of 2000"]["readyz_during_burst"] = ready
    return report


def describe(results):
    statuses = {}
    for item in results:
        statuses[str(item["status"])] = statuses.get(str(item["status"]), 0) + 1
    answered = [i["latency"] for i in results if i["status"] == 200]
    reasons = {}
    for item in results:
        if item["status"] in (429, 503):
            try:
                code = json.loads(item["body"]).get("error", {}).get("code", "?")
            except (ValueError, AttributeError):
                code = "?"
            reasons.setdefault(code, []).append(item["service"])
    retry_after = sum(1 for i in results if i["status"] in (429, 503) and "retry-after" in i["headers"])
    return {"requests": len(results), "statuses": statuses, "answered (from due time)": summary(answered),
            "refused (from send, by reason)": {code: summary(times) for code, times in reasons.items()},
            "refused_with_retry_after": retry_after}


def connections(options, states, router_costs):
    async def run():
        idle, slow = [], []
        opened_at = time.monotonic()
        for _ in range(options.idle_connections):
            try:
                idle.append(await asyncio.open_connection("127.0.0.1", options.port))
            except OSError:
                break
        opened = len(idle)
        for _ in range(100):
            reader, writer = await asyncio.open_connection("127.0.0.1", options.port)
            slow.append((reader, writer))

        async def drip(reader, writer):
            text = b"POST /v1/route HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 20\r\nX-Slow: " + b"a" * 200
            started = time.monotonic()
            for byte in text:
                try:
                    writer.write(bytes([byte]))
                    await writer.drain()
                except OSError:
                    return time.monotonic() - started
                try:
                    data = await asyncio.wait_for(reader.read(1024), 1.0)
                    if data == b"" or data:
                        return time.monotonic() - started
                except asyncio.TimeoutError:
                    pass
            return None

        drips = asyncio.ensure_future(asyncio.gather(*(drip(r, w) for r, w in slow)))
        health = []
        deadline = opened_at + options.idle_timeout + 6
        while time.monotonic() < deadline:
            started = time.monotonic()
            status, _, _ = await request(options.port, "GET", "/healthz", timeout=10)
            health.append((status, time.monotonic() - started))
            await asyncio.sleep(0.5)

        async def closed(reader):
            try:
                return await asyncio.wait_for(reader.read(1), 0.05) == b""
            except asyncio.TimeoutError:
                return False
            except OSError:
                return True
        closed_count = sum([await closed(reader) for reader, _ in idle])
        slow_times = await drips
        for _, writer in idle + slow:
            writer.close()
        return {"idle_opened": opened, "idle_closed_by_server_after_s": round(options.idle_timeout + 6, 1),
                "idle_closed": closed_count,
                "slowloris_cut": sum(1 for t in slow_times if t is not None),
                "slowloris_cut_after_s": summary([t for t in slow_times if t is not None]),
                "healthz": {"answered_200": sum(1 for s, _ in health if s == 200), "probes": len(health),
                            **summary([t for s, t in health if s == 200])}}
    return asyncio.run(run())


def bodies(options, states, router_costs):
    async def stream(head, chunk, limit):
        reader, writer = await asyncio.open_connection("127.0.0.1", options.port)
        writer.write(head)
        started, sent, status = time.monotonic(), 0, None
        response = asyncio.ensure_future(reader.read(4096))
        try:
            while sent < limit and time.monotonic() - started < 20:
                if response.done():
                    break
                writer.write(chunk)
                await writer.drain()
                sent += len(chunk)
        except OSError:
            pass
        try:
            data = await asyncio.wait_for(response, 20)
            if data.startswith(b"HTTP/1.1 "):
                status = int(data.split()[1])
        except (asyncio.TimeoutError, OSError, ValueError):
            pass
        writer.close()
        return {"status": status, "seconds": round(time.monotonic() - started, 3), "bytes_sent": sent}

    async def run():
        big = 100 * 1024 * 1024
        head = (f"POST /v1/route HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                f"Content-Length: {big}\r\n\r\n").encode()
        result = {"100 MB body": await stream(head, b"x" * 65536, big)}
        head = b"POST /v1/route HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
        chunk = b"10000\r\n" + b"x" * 65536 + b"\r\n"
        result["endless chunked body"] = await stream(head, chunk, 20 * 1024 ** 3)
        reader, writer = await asyncio.open_connection("127.0.0.1", options.port)
        started = time.monotonic()
        writer.write(b"POST /v1/route HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n{\"prompt\": \"a")
        await writer.drain()
        try:
            data = await asyncio.wait_for(reader.read(4096), 60)
            status = int(data.split()[1]) if data.startswith(b"HTTP/1.1 ") else None
        except (asyncio.TimeoutError, ValueError, IndexError):
            status = None
        writer.close()
        result["Content-Length larger than the body"] = {"status": status,
                                                        "seconds": round(time.monotonic() - started, 3)}
        return result
    return asyncio.run(run())


def connection_cap(options, states, router_costs):
    """3,000 idle connections against `max_connections: 1000`: the gateway's open files must stay near the cap."""
    async def run():
        idle = []
        for _ in range(3000):
            try:
                idle.append(await asyncio.wait_for(asyncio.open_connection("127.0.0.1", options.port), 5))
            except (OSError, asyncio.TimeoutError):
                break
        await asyncio.sleep(2)
        started = time.monotonic()
        status, _, _ = await request(options.port, "GET", "/healthz", timeout=30)
        waited = time.monotonic() - started
        for _, writer in idle:
            writer.close()
        await asyncio.sleep(1)
        started = time.monotonic()
        after, _, _ = await request(options.port, "GET", "/healthz", timeout=30)
        return {"client_connections": len(idle), "healthz_while_at_cap": status,
                "healthz_while_at_cap_s": round(waited, 3), "healthz_after": after,
                "healthz_after_s": round(time.monotonic() - started, 3)}
    return asyncio.run(run())


SCENARIOS = {"connection-cap": connection_cap, "outage": outage, "overload": overload, "connections": connections, "bodies": bodies}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--catimage", default=".build/release/catimage")
    parser.add_argument("--router", required=True)
    parser.add_argument("--cems", default=os.environ.get("CATIMAGE_DATASETS", "../shared/datasets") + "/cems")
    parser.add_argument("--scenarios", default="outage,overload,connections,bodies")
    parser.add_argument("--duration", type=float, default=60.0, help="seconds of faults in the outage scenario")
    parser.add_argument("--overload-seconds", type=float, default=10.0)
    parser.add_argument("--idle-connections", type=int, default=5000)
    parser.add_argument("--idle-timeout", type=float, default=5.0)
    parser.add_argument("--port", type=int, default=18080)
    parser.add_argument("--backend-port", type=int, default=18900)
    parser.add_argument("--json", action="store_true")
    options = parser.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    states = start_backends(options.backend_port)
    extra = {
        "connections": f"connections:\n  idle_timeout_seconds: {options.idle_timeout}\n"
                       f"  header_timeout_seconds: {options.idle_timeout}\n  body_timeout_seconds: 5\n",
        "bodies": "connections:\n  body_timeout_seconds: 5\n",
        "connection-cap": "connections:\n  max_connections: 1000\n  idle_timeout_seconds: 30\n",
    }
    for name in options.scenarios.split(","):
        with tempfile.TemporaryDirectory(prefix=f"catimage-faults-{name}-") as folder:
            config = write_config(folder, options.router, options.port, options.backend_port, extra.get(name, ""))
            gateway = Gateway(options.catimage, config, options.port)
            try:
                probe = urllib.request.Request(f"http://127.0.0.1:{options.port}/v1/route",
                                               data=b'{"prompt": "a cat"}', method="POST")
                decision = json.loads(urllib.request.urlopen(probe, timeout=30).read())
                costs = {c["generator"]: c["cost"] for c in decision["candidates"]}
                started = time.monotonic()
                result = SCENARIOS[name](options, states, costs)
                result["wall_seconds"] = round(time.monotonic() - started, 1)
                time.sleep(1.0)
                result["gateway"] = gateway.peak()
            finally:
                gateway.stop()
            result["rows_logged"] = rows_logged(folder)
            with open("/proc/loadavg") as load:
                result["load_average"] = load.read().split()[:3]
        if options.json:
            print(json.dumps({"scenario": name, **result}), flush=True)
        else:
            print(f"== {name}\n{json.dumps(result, indent=2)}", flush=True)


if __name__ == "__main__":
    main()
