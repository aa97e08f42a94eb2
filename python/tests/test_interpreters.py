"""The marker checks under every CPython >= 3.8 found: `python3` on PATH, `python3.X` on PATH
and $PYENV_ROOT/versions/*. None of them needs the package installed: the checkout's python/
goes on PYTHONPATH, as memlab does for its workloads. A version not found is skipped, naming
where it was looked for."""

from __future__ import annotations

import glob
import os
import shutil
import subprocess

import pytest

TESTS_DIR = os.path.dirname(os.path.abspath(__file__))
SOURCE_DIR = os.path.dirname(TESTS_DIR)
MINOR_VERSIONS = ["3.8", "3.9", "3.10", "3.11", "3.12", "3.13", "3.14"]


def _probe(path: str) -> tuple[str, str] | None:
    """(X.Y, the real executable) of a CPython; None for anything else."""
    try:
        output = subprocess.run(
            [path, "-c", "import os, platform, sys; print(platform.python_implementation(), "
             "'%d.%d' % sys.version_info[:2], os.path.realpath(sys.executable))"],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, timeout=30, check=True)
    except (OSError, subprocess.SubprocessError):
        return None  # e.g. a pyenv shim for a version that is not selected
    implementation, version, executable = output.stdout.decode().split(" ", 2)
    return (version, executable.strip()) if implementation == "CPython" else None


def _pyenv_root() -> str:
    return os.environ.get("PYENV_ROOT") or os.path.expanduser("~/.pyenv")


def find_interpreter(minor: str) -> tuple[str, str] | None:
    """The first CPython `minor` among $PYENV_ROOT/versions/X.* and python3.X on PATH (pyenv's
    shims there are slow to fail): its path and its real executable."""
    candidates = sorted(glob.glob(os.path.join(_pyenv_root(), "versions", minor + ".*",
                                               "bin", "python3")))
    on_path = shutil.which("python" + minor)
    for path in candidates + ([on_path] if on_path else []):
        probed = _probe(path)
        if probed and probed[0] == minor:
            return path, probed[1]
    return None


def _run_checks(interpreter: str) -> None:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [SOURCE_DIR, env.get("PYTHONPATH")]))
    result = subprocess.run([interpreter, os.path.join(TESTS_DIR, "marker_checks.py")],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            timeout=600)
    output = result.stdout.decode("utf-8", errors="replace")
    assert result.returncode == 0, output
    assert output.rstrip().splitlines()[-1].endswith(" 0 failed"), output


def test_marker_checks_under_python3_on_path() -> None:
    interpreter = shutil.which("python3")
    probed = _probe(interpreter) if interpreter else None
    if interpreter is None or probed is None:
        pytest.skip("no CPython python3 on PATH")
    else:
        same = find_interpreter(probed[0])
        if same and same[1] == probed[1]:
            pytest.skip("python3 on PATH is %s, checked as CPython %s" % (probed[1], probed[0]))
        else:
            _run_checks(interpreter)


@pytest.mark.parametrize("minor", MINOR_VERSIONS)
def test_marker_checks_under(minor: str) -> None:
    found = find_interpreter(minor)
    if found is None:
        pytest.skip("no CPython %s: not python%s on PATH, nor under %s/versions"
                    % (minor, minor, _pyenv_root()))
    else:
        _run_checks(found[0])
