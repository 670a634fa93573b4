#!/usr/bin/env python3
"""hostile_tarballs: crafted claude-home.tar.gz files for
tests/integration/hostile_pull_test.sh (standard library only).

    hostile_tarballs.py KIND OUT [--sibling DIR] [--source TARBALL]

KIND:
  abs             absolute member paths (one aimed into --sibling)
  dotdot          '..' traversal
  symlink-escape  symlinks leaving the tree (relative, absolute, chained
                  through another symlink), each followed by a file "through" it
  links-devices   hard links (inside, to /etc/passwd, into --sibling), char and
                  block devices, a FIFO, a setuid file
  huge-header     a member declaring 1 TiB, with the archive ending after 1 KiB
  truncated       --source cut in half
  corrupt-index   --source with bytes of its embedded index flipped
  forged-index    the same, with the index CRCs recomputed so only the index
                  parser can notice
  bomb            one file of 10 GiB of zeros (~10 MB compressed), built
                  streaming, between two small files
  many-bomb       100 files of 16 MiB of zeros each (1.6 GiB)
Every archive except the damaged ones also holds ok.txt ("ok\\n").
"""

import argparse
import io
import os
import struct
import sys
import tarfile
import zlib

OK = b"ok\n"


def member(name, data=b"", mode=0o644, kind=tarfile.REGTYPE, link="", size=None, devmajor=0,
           devminor=0):
    info = tarfile.TarInfo(name)
    info.type = kind
    info.mode = mode
    info.mtime = 1700000000
    info.linkname = link
    info.devmajor, info.devminor = devmajor, devminor
    info.size = len(data) if size is None else size
    return info, data


def write_plain(out, members):
    with tarfile.open(out, "w:gz", format=tarfile.PAX_FORMAT) as tar:
        for info, data in members:
            tar.addfile(info, io.BytesIO(data) if info.isreg() else None)


class GzipWriter:
    """A gzip member written piecewise as raw deflate, so that repeated runs
    of zeros are compressed once and their output repeated (after a full
    flush, deflate's output for the same input is the same)."""

    def __init__(self, f):
        self.f = f
        self.c = zlib.compressobj(9, zlib.DEFLATED, -15)
        self.crc = 0
        self.size = 0
        self.packed = {}  # segment size -> its compressed form
        f.write(b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\xff")

    def write(self, data):
        self.f.write(self.c.compress(data) + self.c.flush(zlib.Z_FULL_FLUSH))
        self.crc = zlib.crc32(data, self.crc)
        self.size += len(data)

    def zeros(self, total, segment=64 << 20):
        segment = min(segment, total) >> 20 << 20  # whole MiBs
        if segment == 0:
            self.write(bytes(total))
            return
        if segment not in self.packed:
            self.packed[segment] = (self.c.compress(bytes(segment)) +
                                    self.c.flush(zlib.Z_FULL_FLUSH))
        packed = self.packed[segment]
        chunk = bytes(1 << 20)
        left = total
        while left >= segment:
            self.f.write(packed)
            for _ in range(segment >> 20):
                self.crc = zlib.crc32(chunk, self.crc)
            left -= segment
            self.size += segment
        if left:
            self.write(bytes(left))

    def close(self):
        self.f.write(self.c.flush(zlib.Z_FINISH))
        self.f.write(struct.pack("<II", self.crc & 0xFFFFFFFF, self.size & 0xFFFFFFFF))


def header(info):
    return info.tobuf(format=tarfile.PAX_FORMAT)


def pad(n):
    return bytes(-n % 512)


def zero_files(out, files):
    """files: list of (name, size) of all-zero files; plus before/after text files."""
    with open(out, "wb") as f:
        g = GzipWriter(f)
        g.write(header(member("ok.txt", OK)[0]) + OK + pad(len(OK)))
        for name, size in files:
            g.write(header(member(name, size=size)[0]))
            g.zeros(size)
            g.write(pad(size))
        after = b"after the bomb\n"
        g.write(header(member("after.txt", after)[0]) + after + pad(len(after)))
        g.write(bytes(1024))
        g.close()


def huge_header(out):
    with open(out, "wb") as f:
        g = GzipWriter(f)
        g.write(header(member("ok.txt", OK)[0]) + OK + pad(len(OK)))
        g.write(header(member("huge.bin", size=1 << 40)[0]))
        g.write(bytes(1024))  # then the archive just ends
        g.close()


def index_location(blob):
    """(offset, length) of the index member, and the trailer's offset."""
    at = blob.rfind(b"ccfs-tgz")
    if at < 0:
        sys.exit("hostile_tarballs: --source has no ccfs trailer")
    magic, version, offset, length, crc, self_crc = struct.unpack_from("<8sIQQII", blob, at)
    return offset, length, at


def comment_span(blob, offset):
    """Start and end of the FCOMMENT text of the gzip member at offset."""
    flg = blob[offset + 3]
    p = offset + 10
    if flg & 0x04:  # FEXTRA
        p += 2 + struct.unpack_from("<H", blob, p)[0]
    if flg & 0x08:  # FNAME
        p = blob.index(b"\0", p) + 1
    if not flg & 0x10:
        sys.exit("hostile_tarballs: index member has no comment")
    return p, blob.index(b"\0", p)


def damage_index(source, out, fix_crc):
    blob = bytearray(open(source, "rb").read())
    offset, length, trailer_at = index_location(blob)
    start, end = comment_span(blob, offset)
    # Flip characters in the middle of the index text (never into NUL).
    for i in range(start + (end - start) // 3, start + (end - start) // 3 + 24, 3):
        blob[i] = blob[i] ^ 0x06 if blob[i] ^ 0x06 else blob[i] ^ 0x01
    if fix_crc:
        text = bytes(blob[start:end])
        struct.pack_into("<I", blob, trailer_at + 28, zlib.crc32(text) & 0xFFFFFFFF)
        struct.pack_into("<I", blob, trailer_at + 32,
                         zlib.crc32(bytes(blob[trailer_at:trailer_at + 32])) & 0xFFFFFFFF)
    open(out, "wb").write(blob)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("kind")
    ap.add_argument("out")
    ap.add_argument("--sibling", default="/tmp/ccfs-hostile-sibling")
    ap.add_argument("--source")
    a = ap.parse_args()
    ok = member("ok.txt", OK)
    sib = a.sibling.rstrip("/")
    if a.kind == "abs":
        write_plain(a.out, [ok, member(sib + "/pwned-abs", b"pwned\n"),
                            member("/etc/ccfs-hostile-pwned", b"pwned\n")])
    elif a.kind == "dotdot":
        write_plain(a.out, [ok, member("../sibling/pwned", b"pwned\n"),
                            member("a/../../sibling/pwned2", b"pwned\n"),
                            member("./../pwned3", b"pwned\n")])
    elif a.kind == "symlink-escape":
        write_plain(a.out, [
            ok,
            member("esc", kind=tarfile.SYMTYPE, link="../sibling"),
            member("esc/pwned", b"pwned\n"),
            member("abs", kind=tarfile.SYMTYPE, link=sib),
            member("abs/pwned", b"pwned\n"),
            member("d", kind=tarfile.DIRTYPE, mode=0o755),
            member("d/up", kind=tarfile.SYMTYPE, link=".."),
            member("chain", kind=tarfile.SYMTYPE, link="d/up/.."),
            member("chain/sibling/pwned", b"pwned\n"),
            member("projects/lnk", kind=tarfile.SYMTYPE, link="../d"),
        ])
    elif a.kind == "links-devices":
        write_plain(a.out, [
            ok,
            member("hl-inside", kind=tarfile.LNKTYPE, link="ok.txt"),
            member("hl-passwd", kind=tarfile.LNKTYPE, link="/etc/passwd"),
            member("hl-sibling", kind=tarfile.LNKTYPE, link="../sibling/file.txt"),
            member("dev/null", kind=tarfile.CHRTYPE, devmajor=1, devminor=3),
            member("dev/sda", kind=tarfile.BLKTYPE, devmajor=8, devminor=0),
            member("fifo", kind=tarfile.FIFOTYPE),
            member("suid.sh", b"#!/bin/sh\n", mode=0o6777),
        ])
    elif a.kind == "huge-header":
        huge_header(a.out)
    elif a.kind == "truncated":
        blob = open(a.source, "rb").read()
        open(a.out, "wb").write(blob[:len(blob) // 2])
    elif a.kind in ("corrupt-index", "forged-index"):
        damage_index(a.source, a.out, fix_crc=a.kind == "forged-index")
    elif a.kind == "bomb":
        zero_files(a.out, [("bomb.bin", 10 << 30)])
    elif a.kind == "many-bomb":
        zero_files(a.out, [("zeros/%03d.bin" % i, 16 << 20) for i in range(100)])
    else:
        sys.exit("hostile_tarballs: unknown kind " + a.kind)


if __name__ == "__main__":
    main()
