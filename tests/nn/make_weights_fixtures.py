#!/usr/bin/python3
"""tests/nn/make_weights_fixtures.py: writes the weight-file fixtures of
tests/nn/test_weights.cpp into tests/nn/fixtures/ (committed; the tests need no Python).

  /usr/bin/python3 tests/nn/make_weights_fixtures.py     # Debian's torch 1.13

Files:
  tiny_zip.pth, tiny_legacy.pth   the state_dict of Conv2d(3,4,3) + BatchNorm2d(4) + Linear(16,5)
                                  (num_batches_tracked is i64), torch.save zip and legacy layouts
  tiny.safetensors                the same tensors, safetensors written by hand here the way
                                  the reference implementation lays them out
  tiny_ckpt.pth                   {'epoch': 3, 'state_dict': <the state_dict>}
  views_zip.pth, views_legacy.pth a transposed tensor, a strided slice, two tensors sharing
                                  one storage, a 0-d tensor, f16/bf16/i32/bool tensors
  tiny_zip64.pth                  tiny_zip.pth's entries re-packed with zip64 fields everywhere
                                  (sizes and offsets 0xffffffff in the central directory)
  weights_expected.json           every tensor's dtype (after Ember's conversion), shape and
                                  values in row-major order
"""
import collections
import json
import os
import struct

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "fixtures")

# Ember's dtype after reading, and the safetensors name of each torch dtype.
EMBER = {torch.float32: "f32", torch.float64: "f64", torch.int64: "i64", torch.uint8: "u8",
         torch.float16: "f32", torch.bfloat16: "f32", torch.int32: "i64", torch.bool: "u8"}
ST = {torch.float32: "F32", torch.float64: "F64", torch.int64: "I64", torch.uint8: "U8"}
# The reference's Dtype enum order (files are laid out widest first, then by name).
RANK = {"U8": 1, "F32": 11, "F64": 12, "I64": 13}


def tiny_state_dict():
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.BatchNorm2d(4), torch.nn.ReLU(),
                                torch.nn.Flatten(), torch.nn.Linear(16, 5))
    model.train()
    model(torch.randn(2, 3, 4, 4))  # running stats move, num_batches_tracked becomes 1
    return model.state_dict()


def views_dict():
    torch.manual_seed(1)
    base = torch.randn(3, 4)
    shared = torch.arange(8, dtype=torch.float64)
    return collections.OrderedDict([
        ("transposed", base.t()),            # stride (1, 4)
        ("strided", base[1:, ::2]),          # offset 4, stride (4, 2)
        ("shared_a", shared[0:3]),           # both views of one storage
        ("shared_b", shared[2:8].view(2, 3)),
        ("scalar", torch.tensor(3.5)),
        ("half", torch.tensor([1.0, -2.5, 65504.0, 6.1e-5, 1e-7], dtype=torch.float16)),
        ("bf16", torch.tensor([1.0, -3.0, 1e30], dtype=torch.bfloat16)),
        ("int32", torch.tensor([[-1, 2], [2**31 - 1, -2**31]], dtype=torch.int32)),
        ("flags", torch.tensor([True, False, True])),
        ("bytes", torch.tensor([0, 7, 255], dtype=torch.uint8)),
    ])


def write_safetensors(path, tensors, metadata):
    items = sorted(tensors.items(), key=lambda kv: (-RANK[ST[kv[1].dtype]], kv[0]))
    header, blobs, offset = {"__metadata__": metadata}, [], 0
    for name, t in items:
        data = t.contiguous().numpy().tobytes()
        header[name] = {"dtype": ST[t.dtype], "shape": list(t.shape), "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    text = json.dumps(header, separators=(",", ":"), ensure_ascii=False).encode()
    text += b" " * ((8 - len(text) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text + b"".join(blobs))


def write_zip64(src, dst):
    """Stored entries whose central directory sizes and offsets all live in zip64 extra
    fields, followed by the zip64 end record and locator (as torch writes for files > 4 GiB)."""
    import zipfile
    import zlib
    entries = [(i.filename, zipfile.ZipFile(src).read(i.filename)) for i in zipfile.ZipFile(src).infolist()]
    body, central = b"", b""
    for name, data in entries:
        n, crc, offset = name.encode(), zlib.crc32(data), len(body)
        body += struct.pack("<IHHHHHIIIHH", 0x04034B50, 45, 0, 0, 0, 0, crc, len(data), len(data), len(n), 0) + n + data
        extra = struct.pack("<HHQQQ", 1, 24, len(data), len(data), offset)
        central += struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 45, 45, 0, 0, 0, 0, crc, 0xFFFFFFFF, 0xFFFFFFFF,
                               len(n), len(extra), 0, 0, 0, 0, 0xFFFFFFFF) + n + extra
    cd_offset, count = len(body), len(entries)
    eocd64 = struct.pack("<IQHHIIQQQQ", 0x06064B50, 44, 45, 45, 0, 0, count, count, len(central), cd_offset)
    locator = struct.pack("<IIQI", 0x07064B50, 0, cd_offset + len(central), 1)
    eocd = struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, 0xFFFF, 0xFFFF, 0xFFFFFFFF, 0xFFFFFFFF, 0)
    with open(dst, "wb") as f:
        f.write(body + central + eocd64 + locator + eocd)


def expected(tensors):
    out = {}
    for name, t in tensors.items():
        values = t.to(torch.float64 if t.is_floating_point() else torch.int64).reshape(-1).tolist()
        out[name] = {"dtype": EMBER[t.dtype], "shape": list(t.shape), "values": values}
    return out


def main():
    os.makedirs(OUT, exist_ok=True)
    sd = tiny_state_dict()
    torch.save(sd, os.path.join(OUT, "tiny_zip.pth"))
    torch.save(sd, os.path.join(OUT, "tiny_legacy.pth"), _use_new_zipfile_serialization=False)
    write_zip64(os.path.join(OUT, "tiny_zip.pth"), os.path.join(OUT, "tiny_zip64.pth"))
    torch.save({"epoch": 3, "state_dict": sd}, os.path.join(OUT, "tiny_ckpt.pth"))
    write_safetensors(os.path.join(OUT, "tiny.safetensors"), sd, {"format": "pt"})
    views = views_dict()
    torch.save(views, os.path.join(OUT, "views_zip.pth"))
    torch.save(views, os.path.join(OUT, "views_legacy.pth"), _use_new_zipfile_serialization=False)
    with open(os.path.join(OUT, "weights_expected.json"), "w") as f:
        json.dump({"tiny": expected(sd), "tiny_order": list(sd.keys()), "views": expected(views),
                   "views_order": list(views.keys())}, f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()
