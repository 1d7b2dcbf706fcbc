"""``srn weights``: list the known models and fetch one (the authors' SRN, an ImageNet backbone, any URL).

``fetch`` downloads into ``<dest>.part`` (an interrupted download resumes from it on the next
run), checks the size, the sha256 if known, and that every key and shape loads into the
network, and only then renames the file into place. Exit status: 0 done (or already there),
2 any failure (one line on stderr naming the address or file), 130 interrupted.
"""

from __future__ import annotations

import argparse
import json
import sys

from srn.weights.authors import (
    AUTHORS_BAIDU_CODE,
    AUTHORS_BAIDU_URL,
    AUTHORS_DRIVE_ID,
    AUTHORS_FILE,
    AUTHORS_MODEL,
    AUTHORS_REPO,
)

FETCH_DESCRIPTION = f"""\
Fetch model weights and install them only once they are complete and verified.

WHAT is one of:
  {AUTHORS_MODEL:<14} the authors' SRN ResNet-50 trained on WIDER FACE ({AUTHORS_FILE}, ~200 MB),
                 from Google Drive file {AUTHORS_DRIVE_ID} (the link in the README of
                 {AUTHORS_REPO}), downloaded with gdown
  resnet18, resnet50, resnet101
                 torchvision's ImageNet backbone weights, into torch hub's checkpoint folder
                 ($TORCH_HOME/hub/checkpoints), where torchvision finds them later
  URL            any http://, https:// or file:// address (or a local file) of an SRN checkpoint

Without --out, SRN models go to the app's data folder: $DARKFACE_DATA_DIR/models/, else
~/.local/share/DarkFace/DarkFace Studio/models/ on Linux (Qt's AppDataLocation of the app).
The download goes to <file>.part first: run the same
command again after an interruption and it resumes (HTTP Range). The finished file must have
the announced size (and --size / --sha256 when given), and every key and shape must load into
the network; otherwise it is deleted and nothing is installed. An existing file is kept: a
known model that passes the checks is reported as present; anything else needs --force.

Google Drive unreachable? The authors also publish {AUTHORS_FILE} on BaiduYun:
{AUTHORS_BAIDU_URL} (extraction code {AUTHORS_BAIDU_CODE}).
Download it in a browser, then install it (verified) with
  srn weights fetch {AUTHORS_MODEL} --from ~/Downloads/{AUTHORS_FILE}

Exit status: 0 done or already present, 2 any failure, 130 interrupted (the .part is kept).
"""


def add_parser(subparsers) -> argparse.ArgumentParser:
    """Register ``weights`` (with ``list`` and ``fetch``) on an ``add_subparsers()`` object."""
    p = subparsers.add_parser(
        "weights",
        help="list known models and fetch the authors' SRN or ImageNet backbones",
        description=__doc__.split("\n\n", 1)[1] if __doc__ else None,
    )
    sub = p.add_subparsers(dest="weights_command", metavar="ACTION", required=True)

    ls = sub.add_parser("list", help="the known models and whether each is on this machine",
                        description="The models `srn weights fetch NAME` knows, their source and licence, "
                                    "and where each is (or would be) on this machine.")
    ls.add_argument("--json", action="store_true", help="machine-readable output")
    ls.set_defaults(func=run_list)

    fe = sub.add_parser("fetch", help="download, verify and install model weights",
                        description=FETCH_DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    fe.add_argument("what", metavar="WHAT", help=f"{AUTHORS_MODEL}, resnet18/50/101, or a URL (see above)")
    fe.add_argument("--out", metavar="PATH", help="file to write, or a folder to write into (default: see above)")
    fe.add_argument("--from", dest="mirror", metavar="URL_OR_FILE",
                    help="get a known model from this address or local file instead (e.g. the BaiduYun download)")
    fe.add_argument("--sha256", metavar="HEX", help="refuse the file unless its sha256 is this")
    fe.add_argument("--size", type=int, metavar="BYTES", help="refuse the file unless it has exactly this size")
    fe.add_argument("--srn-config", metavar="JSON",
                    help="SRN config of a checkpoint without metadata, e.g. '{\"backbone\": \"resnet18\"}' "
                         "(default: the authors' ResNet-50)")
    fe.add_argument("--force", action="store_true", help="replace an existing file at the destination")
    fe.add_argument("--quiet", action="store_true", help="no progress bar")
    fe.set_defaults(func=run_fetch)
    return p


def run_list(args: argparse.Namespace) -> int:
    from srn.weights.catalogue import KNOWN_MODELS, default_path

    rows = []
    for model in KNOWN_MODELS.values():
        path = default_path(model)
        rows.append({"name": model.name, "kind": model.kind, "title": model.title, "source": model.source,
                     "licence": model.licence, "alternative": model.alternative, "path": str(path),
                     "present": path.is_file()})
    if args.json:
        print(json.dumps(rows, indent=1))
        return 0
    for row in rows:
        print(f"{row['name']:<14} {row['title']}")
        print(f"{'':<14} source:  {row['source']}")
        if row["alternative"]:
            print(f"{'':<14} or:      {row['alternative']}")
        print(f"{'':<14} licence: {row['licence']}")
        state = "present:" if row["present"] else "missing:"
        print(f"{'':<14} {state} {row['path']}")
    return 0


class _Bar:
    """``progress(done, total)`` drawn with tqdm on stderr (bytes, resumed downloads start part-way)."""

    def __init__(self, label: str, quiet: bool) -> None:
        self._label, self._quiet, self._bar = label, quiet, None

    def __call__(self, done: int, total: int | None) -> None:
        if self._quiet:
            return
        if self._bar is None:
            from tqdm import tqdm

            self._bar = tqdm(total=total, initial=done, unit="B", unit_scale=True, unit_divisor=1024,
                             desc=self._label, file=sys.stderr, dynamic_ncols=True, leave=True)
            return
        if total is not None and self._bar.total != total:
            self._bar.total = total
        self._bar.update(done - self._bar.n)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()


def _srn_config(text: str | None) -> dict | None:
    if text is None:
        return None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"--srn-config is not valid JSON ({exc.msg})") from None
    if not isinstance(data, dict):
        raise ValueError(  # noqa: TRY004 - a usage error, reported like the others
            "--srn-config must be a JSON object, e.g. '{\"backbone\": \"resnet18\"}'")
    return data


def run_fetch(args: argparse.Namespace) -> int:
    from srn.weights.download import FetchError
    from srn.weights.fetch import fetch, resolve_source

    bar = _Bar(args.what if len(args.what) <= 24 else "download", args.quiet)
    source = None
    try:
        source = resolve_source(args.what, mirror=args.mirror, srn_config=_srn_config(args.srn_config),
                                sha256=args.sha256, size=args.size)
        result = fetch(source, args.out, force=args.force, progress=bar)
    except (FetchError, ValueError) as exc:
        bar.close()
        hint = ""
        if source is not None and source.drive_id and source.url in str(exc):  # Drive itself failed
            hint = (f" -- alternative: download {AUTHORS_FILE} from BaiduYun {AUTHORS_BAIDU_URL} (extraction code "
                    f"{AUTHORS_BAIDU_CODE}) in a browser, then `srn weights fetch {AUTHORS_MODEL} --from FILE`")
        print(f"srn weights: {exc}{hint}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        bar.close()
        print("\nsrn weights: interrupted; run the same command again to resume the download", file=sys.stderr)
        return 130
    bar.close()
    if result.downloaded:
        print(f"fetched {source.label} into {result.path} ({result.size} bytes, sha256 {result.sha256}; "
              f"verified: {result.verified.summary()})")
    else:
        print(f"{source.label} is already at {result.path} (verified: {result.verified.summary()})")
    return 0
