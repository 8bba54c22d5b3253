#!/usr/bin/env python3
"""Regenerates testdata/marshal/*.json.golden: exactly what the legacy Python writer,
json.dumps(obj, indent=2), writes for each input, so that State.Marshal can be checked
against Python byte for byte. A bare array (the legacy file form) is wrapped the way
legacy reads it: {"last_deploy_at": "", "prs": [...]}.

Run from the package directory:  python3 testdata/golden.py
(made with Python 3.11; json's output format has not changed in Python 3.)
"""
import glob
import json

for path in sorted(glob.glob("testdata/marshal/*.json")):
    with open(path, encoding="utf-8") as f:
        obj = json.load(f)
    if isinstance(obj, list):
        obj = {"last_deploy_at": "", "prs": obj}
    with open(path + ".golden", "w", encoding="utf-8", newline="") as f:
        f.write(json.dumps(obj, indent=2))
    print("wrote", path + ".golden")
