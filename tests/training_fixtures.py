"""A small project with every kind of label the training export distinguishes, and a tiny model.

Eight synthetic night images (160×120, ``srn.data.synth``) imported into a SQLite project:

* ``1``–``5``: DARK FACE labels imported (accepted ``imported`` boxes, status ``done``); ``4`` is
  set back to ``in_progress`` (labelled, not fully);
* ``6``: model proposals, one accepted and one rejected (a hard negative), status ``in_progress``;
* ``7``: unreviewed, model proposals scored 0.95 / 0.85 / 0.5 (pseudo-label candidates);
* ``8``: one human box marked ignore, status ``new`` (labelled by that box).
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from app.store import (
    Project,
    boxes_of,
    create_box,
    import_images,
    import_labels,
    record_detections,
    register_model,
    review_queue,
    set_box_state,
    set_review_status,
)
from srn.engine.checkpoint import CheckpointMetadata, save_checkpoint
from srn.model.config import SRNConfig
from srn.model.srn_net import SRN


@dataclass
class TrainingProject:
    project: Project
    ids: dict[str, int]  # image stem -> id
    images: Path
    base_id: int
    base_checkpoint: Path


def tiny_checkpoint(path: Path) -> Path:
    torch.manual_seed(0)
    model = SRN(SRNConfig(backbone="resnet18", channels=16))
    save_checkpoint(path, model, CheckpointMetadata(srn_config=model.config.to_dict()))
    return path


def confident_tiny_checkpoint(path: Path, seed: int = 0) -> Path:
    """A tiny random SRN whose classifier says "face" everywhere: every image gets many boxes."""
    torch.manual_seed(seed)
    model = SRN(SRNConfig(backbone="resnet18", channels=16))
    with torch.no_grad():
        model.cls_subnet_pred.bias.fill_(1.0)
    save_checkpoint(path, model, CheckpointMetadata(srn_config=model.config.to_dict()))
    return path


def synth_images(folder: Path, n: int = 8) -> Path:
    from srn.data.synth import SynthConfig, write_dataset

    return write_dataset(folder, n, seed=3, config=SynthConfig(width=160, height=120))


def make_training_project(tmp: Path, synth: Path, base_checkpoint: Path) -> TrainingProject:
    images = tmp / "images"
    shutil.copytree(synth / "night", images)
    labels = tmp / "label"
    labels.mkdir()
    for stem in "12345":
        shutil.copy(synth / "label" / f"{stem}.txt", labels / f"{stem}.txt")
    project = Project.create(tmp / "project.db", roots=[images])
    import_images(project, images)
    ids = {Path(q.rel_path).stem: q.image_id for q in review_queue(project, "path")}
    import_labels(project, labels, "darkface", allow_unmatched=True)
    set_review_status(project, ids["4"], "in_progress")
    base = register_model(project, "tiny base", base_checkpoint)
    record_detections(project, {
        ids["6"]: (np.array([[10, 10, 40, 40], [80, 60, 110, 90]], float), np.array([0.9, 0.7])),
        ids["7"]: (np.array([[5, 5, 30, 30], [50, 50, 70, 70], [90, 20, 120, 50]], float),
                   np.array([0.95, 0.85, 0.5])),
    }, model_version_id=base.id)
    first, second = boxes_of(project, ids["6"])
    set_box_state(project, first.id, first.version, "accepted")
    set_box_state(project, second.id, second.version, "rejected")
    set_review_status(project, ids["6"], "in_progress")
    create_box(project, ids["8"], (20, 20, 60, 60), ignore=True)
    return TrainingProject(project, ids, images, base.id, base_checkpoint)
