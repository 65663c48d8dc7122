"""Build the Cython kernels in ``cext/`` as extension modules ``mscabm._<name>``.

Only ``ext_modules`` live here; metadata is in ``pyproject.toml``. OpenMP is used where the
compiler accepts ``-fopenmp`` and a serial build is made otherwise (e.g. Apple clang). No
``-march=native`` and no fast-math: ``-ffp-contract=off`` keeps results independent of the
compiler's multiply-add fusing (DESIGN.md, principle 7). On x86-64 the field kernels are also
built with ``-mavx2`` as ``mscabm._fields_avx2``, used at run time when the CPU has AVX2 (the
same operations in wider registers: the same bits).
"""

import os
import platform
import shutil
import subprocess
import sys
import sysconfig
import tempfile
from pathlib import Path

import numpy as np
from Cython.Build import cythonize
from setuptools import Extension, setup

HERE = Path(__file__).parent


def _compiler_builds(flag: str, program: str) -> bool:
    """Whether the C compiler turns ``program`` into an executable with ``flag``."""
    compiler = (sysconfig.get_config_var("CC") or "cc").split()[0]
    if shutil.which(compiler) is None:
        return False
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp, "probe.c")
        src.write_text(program)
        try:
            done = subprocess.run(
                [compiler, flag, str(src), "-o", str(Path(tmp, "probe"))],
                capture_output=True,
                timeout=60,
                check=False,
            )
        except (OSError, subprocess.SubprocessError):
            return False
        return done.returncode == 0


def _compiler_accepts_openmp() -> bool:
    if os.environ.get("MSCABM_NO_OPENMP"):
        return False
    return _compiler_builds(
        "-fopenmp", "#include <omp.h>\nint main(void){return omp_get_max_threads()>0?0:1;}\n"
    )


OPENMP = _compiler_accepts_openmp()
compile_args = ["-O3", "-ffp-contract=off", "-fno-fast-math"]
link_args = []
if OPENMP:
    compile_args.append("-fopenmp")
    link_args.append("-fopenmp")
if sys.platform == "win32":  # MSVC spells things differently
    compile_args = ["/O2", "/fp:precise"] + (["/openmp"] if OPENMP else [])
    link_args = []


def _compiler_accepts_avx2() -> bool:
    """Whether this is an x86-64 build whose compiler takes ``-mavx2`` (not MSVC)."""
    if sys.platform == "win32" or platform.machine().lower() not in ("x86_64", "amd64"):
        return False
    return _compiler_builds("-mavx2", "int main(void){return 0;}\n")


# fields_avx2.pyx is fields.pyx again with -mavx2 (chosen at run time when the CPU has AVX2;
# the same bits, see cext/fields_avx2.pyx); other platforms build fields.pyx only.
AVX2 = _compiler_accepts_avx2()
extra_args_of = {"fields_avx2": ["-mavx2"]}


def _wanted(stem: str) -> bool:
    if stem == "fields_avx2" and not AVX2:
        return False
    # MSCABM_BUILD_ONLY=fields,rng builds a subset (developer convenience for in-place builds).
    only = os.environ.get("MSCABM_BUILD_ONLY")
    return not only or stem in only.split(",")


extensions = [
    Extension(
        f"mscabm._{pyx.stem}",
        [str(pyx.relative_to(HERE))],
        include_dirs=[np.get_include(), "cext"],
        depends=[
            str(other.relative_to(HERE))
            for other in sorted((HERE / "cext").glob("*.h"))
            + ([HERE / "cext" / "fields.pyx"] if pyx.stem == "fields_avx2" else [])
        ],
        extra_compile_args=compile_args + extra_args_of.get(pyx.stem, []),
        extra_link_args=link_args,
        define_macros=[
            ("NPY_NO_DEPRECATED_API", "NPY_1_7_API_VERSION"),
            ("MSCABM_OPENMP", "1" if OPENMP else "0"),
        ],
    )
    for pyx in sorted((HERE / "cext").glob("*.pyx"))
    if _wanted(pyx.stem)
]

# Compile the modules side by side, one per core this process may use (the two fields builds
# are most of the time); each module's compile command is the same as in a serial build.
CORES = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1

setup(
    options={"build_ext": {"parallel": CORES}},
    ext_modules=cythonize(
        extensions,
        nthreads=CORES if CORES > 1 else 0,
        language_level=3,
        compiler_directives={
            "boundscheck": False,
            "wraparound": False,
            "cdivision": True,
            "initializedcheck": False,
        },
        compile_time_env={"OPENMP": OPENMP},
    ),
)
