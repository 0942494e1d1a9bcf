#!/usr/bin/env python3
"""One-step DINO parity references, computed by the official facebookresearch/dino code.

The project's tests compare `dino-run step` against the files this script writes; the
tests themselves need neither PyTorch nor this script. The official code is not copied
here: point --dino-repo at a checkout of facebookresearch/dino (vision_transformer.py,
utils.py, main_dino.py are imported from it).

    pip install torch safetensors          # only for this script
    python3 tools/make_dino_reference.py --dino-repo ~/src/dino \
        --out Tests/DinoTrainingTests/Reference

Writes, per case (`step_epoch0`: frozen last layer, `step_epoch1`: after the freeze,
`step_epoch1_nll0`: trainable weight_g), `<case>.init.safetensors` (student.*, teacher.*,
center), `<case>.crops.safetensors` (crop0..), `<case>.expected.safetensors` (updated
student.*, teacher.*, center; metadata: loss, lr, wd, momentum, teacher_temp, epoch and
the -D flags of Samples/fashion_mnist.swift that build the same model), and
`pos_embed_interp.safetensors` (official interpolate_pos_encoding on 7x7->3x3 and
14x14->6x6 grids). Everything runs in float64 from inputs rounded to float32 values, so the
saved (float32) inputs are exactly the ones the reference step used.
"""
import argparse
import json
import os
import sys
import tempfile

SMALL = dict(dim=32, depth=2, heads=2, patch=4, channels=1, global_size=28, local_size=12,
             local_crops=2, out_dim=64, hidden_dim=48, bottleneck_dim=16, batch=2,
             drop_path=0.0, clip_grad=3.0, freeze_last_layer=1, student_temp=0.1)

CASES = {
    # name: (epoch, norm_last_layer, lr, wd, momentum, teacher_temp)
    "step_epoch0": (0, True, 1e-3, 0.04, 0.996, 0.04),
    "step_epoch1": (1, True, 2e-3, 0.1, 0.99, 0.06),
    "step_epoch1_nll0": (1, False, 2e-3, 0.1, 0.99, 0.05),
}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dino-repo", required=True, help="checkout of facebookresearch/dino")
    parser.add_argument("--out", required=True, help="output folder")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    sys.path.insert(0, os.path.abspath(args.dino_repo))

    import torch
    import torch.distributed as dist
    from safetensors.torch import save_file
    import vision_transformer as vits
    import utils
    from main_dino import DINOLoss

    torch.set_default_dtype(torch.float64)
    store = tempfile.NamedTemporaryFile(delete=False)
    dist.init_process_group("gloo", init_method="file://" + store.name, rank=0, world_size=1)
    os.makedirs(args.out, exist_ok=True)
    c = SMALL

    def backbone(drop_path):
        return vits.VisionTransformer(
            img_size=[c["global_size"]], patch_size=c["patch"], in_chans=c["channels"],
            embed_dim=c["dim"], depth=c["depth"], num_heads=c["heads"], mlp_ratio=4,
            qkv_bias=True, drop_path_rate=drop_path,
            norm_layer=lambda d: torch.nn.LayerNorm(d, eps=1e-6))

    def f32(tensors):
        return {k: v.detach().to(torch.float32).contiguous() for k, v in tensors.items()}

    def representable(x):
        # Round to float32 values (kept in float64): the saved inputs are then exactly the
        # ones the float64 step used, so a float32 run can be checked tightly.
        return x.to(torch.float32).to(torch.float64)

    def state(prefix, model):
        # state_dict() aliases the live parameters: clone, or the "init" snapshot taken before
        # the step would be saved with the updated weights.
        return {f"{prefix}.{k}": v.clone() for k, v in model.state_dict().items()}

    for index, (name, (epoch, nll, lr, wd, momentum, tt)) in enumerate(CASES.items()):
        torch.manual_seed(args.seed + index)
        student = utils.MultiCropWrapper(
            backbone(c["drop_path"]),
            vits.DINOHead(c["dim"], c["out_dim"], use_bn=False, norm_last_layer=nll,
                          hidden_dim=c["hidden_dim"], bottleneck_dim=c["bottleneck_dim"]))
        teacher = utils.MultiCropWrapper(
            backbone(0.0),
            vits.DINOHead(c["dim"], c["out_dim"], use_bn=False,
                          hidden_dim=c["hidden_dim"], bottleneck_dim=c["bottleneck_dim"]))
        with torch.no_grad():
            for p in student.parameters():
                p.copy_(representable(p))
        teacher.load_state_dict(student.state_dict())
        for p in teacher.parameters():
            p.requires_grad = False
        views = 2 + c["local_crops"]
        loss_fn = DINOLoss(c["out_dim"], views, tt, tt, 0, epoch + 1,
                           student_temp=c["student_temp"])
        loss_fn.center = representable(0.1 * torch.randn(1, c["out_dim"]))
        crops = [representable(torch.randn(c["batch"], c["channels"], s, s))
                 for s in [c["global_size"]] * 2 + [c["local_size"]] * c["local_crops"]]

        init = {**state("student", student), **state("teacher", teacher),
                "center": loss_fn.center.clone()}
        optimizer = torch.optim.AdamW(utils.get_params_groups(student))
        for i, group in enumerate(optimizer.param_groups):
            group["lr"] = lr
            if i == 0:
                group["weight_decay"] = wd

        # main_dino.train_one_epoch, one iteration, fp16 off.
        teacher_output = teacher(crops[:2])
        student_output = student(crops)
        loss = loss_fn(student_output, teacher_output, epoch)
        optimizer.zero_grad()
        loss.backward()
        utils.clip_gradients(student, c["clip_grad"])
        utils.cancel_gradients_last_layer(epoch, student, c["freeze_last_layer"])
        optimizer.step()
        with torch.no_grad():
            for ps, pt in zip(student.parameters(), teacher.parameters()):
                pt.data.mul_(momentum).add_((1 - momentum) * ps.detach().data)

        expected = {**state("student", student), **state("teacher", teacher),
                    "center": loss_fn.center}
        flags = {k: v for k, v in c.items() if k not in ("student_temp",)}
        flags["norm_last_layer"] = int(nll)
        meta = {"loss": repr(loss.item()), "lr": repr(lr), "wd": repr(wd),
                "momentum": repr(momentum), "teacher_temp": repr(tt), "epoch": str(epoch),
                "defines": json.dumps(flags, sort_keys=True)}
        save_file(f32(init), os.path.join(args.out, f"{name}.init.safetensors"), metadata=meta)
        save_file(f32({f"crop{i}": x for i, x in enumerate(crops)}),
                  os.path.join(args.out, f"{name}.crops.safetensors"), metadata=meta)
        save_file(f32(expected), os.path.join(args.out, f"{name}.expected.safetensors"),
                  metadata=meta)
        print(f"{name}: loss {loss.item():.10f}")

    # Position-embedding interpolation: 28->12 with patch 4 (7x7 -> 3x3) and 224->96 with
    # patch 16 (14x14 -> 6x6), through the official VisionTransformer method.
    interp = {}
    for image, crop, patch, dim in [(28, 12, 4, 8), (224, 96, 16, 8)]:
        torch.manual_seed(args.seed + 100 + image)
        vit = vits.VisionTransformer(img_size=[image], patch_size=patch, in_chans=1,
                                     embed_dim=dim, depth=1, num_heads=1)
        with torch.no_grad():
            vit.pos_embed.copy_(representable(vit.pos_embed.normal_()))
            tokens = torch.zeros(1, (crop // patch) ** 2 + 1, dim)
            out = vit.interpolate_pos_encoding(tokens, crop, crop)
        interp[f"pos_embed_{image}"] = vit.pos_embed[0]
        interp[f"interp_{image}_to_{crop}"] = out[0]
    save_file(f32(interp), os.path.join(args.out, "pos_embed_interp.safetensors"))
    dist.destroy_process_group()
    if os.path.exists(store.name):
        os.unlink(store.name)


if __name__ == "__main__":
    main()
