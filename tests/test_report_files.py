"""``widenet reproduce`` and its report directory: a run writes every new file first and
replaces the previous report only when all are complete, so an interrupted run (Ctrl-C:
exit 130) or one that runs out of disk (exit 1) leaves the previous report exactly as it
was, with a one-line message; the directory never mixes two runs; and every bad argument
is a one-line error with exit code 2 (no traceback, no hang)."""

import json
import os
import resource
import signal
import stat
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

import widenet
from widenet.app.cli import main
from widenet.app.report import reproduce

pytest.importorskip("matplotlib")

FAST = ["least-squares", "example-11-5"]  # two quick experiments with figures
EXAMPLES = max(5, settings().max_examples // 8)
SETTINGS = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def snapshot(directory) -> dict:
    """Every entry of ``directory``: name -> (bytes, permission bits)."""
    return {name: ((Path(directory) / name).read_bytes(), stat.S_IMODE((Path(directory) / name).stat().st_mode))
            for name in sorted(os.listdir(directory))}


def widenet_command(*arguments, **options):
    return subprocess.run([sys.executable, "-m", "widenet", *arguments], capture_output=True, text=True,
                          timeout=300, **options)


@pytest.fixture(scope="module")
def previous_report(tmp_path_factory):
    """A report directory holding a complete report of FAST; copy it before changing it."""
    out = tmp_path_factory.mktemp("previous")
    assert main(["reproduce", "--quick", "--no-progress", "--seed", "1", "--out", str(out), "--only", *FAST]) == 0
    (out / "report.md").chmod(0o600)  # kept by the next run
    return out


def copy_of(previous_report, tmp_path) -> Path:
    target = tmp_path / "report"
    target.mkdir()
    for name, (data, mode) in snapshot(previous_report).items():
        (target / name).write_bytes(data)
        (target / name).chmod(mode)
    return target


def one_line(text: str) -> str:
    assert text.count("\n") == 1 and text.endswith("\n") and "Traceback" not in text, text
    return text


# --- a run that cannot finish ------------------------------------------------------------------


def signal_while_writing(out: Path, signum: int) -> subprocess.CompletedProcess:
    """Runs ``widenet reproduce --quick`` into ``out`` in a child and sends it ``signum`` once
    it writes its first new file (a figure: the computations before it are done)."""
    script = textwrap.dedent(f"""
        import signal, sys
        signal.signal(signal.SIGINT, signal.default_int_handler)  # a background process starts with it ignored
        from widenet.app.cli import main
        sys.exit(main(["reproduce", "--quick", "--no-progress", "--out", {str(out)!r}]))
    """)
    child = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 240
    while child.poll() is None and time.monotonic() < deadline:
        if any(name.startswith(".") for name in os.listdir(out)):  # a new file is being written
            child.send_signal(signum)
            break
        time.sleep(0.005)
    stdout, stderr = child.communicate(timeout=240)
    return subprocess.CompletedProcess(child.args, child.returncode, stdout, stderr)


def test_ctrl_c_leaves_the_previous_report_and_says_so(previous_report, tmp_path):
    """A real SIGINT while the run writes its new files (it used to leave new PNGs beside the
    old results.json and report.md, and a long traceback)."""
    out = copy_of(previous_report, tmp_path)
    before = snapshot(out)
    child = signal_while_writing(out, signal.SIGINT)
    assert child.returncode == 130, (child.stdout, child.stderr)
    assert one_line(child.stderr).startswith("widenet: interrupted") and "unchanged" in child.stderr
    assert snapshot(out) == before


def test_a_killed_run_leaves_the_previous_report_and_the_next_run_cleans_up(previous_report, tmp_path):
    out = copy_of(previous_report, tmp_path)
    before = snapshot(out)
    child = signal_while_writing(out, signal.SIGKILL)
    assert child.returncode == -signal.SIGKILL
    assert {name: entry for name, entry in snapshot(out).items() if not name.startswith(".")} == before
    assert main(["reproduce", "--quick", "--no-progress", "--out", str(out), "--only", *FAST]) == 0
    assert not [name for name in os.listdir(out) if name.startswith(".")]


def test_a_full_disk_leaves_the_previous_report_and_says_so(previous_report, tmp_path):
    """Every file the run writes is bigger than the limit: the first one fails (EFBIG, as
    ENOSPC on a full disk)."""
    out = copy_of(previous_report, tmp_path)
    before = snapshot(out)
    limit = min(len(data) for data, _ in before.values()) - 1

    def full_disk():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, resource.getrlimit(resource.RLIMIT_FSIZE)[1]))

    child = subprocess.run([sys.executable, "-m", "widenet", "reproduce", "--quick", "--no-progress", "--out", str(out),
                            "--only", *FAST], capture_output=True, text=True, timeout=300, preexec_fn=full_disk)
    assert child.returncode == 1, child.stderr
    assert one_line(child.stderr).startswith(f"widenet: could not write the report into {out}") and \
        "unchanged" in child.stderr
    assert snapshot(out) == before


@SETTINGS
@given(limit=st.integers(0, 200_000), figures=st.booleans())
@example(limit=0, figures=True)
@example(limit=5_000, figures=False)
def test_running_out_of_disk_at_any_file_leaves_the_previous_report(previous_report, tmp_path_factory, limit,
                                                                      figures):
    """In this process: files larger than ``limit`` bytes cannot be written; whichever file
    that hits, nothing of the run replaces anything of the previous report."""
    out = copy_of(previous_report, tmp_path_factory.mktemp("full"))
    before = snapshot(out)
    handler = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    rlimit = resource.getrlimit(resource.RLIMIT_FSIZE)
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, rlimit[1]))
    try:
        record = reproduce(out, quick=True, only=["least-squares"], figures=figures, progress=False)
    except OSError:
        assert snapshot(out) == before
    else:
        after = snapshot(out)
        assert json.loads(after["results.json"][0]) == record  # the whole new report
        assert set(after) == {"results.json", "report.md", *record["experiments"]["least-squares"]["figures"]}
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, rlimit)
        signal.signal(signal.SIGXFSZ, handler)


def test_a_new_run_replaces_the_whole_previous_report(previous_report, tmp_path):
    """The previous run's figures that this run does not draw go with its report; the
    files' permissions stay."""
    out = copy_of(previous_report, tmp_path)
    assert "example_11_5.png" in os.listdir(out)
    (out / "notes.txt").write_text("mine")  # not the report's: left alone
    assert main(["reproduce", "--quick", "--no-progress", "--out", str(out), "--only", "least-squares"]) == 0
    assert sorted(os.listdir(out)) == ["least_squares.png", "notes.txt", "report.md", "results.json"]
    assert stat.S_IMODE((out / "report.md").stat().st_mode) == 0o600
    assert json.loads((out / "results.json").read_text())["settings"]["only"] == ["least-squares"]


# --- bad arguments -----------------------------------------------------------------------------


def bad_out_arguments(tmp_path) -> dict:
    (tmp_path / "afile").write_text("")
    cases = {"empty": "", "a file": str(tmp_path / "afile"), "under a file": str(tmp_path / "afile" / "sub"),
             "a device": os.devnull}
    if os.path.isdir("/proc/self"):
        cases.update({"/proc/self": "/proc/self", "under /proc/self": "/proc/self/report"})
    return cases


@pytest.mark.parametrize("case", ["empty", "a file", "under a file", "a device", "/proc/self", "under /proc/self"])
def test_a_bad_out_is_one_line_and_exit_2(case, tmp_path, monkeypatch, capsys):
    cases = bad_out_arguments(tmp_path)
    if case not in cases:
        pytest.skip("no /proc")
    monkeypatch.chdir(tmp_path)  # --out "" wrote into the current directory
    before = sorted(os.listdir(tmp_path))
    with pytest.raises(SystemExit) as exit_info:
        main(["reproduce", "--quick", "--no-progress", "--no-figures", "--only", "least-squares", "--out",
              cases[case]])
    assert exit_info.value.code == 2
    assert "--out" in one_line(capsys.readouterr().err)
    assert sorted(os.listdir(tmp_path)) == before


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write anywhere")
def test_an_out_without_write_permission_is_one_line_and_exit_2(tmp_path, capsys):
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    with pytest.raises(SystemExit) as exit_info:
        main(["reproduce", "--no-figures", "--only", "least-squares", "--out", str(locked / "report")])
    assert exit_info.value.code == 2 and "--out" in one_line(capsys.readouterr().err)


@pytest.mark.parametrize("threads", ["99999999999999999999", str(10**6), str(8 * (os.cpu_count() or 1) + 1)])
def test_too_many_threads_is_one_line_and_exit_2(threads, tmp_path, capsys):
    before = widenet.get_num_threads()
    with pytest.raises(SystemExit) as exit_info:
        main(["reproduce", "--no-figures", "--only", "least-squares", "--out", str(tmp_path / "r"), "--threads",
              threads])
    assert exit_info.value.code == 2 and "--threads" in one_line(capsys.readouterr().err)
    assert widenet.get_num_threads() == before and not (tmp_path / "r").exists()


def test_a_bad_scheduler_address_fails_fast_in_one_line(tmp_path):
    """It used to print a clean message, then hang 60 s and print a Client.__del__ traceback at exit."""
    pytest.importorskip("distributed")
    started = time.monotonic()
    child = widenet_command("reproduce", "--quick", "--no-figures", "--no-progress", "--only", "least-squares",
                            "--out", str(tmp_path / "r"), "--scheduler", "notaurl")
    elapsed = time.monotonic() - started
    assert child.returncode == 2
    assert "--scheduler" in one_line(child.stderr) and "notaurl" in child.stderr
    assert elapsed < 45, f"took {elapsed:.0f} s"  # importing Dask takes a few seconds on a loaded machine


def test_the_report_path_is_printed_as_written(tmp_path):
    out = tmp_path / "r"
    child = widenet_command("reproduce", "--quick", "--no-figures", "--no-progress", "--only", "least-squares",
                            "--out", str(out) + os.sep)
    assert child.returncode == 0, child.stderr
    assert f"report in {out / 'report.md'}" in child.stdout
