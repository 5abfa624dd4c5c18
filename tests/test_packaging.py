"""Set-up files agree with each other: pyproject, environment.yml, README, CI."""

import re
import tomllib

from conftest import ROOT

# conda-forge names of packages whose PyPI name differs
CONDA_NAMES = {"soundfile": "pysoundfile", "opentsne": "opentsne"}


def _name(req: str) -> str:
    return re.split(r"[<>=!~ \[]", req.strip(), maxsplit=1)[0].lower()


def _pyproject_deps() -> dict[str, str]:
    data = tomllib.loads((ROOT / "pyproject.toml").read_text())
    return {_name(r): r.strip() for r in data["project"]["dependencies"]}


def _environment_deps() -> dict[str, str]:
    deps = {}
    text = (ROOT / "environment.yml").read_text()
    for line in text.split("dependencies:", 1)[1].splitlines():
        m = re.match(r"^\s*-\s+([A-Za-z0-9_.\-]+)(.*)$", line)
        if not m or m.group(1) in ("pip", "python", "-e") or line.strip().endswith(":"):
            continue
        deps[m.group(1).lower()] = (m.group(1) + m.group(2)).strip()
    return deps


def test_environment_yml_lists_the_same_dependencies_as_pyproject():
    py = _pyproject_deps()
    env = _environment_deps()
    expected = {CONDA_NAMES.get(n, n) for n in py}
    assert set(env) == expected, (
        f"only in pyproject: {sorted(expected - set(env))}; "
        f"only in environment.yml: {sorted(set(env) - expected)}"
    )
    for name, req in py.items():
        spec = req[len(name):].strip()
        assert env[CONDA_NAMES.get(name, name)].endswith(spec), (name, req, env[CONDA_NAMES.get(name, name)])


def test_ci_runs_the_readme_test_command_and_checks_that_no_tests_fail_the_run():
    readme = (ROOT / "README.md").read_text()
    ci = (ROOT / ".ci" / "run").read_text()
    assert "./dev.sh test" in readme and "./dev.sh lab" in readme
    commands = [ln.strip() for ln in ci.splitlines() if ln.strip() and not ln.startswith("#")]
    assert "./dev.sh test" in commands  # the README's command, first
    # ./dev.sh turns pytest's "no tests collected" (exit 5) into a failure; CI checks it
    # after the suite (it once ran from inside pytest, reinstalling from within the tests)
    assert any("no_test_has_this_name" in c for c in commands[commands.index("./dev.sh test"):])
