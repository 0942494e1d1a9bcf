#!/usr/bin/env python3
"""Times one DINO training step with the official PyTorch code (fp32, CPU).

The step is main_dino.train_one_epoch's iteration with fp16 off: teacher forward on the
two global crops, student forward on all crops, DINOLoss (with its center update),
zero_grad, backward, utils.clip_gradients (3.0), utils.cancel_gradients_last_layer (after
the freeze: a no-op, as dino-run's last_layer_gate = 1), AdamW step and the teacher EMA.
The official code is imported, not copied: --dino-repo (default: the environment variable
DINO_REPO) points at a checkout of facebookresearch/dino (vision_transformer.py, utils.py,
main_dino.py).

    python3 tools/bench_step_torch.py --dino-repo path/to/dino --config fmnist --threads 2

Prints the same lines as `dino-run benchmark`: ms per step (median, min), images/s, and
matmul GFLOP/s from the recipe's matmul FLOPs per image (docs/PLATFORM.md §5, equal to what
`dino-run benchmark` counts from the plan's shapes).
"""
import argparse
import os
import statistics
import sys
import tempfile
import time

CONFIGS = {
    # Samples/vit_tiny_dino.swift defaults (docs/PLATFORM.md §5 `tiny224`).
    "tiny224": dict(patch=16, dim=192, depth=12, heads=3, channels=3, global_size=224,
                    local_size=96, local_crops=8, out_dim=65536, hidden_dim=2048,
                    bottleneck_dim=256, batch=8, gflop_per_image=31.24),
    # Samples/fashion_mnist.swift defaults (docs/PLATFORM.md §5 `fmnist`).
    "fmnist": dict(patch=4, dim=192, depth=6, heads=3, channels=1, global_size=28,
                   local_size=12, local_crops=6, out_dim=4096, hidden_dim=1024,
                   bottleneck_dim=128, batch=64, gflop_per_image=3.281),
}
SGEMM_PEAK_PER_THREAD = 105.5  # GFLOP/s, docs/PLATFORM.md §4 (105 on 1 thread, 211 on 2)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dino-repo", default=os.environ.get("DINO_REPO"),
                        help="checkout of facebookresearch/dino (default: $DINO_REPO)")
    parser.add_argument("--config", choices=sorted(CONFIGS), required=True)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    if args.steps < 1 or args.warmup < 0 or args.threads < 1:
        sys.exit("bench_step_torch.py: error: --steps and --threads must be >= 1, --warmup >= 0")
    if not args.dino_repo or not os.path.isfile(os.path.join(args.dino_repo, "main_dino.py")):
        sys.exit(f"bench_step_torch.py: error: --dino-repo / DINO_REPO "
                 f"({args.dino_repo or 'not set'}) is not a facebookresearch/dino checkout "
                 "(no main_dino.py); pass one")
    sys.path.insert(0, os.path.abspath(args.dino_repo))

    import torch
    import torch.distributed as dist
    import vision_transformer as vits
    import utils
    from main_dino import DINOLoss

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    store = tempfile.NamedTemporaryFile(delete=False)
    dist.init_process_group("gloo", init_method="file://" + store.name, rank=0, world_size=1)
    c = CONFIGS[args.config]

    def backbone(drop_path):
        return vits.VisionTransformer(
            img_size=[c["global_size"]], patch_size=c["patch"], in_chans=c["channels"],
            embed_dim=c["dim"], depth=c["depth"], num_heads=c["heads"], mlp_ratio=4,
            qkv_bias=True, drop_path_rate=drop_path,
            norm_layer=lambda d: torch.nn.LayerNorm(d, eps=1e-6))

    def head(norm_last_layer):
        return vits.DINOHead(c["dim"], c["out_dim"], use_bn=False,
                             norm_last_layer=norm_last_layer, hidden_dim=c["hidden_dim"],
                             bottleneck_dim=c["bottleneck_dim"])

    # main_dino.train_dino: student with drop path, teacher without, teacher = student.
    student = utils.MultiCropWrapper(backbone(0.1), head(True))
    teacher = utils.MultiCropWrapper(backbone(0.0), head(True))
    teacher.load_state_dict(student.state_dict())
    for p in teacher.parameters():
        p.requires_grad = False
    views = 2 + c["local_crops"]
    loss_fn = DINOLoss(c["out_dim"], views, 0.04, 0.04, 0, 100)
    optimizer = torch.optim.AdamW(utils.get_params_groups(student))
    for i, group in enumerate(optimizer.param_groups):
        group["lr"] = 5e-4 * c["batch"] / 256
        if i == 0:
            group["weight_decay"] = 0.04
    momentum, epoch = 0.996, 1
    sizes = [c["global_size"]] * 2 + [c["local_size"]] * c["local_crops"]
    crops = [torch.randn(c["batch"], c["channels"], s, s) for s in sizes]

    times = []
    for step in range(args.warmup + args.steps):
        start = time.perf_counter()
        teacher_output = teacher(crops[:2])
        student_output = student(crops)
        loss = loss_fn(student_output, teacher_output, epoch)
        optimizer.zero_grad()
        loss.backward()
        utils.clip_gradients(student, 3.0)
        utils.cancel_gradients_last_layer(epoch, student, 1)
        optimizer.step()
        with torch.no_grad():
            for ps, pt in zip(student.parameters(), teacher.parameters()):
                pt.data.mul_(momentum).add_((1 - momentum) * ps.detach().data)
        elapsed = time.perf_counter() - start
        if step >= args.warmup:
            times.append(elapsed)

    median, best = statistics.median(times), min(times)
    batch = c["batch"]
    flops = c["gflop_per_image"] * batch
    peak = SGEMM_PEAK_PER_THREAD * args.threads
    print(f"torch {torch.__version__} official DINO, config {args.config}: batch {batch}, "
          f"{views} crops, {args.threads} thread{'s' if args.threads > 1 else ''}")
    print(f"step (teacher + student forward, loss, backward, clip, AdamW, EMA), {args.steps} "
          f"steps after {args.warmup} warm-up: median {median * 1e3:.1f} ms, min {best * 1e3:.1f} ms")
    print(f"images/s: {batch / median:.2f} (median), {batch / best:.2f} (best)")
    print(f"matmul: {c['gflop_per_image']:.3f} GFLOP/image, {flops:.2f} GFLOP/step; "
          f"{flops / median:.1f} GFLOP/s (median), {flops / best:.1f} (best) = "
          f"{100 * flops / median / peak:.0f}% of the {peak:.0f} GFLOP/s sgemm peak")
    print(f"loss (last step): {loss.item()}")
    dist.destroy_process_group()
    if os.path.exists(store.name):
        os.unlink(store.name)


if __name__ == "__main__":
    main()
