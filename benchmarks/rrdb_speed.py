"""Apply speed of the ESRGAN / Real-ESRGAN generator (RRDBNet at the released size: 23 blocks, 64
features, growth 32, ×4), random weights, on one square LR image: the whole image in one pass and
in tiles through ``translate.tiling.tiled`` (what ``translate apply`` runs), fp32 and bf16 autocast.

    python benchmarks/rrdb_speed.py                          # 512² LR → 2048² SR, CPU
    python benchmarks/rrdb_speed.py --size 256 --modes tiled --precisions fp32

Prints wall seconds per image, output megapixels per second, and the CPU seconds the process
used (over all its threads: on an idle machine, wall ≈ CPU / threads; on a shared one the CPU
time is the steadier figure). The speed does not depend on the weights.
"""

from __future__ import annotations

import argparse
import contextlib
import resource
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "plugins"))

import torch  # noqa: E402

from translate.tiling import tiled  # noqa: E402
from translate_plugins.srgan.networks import build_rrdb  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=512, help="LR image side (px)")
    parser.add_argument("--scale", type=int, default=4, choices=(1, 2, 4))
    parser.add_argument("--tile", type=int, default=128, help="LR tile side for the tiled mode")
    parser.add_argument("--overlap", type=int, default=16, help="LR overlap between tiles")
    parser.add_argument("--modes", default="whole,tiled")
    parser.add_argument("--precisions", default="fp32,bf16")
    parser.add_argument("--channels-last", action="store_true", help="run in channels_last memory format")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0 = torch's default)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    G = build_rrdb(args.scale, value_range="0,1").eval()
    fmt = torch.channels_last if args.channels_last else torch.contiguous_format
    G = G.to(memory_format=fmt)
    lr = (torch.rand(1, 3, args.size, args.size) * 2 - 1).contiguous(memory_format=fmt)
    out_mp = (args.size * args.scale) ** 2 / 1e6
    print(f"RRDBNet ×{args.scale}, 23 blocks, 64 features, growth 32; LR {args.size}² → SR "
          f"{args.size * args.scale}² ({out_mp:.2f} MP); {torch.get_num_threads()} threads; {torch.__version__}")
    print(f"{'mode':<22} {'precision':<9} {'seconds':>8} {'MP/s':>7} {'CPU s':>8} {'peak RSS GB':>12}")
    for precision in args.precisions.split(","):
        autocast = (torch.autocast("cpu", dtype=torch.bfloat16) if precision == "bf16"
                    else contextlib.nullcontext())
        with torch.no_grad(), autocast:
            G(lr[..., :16, :16])  # warm-up: kernel selection, allocations
            for mode in args.modes.split(","):
                tile = args.size if mode == "whole" else args.tile
                start, cpu_start = time.perf_counter(), time.process_time()
                out = tiled(G, lr, tile=tile, overlap=args.overlap, multiple=G.multiple, scale=args.scale)
                seconds, cpu = time.perf_counter() - start, time.process_time() - cpu_start
                assert out.shape[-1] == args.size * args.scale
                label = "whole image" if mode == "whole" else f"tiles {args.tile} px (+{args.overlap})"
                peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # Linux: KiB → GiB
                print(f"{label:<22} {precision:<9} {seconds:8.1f} {out_mp / seconds:7.3f} {cpu:8.1f} {peak:12.1f}",
                      flush=True)


if __name__ == "__main__":
    main()
