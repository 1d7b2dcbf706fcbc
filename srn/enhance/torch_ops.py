"""Batched torch implementation of the enhancement methods (GPU path for the detector).

``enhance_torch(images, params)`` takes an (N, 3, H, W) or (3, H, W) tensor, uint8 or float on the
0–255 scale, and returns uint8 of the same layout. It reproduces the numpy *fast* path
(``RetinexCache(exact=False)``) step by step, to within one grey level:

* Surround (``surround.gaussian_surround`` with ``log=True``): the INTER_AREA shrink is a linear
  map per axis; its (small, full) weight matrix is built exactly as OpenCV's
  ``computeResizeAreaTab`` builds its table, and the small-image blur (BORDER_REFLECT) is
  ``surround.convolution_matrix``. Both are folded into one float64 matrix per axis, cast to
  float32 and applied as two matrix products; the log is taken on the small image and
  ``F.interpolate(bilinear, align_corners=False)`` upsamples it (the same sampling as
  cv2 INTER_LINEAR). Below the shrink threshold (``surround.FAST_MIN_SIGMA``, applied by
  ``shrink_plan``) the blur runs at full resolution as a separable convolution over
  reflect-indexed padding, as ``surround._blur`` does. TF32 is kept off for these products.
* Stretches (``stretch``): ``balance`` uses the same 4096-bin histogram with in-bin
  interpolation (one batched ``bincount`` over all images and channels); ``auto`` is the
  Parthasarathy–Sankaran rule on ``int(100·R)`` with the same non-empty-bin and zero-bin quirks;
  ``canonical`` the same fixed affine map. Channels without contrast take the same ``flat``
  fallback; rounding is half up. Constant input channels (and, for MSRCP, constant-intensity
  images) pass through unchanged, as in ``retinex``.
* Batches: every image and channel is stretched on its own statistics, and the surround's matrix
  products run image by image, so a batch gives bit for bit what single calls give.
* Gamma: the same LUT for uint8 input, the same float formula otherwise.
* CLAHE: OpenCV has no torch CLAHE, so each image goes to the CPU, through
  ``classic.clahe`` (numpy/OpenCV) and back to the device: correct, but not accelerated.

The large tensors are float32 (float64 is slow on GPUs); only per-(image, channel) statistics
(histogram cumulative sums, clip points, affine coefficients: a few thousand numbers) are float64,
mirroring the float64 arithmetic of the numpy path on them.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import lru_cache
from typing import cast

import numpy as np
import torch
import torch.nn.functional as F

from srn.enhance import classic, stretch
from srn.enhance.image_input import DEFAULT_MAX_PIXELS, to_float_rgb
from srn.enhance.lime import LIMEParams
from srn.enhance.lime import lime as lime_numpy
from srn.enhance.params import MethodParams, ParamError
from srn.enhance.registry import get_method
from srn.enhance.retinex import MSRCPParams, MSRCRParams, MSRParams, _beta_scale, _StretchedRetinexParams, _weights
from srn.enhance.sci import network as sci_network
from srn.enhance.surround import convolution_matrix, gaussian_kernel, reflect_index, shrink_plan

__all__ = [
    "area_matrix", "blur_torch", "enhance_numpy", "enhance_torch", "gaussian_surround_torch",
]


# --------------------------------------------------------------------------- linear maps
@lru_cache(maxsize=64)
def area_matrix(small: int, full: int) -> np.ndarray:
    """(small, full) float64 matrix M with ``M @ x`` = cv2.resize INTER_AREA of a length-``full`` signal.

    Mirrors OpenCV's ``computeResizeAreaTab`` (fractional cell edges, weights below 1e-3 of a
    pixel dropped, the last cell clipped to the image); valid for shrinking (``full >= small``).
    """
    if small < 1 or full < small:
        raise ValueError(f"area_matrix needs 1 <= small <= full, got small={small}, full={full}")
    scale = 1.0 / (small / full)  # as OpenCV: 1 / inv_scale
    m = np.zeros((small, full), dtype=np.float64)
    for d in range(small):
        f1 = d * scale
        f2 = f1 + scale
        cell = min(scale, full - f1)
        s1, s2 = math.ceil(f1), math.floor(f2)
        s2 = min(s2, full - 1)
        s1 = min(s1, s2)
        if s1 - f1 > 1e-3:
            m[d, s1 - 1] = np.float32((s1 - f1) / cell)
        if s2 > s1:
            m[d, s1:s2] = np.float32(1.0 / cell)
        if f2 - s2 > 1e-3:
            m[d, s2] = np.float32(min(min(f2 - s2, 1.0), cell) / cell)
    m.setflags(write=False)  # cached: shared between calls
    return m


@lru_cache(maxsize=64)
def _shrink_blur_matrix(small: int, full: int, sigma: float) -> np.ndarray:
    """Area shrink followed by the reflected-border blur of the small signal, one (small, full) matrix."""
    m = convolution_matrix(small, sigma) @ area_matrix(small, full)
    m.setflags(write=False)
    return m


def _matrix(m: np.ndarray, device: torch.device) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(m, dtype=np.float32)).to(device)


def _separable_matmul(x: torch.Tensor, my: torch.Tensor, mx: torch.Tensor) -> torch.Tensor:
    """``my @ x @ mx.T`` over the last two axes of (N, C, H, W) ``x``, cheapest order first.

    One image at a time: a BLAS may round a product differently with its size (batched or
    folded (N·C·H, W) products change kernels with N), and a batch must give exactly what
    single calls give. The loop is over images, not pixels.
    """
    n, c, h, w = x.shape
    sh, sw = my.shape[0], mx.shape[0]
    out = x.new_empty((n, c, sh, sw))
    height_first = sh * h * w + sh * w * sw <= h * w * sw + sh * h * sw
    for i in range(n):
        if height_first:
            t = torch.matmul(my, x[i])  # (C, sh, W)
            out[i] = torch.matmul(t.reshape(c * sh, w), mx.T).reshape(c, sh, sw)
        else:
            t = torch.matmul(x[i].reshape(c * h, w), mx.T).reshape(c, h, sw)
            out[i] = torch.matmul(my, t)
    return out


@contextmanager
def _full_fp32(device: torch.device) -> Iterator[None]:
    """No TF32 for the surround's matrix products and convolutions on CUDA (cuDNN allows it by
    default, and a caller may enable it for matmuls): its 10-bit mantissa would cost ~1e-3 of
    relative accuracy and visible grey levels. Restores the caller's settings afterwards."""
    if device.type != "cuda":
        yield
        return
    matmul, cudnn = torch.get_float32_matmul_precision(), torch.backends.cudnn.allow_tf32
    torch.set_float32_matmul_precision("highest")
    torch.backends.cudnn.allow_tf32 = False
    try:
        yield
    finally:
        torch.set_float32_matmul_precision(matmul)
        torch.backends.cudnn.allow_tf32 = cudnn


def blur_torch(x: torch.Tensor, sigma_x: float, sigma_y: float | None = None) -> torch.Tensor:
    """Full-resolution separable Gaussian blur of (..., H, W) float32 with BORDER_REFLECT (``surround._blur``).

    Borders are padded by gathering reflected indices (``surround.reflect_index``, any distance),
    so kernels longer than the image fold back as the numpy path folds them.
    """
    sigma_y = sigma_x if sigma_y is None else sigma_y
    shape = x.shape
    h, w = shape[-2:]
    x = x.reshape(-1, 1, h, w)
    for axis, sigma, n in ((3, sigma_x, w), (2, sigma_y, h)):
        k = gaussian_kernel(sigma).astype(np.float32)
        r = len(k) // 2
        idx = torch.from_numpy(reflect_index(np.arange(-r, n + r), n)).to(x.device)
        padded = x.index_select(axis, idx)
        kt = torch.from_numpy(k).to(x.device)
        weight = kt.view(1, 1, 1, -1) if axis == 3 else kt.view(1, 1, -1, 1)
        x = F.conv2d(padded, weight)
    return x.reshape(shape)


def gaussian_surround_torch(x: torch.Tensor, sigma: float, log: bool = False) -> torch.Tensor:
    """The fast surround of ``surround.gaussian_surround`` for a (N, C, H, W) float32 tensor.

    With ``log=True`` the log (of the blur clamped to ≥ 1) is taken on the small image before
    upsampling, as in the numpy path.
    """
    if sigma <= 0:
        raise ValueError(f"sigma must be > 0, got {sigma}")
    if x.dim() != 4:
        raise ValueError(f"expected an (N, C, H, W) tensor, got shape {tuple(x.shape)}")
    x = x.float()
    n, c, h, w = x.shape

    def finish(t: torch.Tensor) -> torch.Tensor:
        return torch.log(torch.clamp_min(t, 1.0)) if log else t

    plan = shrink_plan(sigma, h, w)
    if plan is None:
        with _full_fp32(x.device):
            return finish(blur_torch(x, sigma))
    small_h, small_w, sigma_y, sigma_x = plan
    my = _matrix(_shrink_blur_matrix(small_h, h, sigma_y), x.device)
    mx = _matrix(_shrink_blur_matrix(small_w, w, sigma_x), x.device)
    with _full_fp32(x.device):
        small = _separable_matmul(x, my, mx)
    small = finish(small)
    if (small_h, small_w) == (h, w):
        return small
    return F.interpolate(small, size=(h, w), mode="bilinear", align_corners=False)


# --------------------------------------------------------------------------- stretches
# All stretch helpers work on rows: x is (B, L) float32, one row per (image, channel).

def _affine_rows(x: torch.Tensor, lo: torch.Tensor, hi: torch.Tensor, flat: torch.Tensor | None) -> torch.Tensor:
    """``stretch._affine``: map lo..hi (float64, per row) onto 0..255 and clamp; rows with no span take ``flat``."""
    span = hi - lo
    ok = span > 1e-12
    scale = torch.where(ok, 255.0 / torch.where(ok, span, torch.ones_like(span)), torch.zeros_like(span))
    scale = scale.float()  # numpy stores the coefficients as float32
    bias = (-lo * scale.double()).float()
    y = torch.addcmul(bias[:, None], x, scale[:, None])
    y.clamp_(0.0, 255.0)
    if flat is not None and not bool(ok.all()):
        y = torch.where(ok[:, None], y, flat.clamp(0.0, 255.0))
    return y


def _to_uint8(y: torch.Tensor) -> torch.Tensor:
    """``stretch.to_uint8``: values in 0..255 rounded half up."""
    return torch.floor(y + 0.5).to(torch.uint8)


def _balance_points(
    x: torch.Tensor, low: float, high: float, bins: int = stretch.HIST_BINS
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-row ``stretch.histogram_percentiles`` (float64): one batched 4096-bin histogram, interpolated in the bin."""
    rows = x.shape[0]
    lo32, hi32 = torch.aminmax(x, dim=1)
    lo, hi = lo32.double(), hi32.double()
    top = (hi + (hi - lo) * 1e-6).float()  # cv2.calcHist takes float ranges
    has_span = hi32 > lo32
    denom = torch.where(has_span, top - lo32, torch.ones_like(top))
    per_unit = bins / denom  # float32, per row
    idx = torch.floor((x - lo32[:, None]) * per_unit[:, None]).clamp_(0, bins - 1).to(torch.int64)
    idx += torch.arange(rows, device=x.device, dtype=torch.int64)[:, None] * bins
    hist = torch.bincount(idx.reshape(-1), minlength=rows * bins).view(rows, bins).double()
    del idx
    cum = torch.cumsum(hist, dim=1)
    width = (hi - lo) * (1 + 1e-6) / bins
    out: list[torch.Tensor] = []
    for frac in (low / 100.0, 1.0 - high / 100.0):
        target = frac * cum[:, -1:]
        b = torch.searchsorted(cum, target, side="left").clamp_(max=bins - 1)
        before = torch.where(b > 0, cum.gather(1, (b - 1).clamp_(min=0)), torch.zeros_like(target))
        count = hist.gather(1, b)
        inside = torch.where(count > 0, (target - before) / torch.where(count > 0, count, torch.ones_like(count)),
                             torch.zeros_like(count))
        p = lo + (b[:, 0].double() + inside[:, 0]) * width
        out.append(torch.where(has_span, p, lo if not out else hi))
    return out[0], out[1]


def _balance_rows(x: torch.Tensor, low: float, high: float, flat: torch.Tensor) -> torch.Tensor:
    """``stretch.balance(..., as_float=True)`` per row."""
    lo, hi = _balance_points(x, low, high)
    return _affine_rows(x, lo, hi, flat)


def _auto_clip_rows(x: torch.Tensor) -> torch.Tensor:
    """``stretch.auto_clip`` per row (in place): Parthasarathy–Sankaran clip points on ``int(100·x)``."""
    rows = x.shape[0]
    binned = (x * 100.0).to(torch.int32)  # truncation toward zero, as numpy's astype
    gmin, gmax = (int(v) for v in torch.aminmax(binned))
    nb = gmax - gmin + 1
    idx = (binned - gmin).to(torch.int64)
    del binned
    idx += torch.arange(rows, device=x.device, dtype=torch.int64)[:, None] * nb
    counts = torch.bincount(idx.reshape(-1), minlength=rows * nb).view(rows, nb)
    del idx
    values = torch.arange(gmin, gmax + 1, device=x.device)
    pos_idx = torch.arange(nb, device=x.device)
    if gmin <= 0 <= gmax:
        zero = counts[:, -gmin]
    else:
        zero = torch.zeros(rows, dtype=counts.dtype, device=x.device)
    nonempty = counts > 0
    # numpy compares the int counts with the float64 0.1·zero; do the same (small arrays).
    rare = nonempty & (counts.double() < 0.1 * zero.double()[:, None])
    last_neg = torch.where(rare & (values < 0), pos_idx, -1).amax(dim=1)
    first_pos = torch.where(rare & (values > 0), pos_idx, nb).amin(dim=1)
    first_bin = torch.where(nonempty, pos_idx, nb).amin(dim=1)
    last_bin = torch.where(nonempty, pos_idx, -1).amax(dim=1)
    low_bin = torch.where(last_neg >= 0, last_neg, first_bin) + gmin
    high_bin = torch.where(first_pos < nb, first_pos, last_bin) + gmin
    inf = torch.full((rows,), math.inf, dtype=torch.float64, device=x.device)
    low = torch.where(zero > 0, low_bin.double() / 100.0, -inf).float()
    high = torch.where(zero > 0, high_bin.double() / 100.0, inf).float()
    return torch.clamp(x, low[:, None], high[:, None], out=x)


def _minmax_rows(x: torch.Tensor, flat: torch.Tensor) -> torch.Tensor:
    lo, hi = torch.aminmax(x, dim=1)
    return _affine_rows(x, lo.double(), hi.double(), flat)


def _canonical_rows(x: torch.Tensor, gain: float, offset: float) -> torch.Tensor:
    rows = x.shape[0]
    lo = torch.full((rows,), -float(offset), dtype=torch.float64, device=x.device)
    return _affine_rows(x, lo, lo + 255.0 / gain, None)


def _finish_rows(values: torch.Tensor, p: _StretchedRetinexParams, flat: torch.Tensor) -> torch.Tensor:
    """``retinex._finish`` on (B, L) rows; returns uint8 rows."""
    mode = getattr(p, "output", "balance")
    if mode == "balance":
        y = _balance_rows(values, p.low_clip, p.high_clip, flat)
    elif mode == "auto":
        y = _minmax_rows(_auto_clip_rows(values), flat)
    else:
        y = _canonical_rows(values, p.gain, p.offset)
    return _to_uint8(y)


# --------------------------------------------------------------------------- methods
def _msr(image: torch.Tensor, log_image: torch.Tensor, p: _StretchedRetinexParams | MSRCPParams) -> torch.Tensor:
    """R = log I − Σ w_n log(G_σn * I) for (N, C, H, W) I ≥ 1 (``RetinexCache.msr``)."""
    acc = torch.zeros_like(log_image)
    for sigma, w in zip(p.sigmas, _weights(p)):
        acc.add_(gaussian_surround_torch(image, float(sigma), log=True), alpha=-float(w))
    acc += log_image
    return acc


def _rows(t: torch.Tensor) -> torch.Tensor:
    n, c, h, w = t.shape
    return t.reshape(n * c, h * w)


def _retinex(x: torch.Tensor, p: MethodParams) -> torch.Tensor:
    """MSR / MSRCR / MSRCP of (N, 3, H, W) float32 0..255 → uint8 (N, 3, H, W).

    As in the numpy path, a constant input channel (R ≡ 0 in exact arithmetic) is passed
    through unchanged (MSR, MSRCR), and so is an image whose intensity is constant (MSRCP):
    float rounding noise must not be stretched into a picture.
    """
    lo, hi = torch.aminmax(x.reshape(*x.shape[:2], -1), dim=2)
    if isinstance(p, MSRCPParams):
        intensity = (x + 1.0).sum(dim=1, keepdim=True) * np.float32(1.0 / 3.0)
        ilo, ihi = torch.aminmax(intensity.reshape(x.shape[0], -1), dim=1)
        constant = (ilo == ihi)[:, None].expand(-1, 3)
        del intensity
    else:
        constant = lo == hi  # (N, 3)
    if bool(constant.all()):
        return _to_uint8(x.clone())
    out = _retinex_values(x, p)
    if bool(constant.any()):
        out = torch.where(constant[:, :, None, None], _to_uint8(x.clone()), out)
    return out


def _retinex_values(x: torch.Tensor, p: MethodParams) -> torch.Tensor:
    n, c, h, w = x.shape
    image = x + 1.0
    if isinstance(p, MSRCPParams):
        intensity = image.sum(dim=1, keepdim=True) * np.float32(1.0 / 3.0)
        r = _msr(intensity, torch.log(intensity), p)
        new = _balance_rows(_rows(r), p.low_clip, p.high_clip, _rows(intensity - 1.0)).view(n, 1, h, w)
        del r
        new += 1.0
        gain = torch.minimum(new / intensity, 256.0 / image.amax(dim=1, keepdim=True))
        del new
        out = image.mul_(gain).sub_(1.0).clamp_(0.0, 255.0)
        return _to_uint8(out)
    log_image = torch.log(image)
    r = _msr(image, log_image, cast(_StretchedRetinexParams, p))  # MSR or MSRCR (MSRCP returned above)
    if isinstance(p, MSRParams):
        del image, log_image
        return _finish_rows(_rows(r), p, _rows(x)).view(n, c, h, w)
    if not isinstance(p, MSRCRParams):
        raise TypeError(f"not a Retinex parameter set: {type(p).__name__}")
    if p.output == "auto":
        _auto_clip_rows(_rows(r))
    colour = log_image.sub_(torch.log(image.sum(dim=1, keepdim=True)))  # log I_i − log Σ_j I_j
    del image
    colour += np.float32(math.log(p.alpha))
    colour *= r
    colour *= np.float32(_beta_scale(p))
    del r
    if p.output == "auto":
        return _to_uint8(_minmax_rows(_rows(colour), _rows(x))).view(n, c, h, w)
    return _finish_rows(_rows(colour), p, _rows(x)).view(n, c, h, w)


def _gamma(images: torch.Tensor, p: classic.GammaParams) -> torch.Tensor:
    if images.dtype == torch.uint8:  # the numpy path's LUT for 8-bit input
        lut = np.clip(np.rint(255.0 * (np.arange(256) / 255.0) ** p.gamma), 0, 255).astype(np.uint8)
        return torch.from_numpy(lut).to(images.device)[images.long()]
    out = 255.0 * (images / 255.0) ** np.float32(p.gamma)
    return torch.round(out).clamp_(0, 255).to(torch.uint8)  # round half to even, as np.rint


def _clahe(images: torch.Tensor, p: classic.CLAHEParams) -> torch.Tensor:
    """No torch CLAHE exists: run ``classic.clahe`` (OpenCV) per image on the CPU and move back."""
    h, w = images.shape[-2:]
    return _on_host(lambda img: classic.clahe(img, p, max_pixels=max(h * w, 1)), images)


def _on_host(run: Callable[[np.ndarray], np.ndarray], images: torch.Tensor) -> torch.Tensor:
    """``run`` (a numpy method on one uint8 image) per image on the CPU, the result moved back."""
    if images.dtype != torch.uint8:
        images = torch.round(images).clamp(0, 255).to(torch.uint8)  # as the numpy path: rint, clip
    host = images.permute(0, 2, 3, 1).cpu().numpy()
    out = np.stack([run(np.ascontiguousarray(img)) for img in host])
    return torch.from_numpy(out).permute(0, 3, 1, 2).to(images.device)


def _lime(images: torch.Tensor, p: LIMEParams) -> torch.Tensor:
    """No torch sparse direct solver runs everywhere: ``lime.lime`` per image on the CPU."""
    h, w = images.shape[-2:]
    return _on_host(lambda img: lime_numpy(img, p, max_pixels=max(h * w, 1)), images)


def _sci(images: torch.Tensor, p) -> torch.Tensor:
    """``srn.enhance.sci`` batched: the same network and formula on the images' device."""
    net = sci_network(p.weights)
    x = images.float() / 255.0

    def on(a: np.ndarray, channel_vector: bool = False) -> torch.Tensor:
        t = torch.from_numpy(a).to(x.device)
        return t[:, None, None] if channel_vector else t

    f = F.relu(F.conv2d(x, on(net.in_w), on(net.in_b), padding=1))
    f = f + F.relu(F.conv2d(f, on(net.block_w), on(net.block_b), padding=1) * on(net.bn_scale, True)
                   + on(net.bn_shift, True))
    light = (torch.sigmoid(F.conv2d(f, on(net.out_w), on(net.out_b), padding=1)) + x).clamp_(1e-4, 1.0)
    r = (x / light).clamp_(0.0, 1.0)
    if p.gamma != 1.0:
        r = r.pow_(float(p.gamma))
    return torch.round(r * 255.0).clamp_(0, 255).to(torch.uint8)


def _check_images(images: torch.Tensor) -> tuple[torch.Tensor, bool]:
    if not isinstance(images, torch.Tensor):
        raise ValueError(f"expected a torch.Tensor of shape (N, 3, H, W) or (3, H, W), got {type(images).__name__}")
    single = images.dim() == 3
    if images.dim() not in (3, 4) or images.shape[-3] != 3:
        raise ValueError(f"expected an (N, 3, H, W) or (3, H, W) tensor, got shape {tuple(images.shape)}")
    if images.shape[-1] < 1 or images.shape[-2] < 1:
        raise ValueError("expected an (N, 3, H, W) or (3, H, W) tensor with H, W >= 1, "
                         f"got shape {tuple(images.shape)}")
    if images.dtype != torch.uint8 and not images.is_floating_point():
        raise ValueError(f"expected uint8 or float pixels (0–255), got {images.dtype}")
    return (images.unsqueeze(0) if single else images), single


def _retinex_op(images: torch.Tensor, p) -> torch.Tensor:
    return _retinex(images.float(), p)


TORCH_OPS: dict[str, Callable[..., torch.Tensor]] = {"retinex": _retinex_op, "gamma": _gamma, "clahe": _clahe,
                                                     "sci": _sci, "lime": _lime}
"""The torch implementations that ``srn.enhance.registry.Method.torch_op`` names."""


def enhance_torch(
    images: torch.Tensor, params: MethodParams | None = None, device: str | torch.device | None = None
) -> torch.Tensor:
    """Enhance a batch: (N, 3, H, W) or (3, H, W), uint8 or float 0–255 → uint8 of the same layout on ``device``.

    Every image and channel is stretched independently, as ``enhance`` does per image.
    Float input is clamped to 0..255 and must be finite.
    """
    params = params or MSRCRParams()
    images, single = _check_images(images)
    device = images.device if device is None else torch.device(device)
    images = images.to(device).contiguous()
    if images.is_floating_point():
        if not bool(torch.isfinite(images).all()):
            raise ValueError("float images contain NaN or infinity")
        images = images.float().clamp(0.0, 255.0)
    if images.shape[0] == 0:
        out = torch.empty(images.shape, dtype=torch.uint8, device=device)
    else:
        op = get_method(params.method).torch_op  # the method's torch implementation, from the registry
        if op not in TORCH_OPS:
            raise ParamError(f"enhancement method {params.method!r} has no torch implementation ({op!r})")
        with torch.no_grad():
            out = TORCH_OPS[op](images, params)
    return out[0] if single else out


def enhance_numpy(
    image: np.ndarray, params: MethodParams | None = None, device: str | torch.device = "cpu",
    max_pixels: int = DEFAULT_MAX_PIXELS,
) -> np.ndarray:
    """``enhance`` through torch: numpy (H, W[, C]) in (``to_float_rgb`` rules), (H, W, 3) uint8 out."""
    rgb = to_float_rgb(image, max_pixels)
    tensor = torch.from_numpy(rgb).permute(2, 0, 1)
    if np.asarray(image).dtype == np.uint8:
        tensor = tensor.to(torch.uint8)  # exact; lets gamma use the 8-bit LUT as the numpy path does
    out = enhance_torch(tensor.to(device), params, device=device)
    return np.ascontiguousarray(out.permute(1, 2, 0).cpu().numpy())
