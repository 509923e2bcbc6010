"""The ``dataward faces`` commands: ``calibrate`` computes face thresholds from labelled pairs.

``calibrate`` analyses every image of a pairs file through the zone's own face path (the face
workers: decode within the limits, the quality gates, the template), prints the genuine-accept
rate at the target false-accept rate, at 1% and 0.1%, the equal-error rate, the pairs left out
by reason, and the thresholds as a ``[faces]`` TOML snippet with the sentence saying what they
were validated on; ``--roc`` writes the ROC curve as a PNG. It needs no zone and no key, and
prints no image name (in a pairs file it is often a person's name).
"""

from __future__ import annotations

import json
from pathlib import Path

import click

from enclave.biometrics import (
    Calibration,
    FaceWorkers,
    Thresholds,
    calibrate,
    read_pairs,
    write_roc_png,
)
from launcher._progress import ProgressDisplay
from launcher.settings import load_settings

__all__ = ["faces", "toml_snippet"]


@click.group(name="faces")
def faces() -> None:
    """Face verification: calibrate the thresholds."""


@faces.command("calibrate")
@click.option(
    "--pairs",
    "pairs_tsv",
    required=True,
    type=click.Path(path_type=Path),
    help="Tab-separated pairs with a header holding label (1 same person, 0 two people), "
    "img_a and img_b (LFW View 2's 'fold label img_a img_b').",
)
@click.option(
    "--images",
    "images_dir",
    required=True,
    type=click.Path(path_type=Path),
    help="Directory the pairs' image paths are relative to.",
)
@click.option(
    "--far",
    type=click.FloatRange(0.0, 1.0, min_open=True, max_open=True),
    default=0.001,
    show_default=True,
    help="Target false-accept rate of the match thresholds.",
)
@click.option(
    "--roc",
    "roc_png",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Write the ROC curve to this PNG file.",
)
@click.option(
    "--workers",
    type=click.IntRange(0, 64),
    default=None,
    help="Face worker processes analysing images in parallel (0: in this process; default: "
    "setting faces.workers).",
)
@click.option(
    "--describe",
    default=None,
    help="What the pairs are, for the validated_on sentence (default: their counts).",
)
@click.option(
    "--progress/--no-progress",
    default=True,
    help="Progress on stderr: a bar on a terminal, a line per 10% otherwise.",
)
def calibrate_command(
    *,
    pairs_tsv: Path,
    images_dir: Path,
    far: float,
    roc_png: Path | None,
    workers: int | None,
    describe: str | None,
    progress: bool,
) -> None:
    """Compute match thresholds for a target false-accept rate from labelled pairs.

    Exit 65 when the pairs file or an image path in it is wrong (the line and column are
    named), or when too few pairs could be scored. The image limits and the quality gates
    are the settings ``faces.*`` the zone serves with.
    """
    if roc_png is not None and not roc_png.resolve().parent.is_dir():
        raise click.BadParameter("its directory does not exist", param_hint="'--roc'")
    settings = load_settings(overrides={"faces": {"workers": workers}}).faces
    read_pairs(pairs_tsv, images_dir)  # a wrong file is refused before any worker starts
    limits, gates = settings.limits(), settings.gates()
    display = ProgressDisplay("calibrate", unit="images")

    def on_progress(done: int, total: int) -> None:
        display.set_done("images", done, total)  # the images complete in order

    try:
        with FaceWorkers(
            settings.workers,
            limits=limits,
            gates=gates,
            memory_mb=settings.worker_memory_mb,
            timeout=settings.timeout_seconds,
        ) as pool:
            result = calibrate(
                pairs_tsv,
                images_dir,
                pool,
                far=far,
                concurrency=max(1, settings.workers),
                progress=on_progress if progress else None,
            )
    finally:
        display.close()
    if roc_png is not None:
        write_roc_png(result, roc_png)
    _print(result, describe, roc_png)


def _sentence(result: Calibration, describe: str | None) -> str:
    data = describe or (
        f"{result.genuine.size + result.impostor.size} labelled pairs "
        f"({result.genuine.size} genuine, {result.impostor.size} impostor)"
    )
    return (
        f"dlib ResNet v1 face embeddings; thresholds calibrated at {result.far:g} false accepts "
        f"on {data}, with no margin for populations the pairs do not hold"
    )


def _print(result: Calibration, describe: str | None, roc_png: Path | None) -> None:
    genuine, impostor = result.genuine.size, result.impostor.size
    unscored = sum(result.unscored.values())
    click.echo(
        f"{result.pairs} pairs, {result.images} images ({result.seconds:.1f} s): "
        f"{genuine} genuine and {impostor} impostor pairs scored, {unscored} not"
        + (f" ({result.unscored_genuine} of them genuine)" if unscored else "")
    )
    for reason, count in sorted(result.unscored.items()):
        click.echo(f"  {reason:<30} {count:>6}")
    accepted = int((result.impostor <= result.threshold).sum())
    click.echo(
        f"at FAR {result.far:g}: threshold {result.threshold:.3f}, GAR {result.gar:.2%} of the "
        f"scored genuine pairs ({result.gar_all:.2%} of all, a retake counted as no accept); "
        f"{accepted} of {impostor} impostor pairs accepted"
    )
    if result.far < result.far_resolution:
        click.echo(
            f"  note: {impostor} impostor pairs resolve a FAR down to about "
            f"{min(result.far_resolution, 1.0):.1%} only (none accepted among n: below 3/n, 95%)"
        )
    click.echo(f"GAR at FAR 1%: {result.gar_at_far(0.01):.2%}")
    click.echo(f"GAR at FAR 0.1%: {result.gar_at_far(0.001):.2%}")
    eer, at = result.eer
    click.echo(f"EER: {eer:.2%} (at distance {at:.3f})")
    click.echo(
        f"encrypted match at FAR {result.far:g}: cosine threshold {result.cosine_threshold:.3f}, "
        f"GAR {result.cosine_gar:.2%}"
    )
    if roc_png is not None:
        click.echo(f"ROC curve written to {roc_png}")
    click.echo("")
    click.echo(toml_snippet(result.suggested(_sentence(result, describe))))


def toml_snippet(thresholds: Thresholds) -> str:
    """The thresholds as the ``[faces]`` settings that take them."""
    return "\n".join(
        [
            "[faces]",
            f"presentation_floor = {thresholds.presentation_floor:.3f}",
            f"match_high = {thresholds.match_high:.3f}",
            f"match_medium = {thresholds.match_medium:.3f}",
            f"no_match = {thresholds.no_match:.3f}",
            f"no_match_high = {thresholds.no_match_high:.3f}",
            f"encrypted_cosine = {thresholds.encrypted_cosine:.3f}",
            f"validated_on = {json.dumps(thresholds.validated_on)}",
        ]
    )
