"""Bad inputs and bad situations through the real command line: what the tool does, its exit code, what it leaves.

    python benchmarks/bench_reliability.py --out docs/reliability.md [--only NAME ...] [--list]

Each case is built in its own temporary folder (from the bundled sample FLAIR, resampled to 2 mm to
keep the full runs short), then `python -m RadioWMHSegLib segment ...` runs on it with the
bundled model, in that folder, and the table row records the tool's own words (errors and warnings,
progress lines left out), the exit code, the files left in the folder besides the inputs, and the time.
A full disk and a read-only folder need a small tmpfs: as root the script mounts one (and unmounts
it); elsewhere those rows say "not run". An interrupt is simulated by raising KeyboardInterrupt in
the stats write (the only case not run through the plain command line).
"""

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import SimpleITK as sitk

REPOSITORY = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPOSITORY))
from RadioWMHSegLib.safe_write import atomic_write_text  # noqa: E402  (after the path)
from reliability_inputs import (fill, head, like, nifti_without_geometry, small_tmpfs, t1_like,  # noqa: E402
                                write, write_dicom_series)
CASES = []


def case(title):
    def register(function):
        CASES.append((function.__name__, title, function))
        return function
    return register


# ------------------------------------------------------------------------------------------ cases
# Each returns (argv after "segment", note) and may return None to say it could not be run here.

@case("clean head (baseline): the bundled sample at 2 mm")
def baseline(folder):
    return [write(head(), folder / "flair.nii.gz"), "-o", "wmh.nii.gz", "--stats", "stats.json"]


@case("disk full while writing --prob (tmpfs with 64 KiB free)")
def disk_full_prob(folder):
    flair = write(head(), folder / "flair.nii.gz")
    disk = folder / "disk"
    return {"argv": [flair, "-o", "disk/wmh.nii.gz", "--prob", "disk/prob.nii.gz"],
            "mount": (disk, 1 << 20, False), "leave": 64 << 10, "list": disk}


@case("disk full at the stats write (tmpfs with 4 KiB free after the mask)")
def disk_full_stats(folder):
    flair = write(head(), folder / "flair.nii.gz")
    disk = folder / "disk"
    return {"argv": [flair, "-o", "disk/wmh.nii.gz", "--stats", "disk/stats.json", "--png", "disk/overlay.png"],
            "mount": (disk, 1 << 20, False), "leave": "mask+4096", "list": disk}


@case("read-only output folder (read-only tmpfs)")
def read_only_folder(folder):
    flair = write(head(), folder / "flair.nii.gz")
    disk = folder / "readonly"
    return {"argv": [flair, "-o", "readonly/wmh.nii.gz"], "mount": (disk, 1 << 20, True), "list": disk}


@case("interrupt (Ctrl-C) just after the mask was written (simulated in the stats write)")
def interrupt_after_mask(folder):
    flair = write(head(), folder / "flair.nii.gz")
    return {"argv": [flair, "-o", "wmh.nii.gz", "--prob", "prob.nii.gz", "--stats", "stats.json"], "interrupt": True}


@case("-o is the input file, with --overwrite")
def output_is_input(folder):
    flair = write(head(), folder / "flair.nii.gz")
    return [flair, "-o", flair, "--overwrite"]


@case("--prob equal to -o")
def prob_equals_output(folder):
    return [write(head(), folder / "flair.nii.gz"), "-o", "wmh.nii.gz", "--prob", "wmh.nii.gz"]


@case("output with a .png ending for the mask")
def mask_as_png(folder):
    return [write(head(), folder / "flair.nii.gz"), "-o", "wmh.png"]


@case("output with a .txt ending for the mask")
def mask_as_txt(folder):
    return [write(head(), folder / "flair.nii.gz"), "-o", "wmh.txt"]


@case("output without an ending")
def mask_without_ending(folder):
    return [write(head(), folder / "flair.nii.gz"), "-o", "wmh"]


@case("output that is a folder")
def output_is_folder(folder):
    (folder / "results").mkdir()
    return [write(head(), folder / "flair.nii.gz"), "-o", "results"]


@case("--png x.jpg")
def png_as_jpg(folder):
    return [write(head(), folder / "flair.nii.gz"), "-o", "wmh.nii.gz", "--png", "overlay.jpg"]


@case("--reference on another grid")
def reference_other_grid(folder):
    image = head()
    other = sitk.Image([n // 2 for n in image.GetSize()], sitk.sitkUInt8)
    other.SetSpacing([2 * s for s in image.GetSpacing()])
    write(other, folder / "truth.nii.gz")
    return [write(image, folder / "flair.nii.gz"), "-o", "wmh.nii.gz", "--reference", "truth.nii.gz"]


@case("--channel 3 on a 3D image")
def channel_of_3d(folder):
    return [write(head(), folder / "flair.nii.gz"), "-o", "wmh.nii.gz", "--channel", "3"]


@case("5 x 5 x 5 voxel image")
def tiny(folder):
    image = sitk.GetImageFromArray((100 + 50 * np.random.default_rng(0).random((5, 5, 5))).astype(np.float32))
    return [write(image, folder / "tiny.nii.gz"), "-o", "wmh.nii.gz"]


@case("every voxel negative (the head minus 2000)")
def all_negative(folder):
    image = head()
    return [write(image - float(sitk.GetArrayViewFromImage(image).max()) - 2000.0, folder / "negative.nii.gz"),
            "-o", "wmh.nii.gz"]


@case("uniform noise on a head-sized grid")
def uniform_noise(folder):
    image = head()
    noise = np.random.default_rng(1).random(sitk.GetArrayViewFromImage(image).shape) * 1000
    return [write(like(image, noise), folder / "noise.nii.gz"), "-o", "wmh.nii.gz"]


@case("64^3 image of 11 random values")
def eleven_values(folder):
    array = np.random.default_rng(2).integers(0, 11, (64, 64, 64)) * 37.5 + 3.3
    return [write(sitk.GetImageFromArray(array.astype(np.float32)), folder / "eleven.nii.gz"), "-o", "wmh.nii.gz"]


@case("40 mm partial field of view (20 axial slices of 2 mm)")
def partial_fov(folder):
    image = head()
    z0 = image.GetSize()[2] // 2
    return [write(image[:, :, z0:z0 + 20], folder / "slab.nii.gz"), "-o", "wmh.nii.gz"]


@case("T1-like contrast (white matter brightest), skull-stripped")
def t1_contrast(folder):
    return [write(t1_like(head()), folder / "t1.nii.gz"), "-o", "wmh.nii.gz"]


@case("10 mm voxels")
def ten_mm(folder):
    return [write(head(10.0), folder / "coarse.nii.gz"), "-o", "wmh.nii.gz"]


@case("NIfTI without geometry (pixdim 0, no qform/sform)")
def no_geometry(folder):
    return [nifti_without_geometry(head(), folder / "bare.nii"), "-o", "wmh.nii.gz"]


@case("DICOM series with a missing slice")
def dicom_missing_slice(folder):
    write_dicom_series(head(), folder / "series")
    (folder / "series" / "slice_040.dcm").unlink()
    return ["series", "-o", "wmh.nii.gz"]


@case("DICOM series with a damaged slice (file cut to 200 bytes)")
def dicom_damaged_slice(folder):
    write_dicom_series(head(), folder / "series")
    victim = folder / "series" / "slice_040.dcm"
    victim.write_bytes(victim.read_bytes()[:200])
    return ["series", "-o", "wmh.nii.gz"]


@case("-o inside the input DICOM folder")
def output_in_dicom(folder):
    write_dicom_series(head(), folder / "series")
    return ["series", "-o", "series/wmh.nii.gz"]


@case("MHA with a non-orthonormal (sheared) direction")
def sheared_mha(folder):
    image = head()
    image.SetDirection((1, 0.2, 0, 0, 1, 0, 0, 0, 1))
    return [write(image, folder / "sheared.mha"), "-o", "wmh.nii.gz"]


@case("NIfTI with a sheared affine")
def sheared_nifti(folder):
    import nibabel as nib

    affine = np.diag([2.0, 2.0, 2.0, 1.0])
    affine[0, 1] = 0.4
    array = np.transpose(sitk.GetArrayFromImage(head()), (2, 1, 0))
    nib.save(nib.Nifti1Image(array, affine), str(folder / "sheared.nii.gz"))
    return ["sheared.nii.gz", "-o", "wmh.nii.gz"]


@case("uncompressed NIfTI named .nii.gz")
def plain_named_gz(folder):
    write(head(), folder / "plain.nii")
    (folder / "plain.nii").rename(folder / "plain.nii.gz")
    return ["plain.nii.gz", "-o", "wmh.nii.gz"]


def _cohort(folder):
    cases = folder / "cases"
    if not cases.exists():
        cases.mkdir()
        image = head()
        write(image, cases / "a.nii.gz")
        write(sitk.Flip(image, (True, False, False)), cases / "b.nii.gz")
    return cases


COHORT_FOLDER = {}


def _cohort_step(folder, *extra):
    folder = COHORT_FOLDER.setdefault("folder", folder)
    _cohort(folder)
    return {"argv": ["cases", "-o", "results", *extra], "cwd": folder, "list": folder / "results", "all": True}


@case("cohort of 2, first run, --prob as a flag")
def cohort_first(folder):
    return _cohort_step(folder, "--prob")


@case("cohort rerun, same settings")
def cohort_same(folder):
    return _cohort_step(folder, "--prob")


@case("cohort rerun with --threshold 0.3")
def cohort_other_threshold(folder):
    return _cohort_step(folder, "--prob", "--threshold", "0.3")


@case("cohort rerun with --threshold 0.3 --overwrite")
def cohort_overwrite(folder):
    return _cohort_step(folder, "--prob", "--threshold", "0.3", "--overwrite")


@case("cohort rerun after a case lost its probability map (as an interrupt leaves it)")
def cohort_missing_output(folder):
    step = _cohort_step(folder, "--prob", "--threshold", "0.3")
    (COHORT_FOLDER["folder"] / "results" / "a_wmh_prob.nii.gz").unlink(missing_ok=True)
    return step


@case("cohort with -o equal to the input folder")
def cohort_into_inputs(folder):
    cases = _cohort(folder)
    return {"argv": ["cases", "-o", "cases"], "list": cases}


# ------------------------------------------------------------------------------------------ running

PAGE = """# Reliability: bad inputs and bad situations

What `radiowmhseg segment` does when the input is not a sensible FLAIR, an output cannot be written,
or a run is interrupted or repeated. The rules it follows:

- **Nothing lost, nothing corrupt.** Every output is written to a temporary file, checked (an image
  is read back and its data counted, since ITK only prints a warning when a full disk cuts a write
  short), and renamed into place. A write that fails leaves nothing of that file, and the one-line
  error says which outputs were written and which were not. An output may never be an input (nor lie
  inside an input DICOM folder), and two outputs may never be the same file.
- **Refused before any work.** Every output path (ending, writable folder, not a folder, not an input,
  distinct) and the reference (readable, on the FLAIR's grid) are checked before the image is even
  segmented, so a mistake costs a second, not a whole run.
- **Refused when nothing sensible can come out** (exit 1, one line): an image too small to place a brain
  template, no positive voxel, a handful of grey levels, a sheared grid, a channel that does not exist.
- **Warned about when the result is doubtful** (exit 0, the warning on stderr, in the stats JSON under
  `processing.quality.warnings` and in a cohort's `cohort_summary.csv`): not a head, a partial field
  of view, coarse voxels, few grey levels, lost NIfTI geometry, missing DICOM slices, a contrast that
  is not FLAIR's. Thresholds and their reasons are in `RadioWMHSegLib/input_checks.py`.
- **Done means done the same way.** A cohort rerun skips a case only when all its outputs exist and
  its stats JSON records the same model (weights sha256) and settings; a case missing an output is
  redone; one done with other settings is redone with `--overwrite`, and otherwise reported with the
  difference (exit 1).

Each row below is a real run of the command line with the bundled model on 2 CPU cores, built from
the bundled sample FLAIR (resampled to 2 mm to keep the runs short); rerun it with
`python benchmarks/bench_reliability.py --out docs/reliability.md` (the full-disk and read-only rows
mount a small tmpfs and need root; elsewhere they say "not run"). The interrupt row raises
KeyboardInterrupt in the stats write, which is what Ctrl-C at that moment does. The cohort rows run
one after another in the same folder. Times (s) are wall clock on a machine shared with other jobs:
only their order matters (a refusal before any work takes a second or two, a full run minutes). A
warning from the preprocessing itself (brain volume, registration scale: `preprocessing/quality.py`)
appears where the pipeline raised it, on the synthetic sample too.
"""

INTERRUPT = """
import sys
from RadioWMHSegLib import cli, segment
def interrupted(*args, **kwargs):
    raise KeyboardInterrupt
segment.write_stats = interrupted
sys.exit(cli.main(["segment", *sys.argv[1:]]))
"""
NOISE = re.compile(r"^\[\s*\d+\.\d%\]|segmenting:|it/s\]|s/it\]|^\s*$")


def _messages(stdout, stderr, code):
    lines = [line.strip() for line in stderr.replace("\r", "\n").splitlines() if not NOISE.search(line)]
    if code == 0 and stdout.strip():
        lines.append(stdout.strip().splitlines()[-1])
    text = " / ".join(lines) or "(nothing printed)"
    return text if len(text) <= 700 else text[:697] + "..."


def run_case(name, build, scratch: Path) -> dict:
    folder = scratch / name
    folder.mkdir(parents=True, exist_ok=True)
    plan = build(folder)
    plan = plan if isinstance(plan, dict) else {"argv": plan}
    cwd = Path(plan.get("cwd", folder))
    listed = Path(plan.get("list", cwd))
    before = set(os.listdir(listed)) if listed.exists() else set()
    command = ([sys.executable, "-c", INTERRUPT] if plan.get("interrupt") else
               [sys.executable, "-m", "RadioWMHSegLib", "segment"]) + [str(a) for a in plan["argv"]]
    shown = "radiowmhseg segment " + " ".join(str(a) for a in plan["argv"])
    mount = plan.get("mount")
    with small_tmpfs(*mount) if mount else _nothing() as mounted:
        if mount and not mounted:
            return {"shown": shown, "message": "not run: mounting a small tmpfs needs root", "code": "-",
                    "outputs": "-", "seconds": "-"}
        if mount and not mount[2]:
            leave = plan.get("leave", 0)
            if leave == "mask+4096":  # room for the mask (as large as the baseline's) and one page more
                leave = _baseline_mask_bytes(scratch) + 4096
            fill(mount[0], leave)
            before = set(os.listdir(listed))
        env = {**os.environ, "PYTHONPATH": str(REPOSITORY), "PYTHONIOENCODING": "utf-8"}
        start = time.perf_counter()
        try:
            done = subprocess.run(command, cwd=cwd, capture_output=True, text=True, encoding="utf-8",
                                  errors="replace", timeout=1800, env=env)
        except subprocess.TimeoutExpired:
            done = subprocess.CompletedProcess(command, "timeout", "", "(still running after 30 minutes: stopped)")
        seconds = time.perf_counter() - start
        present = set(os.listdir(listed)) if listed.exists() else set()
        # The files the run left (for a cohort: every file in its output folder, old ones included).
        left = sorted(present - {"filler"} - (set() if plan.get("all") else before))
    return {"shown": shown, "message": _messages(done.stdout, done.stderr, done.returncode), "code": done.returncode,
            "outputs": ", ".join(left) or "none", "seconds": f"{seconds:.0f}"}


@contextmanager
def _nothing():
    yield True


def _baseline_mask_bytes(scratch):
    path = scratch / "baseline" / "wmh.nii.gz"
    return path.stat().st_size if path.exists() else 16 << 10


def _cell(text):
    return str(text).replace("|", "\\|").replace("\n", " ")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", help="markdown file for the table (default: print it)")
    parser.add_argument("--only", nargs="+", help="run only these cases (names as --list prints them); with --out, "
                        "their rows replace those of the same cases in the existing table, the others are kept")
    parser.add_argument("--list", action="store_true", help="list the cases and stop")
    args = parser.parse_args()
    if args.list:
        for name, title, _ in CASES:
            print(f"{name}: {title}")
        return
    selected = [c for c in CASES if not args.only or c[0] in args.only]
    kept = previous_rows(args.out) if args.out and args.only else {}
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench_reliability_") as tmp:
        scratch = Path(tmp)
        for number, (name, title, build) in enumerate(selected, 1):
            print(f"[{number}/{len(selected)}] {name}", file=sys.stderr, flush=True)
            result = run_case(name, build, scratch)
            print(f"    exit {result['code']}, {result['seconds']} s: {result['message'][:160]}", file=sys.stderr)
            rows.append((number, title, result))
            if args.out:  # the table so far, so that a long run is never lost
                write_page(rows, args.out, kept)
    if args.out:
        write_page(rows, args.out, kept)
        print(f"table written to {args.out}", file=sys.stderr)
    else:
        print(table_of(rows))


def previous_rows(path) -> dict:
    """{title cell: the rest of its row} of the table already in path (for --only)."""
    rows = {}
    if path and Path(path).exists():
        for line in Path(path).read_text(encoding="utf-8").splitlines():
            match = re.match(r"^\| \d+ \| (.*?) \| (`.*)$", line)
            if match:
                rows[match.group(1)] = match.group(2)
    return rows


def table_of(rows, kept=None) -> str:
    from RadioWMHSegLib.precision import _machine_key

    lines = [
        "| # | input or situation | command | what the tool does (its own words, progress left out) | exit | outputs left | s |",
        "|---|---|---|---|---|---|---|",
    ]
    fresh = {_cell(title): f"`{_cell(r['shown'])}` | {_cell(r['message'])} | {r['code']} | {_cell(r['outputs'])} | "
                           f"{r['seconds']} |" for _, title, r in rows}
    ordered = [_cell(title) for _, title, _ in CASES]
    merged = {**(kept or {}), **fresh}
    for number, title in enumerate([t for t in ordered if t in merged], 1):
        lines.append(f"| {number} | {title} | {merged[title]}")
    machine = f"{_machine_key()}, {time.strftime('%Y-%m-%d')}"  # CPU name, cores, torch
    return "\n".join(lines) + f"\n\nProduced by `python benchmarks/bench_reliability.py --out docs/reliability.md` ({machine}).\n"


def write_page(rows, path, kept=None):
    atomic_write_text(path, PAGE + "\n" + table_of(rows, kept), overwrite=True)


if __name__ == "__main__":
    main()
