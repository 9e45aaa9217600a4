#!/usr/bin/env python3
"""Stand-in servers for trying `catimage collect` and `catimage score` by hand (README, "Your own generators").

Starts, on 127.0.0.1 (Python standard library only):
  - an AUTOMATIC1111 stand-in:  POST /sdapi/v1/txt2img      (port BASE)
  - an OpenAI Images stand-in:  POST /v1/images/generations (port BASE+1)
  - a scorer stand-in:          POST /score                 (port BASE+2)

The generators answer real 64x64 PNGs (zlib-compressed): the red level of the image is the stand-in's "quality",
which grows with the prompt's length at a rate set per generator, and the scorer reads it back (score = red / 255).
A1111 quality and delay depend on `steps` (4 steps: fast and good on long prompts; 30 steps: slow and good on
short ones); the OpenAI stand-in's depend on `model`. Not a model of anything real: it exercises the protocols.

    python3 scripts/standins.py [--base-port 7860] [--failure-rate 0.0] [--delay-scale 1.0]
    python3 scripts/standins.py --example-prompts 40 > prompts.txt    # prompts of 2 to 16 words, then exit
"""

import argparse
import base64
import hashlib
import json
import random
import struct
import threading
import time
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

SIDE = 64


def png(red, variation):
    """A real SIDE x SIDE RGB PNG whose every pixel's red channel is `red`."""
    rng = random.Random(variation)
    rows = bytearray()
    for _ in range(SIDE):
        rows.append(0)
        for _ in range(SIDE):
            rows += bytes((red, rng.randrange(256), rng.randrange(256)))

    def chunk(kind, data):
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", SIDE, SIDE, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(bytes(rows), 6))
            + chunk(b"IEND", b""))


def red_of(data):
    """The first pixel's red level of a PNG written by `png`, or None."""
    if not data.startswith(b"\x89PNG"):
        return None
    offset, idat = 8, b""
    while offset + 8 <= len(data):
        length, kind = struct.unpack(">I4s", data[offset:offset + 8])
        if kind == b"IDAT":
            idat += data[offset + 8:offset + 8 + length]
        offset += 12 + length
    try:
        return zlib.decompress(idat)[1]
    except (zlib.error, IndexError):
        return None


# quality at one word, quality per extra word, seconds per image
A1111_STEPS = {4: (70, 14, 0.05), 8: (110, 8, 0.10), 30: (160, 3, 0.35)}
OPENAI_MODELS = {"hosted-1": (120, 7, 0.15)}


class Handler(BaseHTTPRequestHandler):
    server_version = "catimage-standin/1"

    def log_message(self, *args):
        pass

    def reply(self, status, obj, headers=()):
        body = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        for name, value in headers:
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def body(self):
        length = int(self.headers.get("Content-Length") or 0)
        try:
            return json.loads(self.rfile.read(length) or b"{}")
        except ValueError:
            return None

    def do_POST(self):
        request = self.body()
        if request is None:
            return self.reply(400, {"error": "not JSON"})
        options = self.server.options
        if self.path == "/score":
            return self.score(request)
        if self.path == "/sdapi/v1/txt2img":
            level, per_word, seconds = A1111_STEPS.get(int(request.get("steps", 20)), (100, 5, 0.2))
        elif self.path == "/v1/images/generations":
            level, per_word, seconds = OPENAI_MODELS.get(request.get("model"), (100, 5, 0.2))
        else:
            return self.reply(404, {"error": "no such endpoint"})
        started = time.monotonic()
        time.sleep(seconds * options.delay_scale)
        if random.random() < options.failure_rate:
            return self.reply(500, {"error": "stand-in failure"})
        prompt = str(request.get("prompt", ""))
        seed = int(request.get("seed", -1))
        red = max(0, min(255, level + per_word * (len(prompt.split()) - 1)))
        variation = int(hashlib.sha256(f"{prompt}\n{seed}\n{self.path}\n{level}".encode()).hexdigest()[:12], 16)
        image = base64.b64encode(png(red, variation)).decode()
        took = time.monotonic() - started
        if self.path == "/sdapi/v1/txt2img":
            self.reply(200, {"images": [image], "parameters": request, "info": json.dumps({"seed": seed})},
                       [("X-Process-Time", f"{took:.4f}")])
        else:
            self.reply(200, {"created": int(time.time()), "data": [{"b64_json": image}]},
                       [("openai-processing-ms", str(int(took * 1000)))])

    def score(self, request):
        scores = []
        for item in request.get("items", []):
            red = red_of(base64.b64decode(item.get("image_png_base64", "")))
            if red is not None:
                scores.append({"id": item.get("id"), "score": red / 255})
        self.reply(200, {"scores": scores})


SUBJECTS = ["a red fox", "an old lighthouse", "a bowl of ramen", "a robot gardener", "a paper boat",
            "a mountain village", "a jazz trio", "a glass teapot", "a desert caravan", "a koi pond"]
DETAILS = ["at dawn", "in heavy rain", "with neon reflections", "seen from above", "in the style of an etching",
           "under a full moon", "with soft volumetric light", "on a foggy morning", "surrounded by wildflowers",
           "in muted pastel colours", "with intricate detail"]


def example_prompts(count):
    rng = random.Random(7)
    for index in range(count):
        details = rng.sample(DETAILS, index % 5)
        print(" ".join([SUBJECTS[index % len(SUBJECTS)]] + details))


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--base-port", type=int, default=7860)
    parser.add_argument("--failure-rate", type=float, default=0.0, help="fraction of renders answered 500")
    parser.add_argument("--delay-scale", type=float, default=1.0, help="multiplies every render's delay")
    parser.add_argument("--example-prompts", type=int, metavar="N", help="print N example prompts and exit")
    options = parser.parse_args()
    if options.example_prompts:
        return example_prompts(options.example_prompts)
    servers = []
    for offset, name in enumerate(["a1111", "openai-images", "scorer"]):
        server = ThreadingHTTPServer(("127.0.0.1", options.base_port + offset), Handler)
        server.options = options
        servers.append(server)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        print(f"{name} stand-in on http://127.0.0.1:{options.base_port + offset}", flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        for server in servers:
            server.shutdown()


if __name__ == "__main__":
    main()
