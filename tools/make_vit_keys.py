#!/usr/bin/env python3
"""Writes the state-dict keys and shapes of a small ViT backbone, the fixture that
`dino-run export` is checked against (Tests/DinoTrainingTests/Reference/vit_keys.txt).

The keys come from timm's VisionTransformer(img_size, patch_size, in_chans, embed_dim,
depth, num_heads, qkv_bias=True, num_classes=0) and, with --dino-repo, from official DINO's
vision_transformer.VisionTransformer of the same size; the script fails if the two differ.
Needs torch and timm (`pip install torch timm`); the tests do not.

  python3 tools/make_vit_keys.py --dino-repo ../dino \
      --out Tests/DinoTrainingTests/Reference/vit_keys.txt
"""
import argparse
import sys

import torch.nn as nn


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dino-repo", help="a facebookresearch/dino checkout")
    parser.add_argument("--out", required=True)
    parser.add_argument("--img-size", type=int, default=16)
    parser.add_argument("--patch", type=int, default=4)
    parser.add_argument("--in-chans", type=int, default=1)
    parser.add_argument("--dim", type=int, default=16)
    parser.add_argument("--depth", type=int, default=2)
    parser.add_argument("--heads", type=int, default=2)
    args = parser.parse_args()

    import timm.models.vision_transformer as timm_vit
    model = timm_vit.VisionTransformer(
        img_size=args.img_size, patch_size=args.patch, in_chans=args.in_chans,
        embed_dim=args.dim, depth=args.depth, num_heads=args.heads, qkv_bias=True,
        num_classes=0)
    keys = [(k, list(v.shape)) for k, v in model.state_dict().items()]
    if args.dino_repo:
        sys.path.insert(0, args.dino_repo)
        import vision_transformer as dino_vit
        from functools import partial
        official = dino_vit.VisionTransformer(
            img_size=[args.img_size], patch_size=args.patch, in_chans=args.in_chans,
            embed_dim=args.dim, depth=args.depth, num_heads=args.heads, mlp_ratio=4,
            qkv_bias=True, norm_layer=partial(nn.LayerNorm, eps=1e-6))
        official_keys = [(k, list(v.shape)) for k, v in official.state_dict().items()]
        if sorted(official_keys) != sorted(keys):
            sys.exit(f"timm and official DINO differ:\n{sorted(keys)}\n{sorted(official_keys)}")
    with open(args.out, "w") as f:
        f.write(f"# state_dict of VisionTransformer(img_size={args.img_size}, "
                f"patch_size={args.patch}, in_chans={args.in_chans}, embed_dim={args.dim}, "
                f"depth={args.depth}, num_heads={args.heads}, qkv_bias=True, num_classes=0)\n")
        f.write("# written by: python3 tools/make_vit_keys.py --dino-repo <dino checkout> "
                "--out Tests/DinoTrainingTests/Reference/vit_keys.txt\n")
        f.write("# (timm and official DINO vision_transformer.py agree on every key and shape)\n"
                if args.dino_repo else "# (timm only)\n")
        for key, shape in keys:
            f.write(f"{key} {','.join(map(str, shape))}\n")


if __name__ == "__main__":
    main()
