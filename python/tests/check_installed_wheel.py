"""Run by `make wheel-check` with the Python of a fresh venv where only the wheel is installed,
from a directory outside the checkout: the `memlab` command and the `memlab` package must be
the installed ones, and agree on the version. Standard library only."""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
from importlib import metadata


def main() -> int:
    site_packages = os.path.realpath(sysconfig.get_paths()["purelib"])
    scripts = os.path.realpath(sysconfig.get_paths()["scripts"])

    import memlab
    import memlab.workload

    package_dir = os.path.realpath(os.path.dirname(memlab.__file__))
    assert package_dir == os.path.join(site_packages, "memlab"), (
        "imported %s, not the installed package in %s" % (package_dir, site_packages))
    assert os.path.isfile(os.path.join(package_dir, "py.typed")), "py.typed is missing"
    assert metadata.version("memlab") == memlab.__version__

    command = os.path.join(scripts, "memlab")
    assert os.access(command, os.X_OK), "%s is not installed" % command
    version = subprocess.run([command, "--version"], stdout=subprocess.PIPE, check=True,
                             timeout=60).stdout.decode().strip()
    assert version == "memlab " + memlab.__version__, version

    plugins = [entry for entry in metadata.distribution("memlab").entry_points
               if entry.group == "pytest11"]
    assert [(p.name, p.value) for p in plugins] == [("memlab", "memlab.pytest_plugin")], plugins
    assert hasattr(plugins[0].load(), "pytest_configure")

    print("wheel-check: memlab %s from %s, package %s: ok"
          % (memlab.__version__, command, package_dir))
    return 0


if __name__ == "__main__":
    sys.exit(main())
