"""Packaging: `python -m build --sdist` makes an sdist from which a wheel builds and runs.

The sdist is built here; the wheel is built from it by pip under the other supported Python
(3.13 when the suite runs on 3.12, 3.12 when it runs on 3.13), which compiles `cext/` from the
sdist in pip's isolated build environment (the build requirements of pyproject.toml only), and
is installed in a fresh venv of that Python, where `mscabm run` runs a shipped scenario. This
Python's build of the same `setup.py` is the editable install the rest of the suite runs on, so
both Python 3.12 and 3.13 are exercised with one compile here. Under CI=true a missing
interpreter is a failure.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
CI = os.environ.get("CI", "").lower() == "true"
pytestmark = pytest.mark.slow


def find_python(minor: int) -> str | None:
    """An interpreter of Python 3.<minor>, found the way scripts/env.sh finds one."""
    candidates = [shutil.which(f"python3.{minor}")]
    for root in (os.environ.get("PYENV_ROOT"), str(Path.home() / ".pyenv"), "/root/.pyenv"):
        if root:
            candidates += sorted(glob.glob(f"{root}/versions/3.{minor}.*/bin/python3"), reverse=True)
    for candidate in candidates:
        if not candidate:
            continue
        done = subprocess.run(
            [candidate, "-c", f"import sys; sys.exit(sys.version_info[:2] != (3, {minor}))"],
            capture_output=True,
            check=False,
        )
        if done.returncode == 0:
            return candidate
    return None


def run(command: list[str], **kwargs) -> subprocess.CompletedProcess:
    done = subprocess.run(command, capture_output=True, text=True, check=False, **kwargs)
    assert done.returncode == 0, f"{command}\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done


def other_python() -> str:
    """The other supported interpreter (a failure under CI=true when it is missing)."""
    other = 13 if sys.version_info[:2] == (3, 12) else 12
    python = find_python(other)
    if python is None:
        if CI:
            pytest.fail(f"Python 3.{other} is required under CI=true and was not found")
        pytest.skip(f"no Python 3.{other} on this machine")
    return python


@pytest.fixture(scope="module")
def sdist(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    # build from a copy of the tracked tree so build artefacts never touch the checkout
    source = tmp_path_factory.mktemp("source")
    files = run(["git", "ls-files", "-z"], cwd=REPO).stdout.split("\0")
    for name in filter(None, files):
        target = source / name
        target.parent.mkdir(parents=True, exist_ok=True)
        origin = REPO / name
        if origin.is_symlink():
            target.symlink_to(os.readlink(origin))
        elif origin.is_file():
            shutil.copy2(origin, target)
    run([sys.executable, "-m", "build", "--sdist", "--outdir", str(out), str(source)])
    (made,) = out.glob("mscabm-*.tar.gz")
    return made


@pytest.fixture(scope="module")
def installed(sdist, tmp_path_factory) -> tuple[Path, Path]:
    """A fresh venv of the other Python with the wheel pip built from the sdist installed."""
    python = other_python()
    target = tmp_path_factory.mktemp("venv") / "venv"
    run([python, "-m", "venv", str(target)])
    pip = [str(target / "bin" / "python"), "-m", "pip"]
    wheels = tmp_path_factory.mktemp("wheels")
    run([*pip, "wheel", "--quiet", "--no-deps", "--wheel-dir", str(wheels), str(sdist)])
    (wheel,) = wheels.glob("mscabm-*.whl")
    run([*pip, "install", "--quiet", str(wheel)])
    return target, wheel


def smoke(python_dir: Path, workdir: Path) -> None:
    mscabm = python_dir / "bin" / "mscabm"
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env["OMP_NUM_THREADS"] = "1"
    listed = run([str(mscabm), "scenarios"], cwd=workdir, env=env)
    assert "healthy_mouse" in listed.stdout
    out = workdir / "smoke.h5"
    run(
        [str(mscabm), "run", "healthy_mouse", "-o", str(out), "--days", "0.1", "--quiet",
         "--set", "geometry.width_um=100"],
        cwd=workdir, env=env,
    )  # fmt: skip
    info = run([str(mscabm), "info", str(out)], cwd=workdir, env=env)
    assert "n_frames" in info.stdout


def test_sdist_holds_the_compiled_sources(sdist):
    listing = run([sys.executable, "-m", "tarfile", "-l", str(sdist)]).stdout
    for needed in ("cext/fields.pyx", "cext/fields_avx2.pyx", "cext/fields_lanes.h",
                   "cext/rng.pxd", "setup.py", "pyproject.toml"):  # fmt: skip
        assert needed in listing, needed


def test_wheel_built_from_the_sdist_holds_modules_and_data(installed):
    _, wheel = installed
    listing = run([sys.executable, "-m", "zipfile", "-l", str(wheel)]).stdout
    for needed in ("mscabm/_fields", "mscabm/_rng", "mscabm/scenarios/healthy_human.yaml",
                   "mscabm/data/initial_states/healthy_human.h5"):  # fmt: skip
        assert needed in listing, needed


def test_wheel_runs_in_a_fresh_venv_of_the_other_python(installed, tmp_path):
    target, _ = installed
    smoke(target, tmp_path)
