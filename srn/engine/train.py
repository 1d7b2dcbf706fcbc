"""SRN training and fine-tuning: the loop, its checkpoints and how a run resumes.

``run_training(config, out_dir, init=..., resume=...)`` trains with SGD and the warm-up + step
schedule of ``srn.engine.schedule`` on the data specs of ``TrainConfig`` (one process, or one
rank of a ``torchrun`` job: DDP with a ``DistributedSampler``; the batch size is global).

Files (rank 0 writes, atomically, in ``out_dir``)
    ``last.pth`` every ``checkpoint_every`` iterations, at the end and when stopped: the
    project's checkpoint layout (``format``, ``version``, ``state_dict``, ``metadata``; any
    ``load_weights`` reads it) plus a ``training_state`` key: optimiser, schedule, GradScaler,
    iteration, epoch, data position (sampler epoch and batches consumed in it), torch / numpy /
    python RNG states, and the config. ``final.pth`` when the run completes: the same without
    ``training_state``, with the parent model, data summary, enhancement and held-out metrics.
    Everything loads with ``torch.load(weights_only=True)``.

Determinism and resuming
    The sample order of an epoch is the ``DistributedSampler`` permutation of ``(seed, epoch)``;
    the augmentation of a sample is seeded by ``(seed, epoch, index)`` alone, so it does not
    depend on workers, ranks or where a run was interrupted. ``resume`` restores everything
    above and continues from the next batch of the interrupted epoch: a killed and resumed run
    reaches the weights of an uninterrupted one (up to non-deterministic kernels on GPUs).

Distributed loss normalisation
    ``SRNLoss`` divides each term by its count of positive anchors; under DDP the counts are
    averaged over the ranks first (``distributed.mean_across_ranks``), and DDP averages the
    gradients, so an N-rank run computes the gradient of one process on the global batch.

Progress
    ``emit(record)`` receives one dict per ``log_every`` iterations (``iter``, ``epoch``, the loss
    terms averaged over the interval and the ranks, ``lr``, ``images_per_s``, ``eta_s``) and a
    final ``{"event": "done" | "stopped", "checkpoint": ...}``; human-readable messages go to the
    ``srn.train`` logger. ``stop()`` returning true (SIGINT/SIGTERM in the command) ends the run
    after the current iteration with a checkpoint written.
"""

from __future__ import annotations

import logging
import math
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch
from torch import nn
from torch.utils.data import Dataset, DistributedSampler

from srn.data.datasets import check_images_readable
from srn.data.samples import TrainSample
from srn.engine import distributed
from srn.engine.checkpoint import (
    STATE_KEY,
    CheckpointError,
    CheckpointMetadata,
    apply_state_dict,
    load_weights,
    read_checkpoint_file,
    save_checkpoint,
    sha256_file,
    split_checkpoint,
)
from srn.engine.schedule import WarmupStepSchedule
from srn.engine.train_config import ConfigError, TrainConfig
from srn.fileio import remove_stale_temps
from srn.model.config import SRNConfig

if TYPE_CHECKING:
    from srn.data.datasets import FaceDataset
    from srn.model.srn_net import SRN

log = logging.getLogger("srn.train")

LAST = "last.pth"
FINAL = "final.pth"


class TrainingError(ValueError):
    """A run that cannot start or resume (bad data, incompatible checkpoint); names the cause."""


# ---------------------------------------------------------------------------------------------
# Data


def load_samples(specs, config: TrainConfig | None = None) -> tuple[list[TrainSample], list[dict]]:
    """The samples of data specs, and one summary per spec (type, path, images, faces)."""
    from srn.data.datasets import darkface_samples, wider_samples
    from srn.data.manifest import read_manifest

    samples: list[TrainSample] = []
    sources = []
    for spec in specs:
        kind = spec["type"]
        if kind == "darkface":
            found = darkface_samples(spec["labels"], spec["images"])
            where = spec["labels"]
        elif kind == "wider":
            found = wider_samples(spec["gt"], spec["root"])
            where = spec["gt"]
        else:
            found = read_manifest(spec["path"])
            where = spec["path"]
        samples += found
        sources.append({"type": kind, "path": str(where), "images": len(found),
                        "faces": int(sum(s.num_faces for s in found))})
    return samples, sources


def enhance_params(config: TrainConfig):
    if config.enhance is None:
        return None
    from srn.enhance import params_from_dict

    return params_from_dict(config.enhance)


def sample_seed(seed: int, epoch: int, index: int) -> int:
    """The augmentation seed of one sample in one epoch."""
    return int(np.random.SeedSequence([int(seed), int(epoch), int(index)]).generate_state(1)[0])


class EpochSeededDataset(Dataset):
    """Reseeds the wrapped dataset's transform with ``sample_seed(seed, epoch, index)`` before
    each item, so augmentation is a function of (seed, epoch, index) only."""

    def __init__(self, dataset: FaceDataset, seed: int) -> None:
        self.dataset = dataset
        self.seed = int(seed)
        self.epoch = 0

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: int):
        """Item ``index``; an image that cannot be read (damaged after the run's start check) is
        replaced by the next readable one, and the target's ``unreadable`` lists what was skipped
        (the loop warns once per file), so one bad file does not end a long run."""
        from srn.imageio import ImageReadError

        skipped: list[str] = []
        for step in range(len(self.dataset)):
            i = (index + step) % len(self.dataset)
            self.dataset.reseed(sample_seed(self.seed, self.epoch, i))
            try:
                image, target = self.dataset[i]
            except ImageReadError as exc:
                skipped.append(str(exc))
                continue
            return image, ({**target, "unreadable": skipped} if skipped else target)
        raise TrainingError(f"no training image can be read (first: {skipped[0]})")


class ResumableSampler(DistributedSampler):
    """``DistributedSampler`` (explicit rank and world size, so no process group is needed for
    one process) that can start ``start`` samples into its epoch."""

    def __init__(self, dataset: Dataset, num_replicas: int, rank: int, shuffle: bool, seed: int) -> None:
        super().__init__(dataset, num_replicas=num_replicas, rank=rank, shuffle=shuffle, seed=seed, drop_last=False)
        self.start = 0

    def set_start(self, start: int) -> None:
        self.start = int(start)

    def __iter__(self):
        return iter(list(super().__iter__())[self.start:])

    def __len__(self) -> int:
        return max(0, self.num_samples - self.start)


# ---------------------------------------------------------------------------------------------
# Model


def freeze_batchnorm(model: nn.Module) -> None:
    """Every BatchNorm in eval mode with its affine parameters excluded from training."""
    for m in model.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            m.eval()
            for p in m.parameters():
                p.requires_grad_(False)


def set_train_mode(model: nn.Module, freeze_bn: bool) -> None:
    model.train()
    if freeze_bn:
        freeze_batchnorm(model)


def build_model(config: TrainConfig):
    from srn.model.srn_net import SRN

    return SRN(SRNConfig(backbone=config.backbone, channels=config.channels))


def to_targets(targets: list[dict], device: torch.device):
    from srn.model.loss import Target

    return [
        Target(t["boxes"].to(device), t["ignore"].to(device), t["weights"].to(device),
               t["hard_negatives"].to(device), bool(t["fully_labelled"]))
        for t in targets
    ]


# ---------------------------------------------------------------------------------------------
# RNG and checkpoint state (weights_only-loadable: tensors, lists, numbers, strings)


def rng_state() -> dict:
    np_state = np.random.get_state()
    assert isinstance(np_state, tuple)  # the legacy MT19937 state of numpy's global generator
    py_state = random.getstate()
    out = {
        "torch": torch.get_rng_state(),
        "numpy": [np_state[0], torch.from_numpy(np_state[1].astype(np.int64)), int(np_state[2]), int(np_state[3]),
                  float(np_state[4])],
        "python": [py_state[0], list(py_state[1]), py_state[2]],
    }
    if torch.cuda.is_available():
        out["cuda"] = torch.cuda.get_rng_state_all()
    return out


def set_rng_state(state: dict) -> None:
    torch.set_rng_state(state["torch"])
    n = state["numpy"]
    np.random.set_state((n[0], n[1].numpy().astype(np.uint32), int(n[2]), int(n[3]), float(n[4])))
    p = state["python"]
    random.setstate((p[0], tuple(p[1]), p[2]))
    if "cuda" in state and torch.cuda.is_available() and len(state["cuda"]) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(state["cuda"])


def read_training_state(path: str | Path) -> tuple[dict, dict, CheckpointMetadata]:
    """(state dict, training state, metadata) of a resumable checkpoint."""
    obj = read_checkpoint_file(path)
    state, metadata = split_checkpoint(obj, path)
    if not isinstance(obj, dict) or STATE_KEY not in obj:
        raise CheckpointError(path, "has no training state; it cannot be resumed (use --init to start from it)")
    return state, obj[STATE_KEY], metadata


def _to_device(obj, device: torch.device):
    if isinstance(obj, torch.Tensor):
        return obj.to(device)
    if isinstance(obj, dict):
        return {k: _to_device(v, device) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_to_device(v, device) for v in obj]
    return obj


# ---------------------------------------------------------------------------------------------
# Evaluation


def held_out_metrics(model: SRN, samples: list[TrainSample], device: torch.device, enhance=None,
                     enhance_cache=None) -> dict:
    """AP@0.5 (``srn.eval.matching``) of single-scale detections on ``samples``."""
    import copy

    from srn.data.datasets import EnhanceCache
    from srn.engine.detector import Detector
    from srn.eval.matching import evaluate_ap50

    detector = Detector(copy.deepcopy(model), device=device, channels_last=False)
    cache = EnhanceCache(enhance_cache)
    gt, preds, keep = [], [], []
    for s in samples:
        params = s.enhance if s.enhance is not None else enhance
        image = cache.load(s.image_path, params)
        det = detector.detect([image], mode="single")[0]
        gt.append(np.asarray(s.boxes, dtype=np.float64))
        keep.append(~np.asarray(s.ignore, dtype=bool))
        preds.append((np.asarray(det.boxes, dtype=np.float64).reshape(-1, 4), np.asarray(det.scores, dtype=np.float64)))
    result = evaluate_ap50(gt, preds, keep=keep)
    ap = float(result.ap)
    return {"val_ap50": ap if math.isfinite(ap) else None, "val_images": len(samples),
            "val_faces": int(result.num_faces)}


# ---------------------------------------------------------------------------------------------
# The run


@dataclass
class RunResult:
    checkpoint: Path | None  # final.pth when completed, last.pth when stopped (rank 0; None elsewhere)
    iteration: int
    completed: bool
    losses: list[float]  # total loss of every iteration of this process (rank-local)
    metadata: CheckpointMetadata | None = None


def _amp_dtype(config: TrainConfig, device: torch.device):
    if config.amp == "none":
        return None
    if config.amp == "fp16" and device.type != "cuda":
        raise ConfigError("amp: fp16 needs a CUDA device; use bf16 or none")
    return torch.float16 if config.amp == "fp16" else torch.bfloat16


def _parent(init: str | Path | None) -> dict | None:
    if init is None:
        return None
    return {"name": Path(init).name, "sha256": sha256_file(init)}


def run_training(config: TrainConfig, out_dir: str | Path, *, init: str | Path | None = None,
                 resume: str | Path | None = None, emit: Callable[[dict], None] = lambda r: None,
                 stop: Callable[[], bool] = lambda: False, dist_info: distributed.DistInfo | None = None) -> RunResult:
    """Train (or resume) as configured; see the module docstring."""
    from srn.engine.device import pick_device

    out_dir = Path(out_dir)
    info = dist_info or distributed.from_env()
    device = pick_device(None if config.device == "auto" else config.device)
    if device.type == "cuda" and info.enabled:
        device = torch.device("cuda", info.local_rank)
        torch.cuda.set_device(device)
    if config.batch_size % info.world_size:
        raise ConfigError(f"batch_size: the global batch {config.batch_size} does not split across "
                          f"{info.world_size} processes")
    if config.sync_bn and (not info.enabled or device.type != "cuda"):
        raise ConfigError("sync_bn: SyncBatchNorm needs a multi-process CUDA (torchrun) job")
    amp_dtype = _amp_dtype(config, device)
    distributed.setup(info, device)
    try:
        return _run(config, out_dir, init, resume, emit, stop, info, device, amp_dtype)
    finally:
        distributed.cleanup()


def _run(config, out_dir, init, resume, emit, stop, info, device, amp_dtype) -> RunResult:
    from srn.data.augment import TrainTransform
    from srn.data.datasets import FaceDataset
    from srn.data.loader import make_loader
    from srn.model.anchors import all_anchors
    from srn.model.loss import SRNLoss

    torch.manual_seed(config.seed)
    np.random.seed(config.seed % 2**32)
    random.seed(config.seed)
    model = build_model(config)
    if info.is_main:  # a run killed while saving leaves a partial checkpoint beside the real one
        for name in (LAST, FINAL):
            for stale in remove_stale_temps(out_dir / name):
                log.info("removed %s, a partial checkpoint left by a stopped run", stale)
    resume_state = None
    if resume is not None:
        weights, resume_state, prev_meta = read_training_state(resume)
        apply_state_dict(model, weights, resume)
        parent = prev_meta.parent
        log.info("resuming %s at iteration %d", resume, resume_state["iteration"])
    elif init is not None:
        load_weights(model, init)
        parent = _parent(init)
        log.info("initialised from %s", init)
    else:
        parent = None
        if config.backbone_weights:
            from srn.engine.pretrained import init_from_imagenet

            init_from_imagenet(model, config.backbone_weights)
        elif config.freeze_bn:  # asked for explicitly (the default trains BatchNorm from scratch)
            # Measured (benchmarks/train_synth.py): 300 iterations from scratch with frozen BN
            # left AP@0.5 at 0.01; with BN training, 0.56 on day images.
            log.warning("training from scratch with freeze_bn: BatchNorm keeps its initial statistics "
                        "(mean 0, var 1) and the backbone barely learns; set freeze_bn=false or null")
    freeze_bn = config.frozen_bn(from_weights=parent is not None or bool(config.backbone_weights))  # resume: as begun

    # ---- data
    enhance = enhance_params(config)
    samples, sources = load_samples(config.data)
    if config.pseudo_labels is not None:
        if init is None and resume is None:
            raise TrainingError("pseudo_labels need an initial model: give --init CKPT")
        if resume_state is not None and "pseudo_samples" in resume_state:
            from srn.data.manifest import _parse_line  # the same JSON objects as a manifest

            pseudo = [_parse_line(line, Path("/"), f"{resume}:pseudo[{i}]")
                      for i, line in enumerate(resume_state["pseudo_samples"])]
        else:
            from srn.engine.pseudo_labels import pseudo_label_samples

            pseudo = pseudo_label_samples(model, config.pseudo_labels["images"], config.pseudo_threshold,
                                          config.pseudo_weight, device=device, enhance=enhance,
                                          enhance_cache=config.enhance_cache)
        samples += pseudo
        sources.append({"type": "pseudo_labels", "path": config.pseudo_labels["images"], "images": len(pseudo),
                        "faces": int(sum(s.num_faces for s in pseudo)), "threshold": config.pseudo_threshold,
                        "weight": config.pseudo_weight})
    else:
        pseudo = []
    if not samples:
        raise TrainingError("no training images: give data specs in the config ('data': [...])")
    if info.is_main:
        check_images_readable(samples)  # every bad file named now, not one at a time hours in
    transform = TrainTransform(config.size, config.seed, photometric=config.augment, expand=config.augment,
                               crop=config.augment, flip=config.augment)
    dataset = EpochSeededDataset(FaceDataset(samples, transform, enhance=enhance, cache_dir=config.enhance_cache),
                                 config.seed)
    per_rank = config.batch_size // info.world_size
    sampler = ResumableSampler(dataset, info.world_size, info.rank, shuffle=True, seed=config.seed)
    loader = make_loader(dataset, per_rank, shuffle=False, workers=config.workers, seed=config.seed + info.rank,
                         sampler=sampler, pin_memory=device.type == "cuda")
    iters_per_epoch = math.ceil(sampler.num_samples / per_rank)
    total = config.epochs * iters_per_epoch
    if config.max_iters is not None:
        total = min(total, config.max_iters)
    data_summary = {"images": len(samples), "faces": int(sum(s.num_faces for s in samples)), "sources": sources}

    # ---- model, optimiser, schedule
    model.to(device)
    if config.sync_bn:
        model = nn.SyncBatchNorm.convert_sync_batchnorm(model)
    set_train_mode(model, freeze_bn)
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.SGD(params, lr=config.lr, momentum=config.momentum, weight_decay=config.weight_decay)
    schedule = WarmupStepSchedule.from_epochs(config.lr, config.lr_steps, iters_per_epoch, config.lr_gamma,
                                              config.warmup_iters, config.warmup_factor)
    scaler = torch.amp.GradScaler(device.type, enabled=amp_dtype == torch.float16)
    iteration = 0
    if resume_state is not None:
        if resume_state["num_samples"] != len(samples) or resume_state["iters_per_epoch"] != iters_per_epoch:
            raise TrainingError(f"{resume}: the data changed since the checkpoint ({resume_state['num_samples']} "
                                f"images, {resume_state['iters_per_epoch']} iterations per epoch; now {len(samples)}, "
                                f"{iters_per_epoch}); start a new run with --init instead")
        optimizer.load_state_dict(_to_device(resume_state["optimizer"], device))
        scaler.load_state_dict(resume_state["scaler"])
        iteration = int(resume_state["iteration"])
        set_rng_state(resume_state["rng"])
    net = model
    if info.enabled:
        net = nn.parallel.DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)
    loss_fn = SRNLoss(model.config)
    anchors_cache: dict = {}

    def anchors_for(output):
        key = tuple(level.size for level in output.levels)
        if key not in anchors_cache:
            anchors_cache[key] = all_anchors(key, model.config, device=device)
        return anchors_cache[key]

    def metadata(metrics: dict | None = None) -> CheckpointMetadata:
        return CheckpointMetadata(srn_config=model.config.to_dict(), training_data=data_summary,
                                  enhancement=config.enhance, parent=parent, metrics=metrics or {})

    def save_last() -> Path:
        epoch, position = divmod(iteration, iters_per_epoch)
        state = {
            "iteration": iteration, "epoch": epoch,
            "data": {"sampler_epoch": epoch, "position": position, "batch_per_rank": per_rank,
                     "world_size": info.world_size},
            "num_samples": len(samples), "iters_per_epoch": iters_per_epoch,
            "optimizer": optimizer.state_dict(), "scheduler": schedule.state_dict(), "scaler": scaler.state_dict(),
            "rng": rng_state(), "config": config.to_dict(),
            "pseudo_samples": [_json_line(s) for s in pseudo],
        }
        path = out_dir / LAST
        save_checkpoint(path, model, metadata(), state)
        log.info("checkpoint %s (iteration %d)", path, iteration)
        return path

    log.info("training %d iterations (%d per epoch) on %d images, %d faces, %s, %d process(es)", total,
             iters_per_epoch, len(samples), data_summary["faces"], device, info.world_size)
    losses: list[float] = []
    window = torch.zeros(5, dtype=torch.float64)
    window_n = 0
    t_window = time.perf_counter()
    t_start, it_start = t_window, iteration
    stopped = False
    warned: set[str] = set()
    while iteration < total and not stopped:
        epoch, position = divmod(iteration, iters_per_epoch)
        sampler.set_epoch(epoch)
        sampler.set_start(position * per_rank)
        dataset.epoch = epoch
        for images, targets in loader:
            for message in (m for t in targets for m in t.get("unreadable", ())):
                if message not in warned:
                    warned.add(message)
                    log.warning("skipped an image that cannot be read: %s", message)
            lr = schedule.apply(optimizer, iteration)
            images = images.to(device, non_blocking=True)
            with torch.autocast(device.type, dtype=amp_dtype, enabled=amp_dtype is not None):
                output = net(images)
            output.to_float32()
            terms = loss_fn(output, anchors_for(output), to_targets(targets, device),
                            count_reducer=distributed.mean_across_ranks)
            if not torch.isfinite(terms["total"]):
                raise TrainingError(f"the loss is not finite at iteration {iteration} ({terms['total'].item()}); "
                                    "lower lr or enable grad_clip")
            optimizer.zero_grad(set_to_none=True)
            scaler.scale(terms["total"]).backward()
            if config.grad_clip is not None:
                scaler.unscale_(optimizer)
                torch.nn.utils.clip_grad_norm_(params, config.grad_clip)
            scaler.step(optimizer)
            scaler.update()
            iteration += 1
            values = torch.tensor([float(terms[k].detach()) for k in ("cls1", "box1", "cls2", "box2", "total")],
                                  dtype=torch.float64)
            losses.append(float(values[4]))
            window += values
            window_n += 1
            if iteration % config.log_every == 0 or iteration == total:
                mean = distributed.mean_across_ranks((window / window_n).to(device)).cpu()
                now = time.perf_counter()
                rate = window_n * config.batch_size / max(now - t_window, 1e-9)
                per_iter = (now - t_start) / max(iteration - it_start, 1)
                if info.is_main:
                    record = {"iter": iteration, "epoch": iteration / iters_per_epoch}
                    record.update({k: float(v) for k, v in zip(("cls1", "box1", "cls2", "box2", "total"), mean)})
                    record.update({"lr": lr, "images_per_s": rate, "eta_s": per_iter * (total - iteration)})
                    emit(record)
                    log.info("iter %d/%d epoch %.2f loss %.4f (cls1 %.4f box1 %.4f cls2 %.4f box2 %.4f) lr %.2e "
                             "%.1f img/s", iteration, total, record["epoch"], record["total"], record["cls1"],
                             record["box1"], record["cls2"], record["box2"], lr, rate)
                window.zero_()
                window_n = 0
                t_window = now
            stopped = distributed.any_true(bool(stop()), device)
            if iteration >= total or stopped:
                break
            if iteration % config.checkpoint_every == 0:
                if info.is_main:
                    save_last()
                distributed.barrier()

    # ---- the end: resumable checkpoint always, final checkpoint when complete
    result_path = None
    final_meta = None
    if info.is_main:
        result_path = save_last()
        if not stopped:
            metrics = {"iterations": iteration, "epochs": iteration / iters_per_epoch}
            if config.val:
                val_samples, _ = load_samples(config.val)
                metrics.update(held_out_metrics(model, val_samples, device, enhance, config.enhance_cache))
                set_train_mode(model, freeze_bn)
            final_meta = metadata(metrics)
            result_path = out_dir / FINAL
            save_checkpoint(result_path, model, final_meta)
            log.info("done: %s", result_path)
        emit({"event": "stopped" if stopped else "done", "iter": iteration, "checkpoint": str(result_path)})
    distributed.barrier()
    return RunResult(result_path, iteration, not stopped, losses, final_meta)


def _json_line(sample: TrainSample) -> str:
    import json

    from srn.data.manifest import sample_to_dict

    data = sample_to_dict(sample)
    data["image_path"] = str(Path(sample.image_path).resolve())
    return json.dumps(data)


def resume_config(path: str | Path) -> TrainConfig:
    """The config a resumable checkpoint was trained with."""
    _, state, _ = read_training_state(path)
    return TrainConfig.from_dict(state["config"], where=f"{path} (training_state.config)")
