#!/usr/bin/env python3
"""Writes the model configs of the shape grid beside MiniCPM-SALA's own.

Usage: shape-configs.py OUTDIR

Each is the embedded MiniCPM-SALA config (examples/minicpm-sala/config.json)
with a few fields changed:
  minicpm4-0.5b-shape.json  hidden 1024, 16 heads over 2 KV heads, head_dim 64,
                            24 layers, all InfLLM-V2 (MiniCPM4-0.5B's shape)
  gqa2.json                 8 query heads over 4 KV heads
  block128.json, block32.json
                            128- and 32-token sparse blocks
Used by scripts/shape-packages.sh and the per-chip ptxas tests
(test/salac/chip-ptxas-*.test).
"""
import copy
import json
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def main(argv):
    if len(argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    out = argv[1]
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(ROOT, "examples", "minicpm-sala", "config.json")) as f:
        base = json.load(f)

    def write(name, **over):
        c = copy.deepcopy(base)
        c.update(over)
        with open(os.path.join(out, name + ".json"), "w") as f:
            json.dump(c, f, indent=1)

    write("minicpm4-0.5b-shape", hidden_size=1024, num_attention_heads=16,
          num_key_value_heads=2, head_dim=64, num_hidden_layers=24,
          mixer_types=["minicpm4"] * 24, lightning_nh=16, lightning_nkv=16,
          lightning_head_dim=64)
    write("gqa2", hidden_size=1024, num_attention_heads=8, num_key_value_heads=4,
          lightning_nh=8, lightning_nkv=8)
    write("block128", sparse_config=dict(base["sparse_config"], block_size=128))
    write("block32", sparse_config=dict(base["sparse_config"], block_size=32))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
