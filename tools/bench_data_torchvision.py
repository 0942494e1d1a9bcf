#!/usr/bin/env python3
"""torchvision's DINO multi-crop augmentation, timed like tools/bench_data.swift.

    bench_data_torchvision.py RECIPE DIR THREADS SECONDS    (RECIPE: fmnist | tiny224)

DataAugmentationDINO as in the reference main_dino.py (docs/DINO.md §1):
RandomResizedCrop (bicubic) -> flip -> RandomApply(ColorJitter(0.4, 0.4, 0.2, 0.1), 0.8)
-> RandomGrayscale(0.2) -> PIL GaussianBlur (p 1.0 / 0.1 / 0.5, sigma in [0.1, 2])
-> Solarization (p 0.2, second global view) -> ToTensor + Normalize, fed by ImageFolder and
a DataLoader. THREADS 1 runs in the main process (torch.set_num_threads(1)); THREADS n > 1
uses n worker processes. fmnist loads images as PIL "L" (1 channel, luma normalisation),
as DinoData does for a 1-channel model. Benchmark only: the project never imports torch.
"""
import random
import sys
import time

import torch
from PIL import Image, ImageFilter, ImageOps
from torch.utils.data import DataLoader
from torchvision import datasets, transforms


class GaussianBlur:
    """The reference utils.GaussianBlur (PIL, Python random)."""

    def __init__(self, p, radius_min=0.1, radius_max=2.0):
        self.prob, self.radius_min, self.radius_max = p, radius_min, radius_max

    def __call__(self, img):
        if random.random() > self.prob:
            return img
        return img.filter(ImageFilter.GaussianBlur(
            radius=random.uniform(self.radius_min, self.radius_max)))


class Solarization:
    """The reference utils.Solarization (PIL, Python random)."""

    def __init__(self, p):
        self.p = p

    def __call__(self, img):
        return ImageOps.solarize(img) if random.random() < self.p else img


class DataAugmentationDINO:
    def __init__(self, global_size, local_size, local_crops, mean, std,
                 global_scale=(0.4, 1.0), local_scale=(0.05, 0.4)):
        bicubic = transforms.InterpolationMode.BICUBIC
        flip_and_color_jitter = transforms.Compose([
            transforms.RandomHorizontalFlip(p=0.5),
            transforms.RandomApply([transforms.ColorJitter(
                brightness=0.4, contrast=0.4, saturation=0.2, hue=0.1)], p=0.8),
            transforms.RandomGrayscale(p=0.2),
        ])
        normalize = transforms.Compose([transforms.ToTensor(), transforms.Normalize(mean, std)])
        self.global1 = transforms.Compose([
            transforms.RandomResizedCrop(global_size, scale=global_scale, interpolation=bicubic),
            flip_and_color_jitter, GaussianBlur(1.0), normalize])
        self.global2 = transforms.Compose([
            transforms.RandomResizedCrop(global_size, scale=global_scale, interpolation=bicubic),
            flip_and_color_jitter, GaussianBlur(0.1), Solarization(0.2), normalize])
        self.local_crops = local_crops
        self.local = transforms.Compose([
            transforms.RandomResizedCrop(local_size, scale=local_scale, interpolation=bicubic),
            flip_and_color_jitter, GaussianBlur(0.5), normalize])

    def __call__(self, image):
        crops = [self.global1(image), self.global2(image)]
        crops += [self.local(image) for _ in range(self.local_crops)]
        return crops


def load_grey(path):
    with open(path, "rb") as f:
        return Image.open(f).convert("L")


def main():
    if len(sys.argv) != 5:
        sys.exit("usage: bench_data_torchvision.py fmnist|tiny224 DIR THREADS SECONDS")
    recipe, root, threads, seconds = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
    torch.set_num_threads(1)
    if recipe == "fmnist":
        aug = DataAugmentationDINO(28, 12, 6, (0.4590,), (0.2256,))
        dataset = datasets.ImageFolder(root, transform=aug, loader=load_grey)
        batch = 64
    elif recipe == "tiny224":
        aug = DataAugmentationDINO(224, 96, 8, (0.485, 0.456, 0.406), (0.229, 0.224, 0.225))
        dataset = datasets.ImageFolder(root, transform=aug)
        batch = 8
    else:
        sys.exit(f"unknown recipe {recipe}")
    loader = DataLoader(dataset, batch_size=batch, shuffle=True, drop_last=True,
                        num_workers=0 if threads == 1 else threads,
                        persistent_workers=threads > 1)
    images, start = 0, None
    while True:
        for _ in loader:
            if start is None:  # the first batch is warm-up (worker start)
                start = time.time()
                continue
            images += batch
            if time.time() - start >= seconds:
                rate = images / (time.time() - start)
                print(f"torchvision {recipe} threads={threads}: {rate:.1f} images/s "
                      f"(torch {torch.__version__.split('+')[0]})")
                return


if __name__ == "__main__":
    main()
