"""Command line: ``mscabm run | validate | scenarios | info | view | report | sweep | ...``.

Commands: run, validate, scenarios, info, view, report, validate-biology, sweep, sweep-report,
schema.

A thin layer over the public API. Errors a user can cause end in one message and exit code 2
(no traceback unless ``--debug``).
"""

from __future__ import annotations

import contextlib
import json
import math
import signal
import sys
import time
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from mscabm import io as _io
from mscabm._version import __version__

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="mscabm: agent-based simulation of inflamed skin and its therapies.",
    pretty_exceptions_enable=False,
)
console = Console()
err_console = Console(stderr=True)


class _State:
    debug = False


def _user_errors() -> tuple[type[BaseException], ...]:
    from mscabm.engine import SimulationError
    from mscabm.scenario import ScenarioError

    return (
        ScenarioError,
        SimulationError,
        _io.RunFileError,
        FileExistsError,
        FileNotFoundError,
        IsADirectoryError,
        ValueError,
    )


def _fail(exc: BaseException) -> None:
    if _State.debug:
        raise exc
    # the message is text: "[il17a]" in it must not be read as console markup
    err_console.print(
        f"[bold red]error:[/] {escape(str(exc))}", highlight=False, markup=True, soft_wrap=True
    )
    raise typer.Exit(2)


def _print_version(value: bool) -> None:
    # eager: runs while the options are parsed, so no command is needed after it
    if value:
        console.print(f"mscabm {__version__}")
        raise typer.Exit(0)


@app.callback()
def _main(
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks.")] = False,
    version: Annotated[
        bool,
        typer.Option(
            "--version", help="Print the version and exit.", callback=_print_version, is_eager=True
        ),
    ] = False,
) -> None:
    _State.debug = debug


class _Stopped(KeyboardInterrupt):
    """Ctrl-C or SIGTERM, raised at a step boundary (``signum`` says which)."""

    def __init__(self, signum: int):
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


class _Bar:
    """rich progress bar over simulated days (one line when the output is not a terminal).

    While it is open, Ctrl-C and SIGTERM only take note; the next step ends the run there
    (:class:`_Stopped`), so the run file is closed as "interrupted". A KeyboardInterrupt raised
    anywhere else could land in a library callback, which Python ignores, and the run would go
    on. A second signal stops at once.
    """

    def __init__(self, quiet: bool, label: str):
        self.quiet = quiet
        self.started = time.perf_counter()
        self.first_step: int | None = None
        self.progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            TextColumn("day {task.fields[day]:.2f}/{task.fields[duration]:g}"),
            TextColumn("{task.fields[rate]:.0f} steps/s"),
            TimeRemainingColumn(),
            console=err_console,
            disable=quiet,
            transient=False,
        )
        self.task = self.progress.add_task(label, total=1, day=0.0, duration=0.0, rate=0.0)

    def __enter__(self) -> _Bar:
        self.received: int | None = None
        self.handlers = {}
        for signum in (signal.SIGINT, signal.SIGTERM):
            # not the main thread (ValueError): the signals keep their handlers
            with contextlib.suppress(ValueError):
                self.handlers[signum] = signal.signal(signum, self._note)
        return self  # the bar appears with the first step: an early error prints no bar

    def _note(self, signum: int, frame: object) -> None:
        if self.received is not None:
            raise _Stopped(signum)
        self.received = signum

    def __exit__(self, *exc: object) -> None:
        for signum, handler in self.handlers.items():
            signal.signal(signum, handler)
        if self.first_step is not None:
            self.progress.__exit__(*exc)

    def __call__(self, report) -> None:
        if self.received is not None:
            raise _Stopped(self.received)
        if self.quiet:
            return
        if self.first_step is None:
            self.progress.__enter__()
            self.first_step = report.step - 1
            self.started = time.perf_counter()
        elapsed = max(time.perf_counter() - self.started, 1e-9)
        rate = (report.step - self.first_step) / elapsed
        if report.step % 20 == 0 or report.step == report.total_steps:
            self.progress.update(
                self.task,
                total=report.total_steps,
                completed=report.step,
                day=report.time_days,
                duration=report.duration_days,
                rate=rate,
            )


@app.command()
def run(
    scenario: Annotated[
        str | None, typer.Argument(help="Scenario file or shipped scenario name.")
    ] = None,
    output: Annotated[
        Path | None,
        typer.Option("-o", "--output", help="Run file (default: new file under runs/)."),
    ] = None,
    seed: Annotated[int | None, typer.Option("--seed", help="uint64 seed.")] = None,
    days: Annotated[
        float | None, typer.Option("--days", help="Simulated days (overrides the scenario).")
    ] = None,
    set_: Annotated[
        list[str] | None, typer.Option("--set", help="dotted.key=value override (repeatable).")
    ] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
    force: Annotated[
        bool, typer.Option("--force", help="Replace an existing run file (only run files).")
    ] = False,
    resume: Annotated[
        Path | None, typer.Option("--resume", help="Continue RUN.h5 from its last checkpoint.")
    ] = None,
    from_checkpoint: Annotated[
        Path | None,
        typer.Option(
            "--from-checkpoint", help="Fork a new run from a checkpoint (keeps the seed)."
        ),
    ] = None,
) -> None:
    """Run a scenario and write one HDF5 run file."""
    from mscabm import runner

    overrides = set_ or []
    try:
        if resume is not None:
            if (
                scenario
                or from_checkpoint
                or overrides
                or seed is not None
                or output is not None
                or days is not None
            ):
                raise ValueError(
                    "--resume takes only the run file: the scenario, seed and duration come "
                    "from it (to run longer, fork its last checkpoint with --from-checkpoint "
                    "and --days)"
                )
            with _Bar(quiet, f"resume {resume.name}") as bar:
                path = runner.resume(resume, progress=bar)
        elif from_checkpoint is not None:
            if scenario or seed is not None:
                raise ValueError(
                    "--from-checkpoint takes the scenario and seed from the checkpoint; "
                    "use --set to change it"
                )
            if not from_checkpoint.exists():
                raise FileNotFoundError(f"{from_checkpoint}: checkpoint not found")
            with _Bar(quiet, f"fork {from_checkpoint.name}") as bar:
                path = runner.fork(
                    from_checkpoint,
                    output=output,
                    overrides=overrides,
                    days=days,
                    force=force,
                    progress=bar,
                )
        else:
            if scenario is None:
                raise ValueError(
                    "name a scenario file or shipped scenario (see `mscabm scenarios`)"
                )
            if output is not None and output.is_dir():
                raise IsADirectoryError(f"{output}: is a directory; -o names the run file to write")
            if output is not None and output.exists() and not force:
                raise FileExistsError(
                    f"{output}: already exists; use --force to overwrite it or choose another -o"
                )
            with _Bar(quiet, Path(scenario).stem) as bar:
                path = runner.run(
                    scenario,
                    output=output,
                    seed=seed,
                    days=days,
                    overrides=overrides,
                    force=force,
                    progress=bar,
                )
    except KeyboardInterrupt as exc:
        err_console.print(
            "interrupted: a run file already started keeps every frame written so far "
            "(status 'interrupted'; continue it with --resume if it has checkpoints)"
        )
        terminated = getattr(exc, "signum", None) == signal.SIGTERM
        raise typer.Exit(143 if terminated else 130) from None
    except _user_errors() as exc:
        _fail(exc)
        return
    console.print(f"wrote {path}", highlight=False, markup=False)


@app.command()
def validate(
    scenario: Annotated[str, typer.Argument(help="Scenario file or shipped scenario name.")],
    set_: Annotated[
        list[str] | None, typer.Option("--set", help="dotted.key=value override.")
    ] = None,
    show: Annotated[bool, typer.Option("--show", help="Print the resolved scenario.")] = False,
) -> None:
    """Check a scenario file and report the first problem (exit 2) or OK."""
    from mscabm.scenario import load_scenario

    try:
        spec = load_scenario(scenario, overrides=set_ or [])
    except _user_errors() as exc:
        _fail(exc)
        return
    if show:
        console.print(spec.to_yaml(), highlight=False, markup=False)
    shape = "×".join(str(n) for n in spec.geometry.shape)
    console.print(
        f"OK: {scenario} — {spec.name}, {spec.geometry.species}, lattice {shape}, "
        f"{spec.time.duration_days:g} days"
    )


@app.command()
def scenarios() -> None:
    """List the shipped scenarios with their descriptions."""
    from mscabm.scenario import load_scenario, shipped_scenarios

    table = Table("name", "description", show_lines=False)
    for name, path in sorted(shipped_scenarios().items()):
        try:
            description = load_scenario(path).description
        except _user_errors() as exc:  # a shipped scenario must load; say so if it does not
            description = f"[red]does not load: {exc}[/]"
        table.add_row(name, description)
    console.print(table)


@app.command()
def info(run_file: Annotated[Path, typer.Argument(help="An HDF5 run file.")]) -> None:
    """Show what is in a run file and its final readouts."""
    try:
        summary = _io.describe_run(run_file)
    except _user_errors() as exc:
        _fail(exc)
        return
    finals = summary.pop("timeseries", None) or {}
    for key, value in summary.items():
        if isinstance(value, dict | list):
            value = json.dumps(value, default=str)
            if len(value) > 200:
                value = value[:200] + "…"
        console.print(f"[bold]{escape(str(key))}[/]: {escape(str(value))}", highlight=False)
    if finals:
        table = Table("readout", "final value")
        for name, value in finals.items():
            text = (
                "missing"
                if value is None or (isinstance(value, float) and math.isnan(value))
                else f"{value:.4g}"
            )
            table.add_row(name, text)
        console.print(table)


def _viz_missing(exc: ImportError) -> None:
    """Report a missing optional viz dependency (dash, plotly, kaleido) in one line."""
    _fail(
        RuntimeError(
            f"this command needs the viz extra ({exc.name or exc} is not installed): "
            "pip install 'mscabm[viz]'"
        )
    )


@app.command()
def view(
    run_files: Annotated[
        list[Path], typer.Argument(help="One or more HDF5 run files (shown side by side).")
    ],
    port: Annotated[int, typer.Option("--port", help="TCP port (0: pick a free one).")] = 8050,
    host: Annotated[
        str,
        typer.Option("--host", help="Address to bind; the default serves this machine only."),
    ] = "127.0.0.1",
) -> None:
    """Replay runs in the browser: tissue map, fields, time series, several runs in sync."""
    try:
        from mscabm.viz.app import ViewerServer, make_app
    except ImportError as exc:
        _viz_missing(exc)
        return
    try:
        dash_app = make_app(run_files)
    except _user_errors() as exc:
        _fail(exc)
        return
    try:
        server = ViewerServer(dash_app, host=host, port=port)
    except OSError as exc:
        _fail(ValueError(f"cannot serve on {host}:{port}: {exc.strerror or exc}; try --port 0"))
        return
    console.print(
        f"mscabm view: serving {len(run_files)} run(s) at {server.url}",
        highlight=False,
        markup=False,
        soft_wrap=True,
    )
    console.print("press Ctrl-C to stop", highlight=False)
    sys.stdout.flush()
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()


@app.command()
def report(
    run_files: Annotated[list[Path], typer.Argument(help="One or more HDF5 run files.")],
    output: Annotated[Path, typer.Option("-o", "--output", help="HTML file to write.")],
    field: Annotated[
        str | None,
        typer.Option("--field", help="Field to animate beside the tissue (default il17a)."),
    ] = None,
    log: Annotated[bool, typer.Option("--log", help="Log colour scale for the field.")] = False,
    series: Annotated[
        list[str] | None,
        typer.Option("--series", help="Time series to plot (repeatable; default: a summary)."),
    ] = None,
    max_mb: Annotated[
        float, typer.Option("--max-mb", help="Size limit of the HTML file in MB.")
    ] = 20.0,
    png: Annotated[
        Path | None,
        typer.Option("--png", help="Also export the figures as images into this directory."),
    ] = None,
    image_format: Annotated[
        str, typer.Option("--format", help="Image format with --png: png or svg.")
    ] = "png",
    force: Annotated[
        bool, typer.Option("--force", help="Replace an existing report (and images).")
    ] = False,
) -> None:
    """Write one self-contained HTML report (works offline) of one or more runs."""
    try:
        from mscabm.viz.report import ReportError, write_report
    except ImportError as exc:
        _viz_missing(exc)
        return
    try:
        summary = write_report(
            run_files,
            output,
            field_id=field,
            log=log,
            series=series,
            max_mb=max_mb,
            force=force,
            png_dir=png,
            image_format=image_format,
        )
    except (*_user_errors(), ReportError) as exc:
        _fail(exc)
        return
    console.print(
        f"wrote {summary.path} ({summary.size_bytes / 1e6:.1f} MB, limit "
        f"{summary.max_bytes / 1e6:g} MB)",
        highlight=False,
        markup=False,
    )
    for index, kept in enumerate(summary.kept, start=1):
        console.print(f"  run {index}: kept {kept}", highlight=False, markup=False)
    for image in summary.images:
        console.print(f"wrote {image}", highlight=False, markup=False)


@app.command("validate-biology")
def validate_biology(
    seeds: Annotated[int, typer.Option("--seeds", help="Seeds per target.")] = 5,
    reduced: Annotated[
        bool, typer.Option("--reduced", help="Smaller lattice and fewer days (CI scale).")
    ] = False,
    targets: Annotated[
        str,
        typer.Option(
            "--targets",
            help="Comma-separated target ids: 1h, 1m, 2, 3, 4 (3 and 4 need the immune system).",
        ),
    ] = "1h,1m,2,3,4",
    json_out: Annotated[
        Path | None, typer.Option("--json", help="Also write the table as JSON.")
    ] = None,
) -> None:
    """Run the public calibration targets and print measured value, target and verdict."""
    from mscabm import validation

    try:
        results = validation.run_targets(
            [t.strip() for t in targets.split(",") if t.strip()],
            seeds=seeds,
            reduced=reduced,
            progress=None if not sys.stderr.isatty() else err_console.print,
        )
    except _user_errors() as exc:
        _fail(exc)
        return
    table = Table("target", "quantity", "mean", "seeds in range", "range", "verdict")
    all_met = True
    for row in results:
        all_met &= row.met
        table.add_row(
            row.target,
            row.quantity,
            f"{row.mean:.4g}",
            f"{row.n_in_range}/{row.n_seeds}",
            row.range_text,
            "[green]met[/]" if row.met else "[red]NOT met[/]",
        )
    console.print(table)
    if json_out is not None:
        json_out.write_text(json.dumps([r.as_dict() for r in results], indent=2))
    raise typer.Exit(0 if all_met else 1)


@app.command()
def sweep(
    sweep_file: Annotated[Path, typer.Argument(help="Sweep file (YAML).")],
    output: Annotated[
        Path | None,
        typer.Option(
            "-o", "--output", help="Sweep directory: results, runs, parts (default sweeps/NAME)."
        ),
    ] = None,
    scheduler: Annotated[
        str | None,
        typer.Option("--scheduler", help="Address of a running Dask scheduler (tcp://HOST:PORT)."),
    ] = None,
    cluster: Annotated[
        str, typer.Option("--cluster", help="local (default), slurm or pbs (dask-jobqueue).")
    ] = "local",
    workers: Annotated[
        int | None,
        typer.Option("--workers", help="Local workers (default: one per core) or batch jobs."),
    ] = None,
    dry_run: Annotated[
        bool,
        typer.Option("--dry-run", help="Print the rows (and the batch job script); run nothing."),
    ] = False,
    rerun_all: Annotated[
        bool, typer.Option("--rerun-all", help="Ignore earlier results in the directory.")
    ] = False,
    print_commands: Annotated[
        bool,
        typer.Option(
            "--print-commands",
            help="Print one `mscabm run` line per row (for job arrays) and run nothing.",
        ),
    ] = False,
    report: Annotated[
        bool, typer.Option("--report/--no-report", help="Write DIR/sweep.html at the end.")
    ] = True,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
) -> None:
    """Run a parameter sweep on Dask; resumable (rows already done are skipped)."""
    import importlib.util

    from mscabm.sweep.executors import CLUSTERS
    from mscabm.sweep.spec import load_sweep

    try:
        if cluster not in CLUSTERS:
            raise ValueError(f"--cluster {cluster!r}: valid: {', '.join(CLUSTERS)}")
        if scheduler is not None and cluster != "local":
            raise ValueError("give either --scheduler or --cluster slurm|pbs, not both")
        if workers is not None and workers < 1:
            raise ValueError(f"--workers must be at least 1, got {workers}")
        spec = load_sweep(sweep_file)
        needed = ["distributed", "pyarrow"] if not (dry_run or print_commands) else []
        needed += ["SALib"] if spec.sampler in ("morris", "sobol") else []
        needed += ["dask_jobqueue"] if cluster in ("slurm", "pbs") else []
        missing = [name for name in needed if importlib.util.find_spec(name) is None]
        if missing:
            raise ValueError(
                f"mscabm sweep needs {', '.join(missing)}: install the sweep extra "
                "(pip install 'mscabm[sweep]')"
            )
        rows = spec.rows()
    except _user_errors() as exc:
        _fail(exc)
        return
    if output is None:
        output = Path("sweeps") / spec.name
    if print_commands:
        from mscabm.sweep.execute import RUNS_DIR, run_file_name

        for row in rows:
            name = run_file_name({"index": row.index, "row_id": row.row_id})
            typer.echo(row.command(str(output / RUNS_DIR / name)))
        return
    if dry_run:
        _print_rows(spec, rows)
        if cluster in ("slurm", "pbs"):
            from mscabm.sweep.executors import job_script

            jobs = workers or int(spec.cluster.get("jobs", 1))
            typer.echo(
                f"# {cluster.upper()} job script dask-jobqueue would submit ({jobs} job(s); "
                "the scheduler address is filled in at run time):"
            )
            typer.echo(job_script(spec, cluster))
        return
    from mscabm.sweep.executors import run_sweep

    with _SweepBar(quiet, spec.name) as bar:
        try:
            summary = run_sweep(
                spec,
                output,
                rows=rows,
                scheduler=scheduler,
                cluster=cluster,
                workers=workers,
                rerun_all=rerun_all,
                progress=bar,
            )
        except KeyboardInterrupt:
            err_console.print(
                f"interrupted: finished rows are kept in {output}/parts", markup=False
            )
            raise typer.Exit(130) from None
        except (OSError, TimeoutError) as exc:
            _fail(ValueError(f"cannot reach the Dask scheduler or cluster: {exc}"))
            return
        except ValueError as exc:  # e.g. no sbatch/qsub on this machine
            _fail(exc)
            return
    console.print(
        f"{summary.rows} rows: {summary.skipped} already done, {summary.done} done now, "
        f"{summary.failed} failed; table: {output / 'results.parquet'} and results.csv",
        highlight=False,
        markup=False,
    )
    if report:
        from mscabm.sweep.report import write_report

        try:
            page = write_report(output, output / "sweep.html", force=True)[0]
            console.print(
                f"report: {page} (mscabm sweep-report {output} -o FILE)",
                highlight=False,
                markup=False,
            )
        except (ImportError, ValueError, OSError) as exc:  # the table is what matters
            err_console.print(f"no report written: {exc}", highlight=False, markup=False)
    if summary.failed:
        failed = summary.table[summary.table["status"] == "failed"]
        for _, line in failed.head(5).iterrows():
            err_console.print(f"row {line['row']}: {line['error']}", highlight=False, markup=False)
        raise typer.Exit(1)


def _print_rows(spec, rows) -> None:
    """Rows as plain, unwrapped text (a terminal or a file): every seed and value in full."""
    names = [p.path for p in spec.parameters]
    header = ["row", "point", "rep", "seed", *names, "row_id"]
    lines = [header]
    for row in rows:
        values = [
            format(v, ".8g") if isinstance(v, float) else str(v)
            for v in (row.parameters[n] for n in names)
        ]
        lines.append(
            [str(row.index), str(row.point), str(row.replicate), str(row.seed), *values, row.row_id]
        )
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    for line in lines:
        typer.echo("  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)))
    typer.echo(
        f"# {len(rows)} rows = {len(rows) // max(spec.replicates, 1)} design points "
        f"({spec.sampler}) x {spec.replicates} replicate seeds (root entropy "
        f"{spec.root_entropy}); scenario {spec.scenario}"
        + (f", {spec.days:g} days" if spec.days is not None else "")
    )
    if rows:
        typer.echo(f"# row 0 as a single run: {rows[0].command()}")


class _SweepBar:
    """rich progress over rows: done / failed / running, ETA (one line when piped)."""

    def __init__(self, quiet: bool, label: str):
        self.progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            TextColumn(
                "{task.completed}/{task.total} rows · done {task.fields[done]} · "
                "failed {task.fields[failed]} · running {task.fields[running]}"
            ),
            TimeRemainingColumn(),
            console=err_console,
            disable=quiet,
        )
        self.task = self.progress.add_task(label, total=None, done=0, failed=0, running=0)

    def __enter__(self) -> _SweepBar:
        self.progress.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self.progress.__exit__(*exc)

    def __call__(self, counts) -> None:
        if counts.done + counts.failed == 0:
            # skipped rows are not progress of this invocation: the ETA counts only new rows
            self.progress.reset(self.task, total=counts.total - counts.skipped)
        self.progress.update(
            self.task,
            completed=counts.done + counts.failed,
            done=counts.done + counts.skipped,
            failed=counts.failed,
            running=counts.running,
        )


@app.command("sweep-report")
def sweep_report(
    directory: Annotated[Path, typer.Argument(help="A sweep directory (mscabm sweep -o DIR).")],
    output: Annotated[
        Path | None, typer.Option("-o", "--output", help="HTML file (default DIR/sweep.html).")
    ] = None,
    force: Annotated[
        bool, typer.Option("--force", help="Replace an existing report and its CSV files.")
    ] = False,
) -> None:
    """Write a self-contained HTML report of a sweep (plots, sensitivity indices) and CSVs.

    The default report (DIR/sweep.html) is the sweep's own and is brought up to date; a
    report named with -o replaces existing files only with --force.
    """
    from mscabm.sweep.report import write_report

    own = directory / "sweep.html"  # the sweep's own report, rewritten by every `mscabm sweep`
    target = output or own
    try:
        written = write_report(directory, target, force=force or target.resolve() == own.resolve())
    except _user_errors() as exc:
        _fail(exc)
        return
    for path in written:
        console.print(f"wrote {path}", highlight=False, markup=False)


@app.command()
def schema() -> None:
    """Print the JSON schema of scenario files (for editor completion)."""
    from mscabm.scenario import scenario_json_schema

    console.print_json(json.dumps(scenario_json_schema()))


def main() -> None:
    """Entry point of the ``mscabm`` command."""
    app()


if __name__ == "__main__":  # pragma: no cover
    main()
