#!/usr/bin/env python3
"""Writes a pcap of G.711 u-law RTP (payload type 0, 20 ms packets, 8 kHz) from an audio
file, for sipp's `play_pcap_audio`.

    scripts/sipp/make_g711_pcap.py IN.(flac|wav|...) OUT.pcap [--repeat N] [--seconds S]

The audio is converted with sox (8 kHz mono 16-bit), encoded to u-law (ITU-T G.711) and
packed as Ethernet/IPv4/UDP/RTP frames with timestamps 20 ms apart. sipp rewrites the
addresses and ports when it plays the file, so the ones written here are placeholders.
"""
import argparse
import struct
import subprocess
import sys

RATE = 8000
FRAME = 160  # samples per 20 ms packet
BIAS = 0x84
CLIP = 32635


def ulaw(sample: int) -> int:
    """One 16-bit linear sample to its G.711 u-law byte."""
    sign = 0x80 if sample < 0 else 0
    mag = min(-sample if sample < 0 else sample, CLIP) + BIAS
    exponent = 7
    mask = 0x4000
    while exponent > 0 and not mag & mask:
        exponent -= 1
        mask >>= 1
    mantissa = (mag >> (exponent + 3)) & 0x0F
    return ~(sign | (exponent << 4) | mantissa) & 0xFF


def checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def frame(payload: bytes, seq: int, ts: int) -> bytes:
    rtp = struct.pack("!BBHII", 0x80, 0, seq & 0xFFFF, ts & 0xFFFFFFFF, 0x5EED0711) + payload
    udp = struct.pack("!HHHH", 6000, 6000, 8 + len(rtp), 0) + rtp
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), seq & 0xFFFF, 0, 64, 17, 0,
                     bytes([127, 0, 0, 1]), bytes([127, 0, 0, 1]))
    ip = ip[:10] + struct.pack("!H", checksum(ip)) + ip[12:]
    eth = b"\0" * 12 + b"\x08\x00"
    return eth + ip + udp


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("input")
    ap.add_argument("output")
    ap.add_argument("--seconds", type=float, default=None, help="cut to this length")
    ap.add_argument("--repeat", type=int, default=0, help="play the input this many more times")
    a = ap.parse_args()
    cmd = ["sox", "-R", a.input, "-t", "raw", "-r", str(RATE), "-c", "1", "-e", "signed", "-b", "16",
           "-L", "-"]
    if a.repeat > 0:
        cmd += ["repeat", str(a.repeat)]
    if a.seconds:
        cmd += ["trim", "0", str(a.seconds)]
    pcm = subprocess.run(cmd, check=True, capture_output=True).stdout
    samples = struct.unpack(f"<{len(pcm) // 2}h", pcm[: len(pcm) // 2 * 2])
    if len(samples) < FRAME:
        print(f"{a.input}: shorter than one 20 ms packet", file=sys.stderr)
        return 1
    with open(a.output, "wb") as f:
        # pcap global header: magic, v2.4, tz 0, sigfigs 0, snaplen, LINKTYPE_ETHERNET.
        f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
        n = len(samples) // FRAME
        for i in range(n):
            payload = bytes(ulaw(s) for s in samples[i * FRAME:(i + 1) * FRAME])
            pkt = frame(payload, i, i * FRAME)
            usec = i * 20_000
            f.write(struct.pack("<IIII", usec // 1_000_000, usec % 1_000_000, len(pkt), len(pkt)))
            f.write(pkt)
    print(f"{a.output}: {n} packets, {n * 20 / 1000:.2f} s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
