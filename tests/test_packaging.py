"""Packaging: `python -m build` makes an sdist and a wheel that work in fresh environments.

The wheel is installed in a new venv of this interpreter and runs `mscabm run` on a shipped
scenario; the sdist is installed the same way under the other supported Python (3.13 when the
suite runs on 3.12, 3.12 when it runs on 3.13), which builds `cext/` from the sdist there. So
both Python 3.12 and 3.13 are exercised. Under CI=true a missing interpreter is a failure.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import sys
import venv
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


@pytest.fixture(scope="module")
def dist(tmp_path_factory) -> Path:
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
    run([sys.executable, "-m", "build", "--outdir", str(out), str(source)])
    return out


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


def test_build_makes_sdist_and_wheel(dist):
    assert len(list(dist.glob("mscabm-*.tar.gz"))) == 1
    wheels = list(dist.glob("mscabm-*.whl"))
    assert len(wheels) == 1
    listing = run([sys.executable, "-m", "zipfile", "-l", str(wheels[0])]).stdout
    for needed in ("mscabm/_fields", "mscabm/_rng", "mscabm/scenarios/healthy_human.yaml",
                   "mscabm/data/initial_states/healthy_human.h5"):  # fmt: skip
        assert needed in listing, needed
    sdist = run([sys.executable, "-m", "tarfile", "-l", str(next(dist.glob("*.tar.gz")))]).stdout
    assert "cext/fields.pyx" in sdist and "cext/rng.pxd" in sdist


def test_wheel_runs_in_a_fresh_venv(dist, tmp_path):
    target = tmp_path / "venv"
    venv.create(target, with_pip=True)
    wheel = next(dist.glob("mscabm-*.whl"))
    run([str(target / "bin" / "python"), "-m", "pip", "install", "--quiet", str(wheel)])
    smoke(target, tmp_path)


def test_sdist_builds_and_runs_on_the_other_python(dist, tmp_path):
    other = 13 if sys.version_info[:2] == (3, 12) else 12
    python = find_python(other)
    if python is None:
        if CI:
            pytest.fail(f"Python 3.{other} is required under CI=true and was not found")
        pytest.skip(f"no Python 3.{other} on this machine")
    target = tmp_path / f"venv3{other}"
    run([python, "-m", "venv", str(target)])
    sdist = next(dist.glob("mscabm-*.tar.gz"))
    run([str(target / "bin" / "python"), "-m", "pip", "install", "--quiet", str(sdist)])
    smoke(target, tmp_path)
