"""Open Library's legacy codec and json.dumps, for olcompress's tests.

Usage: python3 legacy_codec.py MODE SEED_FILE < lines

Each input line is one case; each output line answers it, in order.
  encode: base64 text  -> base64 of Compressor.compress(text)
  decode: base64 value -> base64 text, or "ERR <reason>"
  dumps:  JSON [[pr, head, drift, merged], ...] -> json.dumps of legacy's dict

Compressor is openlibrary/utils/compress.py (Python 3 spelling). Its decompress
does not notice a value that ends early, so "decode" also runs the plain
algorithm (one decompressor over d_seed + value) and insists that the stream
ended, its adler32 (over seed + text) was checked and nothing followed it.
"""

import base64
import json
import sys
import zlib


class Compressor(object):
    def __init__(self, seed):
        c = zlib.compressobj(9)
        d_seed = c.compress(seed)
        d_seed += c.flush(zlib.Z_SYNC_FLUSH)
        self.c_context = c.copy()
        self.d_seed = d_seed

        d = zlib.decompressobj()
        d.decompress(d_seed)
        while d.unconsumed_tail:
            d.decompress(d.unconsumed_tail)
        self.d_context = d.copy()

    def compress(self, text):
        c = self.c_context.copy()
        t = c.compress(text)
        t2 = c.flush(zlib.Z_FINISH)
        return t + t2

    def decompress(self, ctext):
        d = self.d_context.copy()
        t = d.decompress(ctext)
        while d.unconsumed_tail:
            t += d.decompress(d.unconsumed_tail)
        return t


def decode(comp, seed, stored):
    text = comp.decompress(stored)
    d = zlib.decompressobj()
    whole = d.decompress(comp.d_seed + stored)  # raises on a bad adler32
    if not d.eof:
        raise ValueError("stream did not end")
    if d.unused_data:
        raise ValueError("%d bytes after the stream" % len(d.unused_data))
    if whole != seed + text:
        raise ValueError("the two decoders disagree")
    return text


def main():
    mode, seed_file = sys.argv[1], sys.argv[2]
    with open(seed_file, "rb") as f:
        seed = f.read()
    comp = Compressor(seed)
    out = []
    for line in sys.stdin.read().splitlines():
        if mode == "encode":
            out.append(base64.b64encode(comp.compress(base64.b64decode(line))).decode())
        elif mode == "decode":
            try:
                out.append(base64.b64encode(decode(comp, seed, base64.b64decode(line))).decode())
            except Exception as e:  # one bad case must not hide the others
                out.append("ERR %s" % e)
        elif mode == "dumps":
            d = {}
            for pr, head, drift, merged in json.loads(line):
                d[str(pr)] = {"head_sha": head[:7], "drift": drift, "merged": merged}
            out.append(json.dumps(d))
        else:
            sys.exit("unknown mode %r" % mode)
    sys.stdout.write("".join(s + "\n" for s in out))


if __name__ == "__main__":
    main()
